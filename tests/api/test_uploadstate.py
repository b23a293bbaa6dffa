"""
Upload URLs carry a signed state that any registry sharing the storage and
the secret accepts, and that no one else can forge.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from tests.api.support import InMemoryRegistry
from txregistry.api.uploadstate import (
    InvalidUploadState,
    UploadState,
    UploadStateSigner,
)
from txregistry.digest import Digest

STATE = UploadState("library/app", "0a1b-2c", 1234, "2026-11-22T10:00:00Z")
DATA = bytes(range(256)) * 64


def test_deeplyNestedState() -> None:
    """A correctly signed but deeply nested state is InvalidUploadState, not a RecursionError."""
    document = b"[" * 10**5 + b"]" * 10**5
    mac = hmac.new(b"secret", document, hashlib.sha256).digest()
    token = base64.urlsafe_b64encode(mac + document).decode("ascii")
    with pytest.raises(InvalidUploadState):
        UploadStateSigner(b"secret").unpack(token)


def test_roundTrip() -> None:
    """A packed state unpacks to itself with the same secret."""
    signer = UploadStateSigner(b"secret")
    assert signer.unpack(signer.pack(STATE)) == STATE


def test_distributionFormat() -> None:
    """The token is base64url of a 32-byte HMAC-SHA256 followed by distribution's JSON field names."""
    raw = base64.urlsafe_b64decode(UploadStateSigner(b"secret").pack(STATE))
    assert json.loads(raw[32:]) == {
        "Name": "library/app", "UUID": "0a1b-2c", "Offset": 1234,
        "StartedAt": "2026-11-22T10:00:00Z"}


@pytest.mark.parametrize("token", [
    "", "!!!", base64.urlsafe_b64encode(b"short").decode(),
    UploadStateSigner(b"other").pack(STATE),
])
def test_refused(token: str) -> None:
    """Malformed tokens and tokens signed with another secret are refused."""
    with pytest.raises(InvalidUploadState):
        UploadStateSigner(b"secret").unpack(token)


def test_tampered() -> None:
    """Changing any byte of the signed document breaks the signature."""
    signer = UploadStateSigner(b"secret")
    raw = bytearray(base64.urlsafe_b64decode(signer.pack(STATE)))
    raw[-5] ^= 1
    with pytest.raises(InvalidUploadState):
        signer.unpack(base64.urlsafe_b64encode(bytes(raw)).decode())


def location(response) -> str:  # type: ignore[no-untyped-def]
    url = urlsplit(response.header("Location"))
    return f"{url.path}?{url.query}"


def stateOf(path: str) -> UploadState:
    token = unquote(parse_qs(urlsplit(path).query)["_state"][0])
    return UploadStateSigner(b"test-secret").unpack(token)


def test_locationsCarryState() -> None:
    """POST and PATCH answer with a Location whose signed state names the upload and its offset."""
    registry = InMemoryRegistry()
    started = registry.request("POST", "/v2/library/app/blobs/uploads/")
    assert started.header("Blob-Upload-Session-ID") == started.header("Docker-Upload-UUID")
    state = stateOf(location(started))
    assert (state.name, state.uploadID, state.offset) == (
        "library/app", started.header("Docker-Upload-UUID"), 0)
    patched = registry.request("PATCH", location(started), DATA)
    assert stateOf(location(patched)).offset == len(DATA)
    assert stateOf(location(patched)).startedAt == state.startedAt


def test_forgedStateRefused() -> None:
    """A state with a bad signature is 400 BLOB_UPLOAD_INVALID and appends nothing."""
    registry = InMemoryRegistry()
    path = location(registry.request("POST", "/v2/library/app/blobs/uploads/"))
    forged = UploadStateSigner(b"not the secret").pack(stateOf(path))
    target = path.split("?")[0] + "?_state=" + forged
    response = registry.request("PATCH", target, DATA)
    assert (response.code, response.errorCodes) == (400, ["BLOB_UPLOAD_INVALID"])
    assert registry.request("GET", path).header("Range") == "0-0"


def test_stateOfAnotherUpload() -> None:
    """A state naming another upload is 404 BLOB_UPLOAD_UNKNOWN."""
    registry = InMemoryRegistry()
    one = location(registry.request("POST", "/v2/library/app/blobs/uploads/"))
    two = location(registry.request("POST", "/v2/library/app/blobs/uploads/"))
    crossed = one.split("?")[0] + "?" + two.split("?")[1]
    response = registry.request("PATCH", crossed, DATA)
    assert (response.code, response.errorCodes) == (404, ["BLOB_UPLOAD_UNKNOWN"])


@pytest.mark.parametrize("contentRange", [
    "nonsense", "10-5", "0-99", "bytes=0-9", "0-9/10", "bytes 0-9/10", "0-9/*",
    "0 - 9", "+0-9", "0-0x9"])
def test_badContentRangeIs416(contentRange: str) -> None:
    """A Content-Range other than <start>-<end> matching the body is 416 BLOB_UPLOAD_INVALID with the current Range."""
    registry = InMemoryRegistry()
    path = location(registry.request("POST", "/v2/library/app/blobs/uploads/"))
    response = registry.request("PATCH", path, b"x" * 10, {"Content-Range": contentRange})
    assert (response.code, response.errorCodes) == (416, ["BLOB_UPLOAD_INVALID"])
    assert response.header("Range") == "0-0"
    assert stateOf(location(response)).offset == 0


def test_replicasShareUploads() -> None:
    """Two registries on one storage with one secret serve alternate requests of one upload."""
    first = InMemoryRegistry()
    second = InMemoryRegistry(driver=first.driver)
    path = location(first.request("POST", "/v2/library/app/blobs/uploads/"))
    path = location(second.request("PATCH", path, DATA[:1000], {"Content-Range": "0-999"}))
    path = location(first.request("PATCH", path, DATA[1000:]))
    digest = Digest.of(DATA)
    assert second.request("PUT", f"{path}&digest={digest}").code == 201
    assert first.request("GET", f"/v2/library/app/blobs/{digest}").body == DATA


def test_replicasWithOtherSecrets() -> None:
    """A registry with another secret refuses the other's upload URLs."""
    first = InMemoryRegistry()
    second = InMemoryRegistry(driver=first.driver, secret="another")
    path = location(first.request("POST", "/v2/library/app/blobs/uploads/"))
    response = second.request("PATCH", path, DATA)
    assert (response.code, response.errorCodes) == (400, ["BLOB_UPLOAD_INVALID"])


def test_automaticMount() -> None:
    """A mount without from links a blob the registry holds anywhere (201), else starts an upload (202)."""
    registry = InMemoryRegistry()
    digest = registry.pushBlob("elsewhere/repo", DATA)
    response = registry.request("POST", f"/v2/library/app/blobs/uploads/?mount={digest}")
    assert (response.code, response.header("Docker-Content-Digest")) == (201, str(digest))
    assert registry.request("GET", f"/v2/library/app/blobs/{digest}").body == DATA
    unknown = Digest.of(b"never pushed")
    assert registry.request("POST", f"/v2/library/app/blobs/uploads/?mount={unknown}").code == 202
