"""
Blob pulls and deletes: C{/v2/<name>/blobs/<digest>}.
"""

from __future__ import annotations

import json

import pytest

from tests.api.helpers import blobStored, content, rawExchange
from tests.api.support import InMemoryRegistry, imageManifest
from txregistry.digest import Digest
from txregistry.storage import paths

DATA = bytes(range(256)) * 4  # 1024 bytes
SIZE = len(DATA)


@pytest.fixture
def registry() -> InMemoryRegistry:
    return InMemoryRegistry()


@pytest.fixture
def blob(registry: InMemoryRegistry) -> Digest:
    return registry.pushBlob("library/app", DATA)


def blobPath(digest: Digest | str, name: str = "library/app") -> str:
    return f"/v2/{name}/blobs/{digest}"


def test_get(registry: InMemoryRegistry, blob: Digest) -> None:
    """GET of a blob gives its bytes and the headers that describe them."""
    response = registry.request("GET", blobPath(blob))
    assert response.code == 200
    assert response.body == DATA
    assert response.header("Docker-Content-Digest") == str(blob)
    assert response.header("ETag") == f'"{blob}"'
    assert response.header("Accept-Ranges") == "bytes"
    assert response.header("Content-Range") is None


def test_getContentLengthOnTheWire(registry: InMemoryRegistry, blob: Digest) -> None:
    """GET of a blob sends its Content-Length, not a chunked body."""
    status, headers, body = rawExchange(registry, "GET", blobPath(blob))
    assert status == 200
    assert headers["content-length"] == [str(SIZE)]
    assert "transfer-encoding" not in headers
    assert body == DATA


def test_head(registry: InMemoryRegistry, blob: Digest) -> None:
    """HEAD of a blob gives the same headers as GET and no body."""
    response = registry.request("HEAD", blobPath(blob))
    assert response.code == 200
    assert response.body == b""
    assert response.header("Content-Length") == str(SIZE)
    assert response.header("Docker-Content-Digest") == str(blob)
    assert response.header("ETag") == f'"{blob}"'
    assert response.header("Accept-Ranges") == "bytes"


def test_getLargeBlob(registry: InMemoryRegistry) -> None:
    """A blob of several MiB comes back whole and unchanged."""
    data = bytes(range(251)) * (5 * 1024 * 1024 // 251)
    digest = registry.pushBlob("library/app", data)
    response = registry.request("GET", blobPath(digest))
    assert response.code == 200
    assert len(response.body) == len(data)
    assert Digest.of(response.body) == digest


@pytest.mark.parametrize(("rangeHeader", "start", "end"), [
    ("bytes=0-0", 0, 0),
    ("bytes=10-19", 10, 19),
    ("bytes=1000-", 1000, SIZE - 1),
    ("bytes=0-", 0, SIZE - 1),
    ("bytes=-24", SIZE - 24, SIZE - 1),
    ("bytes=-5000", 0, SIZE - 1),
    ("bytes=1000-99999", 1000, SIZE - 1),
    ("bytes=1023-1023", 1023, 1023),
])
def test_range(registry: InMemoryRegistry, blob: Digest, rangeHeader: str,
               start: int, end: int) -> None:
    """A satisfiable Range is a 206 of exactly those bytes, with Content-Range."""
    response = registry.request("GET", blobPath(blob), headers={"Range": rangeHeader})
    assert response.code == 206
    assert response.body == DATA[start:end + 1]
    assert response.header("Content-Range") == f"bytes {start}-{end}/{SIZE}"
    assert response.header("Docker-Content-Digest") == str(blob)
    status, headers, body = rawExchange(registry, "GET", blobPath(blob), {"Range": rangeHeader})
    assert status == 206
    assert headers["content-length"] == [str(end - start + 1)]
    assert body == DATA[start:end + 1]


def test_rangeHead(registry: InMemoryRegistry, blob: Digest) -> None:
    """HEAD with a Range gives the partial headers and no body."""
    response = registry.request("HEAD", blobPath(blob), headers={"Range": "bytes=10-19"})
    assert response.code == 206
    assert response.body == b""
    assert response.header("Content-Range") == f"bytes 10-19/{SIZE}"
    assert response.header("Content-Length") == "10"


@pytest.mark.parametrize("rangeHeader", ["bytes=1024-", f"bytes={SIZE}-{SIZE + 10}",
                                         "bytes=5000-6000", "bytes=-0", "bytes=5-2"])
def test_rangeUnsatisfiable(registry: InMemoryRegistry, blob: Digest, rangeHeader: str) -> None:
    """A Range wholly past the blob, or reversed, is a 416 SIZE_INVALID naming the blob's size."""
    response = registry.request("GET", blobPath(blob), headers={"Range": rangeHeader})
    assert (response.code, response.errorCodes) == (416, ["SIZE_INVALID"])
    assert response.header("Content-Range") == f"bytes */{SIZE}"
    assert DATA not in response.body


@pytest.mark.parametrize("rangeHeader", ["items=0-1", "bytes=0-1,5-6", "nonsense"])
def test_rangeIgnored(registry: InMemoryRegistry, blob: Digest, rangeHeader: str) -> None:
    """A Range that is not a single valid byte range is ignored: the whole blob is sent."""
    response = registry.request("GET", blobPath(blob), headers={"Range": rangeHeader})
    assert response.code == 200
    assert response.body == DATA


def test_ifNoneMatch(registry: InMemoryRegistry, blob: Digest) -> None:
    """If-None-Match with the blob's ETag is a 304 without a body."""
    response = registry.request("GET", blobPath(blob), headers={"If-None-Match": f'"{blob}"'})
    assert response.code == 304
    assert response.body == b""
    assert response.header("ETag") == f'"{blob}"'


def test_ifNoneMatchOther(registry: InMemoryRegistry, blob: Digest) -> None:
    """If-None-Match with another ETag gives the whole blob."""
    other = Digest.of(b"other")
    response = registry.request("GET", blobPath(blob), headers={"If-None-Match": f'"{other}"'})
    assert response.code == 200
    assert response.body == DATA


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_unknown(registry: InMemoryRegistry, method: str) -> None:
    """A blob the registry does not hold is a 404 BLOB_UNKNOWN."""
    registry.pushBlob("library/app", b"something")
    response = registry.request(method, blobPath(Digest.of(b"missing")))
    assert response.code == 404
    if method == "GET":
        assert response.errorCodes == ["BLOB_UNKNOWN"]
    else:
        assert response.body == b""


def test_unknownRepository(registry: InMemoryRegistry) -> None:
    """A blob in a repository that does not exist is a 404 BLOB_UNKNOWN."""
    response = registry.request("GET", blobPath(Digest.of(b"missing"), "no/such"))
    assert response.code == 404
    assert response.errorCodes == ["BLOB_UNKNOWN"]


def test_otherRepository(registry: InMemoryRegistry, blob: Digest) -> None:
    """A blob stored for one repository is not served from another that has no link to it."""
    registry.pushBlob("other/repo", b"unrelated")
    assert blobStored(registry.driver, blob)
    for method in ("GET", "HEAD"):
        response = registry.request(method, blobPath(blob, "other/repo"))
        assert response.code == 404
    assert registry.request("GET", blobPath(blob, "other/repo")).errorCodes == ["BLOB_UNKNOWN"]


@pytest.mark.parametrize("digest", [
    "sha256:abc",
    "sha256:" + "0" * 63,
    "sha256:" + "0" * 65,
    "sha256:" + "A" * 64,
    "sha256:" + "g" * 64,
    "md5:" + "0" * 32,
    "sha384:" + "0" * 96,
    "sha256-" + "0" * 64,
    "nodigest",
    "sha512:" + "0" * 64,
])
def test_invalidDigest(registry: InMemoryRegistry, digest: str) -> None:
    """A malformed digest, an unknown algorithm, or uppercase hex is a 400 DIGEST_INVALID."""
    response = registry.request("GET", blobPath(digest))
    assert response.code == 400
    assert response.errorCodes == ["DIGEST_INVALID"]


def test_uppercaseOfStoredBlob(registry: InMemoryRegistry, blob: Digest) -> None:
    """The uppercase spelling of a stored blob's digest is refused, not served."""
    response = registry.request("GET", blobPath(f"sha256:{blob.hex.upper()}"))
    assert response.code == 400
    assert response.errorCodes == ["DIGEST_INVALID"]


def test_sha512(registry: InMemoryRegistry) -> None:
    """A blob pushed under a sha512 digest is served under that digest."""
    digest = Digest.of(DATA, "sha512")
    response = registry.request("POST", f"/v2/library/app/blobs/uploads/?digest={digest}", DATA)
    assert response.code == 201
    assert response.header("Docker-Content-Digest") == str(digest)
    response = registry.request("GET", blobPath(digest))
    assert response.code == 200
    assert response.body == DATA
    assert response.header("Docker-Content-Digest") == str(digest)
    assert content(registry.driver, paths.blobData(digest)) == DATA


def test_deleteDisabled(registry: InMemoryRegistry, blob: Digest) -> None:
    """DELETE of a blob with deletes disabled is a 405 UNSUPPORTED, and the blob stays."""
    response = registry.request("DELETE", blobPath(blob))
    assert response.code == 405
    assert response.errorCodes == ["UNSUPPORTED"]
    assert registry.request("GET", blobPath(blob)).body == DATA


def test_delete() -> None:
    """DELETE of a blob with deletes enabled unlinks it; its data stays in the global store."""
    registry = InMemoryRegistry(delete_enabled=True)
    blob = registry.pushBlob("library/app", DATA)
    response = registry.request("DELETE", blobPath(blob))
    assert response.code == 202
    assert response.header("Docker-Content-Digest") == str(blob)
    assert registry.request("GET", blobPath(blob)).code == 404
    assert registry.request("HEAD", blobPath(blob)).code == 404
    assert content(registry.driver, paths.layerLink("library/app", blob)) is None
    assert content(registry.driver, paths.blobData(blob)) == DATA


def test_deleteOnlyUnlinksOneRepository() -> None:
    """Deleting a blob from one repository leaves it in another that links it."""
    registry = InMemoryRegistry(delete_enabled=True)
    blob = registry.pushBlob("a", DATA)
    registry.pushBlob("b", DATA)
    assert registry.request("DELETE", blobPath(blob, "a")).code == 202
    assert registry.request("GET", blobPath(blob, "b")).body == DATA


def test_deleteTwice() -> None:
    """Deleting a blob the repository no longer has is a 404 BLOB_UNKNOWN."""
    registry = InMemoryRegistry(delete_enabled=True)
    blob = registry.pushBlob("library/app", DATA)
    assert registry.request("DELETE", blobPath(blob)).code == 202
    response = registry.request("DELETE", blobPath(blob))
    assert response.code == 404
    assert response.errorCodes == ["BLOB_UNKNOWN"]


def test_deleteInvalidDigest() -> None:
    """DELETE with a malformed digest is a 400 DIGEST_INVALID."""
    registry = InMemoryRegistry(delete_enabled=True)
    response = registry.request("DELETE", blobPath("sha256:nope"))
    assert response.code == 400
    assert response.errorCodes == ["DIGEST_INVALID"]


def test_emptyBlob(registry: InMemoryRegistry) -> None:
    """The empty blob is served with a zero length."""
    digest = registry.pushBlob("library/app", b"")
    response = registry.request("GET", blobPath(digest))
    assert response.code == 200
    assert response.body == b""
    assert response.header("Docker-Content-Digest") == str(digest)
    status, headers, body = rawExchange(registry, "GET", blobPath(digest))
    assert (status, headers["content-length"], body) == (200, ["0"], b"")


def test_headUnsatisfiableRange(registry: InMemoryRegistry, blob: Digest) -> None:
    """HEAD with an unsatisfiable Range is a 416 without a body."""
    response = registry.request("HEAD", blobPath(blob), headers={"Range": "bytes=5000-"})
    assert response.code == 416
    assert response.body == b""
    assert response.header("Content-Range") == f"bytes */{SIZE}"


def test_headIfNoneMatch(registry: InMemoryRegistry, blob: Digest) -> None:
    """HEAD with a matching If-None-Match is a 304."""
    response = registry.request("HEAD", blobPath(blob), headers={"If-None-Match": f'"{blob}"'})
    assert response.code == 304


def test_rangeOfEmptyBlob(registry: InMemoryRegistry) -> None:
    """Any byte range of the empty blob is unsatisfiable: a 416 naming size 0."""
    digest = registry.pushBlob("library/app", b"")
    response = registry.request("GET", blobPath(digest), headers={"Range": "bytes=0-"})
    assert response.code == 416
    assert response.header("Content-Range") == "bytes */0"


def test_manifestBlobIsNotALayerAfterDelete() -> None:
    """Deleting a blob that is linked only as a manifest revision is a 404 BLOB_UNKNOWN and keeps the manifest."""
    registry = InMemoryRegistry(delete_enabled=True)
    config = registry.pushBlob("library/app", b"{}")
    payload = json.dumps(imageManifest(config, 2, [])).encode()
    response = registry.request("PUT", "/v2/library/app/manifests/v1", payload,
                                {"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    assert response.code == 201
    digest = Digest.of(payload)
    response = registry.request("DELETE", blobPath(digest))
    assert response.code == 404
    assert registry.request("GET", "/v2/library/app/manifests/v1").body == payload


@pytest.mark.parametrize(("first", "last"), [
    (1024 * 1024 - 10, 1024 * 1024 + 9),
    (1, 3 * 1024 * 1024 - 2),
    (2 * 1024 * 1024, 2 * 1024 * 1024),
])
def test_rangeAcrossReadChunks(registry: InMemoryRegistry, first: int, last: int) -> None:
    """A Range spanning the sender's 1 MiB read chunks gives exactly the bytes asked for."""
    data = bytes(range(253)) * (3 * 1024 * 1024 // 253 + 1)
    data = data[:3 * 1024 * 1024]
    digest = registry.pushBlob("library/app", data)
    response = registry.request("GET", blobPath(digest), headers={"Range": f"bytes={first}-{last}"})
    assert response.code == 206
    assert response.body == data[first:last + 1]
    assert response.header("Content-Range") == f"bytes {first}-{last}/{len(data)}"
