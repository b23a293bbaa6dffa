"""
Tests for L{txregistry.auth.silly}.
"""

from __future__ import annotations

from typing import Any

from twisted.python.failure import Failure
from twisted.web.test.requesthelper import DummyRequest

from txregistry.auth.access import Access
from txregistry.auth.interfaces import Grant
from txregistry.auth.silly import SillyAccessController


def outcome(authorization: bytes | None, accesses: list[Access]) -> Any:
    request = DummyRequest([b""])
    if authorization is not None:
        request.requestHeaders.setRawHeaders(b"authorization", [authorization])
    results: list[Any] = []
    SillyAccessController("r", "s").authorize(request, accesses).addBoth(results.append)
    return results[0]


def test_any_authorization_passes() -> None:
    """Any Authorization header, even nonsense, is let in."""
    assert outcome(b"whatever", [Access("repository", "a", "push")]) == Grant()


def test_none_challenged() -> None:
    """Without Authorization: a Bearer challenge with the scope."""
    result = outcome(None, [Access("repository", "a", "pull")])
    assert isinstance(result, Failure)
    assert result.value.headers == {
        b"WWW-Authenticate": b'Bearer realm="r",service="s",scope="repository:a:pull"'}
