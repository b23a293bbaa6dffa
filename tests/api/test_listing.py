"""
Listings: C{/v2/<name>/tags/list} and C{/v2/_catalog}, with pagination.
"""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.api.helpers import OCI_MANIFEST
from tests.api.support import InMemoryRegistry, Response, imageManifest
from txregistry.digest import Digest

TAGS = ["v2", "latest", "1.0", "V1", "a_b", "a-b", "a.b", "0", "z", "1.10"]
REPOS = ["library/ubuntu", "a", "a/b", "a/b/c", "a-b", "a.b", "b", "library/alpine", "z/y/x"]
LINK = re.compile(r'^<([^>]+)>; rel="next"$')


def pushTagged(registry: InMemoryRegistry, name: str, tags: list[str]) -> None:
    config = registry.pushBlob(name, b"{}")
    manifest = json.dumps(imageManifest(config, 2, [])).encode()
    for tag in tags:
        response = registry.request("PUT", f"/v2/{name}/manifests/{tag}", manifest,
                                    {"Content-Type": OCI_MANIFEST})
        assert response.code == 201, response.body


def nextLink(response: Response) -> str | None:
    """
    @return: the target of the response's C{Link: <...>; rel="next"}, if any.
    """
    link = response.header("Link")
    if link is None:
        return None
    match = LINK.match(link)
    assert match is not None, link
    return match.group(1)


def follow(registry: InMemoryRegistry, path: str, key: str) -> tuple[list[list[str]], list[str]]:
    """
    Follow C{Link} headers from C{path} to the last page.

    @return: the pages' entries, and the links followed.
    """
    pages, links = [], []
    while True:
        response = registry.request("GET", path)
        assert response.code == 200, response.body
        pages.append(response.json()[key])
        link = nextLink(response)
        if link is None:
            return pages, links
        assert link not in links and len(links) < 50, f"Link loops: {link}"
        links.append(link)
        path = link


@pytest.fixture
def registry() -> InMemoryRegistry:
    registry = InMemoryRegistry()
    pushTagged(registry, "library/app", TAGS)
    return registry


# Tags

def test_tags(registry: InMemoryRegistry) -> None:
    """tags/list gives the repository's name and all its tags, sorted lexically, as JSON."""
    response = registry.request("GET", "/v2/library/app/tags/list")
    assert response.code == 200
    assert response.header("Content-Type") == "application/json"
    assert response.json() == {"name": "library/app", "tags": sorted(TAGS)}
    assert response.header("Link") is None


def test_tagsHead(registry: InMemoryRegistry) -> None:
    """HEAD of tags/list is a 200 without a body."""
    response = registry.request("HEAD", "/v2/library/app/tags/list")
    assert response.code == 200
    assert response.body == b""


def test_tagsOnlyOfThatRepository(registry: InMemoryRegistry) -> None:
    """tags/list gives only the tags of the repository named, not of nested or sibling ones."""
    pushTagged(registry, "library/app/sub", ["sub-only"])
    pushTagged(registry, "library/other", ["other-only"])
    assert registry.request("GET", "/v2/library/app/tags/list").json()["tags"] == sorted(TAGS)
    assert registry.request("GET", "/v2/library/app/sub/tags/list").json() == {
        "name": "library/app/sub", "tags": ["sub-only"]}


@pytest.mark.parametrize("name", ["no/such", "library", "library/app/deeper"])
def test_tagsUnknownRepository(registry: InMemoryRegistry, name: str) -> None:
    """tags/list of a repository that does not exist is a 404 NAME_UNKNOWN."""
    response = registry.request("GET", f"/v2/{name}/tags/list")
    assert response.code == 404
    assert response.errorCodes == ["NAME_UNKNOWN"]


def test_tagsFirstPage(registry: InMemoryRegistry) -> None:
    """n limits the tags to the first n, with a Link to the next page carrying n and last."""
    ordered = sorted(TAGS)
    response = registry.request("GET", "/v2/library/app/tags/list?n=3")
    assert response.code == 200
    assert response.json() == {"name": "library/app", "tags": ordered[:3]}
    link = nextLink(response)
    assert link is not None
    parts = urlsplit(link)
    assert parts.path == "/v2/library/app/tags/list"
    assert parse_qs(parts.query) == {"n": ["3"], "last": [ordered[2]]}


def test_tagsPagesCoverEverything(registry: InMemoryRegistry) -> None:
    """Following the Links from n=3 gives every tag once, in order, in pages of at most 3."""
    pages, links = follow(registry, "/v2/library/app/tags/list?n=3", "tags")
    assert [tag for page in pages for tag in page] == sorted(TAGS)
    assert all(1 <= len(page) <= 3 for page in pages)
    assert len(pages) == 4
    assert len(links) == 3


@pytest.mark.parametrize("n", [len(TAGS), len(TAGS) + 1, 1000])
def test_tagsLastPageHasNoLink(registry: InMemoryRegistry, n: int) -> None:
    """When n covers the rest of the tags, no Link is sent."""
    response = registry.request("GET", f"/v2/library/app/tags/list?n={n}")
    assert response.json()["tags"] == sorted(TAGS)
    assert response.header("Link") is None


def test_tagsLast(registry: InMemoryRegistry) -> None:
    """last starts the list after the given tag, whether or not that tag exists."""
    ordered = sorted(TAGS)
    response = registry.request("GET", f"/v2/library/app/tags/list?last={ordered[4]}")
    assert response.json()["tags"] == ordered[5:]
    response = registry.request("GET", "/v2/library/app/tags/list?last=b")
    assert response.json()["tags"] == [t for t in ordered if t > "b"]
    response = registry.request("GET", f"/v2/library/app/tags/list?n=2&last={ordered[1]}")
    assert response.json()["tags"] == ordered[2:4]
    response = registry.request("GET", f"/v2/library/app/tags/list?last={ordered[-1]}")
    assert response.json()["tags"] == []


def test_tagsZero(registry: InMemoryRegistry) -> None:
    """n=0 gives no tags, and no Link that would repeat the same request."""
    response = registry.request("GET", "/v2/library/app/tags/list?n=0")
    assert response.code == 200
    assert response.json()["tags"] == []
    link = nextLink(response)
    assert link is None or parse_qs(urlsplit(link).query).get("last"), link


@pytest.mark.parametrize("n", ["abc", "-1", "1.5", "0x10", "1e3"])
def test_tagsInvalidNumber(registry: InMemoryRegistry, n: str) -> None:
    """An n that is not a non-negative integer is a 400 UNSUPPORTED (distribution: PAGINATION_NUMBER_INVALID)."""
    response = registry.request("GET", f"/v2/library/app/tags/list?n={n}")
    assert response.code == 400
    assert response.errorCodes == ["UNSUPPORTED"]


def test_tagsAfterUntag() -> None:
    """A deleted tag leaves the list."""
    registry = InMemoryRegistry(delete_enabled=True)
    pushTagged(registry, "app", ["a", "b", "c"])
    assert registry.request("DELETE", "/v2/app/manifests/b").code == 202
    assert registry.request("GET", "/v2/app/tags/list").json()["tags"] == ["a", "c"]


# Catalog

@pytest.fixture
def catalog() -> InMemoryRegistry:
    registry = InMemoryRegistry()
    for name in REPOS:
        pushTagged(registry, name, ["latest"])
    return registry


def test_catalogEmpty() -> None:
    """The catalog of an empty registry is an empty list."""
    response = InMemoryRegistry().request("GET", "/v2/_catalog")
    assert response.code == 200
    assert response.json() == {"repositories": []}


def test_catalog(catalog: InMemoryRegistry) -> None:
    """The catalog lists every repository, nested ones too, sorted."""
    response = catalog.request("GET", "/v2/_catalog")
    assert response.code == 200
    assert response.header("Content-Type") == "application/json"
    assert response.json() == {"repositories": sorted(REPOS)}
    assert response.header("Link") is None


def test_catalogOnlyRepositoriesWithManifests(catalog: InMemoryRegistry) -> None:
    """A repository holding blobs only, or an upload only, is not in the catalog."""
    catalog.pushBlob("blobs/only", b"data")
    assert catalog.request("POST", "/v2/uploads/only/blobs/uploads/").code == 202
    names = catalog.request("GET", "/v2/_catalog").json()["repositories"]
    assert names == sorted(REPOS)


def test_catalogUntaggedRepository(catalog: InMemoryRegistry) -> None:
    """A repository whose manifests were all pushed by digest is in the catalog."""
    config = catalog.pushBlob("untagged", b"{}")
    manifest = json.dumps(imageManifest(config, 2, [])).encode()
    assert catalog.request("PUT", f"/v2/untagged/manifests/{Digest.of(manifest)}", manifest,
                           {"Content-Type": OCI_MANIFEST}).code == 201
    assert "untagged" in catalog.request("GET", "/v2/_catalog").json()["repositories"]


def test_catalogFirstPage(catalog: InMemoryRegistry) -> None:
    """n limits the catalog, with a Link to the next page carrying n and last."""
    ordered = sorted(REPOS)
    response = catalog.request("GET", "/v2/_catalog?n=4")
    assert response.json() == {"repositories": ordered[:4]}
    link = nextLink(response)
    assert link is not None
    parts = urlsplit(link)
    assert parts.path == "/v2/_catalog"
    assert parse_qs(parts.query) == {"n": ["4"], "last": [ordered[3]]}


@pytest.mark.parametrize("n", [1, 2, 4, 8])
def test_catalogPagesCoverEverything(catalog: InMemoryRegistry, n: int) -> None:
    """Following the catalog's Links gives every repository once, in order."""
    pages, _ = follow(catalog, f"/v2/_catalog?n={n}", "repositories")
    assert [name for page in pages for name in page] == sorted(REPOS)
    assert all(1 <= len(page) <= n for page in pages)


def test_catalogLast(catalog: InMemoryRegistry) -> None:
    """last starts the catalog after the given (nested) name."""
    ordered = sorted(REPOS)
    response = catalog.request("GET", "/v2/_catalog?last=a/b")
    assert response.json()["repositories"] == ordered[ordered.index("a/b") + 1:]
    response = catalog.request("GET", "/v2/_catalog?n=2&last=a%2Fb")
    assert response.json()["repositories"] == ordered[ordered.index("a/b") + 1:][:2]


@pytest.mark.parametrize("n", ["abc", "-3", ""])
def test_catalogInvalidNumber(catalog: InMemoryRegistry, n: str) -> None:
    """An n that is not a non-negative integer is a 400 UNSUPPORTED (distribution: PAGINATION_NUMBER_INVALID)."""
    response = catalog.request("GET", f"/v2/_catalog?n={n}")
    assert response.code == 400
    assert response.errorCodes == ["UNSUPPORTED"]


def test_catalogZero(catalog: InMemoryRegistry) -> None:
    """n=0 gives no repositories, and no Link that would repeat the same request."""
    response = catalog.request("GET", "/v2/_catalog?n=0")
    assert response.code == 200
    assert response.json()["repositories"] == []
    link = nextLink(response)
    assert link is None or parse_qs(urlsplit(link).query).get("last"), link


def test_catalogDefaultPageIsMaxEntries() -> None:
    """Without n, _catalog returns catalog.maxentries names and a Link to the rest."""
    from tests.api.support import InMemoryRegistry, imageManifest

    registry = InMemoryRegistry(catalogEntries=2)
    for name in ("a", "b", "c"):
        config = registry.pushBlob(name, b"{}")
        manifest = imageManifest(config, 2, [])
        assert registry.pushManifest(name, "v1", manifest, manifest["mediaType"]).code == 201
    response = registry.request("GET", "/v2/_catalog")
    assert response.json() == {"repositories": ["a", "b"]}
    assert response.header("Link") == '</v2/_catalog?n=2&last=b>; rel="next"'


def _threeRepositoriesAndTags(**options):  # type: ignore[no-untyped-def]
    from tests.api.support import InMemoryRegistry, imageManifest

    registry = InMemoryRegistry(**options)
    for name in ("a", "b", "c"):
        config = registry.pushBlob(name, b"{}")
        manifest = imageManifest(config, 2, [])
        for tag in ("t1", "t2", "t3"):
            assert registry.pushManifest(name, tag, manifest, manifest["mediaType"]).code == 201
    return registry


def test_catalogNAboveMaxEntries() -> None:
    """An n above catalog.maxentries is a 400 UNSUPPORTED (distribution 2.8.2 refuses it too, as PAGINATION_NUMBER_INVALID)."""
    registry = _threeRepositoriesAndTags(catalogEntries=2)
    response = registry.request("GET", "/v2/_catalog?n=3")
    assert (response.code, response.errorCodes) == (400, ["UNSUPPORTED"])
    assert registry.request("GET", "/v2/_catalog?n=2").json() == {"repositories": ["a", "b"]}


def test_maxTags() -> None:
    """With tags.maxtags, tags/list pages at that size by default and refuses a larger n."""
    registry = _threeRepositoriesAndTags(maxTags=2)
    response = registry.request("GET", "/v2/a/tags/list")
    assert response.json() == {"name": "a", "tags": ["t1", "t2"]}
    assert response.header("Link") == '</v2/a/tags/list?n=2&last=t2>; rel="next"'
    response = registry.request("GET", "/v2/a/tags/list?n=3")
    assert (response.code, response.errorCodes) == (400, ["UNSUPPORTED"])


def test_noMaxTagsByDefault() -> None:
    """Without tags.maxtags every tag is listed at once and any n is accepted."""
    registry = _threeRepositoriesAndTags()
    assert registry.request("GET", "/v2/a/tags/list").json()["tags"] == ["t1", "t2", "t3"]
    assert registry.request("GET", "/v2/a/tags/list?n=1000").code == 200
