"""
The API refuses a malformed C{Host}, and builds no URL from one.
"""

from __future__ import annotations

import json

import pytest

from tests.api.helpers import rawExchange
from tests.api.support import InMemoryRegistry


@pytest.fixture
def registry() -> InMemoryRegistry:
    return InMemoryRegistry()


@pytest.mark.parametrize("host", [
    "evil.test/path", "evil.test?q=1", "user@evil.test", "evil .test", "evil.test:http",
    "[::1", "evil.test#x",
])
@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/v2/"),
    ("POST", "/v2/foo/blobs/uploads/"),
    ("GET", "/v2/foo/manifests/latest"),
])
def test_malformedHost(registry: InMemoryRegistry, host: str, method: str, path: str) -> None:
    """A malformed Host gets 400 with the OCI error body, never a URL built from it."""
    status, headers, body = rawExchange(registry, method, path, host=host)
    assert status == 400
    assert headers["content-type"] == ["application/json"]
    assert headers["docker-distribution-api-version"] == ["registry/2.0"]
    assert json.loads(body)["errors"][0]["code"] == "UNSUPPORTED"
    assert "location" not in headers


def test_twoHosts(registry: InMemoryRegistry) -> None:
    """Two different Host headers get 400."""
    status, _, _ = rawExchange(registry, "GET", "/v2/", headers={"Host": "other.test"})
    assert status == 400


def test_redirectIsRelative(registry: InMemoryRegistry) -> None:
    """A redirect to the path with a slash names no host, as distribution's."""
    status, headers, _ = rawExchange(registry, "GET", "/v2", host="registry.test:443")
    assert (status, headers["location"]) == (308, ["/v2/"])


@pytest.mark.parametrize(("method", "target", "location"), [
    ("POST", "/v2/x/blobs/uploads?mount=sha256:" + "a" * 64 + "&from=y",
     "/v2/x/blobs/uploads/?mount=sha256:" + "a" * 64 + "&from=y"),
    ("GET", "/v2?n=1&last=a%2Fb", "/v2/?n=1&last=a%2Fb"),
])
def test_redirectKeepsQuery(registry: InMemoryRegistry, method: str, target: str,
                            location: str) -> None:
    """A redirect to the path with a slash keeps the query as sent (a
    cross-repository mount's mount= and from=), as distribution's."""
    status, headers, _ = rawExchange(registry, method, target)
    assert (status, headers["location"]) == (308, [location])


def test_forwardedUploadLocation(registry: InMemoryRegistry) -> None:
    """An upload's Location names the scheme and host a proxy forwarded."""
    status, headers, _ = rawExchange(registry, "POST", "/v2/foo/blobs/uploads/", headers={
        "X-Forwarded-Proto": "https", "X-Forwarded-Host": "registry.example.com"})
    assert status == 202
    assert headers["location"][0].startswith(
        "https://registry.example.com/v2/foo/blobs/uploads/")
