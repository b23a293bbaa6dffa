"""
The push workflow of the OCI conformance suite: blob uploads by every API
(C{conformance/run.go} C{TestBlobAPIs}, C{conformance/api.go}), the classic
push checks (C{conformance/02_push_test.go}), and pushing each data set
(C{conformance/run.go} C{TestPush}).
"""

from __future__ import annotations

import os
from urllib.parse import urlencode

import pytest

from tests.conformance import oci
from tests.conformance.clients import MemoryClient
from tests.conformance.oci import REPO1, REPO2, check, relative

ALGOS = ["sha256", "sha512"]


def blob(algo: str, size: int = 512) -> tuple[str, bytes]:
    data = os.urandom(size)
    return oci.digestOf(data, algo), data


def chunkedBlob(algo: str) -> tuple[str, bytes]:
    """A blob spanning three chunks of C{chunkMin}, as C{chunked multi} makes."""
    return blob(algo, oci.CHUNK_MIN * 3 - 5)


# run.go TestBlobAPIs, once per digest algorithm

@pytest.mark.parametrize("algo", ALGOS)
def test_push_blobPostOnly(client: MemoryClient, algo: str) -> None:
    """run.go "post only": a monolithic POST ?digest= answers 201; HEAD, GET, DELETE follow."""
    dig, data = blob(algo)
    oci.blobPostOnly(client, REPO1, dig, data)
    oci.blobRoundTrip(client, REPO1, dig, data)


@pytest.mark.parametrize("algo", ALGOS)
def test_push_blobPostPut(client: MemoryClient, algo: str) -> None:
    """run.go "post+put": POST then a monolithic PUT ?digest= answers 201."""
    dig, data = blob(algo)
    oci.blobPostPut(client, REPO1, dig, data)
    oci.blobRoundTrip(client, REPO1, dig, data)


@pytest.mark.parametrize("algo", ALGOS)
def test_push_blobChunkedSingle(client: MemoryClient, algo: str) -> None:
    """run.go "chunked single": one PATCH with Content-Range, then PUT ?digest=."""
    dig, data = blob(algo)
    oci.blobPatchChunked(client, REPO1, dig, data)
    oci.blobRoundTrip(client, REPO1, dig, data)


@pytest.mark.parametrize("algo", ALGOS)
def test_push_blobChunkedMulti(client: MemoryClient, algo: str) -> None:
    """run.go "chunked multi": three PATCHes following the latest Location, then PUT."""
    dig, data = chunkedBlob(algo)
    oci.blobPatchChunked(client, REPO1, dig, data)
    oci.blobRoundTrip(client, REPO1, dig, data)


@pytest.mark.parametrize("algo", ALGOS)
def test_push_blobChunkedMultiAndPutChunk(client: MemoryClient, algo: str) -> None:
    """run.go "chunked multi and put chunk": the last chunk rides in the closing PUT."""
    dig, data = chunkedBlob(algo)
    oci.blobPatchChunked(client, REPO1, dig, data, putLastChunk=True)
    oci.blobRoundTrip(client, REPO1, dig, data)


@pytest.mark.parametrize("algo", ALGOS)
def test_push_blobChunkedOutOfOrder(client: MemoryClient, algo: str) -> None:
    """run.go "chunked out-of-order": a wrong chunk gets 416; GET gives 204 and Range."""
    dig, data = chunkedBlob(algo)
    oci.blobPatchChunked(client, REPO1, dig, data, outOfOrder=True)
    oci.blobRoundTrip(client, REPO1, dig, data)


@pytest.mark.parametrize("algo", ALGOS)
def test_push_blobChunkedOutOfOrderAndPutChunk(client: MemoryClient, algo: str) -> None:
    """run.go "chunked out-of-order and put chunk": a PUT of a wrong last chunk gets 416 too."""
    dig, data = chunkedBlob(algo)
    oci.blobPatchChunked(client, REPO1, dig, data, putLastChunk=True, outOfOrder=True)
    oci.blobRoundTrip(client, REPO1, dig, data)


@pytest.mark.parametrize("algo", ALGOS)
def test_push_blobStream(client: MemoryClient, algo: str) -> None:
    """run.go "stream": a PATCH without Content-Length (chunked encoding), then PUT."""
    dig, data = blob(algo)
    oci.blobPatchStream(client, REPO1, dig, data)
    oci.blobRoundTrip(client, REPO1, dig, data)


@pytest.mark.parametrize("algo", ALGOS)
def test_push_blobMount(client: MemoryClient, algo: str) -> None:
    """run.go "mount": POST ?mount=&from= of a blob in repo2 mounts it (201, not a fallback)."""
    dig, data = blob(algo)
    oci.pushBlobAny(client, REPO2, dig, data)
    assert oci.blobMount(client, REPO1, REPO2, dig, data) == 201
    oci.blobRoundTrip(client, REPO1, dig, data)
    oci.blobDelete(client, REPO2, dig)


@pytest.mark.parametrize("algo", ALGOS)
def test_push_blobMountAnonymous(client: MemoryClient, algo: str) -> None:
    """run.go "mount anonymous": POST ?mount= without from mounts automatically (201)."""
    dig, data = blob(algo)
    oci.pushBlobAny(client, REPO2, dig, data)
    assert oci.blobMount(client, REPO1, "", dig, data) == 201
    oci.blobRoundTrip(client, REPO1, dig, data)
    oci.blobDelete(client, REPO2, dig)


@pytest.mark.parametrize("algo", ALGOS)
def test_push_blobMountMissing(client: MemoryClient, algo: str) -> None:
    """run.go "mount missing": mounting a blob repo2 lacks must not succeed: 202 and a PUT."""
    dig, data = blob(algo)
    assert oci.blobMount(client, REPO1, REPO2, dig, data) == 202
    oci.blobRoundTrip(client, REPO1, dig, data)


@pytest.mark.parametrize("algo", ALGOS)
def test_push_blobPostCancel(client: MemoryClient, algo: str) -> None:
    """run.go "post cancel": DELETE of a started upload answers 204; the blob stays unknown."""
    dig, _ = blob(algo)
    oci.blobPostCancel(client, REPO1)
    oci.blobDelete(client, REPO1, dig)


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("content", [b"", b"{}"], ids=["empty", "emptyJSON"])
def test_push_wellKnownBlobs(client: MemoryClient, algo: str, content: bytes) -> None:
    """run.go blobDataTests: the empty blob and "{}" push, HEAD, GET and delete."""
    dig = oci.digestOf(content, algo)
    oci.pushBlobAny(client, REPO1, dig, content)
    oci.blobHeadExists(client, REPO1, dig, content)
    response = oci.blobGetExistsFull(client, REPO1, dig, content)
    assert response.body == content
    oci.blobDelete(client, REPO1, dig)


def badDigestBlob(algo: str) -> tuple[str, bytes]:
    dig, data = chunkedBlob(algo)
    return dig, data + b"oh no"


@pytest.mark.parametrize("algo", ALGOS)
def test_push_badDigestPostOnly(client: MemoryClient, algo: str) -> None:
    """run.go "bad digest post only": a POST ?digest= of other bytes answers 400."""
    dig, data = badDigestBlob(algo)
    response = oci.blobPostOnly(client, REPO1, dig, data, expectBadDigest=True)
    assert "DIGEST_INVALID" in oci.errorCodesOf(response)
    check(client.request("HEAD", f"/v2/{REPO1}/blobs/{dig}"), 404)


@pytest.mark.parametrize("algo", ALGOS)
def test_push_badDigestPostPut(client: MemoryClient, algo: str) -> None:
    """run.go "bad digest post+put": the closing PUT of other bytes answers 400."""
    dig, data = badDigestBlob(algo)
    response = oci.blobPostPut(client, REPO1, dig, data, expectBadDigest=True)
    assert "DIGEST_INVALID" in oci.errorCodesOf(response)


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("putLastChunk", [False, True], ids=["chunked", "chunkedAndPutChunk"])
def test_push_badDigestChunked(client: MemoryClient, algo: str, putLastChunk: bool) -> None:
    """run.go "bad digest chunked" (and "and put chunk"): the closing PUT answers 400."""
    dig, data = badDigestBlob(algo)
    response = oci.blobPatchChunked(client, REPO1, dig, data, putLastChunk=putLastChunk,
                                    expectBadDigest=True)
    assert "DIGEST_INVALID" in oci.errorCodesOf(response)


@pytest.mark.parametrize("algo", ALGOS)
def test_push_badDigestStream(client: MemoryClient, algo: str) -> None:
    """run.go "bad digest stream": the PUT after a streamed PATCH answers 400."""
    dig, data = badDigestBlob(algo)
    response = oci.blobPatchStream(client, REPO1, dig, data, expectBadDigest=True)
    assert "DIGEST_INVALID" in oci.errorCodesOf(response)


# 02_push_test.go

def test_push_blobUploadStreamed(client: MemoryClient) -> None:
    """02_push_test.go "Blob Upload Streamed": PATCH with the blob is 202, PUT ?digest= is 201."""
    dig, data = blob("sha256")
    start = check(client.request("POST", f"/v2/{REPO1}/blobs/uploads/"), 202)
    patch = check(client.request("PATCH", relative(start.header("Location")), data,
                                 {"Content-Type": oci.MT_OCTET_STREAM}), 202)
    put = client.request("PUT", oci.withParam(patch.header("Location"), "digest", dig), b"",
                         {"Content-Type": oci.MT_OCTET_STREAM})
    check(put, 201)
    assert put.header("Location")


def test_push_monolithicPostWithDigest(client: MemoryClient) -> None:
    """02_push_test.go: POST with digest and blob yields 201 (or 202) and a Location."""
    dig, data = blob("sha256")
    check(client.request("GET", f"/v2/{REPO1}/blobs/{dig}"), 404)
    response = client.request("POST", f"/v2/{REPO1}/blobs/uploads/?digest={dig}", data,
                              {"Content-Type": oci.MT_OCTET_STREAM})
    check(response, 201, 202)
    assert response.header("Location")
    expected = 404 if response.code == 202 else 200
    check(client.request("GET", f"/v2/{REPO1}/blobs/{dig}"), expected)


def test_push_monolithicPut(client: MemoryClient) -> None:
    """02_push_test.go: POST yields a session; a PUT of the whole blob yields 201 and Location."""
    dig, data = blob("sha256", 4096)
    start = check(client.request("POST", f"/v2/{REPO1}/blobs/uploads/"), 202)
    assert start.header("Location")
    put = client.request("PUT", oci.withParam(start.header("Location"), "digest", dig), data,
                         {"Content-Type": oci.MT_OCTET_STREAM})
    check(put, 201)
    assert put.header("Location")
    got = check(client.request("GET", f"/v2/{REPO1}/blobs/{dig}"), 200)
    assert got.body == data


def test_push_chunkedClassic(client: MemoryClient) -> None:
    """02_push_test.go "Blob Upload Chunked": 416 out of order and on retry, 204 stale GET."""
    start = client.request("POST", f"/v2/{REPO1}/blobs/uploads/", b"")
    check(start, 202)
    size = max(oci.CHUNK_MIN, int(start.header("OCI-Chunk-Min-Length") or 0))
    data = os.urandom(size * 2 - 2)
    chunk1, chunk2 = data[:size], data[size:]
    range1, range2 = f"0-{size - 1}", f"{size}-{len(data) - 1}"
    octet = {"Content-Type": oci.MT_OCTET_STREAM}
    outOfOrder = client.request("PATCH", relative(start.header("Location")), chunk2,
                                {**octet, "Content-Range": range2})
    check(outOfOrder, 416, what="out-of-order chunk")

    prev = check(client.request("POST", f"/v2/{REPO1}/blobs/uploads/", b""), 202)
    first = client.request("PATCH", relative(prev.header("Location")), chunk1,
                           {**octet, "Content-Range": range1})
    check(first, 202, what="first chunk")
    assert first.header("Range") == range1
    retry = client.request("PATCH", relative(prev.header("Location")), chunk1,
                           {**octet, "Content-Range": range1})
    check(retry, 416, what="retried chunk")
    stale = client.request("GET", relative(prev.header("Location")))
    check(stale, 204, what="GET stale upload")
    assert stale.header("Location")
    assert stale.header("Range") == range1
    second = client.request("PATCH", relative(stale.header("Location")), chunk2,
                            {**octet, "Content-Range": range2})
    check(second, 202, what="second chunk")
    assert second.header("Location")
    put = client.request("PUT", oci.withParam(second.header("Location"), "digest",
                                              oci.digestOf(data)), b"", octet)
    check(put, 201, what="closing PUT")
    assert put.header("Location")


def test_push_crossMountWithoutFromYieldsSession(client: MemoryClient) -> None:
    """02_push_test.go: mounting an unknown digest without from yields a session (202)."""
    response = client.request("POST", f"/v2/{REPO2}/blobs/uploads/?mount={oci.randomDigest()}")
    check(response, 202)
    assert relative(response.header("Location")).startswith(f"/v2/{REPO2}/blobs/uploads/")


def test_push_crossMountFrom(client: MemoryClient) -> None:
    """02_push_test.go: mount with from answers 201, Location is the blob in the target."""
    dig, data = blob("sha256")
    oci.pushBlobAny(client, REPO1, dig, data)
    query = urlencode({"mount": dig, "from": REPO1})
    response = client.request("POST", f"/v2/{REPO2}/blobs/uploads/?{query}")
    check(response, 201, 202)
    if response.code == 201:
        assert relative(response.header("Location")) == f"/v2/{REPO2}/blobs/{dig}"
        got = check(client.request("GET", relative(response.header("Location"))), 200)
        assert got.body == data
    else:
        assert relative(response.header("Location")).startswith(f"/v2/{REPO2}/blobs/uploads/")
    assert response.code == 201, "mount fell back to an upload"


def test_push_crossMountAutomatic(client: MemoryClient) -> None:
    """02_push_test.go: with automatic cross-mount, mount without from answers 201."""
    dig, data = blob("sha256")
    oci.pushBlobAny(client, REPO1, dig, data)
    response = client.request("POST", f"/v2/{REPO2}/blobs/uploads/?mount={dig}")
    check(response, 201)
    got = check(client.request("GET", f"/v2/{REPO2}/blobs/{dig}"), 200)
    assert got.body == data


def test_push_manifestUpload(client: MemoryClient) -> None:
    """02_push_test.go "Manifest Upload": PUT by four tags is 201 with Location; GET by digest."""
    td = oci.generate("image")
    for dig, body in td.blobs.items():
        oci.pushBlobAny(client, REPO1, dig, body)
    check(client.request("GET", f"/v2/{REPO1}/manifests/nonexistent", headers=oci.accept()),
          404)
    (dig,) = td.manOrder
    for i in range(4):
        response = client.request("PUT", f"/v2/{REPO1}/manifests/test{i}", td.manifests[dig],
                                  {"Content-Type": oci.MT_OCI_IMAGE})
        check(response, 201)
        assert response.header("Location")
    check(client.request("GET", f"/v2/{REPO1}/manifests/{dig}", headers=oci.accept()), 200)


def test_push_manifestWithNoLayers(client: MemoryClient) -> None:
    """02_push_test.go: the registry accepts an image manifest with no layers (201, Location)."""
    td = oci.generate("no-layers")
    oci.pushData(client, td)
    (dig,) = td.manOrder
    oci.manifestGetExists(client, REPO1, "no-layers", dig, td.manifests[dig])


# run.go TestPush over every data set

@pytest.mark.parametrize("name", oci.DATA_SETS)
def test_push_data(client: MemoryClient, name: str) -> None:
    """run.go TestPush: blobs, manifests by digest (400 if bad) and tags push per data set."""
    oci.pushData(client, oci.generate(name))


def test_push_manifestInvalidDigestFormat(client: MemoryClient) -> None:
    """run.go invalid-digest-format: PUT at sha256:baddigeststring is 400, its GET 404 or 400."""
    td = oci.TestData("invalid-manifest-digest")
    dig = td.genManifestFull(layerCount=1)
    for blobDigest, body in td.blobs.items():
        oci.pushBlobAny(client, REPO1, blobDigest, body)
    oci.manifestPut(client, REPO1, "sha256:baddigeststring", dig, td.manifests[dig],
                    expectBadDigest=True)
    response = client.request("GET", f"/v2/{REPO1}/manifests/sha256:baddigeststring",
                              headers=oci.accept())
    check(response, 404, 400)
