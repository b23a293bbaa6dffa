"""
Blob uploads: C{/v2/<name>/blobs/uploads/[<id>]}, monolithic pushes and
cross-repository mounts.
"""

from __future__ import annotations

import os

import pytest

from tests.api.helpers import (
    blobStored,
    content,
    rawExchange,
    result,
    snapshot,
    uploadsOf,
)
from tests.api.support import BASE, InMemoryRegistry, Response
from txregistry.api.uploads import SMALL_PUSH
from txregistry.digest import Digest
from txregistry.storage import paths

NAME = "library/app"
DATA = bytes(range(256)) * 2  # 512 bytes
V2 = "/docker/registry/v2"


@pytest.fixture
def registry() -> InMemoryRegistry:
    return InMemoryRegistry()


def pathOf(location: str | None) -> str:
    """
    @return: the path (and query) of a C{Location} the registry gave.
    """
    assert location is not None
    assert location.startswith(BASE + "/v2/"), location
    return location[len(BASE):]


def start(registry: InMemoryRegistry, name: str = NAME) -> str:
    """
    Start an upload.

    @return: the path of its C{Location}.
    """
    response = registry.request("POST", f"/v2/{name}/blobs/uploads/")
    assert response.code == 202, response.body
    return pathOf(response.header("Location"))


def uploadID(location: str) -> str:
    return location.rsplit("/", 1)[1].split("?", 1)[0]


def storedSize(registry: InMemoryRegistry, location: str, name: str = NAME) -> int | None:
    data = content(registry.driver, paths.uploadData(name, uploadID(location)))
    return None if data is None else len(data)


def patch(registry: InMemoryRegistry, location: str, data: bytes,
          contentRange: str | None = None) -> Response:
    headers = {"Content-Type": "application/octet-stream"}
    if contentRange is not None:
        headers["Content-Range"] = contentRange
    return registry.request("PATCH", location, data, headers)


def withDigest(location: str, digest: Digest | str) -> str:
    separator = "&" if "?" in location else "?"
    return f"{location}{separator}digest={digest}"


# Starting

def test_start(registry: InMemoryRegistry) -> None:
    """POST starts an upload: 202 with its Location, its UUID, and an empty Range."""
    response = registry.request("POST", f"/v2/{NAME}/blobs/uploads/")
    assert response.code == 202
    location = pathOf(response.header("Location"))
    uuid = response.header("Docker-Upload-UUID")
    assert uuid
    assert location.startswith(f"/v2/{NAME}/blobs/uploads/")
    assert uploadID(location) == uuid
    assert response.header("Range") == "0-0"
    assert response.body == b""
    status, headers, body = rawExchange(registry, "POST", f"/v2/{NAME}/blobs/uploads/")
    assert (status, headers["content-length"], body) == (202, ["0"], b"")


def test_startStoresUpload(registry: InMemoryRegistry) -> None:
    """A started upload has an empty data file and a start time in distribution's layout."""
    location = start(registry)
    uuid = uploadID(location)
    base = f"{V2}/repositories/{NAME}/_uploads/{uuid}"
    assert content(registry.driver, f"{base}/data") == b""
    startedAt = content(registry.driver, f"{base}/startedat")
    assert startedAt is not None and startedAt.endswith(b"Z")


def test_startsAreDistinct(registry: InMemoryRegistry) -> None:
    """Two uploads started in a row have different ids."""
    assert start(registry) != start(registry)


# Chunks

def test_patchWithoutContentRange(registry: InMemoryRegistry) -> None:
    """PATCH without Content-Range appends the body; the answer's Range covers what is stored."""
    location = start(registry)
    response = patch(registry, location, DATA[:100])
    assert response.code == 202
    assert response.header("Range") == "0-99"
    assert response.header("Docker-Upload-UUID") == uploadID(location)
    location = pathOf(response.header("Location"))
    response = patch(registry, location, DATA[100:])
    assert response.code == 202
    assert response.header("Range") == f"0-{len(DATA) - 1}"
    assert storedSize(registry, location) == len(DATA)


def test_patchWithContentRange(registry: InMemoryRegistry) -> None:
    """PATCH with Content-Range and Content-Length chunks an upload in order."""
    location = start(registry)
    response = patch(registry, location, DATA[:100], "0-99")
    assert response.code == 202
    assert response.header("Range") == "0-99"
    response = patch(registry, pathOf(response.header("Location")), DATA[100:250], "100-249")
    assert response.code == 202
    assert response.header("Range") == "0-249"
    assert storedSize(registry, location) == 250
    digest = Digest.of(DATA[:250])
    response = registry.request("PUT", withDigest(location, digest))
    assert response.code == 201
    assert registry.request("GET", f"/v2/{NAME}/blobs/{digest}").body == DATA[:250]


def test_status(registry: InMemoryRegistry) -> None:
    """GET of an upload is a 204 with the Range stored so far."""
    location = start(registry)
    response = registry.request("GET", location)
    assert response.code == 204
    assert response.header("Range") == "0-0"
    assert response.header("Docker-Upload-UUID") == uploadID(location)
    patch(registry, location, DATA[:37])
    response = registry.request("GET", location)
    assert response.code == 204
    assert response.header("Range") == "0-36"
    assert response.body == b""
    assert pathOf(response.header("Location")).startswith(location.split("?")[0])


def test_outOfOrderChunk(registry: InMemoryRegistry) -> None:
    """A chunk that does not start at the end of the upload is a 416 with the current Range; nothing is appended."""
    location = start(registry)
    patch(registry, location, DATA[:100], "0-99")
    response = patch(registry, location, DATA[200:300], "200-299")
    assert response.code == 416
    assert response.header("Range") == "0-99"
    assert storedSize(registry, location) == 100
    response = patch(registry, location, DATA[50:150], "50-149")
    assert response.code == 416
    assert response.header("Range") == "0-99"
    assert storedSize(registry, location) == 100
    response = registry.request("GET", location)
    assert response.header("Range") == "0-99"


def test_outOfOrderFirstChunk(registry: InMemoryRegistry) -> None:
    """A first chunk not starting at 0 is a 416 and leaves the upload empty."""
    location = start(registry)
    response = patch(registry, location, DATA[:10], "10-19")
    assert response.code == 416
    assert response.header("Range") == "0-0"
    assert storedSize(registry, location) == 0


def test_uploadContinuesAfterRefusedChunk(registry: InMemoryRegistry) -> None:
    """After a refused chunk, the right chunk is accepted and the blob completes."""
    location = start(registry)
    patch(registry, location, DATA[:100], "0-99")
    assert patch(registry, location, DATA[150:200], "150-199").code == 416
    assert patch(registry, location, DATA[100:], f"100-{len(DATA) - 1}").code == 202
    digest = Digest.of(DATA)
    assert registry.request("PUT", withDigest(location, digest)).code == 201
    assert registry.request("GET", f"/v2/{NAME}/blobs/{digest}").body == DATA


def test_contentRangeLengthMismatch(registry: InMemoryRegistry) -> None:
    """A Content-Range whose length is not the Content-Length is refused and nothing is appended."""
    location = start(registry)
    response = patch(registry, location, DATA[:10], "0-99")
    assert response.code in (400, 416)
    assert storedSize(registry, location) == 0


# Finishing

def test_putWithoutBody(registry: InMemoryRegistry) -> None:
    """PUT ?digest= with no body makes the chunks a blob: 201 with Location and digest."""
    location = start(registry)
    location = pathOf(patch(registry, location, DATA).header("Location"))
    digest = Digest.of(DATA)
    response = registry.request("PUT", withDigest(location, digest))
    assert response.code == 201
    assert response.header("Docker-Content-Digest") == str(digest)
    assert pathOf(response.header("Location")) == f"/v2/{NAME}/blobs/{digest}"
    blob = registry.request("GET", f"/v2/{NAME}/blobs/{digest}")
    assert blob.code == 200
    assert blob.body == DATA


def test_putWithFinalBody(registry: InMemoryRegistry) -> None:
    """PUT ?digest= with a body appends it as the last chunk."""
    location = start(registry)
    location = pathOf(patch(registry, location, DATA[:200]).header("Location"))
    digest = Digest.of(DATA)
    response = registry.request("PUT", withDigest(location, digest), DATA[200:],
                                {"Content-Type": "application/octet-stream"})
    assert response.code == 201
    assert response.header("Docker-Content-Digest") == str(digest)
    assert registry.request("GET", f"/v2/{NAME}/blobs/{digest}").body == DATA


def test_putWholeBlob(registry: InMemoryRegistry) -> None:
    """POST then a single PUT ?digest= with the whole body pushes a blob."""
    location = start(registry)
    digest = Digest.of(DATA)
    response = registry.request("PUT", withDigest(location, digest), DATA)
    assert response.code == 201
    assert registry.request("GET", f"/v2/{NAME}/blobs/{digest}").body == DATA


def test_putRemovesUpload(registry: InMemoryRegistry) -> None:
    """Once finished, the upload is gone: its status is 404 and nothing is left under _uploads."""
    location = start(registry)
    patch(registry, location, DATA)
    assert registry.request("PUT", withDigest(location, Digest.of(DATA))).code == 201
    response = registry.request("GET", location)
    assert response.code == 404
    assert response.errorCodes == ["BLOB_UPLOAD_UNKNOWN"]
    assert uploadsOf(registry.driver, NAME) == []


def test_putSha512(registry: InMemoryRegistry) -> None:
    """A chunked upload finished with a sha512 digest is stored under that digest."""
    location = start(registry)
    patch(registry, location, DATA[:100])
    patch(registry, location, DATA[100:])
    digest = Digest.of(DATA, "sha512")
    response = registry.request("PUT", withDigest(location, digest))
    assert response.code == 201
    assert response.header("Docker-Content-Digest") == str(digest)
    assert registry.request("GET", f"/v2/{NAME}/blobs/{digest}").body == DATA


def test_putDigestMismatch(registry: InMemoryRegistry) -> None:
    """PUT with a digest the content does not have is a 400 DIGEST_INVALID; no blob is stored and the upload is gone."""
    location = start(registry)
    patch(registry, location, DATA)
    claimed = Digest.of(b"something else")
    response = registry.request("PUT", withDigest(location, claimed))
    assert response.code == 400
    assert response.errorCodes == ["DIGEST_INVALID"]
    assert content(registry.driver, paths.blobData(claimed)) is None
    assert content(registry.driver, paths.blobData(Digest.of(DATA))) is None
    assert content(registry.driver, paths.layerLink(NAME, claimed)) is None
    status = registry.request("GET", location)
    assert status.code == 404
    assert status.errorCodes == ["BLOB_UPLOAD_UNKNOWN"]
    assert uploadsOf(registry.driver, NAME) == []
    assert registry.request("GET", f"/v2/{NAME}/blobs/{claimed}").code == 404


def test_putDigestMismatchWithBody(registry: InMemoryRegistry) -> None:
    """A final chunk that makes the content miss its digest leaves nothing stored."""
    location = start(registry)
    claimed = Digest.of(DATA)
    response = registry.request("PUT", withDigest(location, claimed), DATA[:-1])
    assert response.code == 400
    assert response.errorCodes == ["DIGEST_INVALID"]
    assert not blobStored(registry.driver, claimed)
    assert not blobStored(registry.driver, Digest.of(DATA[:-1]))
    assert uploadsOf(registry.driver, NAME) == []


def test_putBodyMatchingAloneAfterChunks(registry: InMemoryRegistry) -> None:
    """A final body that alone has the digest, after earlier chunks, is not the blob: 400, nothing stored."""
    location = start(registry)
    location = pathOf(patch(registry, location, DATA[:100]).header("Location"))
    claimed = Digest.of(DATA[100:])
    response = registry.request("PUT", withDigest(location, claimed), DATA[100:])
    assert response.code == 400
    assert response.errorCodes == ["DIGEST_INVALID"]
    assert not blobStored(registry.driver, claimed)
    assert uploadsOf(registry.driver, NAME) == []


@pytest.mark.parametrize("size", [0, 1, SMALL_PUSH, SMALL_PUSH + 1, 3 * SMALL_PUSH])
def test_wholeBlobSizes(registry: InMemoryRegistry, size: int) -> None:
    """Whole blobs on either side of the small-push limit are stored exactly, by POST or PUT."""
    data = os.urandom(size)
    digest = Digest.of(data)
    response = registry.request("POST", f"/v2/{NAME}/blobs/uploads/?digest={digest}", data)
    assert response.code == 201
    response = registry.request("PUT", withDigest(start(registry, "other"), digest), data)
    assert response.code == 201
    for name in (NAME, "other"):
        assert registry.request("GET", f"/v2/{name}/blobs/{digest}").body == data
        assert uploadsOf(registry.driver, name) == []


def test_putWithoutDigest(registry: InMemoryRegistry) -> None:
    """PUT without a digest parameter is a 400 DIGEST_INVALID and stores no blob."""
    location = start(registry)
    patch(registry, location, DATA)
    before = snapshot(registry.driver)
    response = registry.request("PUT", location)
    assert response.code == 400
    assert response.errorCodes == ["DIGEST_INVALID"]
    assert not blobStored(registry.driver, Digest.of(DATA))
    assert snapshot(registry.driver) == before


def test_putMalformedDigest(registry: InMemoryRegistry) -> None:
    """PUT with a malformed digest is a 400 DIGEST_INVALID and stores no blob."""
    location = start(registry)
    patch(registry, location, DATA)
    before = snapshot(registry.driver)
    response = registry.request("PUT", withDigest(location, "sha256:1234"))
    assert response.code == 400
    assert response.errorCodes == ["DIGEST_INVALID"]
    assert snapshot(registry.driver) == before


# Unknown uploads and cancelling

UNKNOWN = "/v2/library/app/blobs/uploads/2f7e5a8e-1111-4222-8333-444455556666"


@pytest.mark.parametrize(("method", "path"), [
    ("PATCH", UNKNOWN),
    ("PUT", UNKNOWN + "?digest=" + str(Digest.of(b""))),
    ("GET", UNKNOWN),
    ("DELETE", UNKNOWN),
    ("GET", "/v2/library/app/blobs/uploads/..."),
    ("DELETE", "/v2/library/app/blobs/uploads/.hidden"),
    ("PATCH", "/v2/library/app/blobs/uploads/" + "a" * 200),
])
def test_unknownUpload(registry: InMemoryRegistry, method: str, path: str) -> None:
    """Every request on an upload that does not exist is a 404 BLOB_UPLOAD_UNKNOWN."""
    before = snapshot(registry.driver)
    body = b"data" if method in ("PATCH",) else None
    response = registry.request(method, path, body)
    assert response.code == 404
    assert response.errorCodes == ["BLOB_UPLOAD_UNKNOWN"]
    assert snapshot(registry.driver) == before


def test_uploadOfAnotherRepository(registry: InMemoryRegistry) -> None:
    """An upload started in one repository is unknown in another."""
    location = start(registry, "one")
    other = location.replace("/v2/one/", "/v2/two/")
    for method in ("GET", "PATCH", "DELETE"):
        response = registry.request(method, other, b"x" if method == "PATCH" else None)
        assert response.code == 404, method
        assert response.errorCodes == ["BLOB_UPLOAD_UNKNOWN"]
    assert registry.request("GET", location).code == 204


def test_cancel(registry: InMemoryRegistry) -> None:
    """DELETE of an upload is a 204; the upload is then unknown and nothing of it is stored."""
    location = start(registry)
    patch(registry, location, DATA)
    response = registry.request("DELETE", location)
    assert response.code == 204
    assert uploadsOf(registry.driver, NAME) == []
    for method in ("GET", "DELETE", "PATCH"):
        response = registry.request(method, location, b"x" if method == "PATCH" else None)
        assert response.code == 404, method
        assert response.errorCodes == ["BLOB_UPLOAD_UNKNOWN"]
    response = registry.request("PUT", withDigest(location, Digest.of(DATA)))
    assert response.code == 404
    assert not blobStored(registry.driver, Digest.of(DATA))


# Monolithic pushes

def test_monolithic(registry: InMemoryRegistry) -> None:
    """POST ?digest= with the whole blob is a 201 and the blob is readable."""
    digest = Digest.of(DATA)
    response = registry.request("POST", f"/v2/{NAME}/blobs/uploads/?digest={digest}", DATA)
    assert response.code == 201
    assert response.header("Docker-Content-Digest") == str(digest)
    assert pathOf(response.header("Location")) == f"/v2/{NAME}/blobs/{digest}"
    assert registry.request("GET", f"/v2/{NAME}/blobs/{digest}").body == DATA
    assert uploadsOf(registry.driver, NAME) == []


def test_monolithicWrongDigest(registry: InMemoryRegistry) -> None:
    """A monolithic push whose content misses its digest is a 400 and stores nothing at all."""
    before = snapshot(registry.driver)
    claimed = Digest.of(b"not the data")
    response = registry.request("POST", f"/v2/{NAME}/blobs/uploads/?digest={claimed}", DATA)
    assert response.code == 400
    assert response.errorCodes == ["DIGEST_INVALID"]
    assert uploadsOf(registry.driver, NAME) == []
    assert snapshot(registry.driver) == before


def test_monolithicMalformedDigest(registry: InMemoryRegistry) -> None:
    """A monolithic push with a malformed digest is a 400 DIGEST_INVALID and stores nothing."""
    before = snapshot(registry.driver)
    response = registry.request("POST", f"/v2/{NAME}/blobs/uploads/?digest=sha256:zz", DATA)
    assert response.code == 400
    assert response.errorCodes == ["DIGEST_INVALID"]
    assert snapshot(registry.driver) == before


def test_monolithicTwice(registry: InMemoryRegistry) -> None:
    """Pushing the same blob again succeeds and keeps one copy of its data."""
    digest = registry.pushBlob(NAME, DATA)
    assert registry.pushBlob(NAME, DATA) == digest
    blobs = [p for p in snapshot(registry.driver) if p.startswith(f"{V2}/blobs/")]
    assert blobs == [paths.blobData(digest)]
    assert registry.request("GET", f"/v2/{NAME}/blobs/{digest}").body == DATA


def test_emptyBlob(registry: InMemoryRegistry) -> None:
    """The empty blob (sha256 of nothing) can be pushed monolithically and by upload."""
    digest = Digest.of(b"")
    assert str(digest) == "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    response = registry.request("POST", f"/v2/a/blobs/uploads/?digest={digest}", b"")
    assert response.code == 201
    assert registry.request("GET", f"/v2/a/blobs/{digest}").code == 200
    location = start(registry, "b")
    response = registry.request("PUT", withDigest(location, digest))
    assert response.code == 201
    response = registry.request("GET", f"/v2/b/blobs/{digest}")
    assert (response.code, response.body) == (200, b"")


# Mounts

def test_mount(registry: InMemoryRegistry) -> None:
    """A mount of a blob the source repository has is a 201, and the blob is readable from the target."""
    digest = registry.pushBlob("source/repo", DATA)
    response = registry.request(
        "POST", f"/v2/target/repo/blobs/uploads/?mount={digest}&from=source/repo")
    assert response.code == 201
    assert response.header("Docker-Content-Digest") == str(digest)
    assert pathOf(response.header("Location")) == f"/v2/target/repo/blobs/{digest}"
    assert registry.request("GET", f"/v2/target/repo/blobs/{digest}").body == DATA
    assert content(registry.driver, paths.layerLink("target/repo", digest)) == str(digest).encode()
    assert uploadsOf(registry.driver, "target/repo") == []


def test_mountUnknownBlob(registry: InMemoryRegistry) -> None:
    """A mount of a blob the source does not have falls back to a new upload (202)."""
    registry.pushBlob("source/repo", b"other")
    elsewhere = registry.pushBlob("elsewhere", DATA)
    response = registry.request(
        "POST", f"/v2/target/blobs/uploads/?mount={elsewhere}&from=source/repo")
    assert response.code == 202
    assert response.header("Docker-Upload-UUID")
    assert response.header("Range") == "0-0"
    assert registry.request("GET", f"/v2/target/blobs/{elsewhere}").code == 404
    location = pathOf(response.header("Location"))
    assert registry.request("GET", location).code == 204


@pytest.mark.parametrize("source", ["UPPER", "a/../b", "-a", ""])
def test_mountInvalidSource(registry: InMemoryRegistry, source: str) -> None:
    """A mount from an invalid repository name falls back to a new upload (202)."""
    digest = registry.pushBlob("source", DATA)
    response = registry.request(
        "POST", f"/v2/target/blobs/uploads/?mount={digest}&from={source}")
    assert response.code == 202
    assert response.header("Docker-Upload-UUID")
    assert registry.request("GET", f"/v2/target/blobs/{digest}").code == 404


# Repository names

INVALID_NAMES = ["UPPER", "a/../b", "a%2Fb", "-a", "a" * 256, "a//b", "a/", "a/.b", "a__-b"]
D = str(Digest.of(b"x"))


def endpoints(name: str) -> list[tuple[str, str]]:
    upload = f"/v2/{name}/blobs/uploads/2f7e5a8e-1111-4222-8333-444455556666"
    return [
        ("GET", f"/v2/{name}/blobs/{D}"),
        ("DELETE", f"/v2/{name}/blobs/{D}"),
        ("POST", f"/v2/{name}/blobs/uploads/"),
        ("POST", f"/v2/{name}/blobs/uploads/?digest={D}"),
        ("POST", f"/v2/{name}/blobs/uploads/?mount={D}&from=library/app"),
        ("PATCH", upload),
        ("PUT", f"{upload}?digest={D}"),
        ("GET", upload),
        ("DELETE", upload),
        ("GET", f"/v2/{name}/manifests/latest"),
        ("PUT", f"/v2/{name}/manifests/latest"),
        ("DELETE", f"/v2/{name}/manifests/{D}"),
        ("GET", f"/v2/{name}/tags/list"),
    ]


@pytest.mark.parametrize("name", INVALID_NAMES)
def test_invalidName(name: str) -> None:
    """Every endpoint answers 400 NAME_INVALID to an invalid repository name, sent verbatim."""
    registry = InMemoryRegistry(delete_enabled=True)
    registry.pushBlob("library/app", b"x")
    before = snapshot(registry.driver)
    for method, path in endpoints(name):
        status, headers, body = rawExchange(registry, method, path,
                                            body=b"x" if method != "GET" and method != "DELETE" else b"")
        assert status == 400, (method, path, status, body)
        assert b'"NAME_INVALID"' in body, (method, path, body)
    assert snapshot(registry.driver) == before


@pytest.mark.parametrize("name", ["UPPER", "a" * 256])
def test_invalidNameHead(registry: InMemoryRegistry, name: str) -> None:
    """HEAD of a blob or manifest under an invalid name is a 400 without a body."""
    for path in (f"/v2/{name}/blobs/{D}", f"/v2/{name}/manifests/latest"):
        response = registry.request("HEAD", path)
        assert response.code == 400
        assert response.body == b""


@pytest.mark.parametrize("name", ["a" * 255, "a/b/c/d", "a.b_c__d-e---f", "0", "x" * 100 + "/" + "y" * 154])
def test_validNames(registry: InMemoryRegistry, name: str) -> None:
    """Names at the edges of the grammar, up to 255 characters, are accepted."""
    assert len(name) <= 255
    digest = registry.pushBlob(name, DATA)
    assert registry.request("GET", f"/v2/{name}/blobs/{digest}").body == DATA


# Layout

def test_layout(registry: InMemoryRegistry) -> None:
    """A pushed blob is stored as distribution stores it: data by digest, and a link in the repository."""
    digest = registry.pushBlob(NAME, DATA)
    hexa = digest.hex
    files = snapshot(registry.driver)
    assert files == {
        f"{V2}/blobs/sha256/{hexa[:2]}/{hexa}/data": DATA,
        f"{V2}/repositories/{NAME}/_layers/sha256/{hexa}/link": f"sha256:{hexa}".encode(),
    }


def test_layoutAfterChunkedUpload(registry: InMemoryRegistry) -> None:
    """A chunked upload leaves exactly distribution's blob and link behind."""
    location = start(registry)
    patch(registry, location, DATA[:10])
    patch(registry, location, DATA[10:])
    digest = Digest.of(DATA)
    assert registry.request("PUT", withDigest(location, digest)).code == 201
    files = snapshot(registry.driver)
    assert files == {
        f"{V2}/blobs/sha256/{digest.hex[:2]}/{digest.hex}/data": DATA,
        f"{V2}/repositories/{NAME}/_layers/sha256/{digest.hex}/link": str(digest).encode(),
    }


# More edges

def test_patchChunkedTransferEncoding(registry: InMemoryRegistry) -> None:
    """A PATCH body sent with chunked transfer encoding (no Content-Length) is appended whole."""
    location = start(registry)
    data = bytes(range(256)) * 1024  # 256 KiB, several transfer chunks
    status, headers, body = rawExchange(registry, "PATCH", location, body=data, chunked=True)
    assert status == 202, body
    assert headers["range"] == [f"0-{len(data) - 1}"]
    digest = Digest.of(data)
    assert registry.request("PUT", withDigest(location, digest)).code == 201
    assert registry.request("GET", f"/v2/{NAME}/blobs/{digest}").body == data


def test_monolithicChunkedTransferEncoding(registry: InMemoryRegistry) -> None:
    """A monolithic POST whose body is sent with chunked transfer encoding is stored whole."""
    data = b"monolithic " * 10000
    digest = Digest.of(data)
    status, _, body = rawExchange(registry, "POST", f"/v2/{NAME}/blobs/uploads/?digest={digest}",
                                  body=data, chunked=True)
    assert status == 201, body
    assert registry.request("GET", f"/v2/{NAME}/blobs/{digest}").body == data


def test_putSha512Mismatch(registry: InMemoryRegistry) -> None:
    """A sha512 digest the content does not have is a 400 DIGEST_INVALID; nothing is stored."""
    location = start(registry)
    patch(registry, location, DATA)
    claimed = Digest.of(DATA + b"!", "sha512")
    response = registry.request("PUT", withDigest(location, claimed))
    assert response.code == 400
    assert response.errorCodes == ["DIGEST_INVALID"]
    assert not blobStored(registry.driver, claimed)
    assert uploadsOf(registry.driver, NAME) == []


def test_putUploadOfAnotherRepository(registry: InMemoryRegistry) -> None:
    """Finishing an upload under another repository's name is a 404 and stores nothing there."""
    location = start(registry, "one")
    patch(registry, location, DATA)
    digest = Digest.of(DATA)
    response = registry.request("PUT", withDigest(location.replace("/v2/one/", "/v2/two/"), digest))
    assert response.code == 404
    assert response.errorCodes == ["BLOB_UPLOAD_UNKNOWN"]
    assert not blobStored(registry.driver, digest)
    assert registry.request("PUT", withDigest(location, digest)).code == 201


def test_mountIntoRepositoryThatHasIt(registry: InMemoryRegistry) -> None:
    """Mounting a blob the target already has is a 201."""
    digest = registry.pushBlob("source", DATA)
    registry.pushBlob("target", DATA)
    response = registry.request("POST", f"/v2/target/blobs/uploads/?mount={digest}&from=source")
    assert response.code == 201
    assert uploadsOf(registry.driver, "target") == []


def test_blobDataGone(registry: InMemoryRegistry) -> None:
    """A blob whose link remains but whose data is gone (collected) is a 404 BLOB_UNKNOWN, and a mount of it uploads instead."""
    digest = registry.pushBlob("source", DATA)
    result(registry.driver.delete(paths.blobData(digest)))
    response = registry.request("GET", f"/v2/source/blobs/{digest}")
    assert response.code == 404
    assert response.errorCodes == ["BLOB_UNKNOWN"]
    response = registry.request("POST", f"/v2/target/blobs/uploads/?mount={digest}&from=source")
    assert response.code == 202
