"""
The API's base: C{/v2/}, the version header, and routing errors.
"""

from __future__ import annotations

import pytest

from tests.api.support import InMemoryRegistry

VERSION = "registry/2.0"


@pytest.fixture
def registry() -> InMemoryRegistry:
    return InMemoryRegistry()


def test_baseGet(registry: InMemoryRegistry) -> None:
    """GET /v2/ answers 200 with an empty JSON object."""
    response = registry.request("GET", "/v2/")
    assert response.code == 200
    assert response.json() == {}
    assert response.header("Content-Type") == "application/json"
    assert response.header("Docker-Distribution-API-Version") == VERSION


def test_baseHead(registry: InMemoryRegistry) -> None:
    """HEAD /v2/ answers 200 with no body."""
    response = registry.request("HEAD", "/v2/")
    assert response.code == 200
    assert response.body == b""
    assert response.header("Docker-Distribution-API-Version") == VERSION


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/v2/"),
    ("GET", "/v2/_catalog"),
    ("GET", "/v2/nothing/tags/list"),
    ("GET", "/v2/nothing/manifests/latest"),
    ("GET", "/v2/nothing/blobs/sha256:" + "0" * 64),
    ("GET", "/v2/nothing/blobs/not-a-digest"),
    ("GET", "/v2/UPPER/tags/list"),
    ("POST", "/v2/repo/blobs/uploads/"),
    ("GET", "/v2/repo/blobs/uploads/unknown-upload"),
    ("GET", "/nowhere"),
    ("GET", "/v2/repo/nowhere"),
    ("DELETE", "/v2/"),
    ("HEAD", "/v2/nothing/manifests/latest"),
])
def test_versionHeaderEverywhere(registry: InMemoryRegistry, method: str, path: str) -> None:
    """Every response, successes and errors alike, carries the API version header."""
    response = registry.request(method, path)
    assert response.header("Docker-Distribution-API-Version") == VERSION


def test_versionHeaderOnce(registry: InMemoryRegistry) -> None:
    """The API version header is sent exactly once."""
    response = registry.request("GET", "/v2/")
    assert response.headers.getRawHeaders("Docker-Distribution-API-Version") == [VERSION]


@pytest.mark.parametrize("path", ["/nowhere", "/v1/", "/v2/repo/nowhere", "/v2/repo/blobs/"])
def test_unknownRoute(registry: InMemoryRegistry, path: str) -> None:
    """An unknown route is a 404 with a JSON error body."""
    response = registry.request("GET", path)
    assert response.code == 404
    assert response.header("Content-Type") == "application/json"
    errors = response.json()["errors"]
    assert len(errors) == 1
    assert set(errors[0]) >= {"code", "message"}


def test_unknownRouteHeadHasNoBody(registry: InMemoryRegistry) -> None:
    """HEAD of an unknown route is a 404 without a body."""
    response = registry.request("HEAD", "/nowhere")
    assert response.code == 404
    assert response.body == b""


@pytest.mark.parametrize(("method", "path"), [
    ("DELETE", "/v2/"),
    ("POST", "/v2/"),
    ("PUT", "/v2/repo/tags/list"),
    ("POST", "/v2/repo/manifests/latest"),
    ("PATCH", "/v2/repo/blobs/sha256:" + "0" * 64),
    ("POST", "/v2/_catalog"),
])
def test_wrongMethod(registry: InMemoryRegistry, method: str, path: str) -> None:
    """A method a route does not take is a 405 UNSUPPORTED JSON error."""
    response = registry.request(method, path)
    assert response.code == 405
    assert response.header("Content-Type") == "application/json"
    assert response.errorCodes == ["UNSUPPORTED"]
    assert response.header("Docker-Distribution-API-Version") == VERSION


def test_errorBodyShape(registry: InMemoryRegistry) -> None:
    """A registry error body is the spec's errors list with code, message and detail."""
    response = registry.request("GET", "/v2/repo/manifests/latest")
    assert response.code == 404
    [error] = response.json()["errors"]
    assert error["code"] == "MANIFEST_UNKNOWN"
    assert isinstance(error["message"], str) and error["message"]
    assert "detail" in error
