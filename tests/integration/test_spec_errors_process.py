"""
Hostile or malformed requests over a real socket to a real C{twistd}: each
is answered with the spec's status and error code, never a 500, and leaves
no traceback in the log.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
from harness import RegistryProcess, http_request

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def codes(body: bytes) -> list[str]:
    return [error["code"] for error in json.loads(body)["errors"]]


def assertNoTraceback(server: RegistryProcess) -> None:
    log = server.log()
    assert "Traceback" not in log and "RecursionError" not in log, log[-2000:]


@pytest.mark.parametrize("levels", [1000, 10**5, 10**6])
def test_deeplyNestedManifest(txregistry_server: RegistryProcess, levels: int) -> None:
    """A manifest nested up to a million levels deep is a 400 MANIFEST_INVALID, with no traceback logged."""
    status, _, body = http_request(
        txregistry_server.base_url, "PUT", "/v2/demo/app/manifests/v1",
        b"[" * levels + b"]" * levels, {"Content-Type": OCI_MANIFEST})
    assert (status, codes(body)) == (400, ["MANIFEST_INVALID"])
    assertNoTraceback(txregistry_server)


def test_invalidTag(txregistry_server: RegistryProcess) -> None:
    """GET and HEAD by an invalid tag are 404 MANIFEST_UNKNOWN; PUT to one is 400 MANIFEST_INVALID."""
    base, path = txregistry_server.base_url, "/v2/demo/app/manifests/.INVALID_MANIFEST_NAME"
    status, _, body = http_request(base, "GET", path)
    assert (status, codes(body)) == (404, ["MANIFEST_UNKNOWN"])
    status, _, _ = http_request(base, "HEAD", path)
    assert status == 404
    status, _, body = http_request(base, "PUT", path, b"{}", {"Content-Type": OCI_MANIFEST})
    assert (status, codes(body)) == (400, ["MANIFEST_INVALID"])


@pytest.mark.parametrize("contentRange", ["bytes=0-9", "0-9/10"])
def test_contentRangeOnlyStartEnd(txregistry_server: RegistryProcess, contentRange: str) -> None:
    """A PATCH whose Content-Range is not <start>-<end> is a 416 BLOB_UPLOAD_INVALID that stores nothing."""
    base = txregistry_server.base_url
    status, headers, _ = http_request(base, "POST", "/v2/demo/app/blobs/uploads/")
    assert status == 202
    url = urlsplit(headers["Location"])
    location = f"{url.path}?{url.query}"
    status, headers, body = http_request(
        base, "PATCH", location, b"0123456789",
        {"Content-Range": contentRange, "Content-Type": "application/octet-stream"})
    assert (status, codes(body)) == (416, ["BLOB_UPLOAD_INVALID"])
    assert headers["Range"] == "0-0"
    status, headers, _ = http_request(
        base, "PATCH", location, b"0123456789",
        {"Content-Range": "0-9", "Content-Type": "application/octet-stream"})
    assert (status, headers["Range"]) == (202, "0-9")
    assertNoTraceback(txregistry_server)
