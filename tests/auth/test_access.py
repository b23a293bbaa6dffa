"""
Tests for L{txregistry.auth.access}: what each request needs.
"""

from __future__ import annotations

import pytest

from txregistry.auth.access import (
    CATALOG,
    Access,
    quoted,
    requiredAccess,
    scopeParam,
)


def repo(name: str, action: str) -> Access:
    return Access("repository", name, action)


DIGEST = "sha256:" + "a" * 64

TABLE = [
    ("GET", "/v2/", {}, ()),
    ("GET", "/v2", {}, ()),
    ("GET", "/v2/_catalog", {}, (CATALOG,)),
    ("GET", "/v2/%5Fcatalog", {}, (CATALOG,)),
    ("GET", f"/v2/foo/blobs/{DIGEST}", {}, (repo("foo", "pull"),)),
    ("HEAD", f"/v2/a/b/c/blobs/{DIGEST}", {}, (repo("a/b/c", "pull"),)),
    ("DELETE", f"/v2/foo/blobs/{DIGEST}", {}, (repo("foo", "delete"),)),
    ("POST", "/v2/foo/blobs/uploads/", {}, (repo("foo", "pull"), repo("foo", "push"))),
    ("PATCH", "/v2/foo/blobs/uploads/u1", {}, (repo("foo", "pull"), repo("foo", "push"))),
    ("PUT", "/v2/foo/blobs/uploads/u1", {}, (repo("foo", "pull"), repo("foo", "push"))),
    ("GET", "/v2/foo/blobs/uploads/u1", {}, (repo("foo", "pull"),)),
    ("DELETE", "/v2/foo/blobs/uploads/u1", {}, (repo("foo", "delete"),)),
    ("GET", "/v2/foo/manifests/latest", {}, (repo("foo", "pull"),)),
    ("PUT", "/v2/foo/manifests/latest", {}, (repo("foo", "pull"), repo("foo", "push"))),
    ("DELETE", f"/v2/foo/manifests/{DIGEST}", {}, (repo("foo", "delete"),)),
    ("GET", "/v2/foo/tags/list", {}, (repo("foo", "pull"),)),
    ("GET", f"/v2/foo/referrers/{DIGEST}", {}, (repo("foo", "pull"),)),
    ("POST", "/v2/foo/blobs/uploads/", {b"mount": [DIGEST.encode()], b"from": [b"bar/baz"]},
     (repo("foo", "pull"), repo("foo", "push"), repo("bar/baz", "pull"))),
    ("POST", "/v2/foo/blobs/uploads/", {b"from": [b"foo"]},
     (repo("foo", "pull"), repo("foo", "push"))),
    ("POST", "/v2/foo/blobs/uploads/", {b"from": [b"Not Valid"]},
     (repo("foo", "pull"), repo("foo", "push"))),
    ("GET", "/v2/Foo/tags/list", {}, ()),
    ("GET", "/v2/foo/elsewhere", {}, ()),
    ("GET", "/", {}, ()),
    ("OPTIONS", "/v2/foo/tags/list", {}, ()),
]


@pytest.mark.parametrize("method, path, args, expected", TABLE)
def test_required_access(method: str, path: str, args: dict[bytes, list[bytes]],
                         expected: tuple[Access, ...]) -> None:
    """Each endpoint needs what distribution asks for it."""
    assert requiredAccess(method.encode(), path.encode(), args) == expected


def test_scope_param() -> None:
    """Actions of one resource are sorted and joined; resources are spaced."""
    accesses = [repo("foo", "push"), repo("foo", "pull"), repo("bar", "pull"), CATALOG]
    assert scopeParam(accesses) == (
        "repository:foo:pull,push repository:bar:pull registry:catalog:*")


def test_scope_param_empty() -> None:
    """Nothing needed gives no scope."""
    assert scopeParam([]) == ""


def test_detail() -> None:
    """An access is described as distribution lists it in error details."""
    assert repo("foo", "pull").detail() == {
        "Type": "repository", "Class": "", "Name": "foo", "Action": "pull"}


def test_quoted() -> None:
    """Quotes and backslashes are escaped in header parameters."""
    assert quoted('a"b\\c') == '"a\\"b\\\\c"'
