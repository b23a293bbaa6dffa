"""
Read-only mode (C{storage.maintenance.readonly.enabled}): pulls are served,
every write is refused with 405 C{UNSUPPORTED}, uploads before their body.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from twisted.internet.testing import StringTransport

from tests.api.helpers import OCI_MANIFEST, result, snapshot
from tests.api.support import InMemoryRegistry, imageManifest
from txregistry.api.readonly import isWrite
from txregistry.config.model import MaintenanceConfig
from txregistry.digest import Digest

NAME = "library/app"
UPLOAD = "11111111-1111-4111-8111-111111111111"
READ_ONLY = MaintenanceConfig(readonly_enabled=True)


@dataclass
class Image:
    """
    An image pushed to a writable registry, then served read-only.
    """

    registry: InMemoryRegistry
    config: Digest
    layer: Digest
    layerData: bytes
    manifest: bytes
    manifestDigest: Digest


@pytest.fixture
def image() -> Image:
    writable = InMemoryRegistry(delete_enabled=True)
    layerData = b"layer " * 100
    config = writable.pushBlob(NAME, b"{}")
    layer = writable.pushBlob(NAME, layerData)
    manifest = json.dumps(imageManifest(config, 2, [(layer, len(layerData))])).encode()
    response = writable.request("PUT", f"/v2/{NAME}/manifests/v1", manifest,
                                {"Content-Type": OCI_MANIFEST})
    assert response.code == 201, response.body
    readOnly = InMemoryRegistry(delete_enabled=True, maintenance=READ_ONLY)
    for path, data in snapshot(writable.driver).items():
        result(readOnly.driver.putContent(path, data))
    return Image(readOnly, config, layer, layerData, manifest, Digest.of(manifest))


def test_pullsServed(image: Image) -> None:
    """GET and HEAD of the base, manifests, blobs, tags and catalog are served as usual."""
    registry = image.registry
    assert registry.request("GET", "/v2/").code == 200
    response = registry.request("GET", f"/v2/{NAME}/manifests/v1",
                                headers={"Accept": OCI_MANIFEST})
    assert (response.code, response.body) == (200, image.manifest)
    assert registry.request("HEAD", f"/v2/{NAME}/manifests/{image.manifestDigest}").code == 200
    response = registry.request("GET", f"/v2/{NAME}/blobs/{image.layer}")
    assert (response.code, response.body) == (200, image.layerData)
    assert registry.request("HEAD", f"/v2/{NAME}/blobs/{image.config}").code == 200
    assert registry.request("GET", f"/v2/{NAME}/tags/list").json()["tags"] == ["v1"]
    assert registry.request("GET", "/v2/_catalog").json() == {"repositories": [NAME]}


def writes(image: Image) -> list[tuple[str, str, bytes]]:
    """
    @return: a request of every kind that writes: method, target, body.
    """
    uploads = f"/v2/{NAME}/blobs/uploads"
    return [
        ("POST", f"{uploads}/", b""),
        ("POST", f"{uploads}/?digest={Digest.of(b'new')}", b"new"),
        ("POST", f"{uploads}/?mount={image.layer}&from=other/app", b""),
        ("PATCH", f"{uploads}/{UPLOAD}", b"chunk"),
        ("PUT", f"{uploads}/{UPLOAD}?digest={Digest.of(b'new')}", b"new"),
        ("DELETE", f"{uploads}/{UPLOAD}", b""),
        ("PUT", f"/v2/{NAME}/manifests/v2", image.manifest),
        ("DELETE", f"/v2/{NAME}/manifests/{image.manifestDigest}", b""),
        ("DELETE", f"/v2/{NAME}/blobs/{image.layer}", b""),
    ]


@pytest.mark.parametrize("index", range(9))
def test_writesRefused(image: Image, index: int) -> None:
    """Each kind of write gets 405 UNSUPPORTED, with Allow and the API headers, and changes nothing."""
    method, target, body = writes(image)[index]
    registry = image.registry
    before = snapshot(registry.driver)
    response = registry.request(method, target, body, {"Content-Type": OCI_MANIFEST})
    assert response.code == 405
    assert response.errorCodes == ["UNSUPPORTED"]
    assert "read-only" in response.json()["errors"][0]["detail"]
    assert response.header("Allow") == "GET, HEAD"
    assert response.header("Content-Type") == "application/json"
    assert response.header("Docker-Distribution-API-Version") == "registry/2.0"
    assert snapshot(registry.driver) == before


def test_writableRegistryWrites() -> None:
    """Without read-only mode, the same upload start is accepted."""
    registry = InMemoryRegistry()
    assert registry.request("POST", f"/v2/{NAME}/blobs/uploads/").code == 202


def test_uploadRefusedBeforeBody(image: Image) -> None:
    """A PATCH announcing 1 GiB is answered on its headers, without 100 Continue, and the connection closes."""
    site = image.registry.stub._agent._serverFactory
    protocol = site.buildProtocol(None)
    transport = StringTransport()
    protocol.makeConnection(transport)
    protocol.dataReceived(
        f"PATCH /v2/{NAME}/blobs/uploads/{UPLOAD} HTTP/1.1\r\nHost: registry.test\r\n"
        "Content-Length: 1073741824\r\nExpect: 100-continue\r\n\r\n".encode())
    answer = transport.value()
    assert answer.startswith(b"HTTP/1.1 405 ")
    assert b"100 Continue" not in answer
    assert b"Connection: close" in answer
    assert b"UNSUPPORTED" in answer
    assert transport.disconnecting


@pytest.mark.parametrize("method, path, expected", [
    (b"POST", b"/v2/a/blobs/uploads/", True),
    (b"DELETE", b"/v2/a/manifests/v1", True),
    (b"PUT", b"/v2", True),
    (b"GET", b"/v2/a/manifests/v1", False),
    (b"HEAD", b"/v2/a/blobs/sha256:00", False),
    (b"POST", b"/v2x/a", False),
    (b"OPTIONS", b"/v2/", False),
])
def test_isWrite(method: bytes, path: bytes, expected: bool) -> None:
    """Writing methods under /v2/ are writes; reads and other paths are not."""

    class Request:
        pass

    request = Request()
    request.method = method  # type: ignore[attr-defined]
    request.path = path  # type: ignore[attr-defined]
    assert isWrite(request) is expected  # type: ignore[arg-type]
