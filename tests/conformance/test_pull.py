"""
The pull workflow of the OCI conformance suite: the classic pull checks
(C{conformance/01_pull_test.go}), range requests, missing content and the
HEAD and GET of every data set (C{conformance/run.go} C{TestHead},
C{TestPull}, C{TestManifestErrors}).
"""

from __future__ import annotations

import json
import os

import pytest

from tests.conformance import oci
from tests.conformance.clients import MemoryClient
from tests.conformance.oci import REPO1, check


@pytest.fixture
def pulled(client: MemoryClient) -> oci.TestData:
    """The classic pull setup: config, layer and an image manifest tagged "tagtest0"."""
    td = oci.generate("image")
    for dig, body in td.blobs.items():
        oci.pushBlobAny(client, REPO1, dig, body)
    (dig,) = td.manOrder
    oci.manifestPut(client, REPO1, "tagtest0", dig, td.manifests[dig])
    return td


def configOf(td: oci.TestData) -> str:
    return next(d for d, desc in td.desc.items()
                if desc["mediaType"] == oci.MT_OCI_CONFIG and d in td.blobs)


# 01_pull_test.go

def test_pull_headNonexistentBlob(client: MemoryClient, pulled: oci.TestData) -> None:
    """01_pull_test.go: HEAD request to nonexistent blob should result in 404 response."""
    response = client.request("HEAD", f"/v2/{REPO1}/blobs/{oci.randomDigest()}")
    check(response, 404)
    assert response.body == b""


def test_pull_headExistingBlob(client: MemoryClient, pulled: oci.TestData) -> None:
    """01_pull_test.go: HEAD request to existing blob should yield 200 (and its digest)."""
    dig = configOf(pulled)
    oci.blobHeadExists(client, REPO1, dig, pulled.blobs[dig])


def test_pull_getNonexistentBlob(client: MemoryClient, pulled: oci.TestData) -> None:
    """01_pull_test.go: GET nonexistent blob should result in 404 (BLOB_UNKNOWN, spec.md)."""
    response = check(client.request("GET", f"/v2/{REPO1}/blobs/{oci.randomDigest()}"), 404)
    assert oci.errorCodesOf(response) == ["BLOB_UNKNOWN"]


def test_pull_getExistingBlob(client: MemoryClient, pulled: oci.TestData) -> None:
    """01_pull_test.go: GET request to existing blob URL should yield 200."""
    dig = configOf(pulled)
    oci.blobGetExistsFull(client, REPO1, dig, pulled.blobs[dig])


def test_pull_headNonexistentManifest(client: MemoryClient, pulled: oci.TestData) -> None:
    """01_pull_test.go: HEAD request to nonexistent manifest should return 404."""
    response = client.request("HEAD", f"/v2/{REPO1}/manifests/nonexistent",
                              headers=oci.accept())
    check(response, 404)
    assert response.body == b""


def test_pull_headManifestByDigest(client: MemoryClient, pulled: oci.TestData) -> None:
    """01_pull_test.go: HEAD request to manifest path (digest) should yield 200 response."""
    (dig,) = pulled.manOrder
    oci.manifestGetExists(client, REPO1, dig, dig, pulled.manifests[dig], method="HEAD")


def test_pull_headManifestByTag(client: MemoryClient, pulled: oci.TestData) -> None:
    """01_pull_test.go: HEAD request to manifest path (tag) should yield 200 response."""
    (dig,) = pulled.manOrder
    oci.manifestGetExists(client, REPO1, "tagtest0", dig, pulled.manifests[dig], method="HEAD")


def test_pull_getNonexistentManifest(client: MemoryClient, pulled: oci.TestData) -> None:
    """01_pull_test.go: GET nonexistent manifest should return 404 (MANIFEST_UNKNOWN)."""
    response = client.request("GET", f"/v2/{REPO1}/manifests/nonexistent",
                              headers=oci.accept())
    check(response, 404)
    assert oci.errorCodesOf(response) == ["MANIFEST_UNKNOWN"]


def test_pull_getManifestByDigest(client: MemoryClient, pulled: oci.TestData) -> None:
    """01_pull_test.go: GET request to manifest path (digest) should yield 200 response."""
    (dig,) = pulled.manOrder
    oci.manifestGetExists(client, REPO1, dig, dig, pulled.manifests[dig])


def test_pull_getManifestByTag(client: MemoryClient, pulled: oci.TestData) -> None:
    """01_pull_test.go: GET request to manifest path (tag) should yield 200 response."""
    (dig,) = pulled.manOrder
    oci.manifestGetExists(client, REPO1, "tagtest0", dig, pulled.manifests[dig])


def test_pull_errorCodes400(client: MemoryClient, pulled: oci.TestData) -> None:
    """01_pull_test.go "Error codes": a bad reference answers 404, or 400 with a spec code."""
    response = client.request("GET", f"/v2/{REPO1}/manifests/sha256:totallywrong",
                              b"{}", {"Content-Type": oci.MT_OCI_IMAGE})
    check(response, 400, 404)
    if response.code == 400:
        codes = oci.errorCodesOf(response)
        assert codes and codes[0] in oci.ERROR_CODES


# run.go TestBlobAPIs "get-missing" and TestManifestErrors "missing-manifest"

@pytest.mark.parametrize("algo", ["sha256", "sha512"])
def test_pull_blobGetMissing(client: MemoryClient, algo: str) -> None:
    """run.go get-missing: GET of a blob never pushed answers 404."""
    check(client.request("GET", f"/v2/{REPO1}/blobs/{oci.randomDigest(algo)}"), 404)


def test_pull_missingManifestByDigest(client: MemoryClient) -> None:
    """run.go missing-manifest by-digest: GET of an unknown digest answers 404."""
    check(client.request("GET", f"/v2/{REPO1}/manifests/{oci.randomDigest()}",
                         headers=oci.accept()), 404)


def test_pull_missingManifestByTag(client: MemoryClient) -> None:
    """run.go missing-manifest by-tag: GET of an unknown tag answers 404."""
    check(client.request("GET", f"/v2/{REPO1}/manifests/missing-{os.urandom(8).hex()}",
                         headers=oci.accept()), 404)


# run.go "range requests"

BLOB_LEN = 2048
RANGES = [
    ("bytes=500-1499", 500, 1500),
    ("bytes=500-", 500, BLOB_LEN),
    ("bytes=-500", BLOB_LEN - 500, BLOB_LEN),
    ("bytes=2000-5000", 2000, BLOB_LEN),
]


@pytest.mark.parametrize("algo", ["sha256", "sha512"])
@pytest.mark.parametrize("rangeHeader,first,end", RANGES, ids=[r[0] for r in RANGES])
def test_pull_blobRange(client: MemoryClient, algo: str, rangeHeader: str, first: int,
                        end: int) -> None:
    """run.go range requests: a satisfiable Range answers 206 with the bytes (no fallback)."""
    data = os.urandom(BLOB_LEN)
    dig = oci.digestOf(data, algo)
    oci.pushBlobAny(client, REPO1, dig, data)
    response = client.request("GET", f"/v2/{REPO1}/blobs/{dig}", headers={"Range": rangeHeader})
    assert response.code != 200, "range request unsupported, full blob returned"
    check(response, 206)
    assert response.body == data[first:end]
    oci.expectHeader(response, "Content-Length", str(end - first))
    assert response.header("Content-Range") in (
        f"bytes {first}-{end - 1}/{BLOB_LEN}", f"bytes {first}-{end - 1}/*")
    oci.blobDelete(client, REPO1, dig)


@pytest.mark.parametrize("algo", ["sha256", "sha512"])
@pytest.mark.parametrize("rangeHeader", ["bytes=500-0", "bytes=5000-10000"])
def test_pull_blobRangeNotSatisfiable(client: MemoryClient, algo: str,
                                      rangeHeader: str) -> None:
    """run.go range requests "range 500-0" and "range 5000-10000": 416."""
    data = os.urandom(BLOB_LEN)
    dig = oci.digestOf(data, algo)
    oci.pushBlobAny(client, REPO1, dig, data)
    response = client.request("GET", f"/v2/{REPO1}/blobs/{dig}", headers={"Range": rangeHeader})
    assert response.code != 200, "range request unsupported, full blob returned"
    check(response, 416)


# run.go TestHead and TestPull over every data set

PULLABLE = [n for n in oci.DATA_SETS if n != "bad-digest-image"]


@pytest.mark.parametrize("name", PULLABLE)
def test_pull_headData(client: MemoryClient, name: str) -> None:
    """run.go TestHead: HEAD of every tag, manifest digest and blob of a data set."""
    td = oci.generate(name)
    oci.pushData(client, td)
    for tag, dig in td.tags.items():
        oci.manifestGetExists(client, REPO1, tag, dig, td.manifests[dig], method="HEAD")
    for dig in td.manOrder:
        oci.manifestGetExists(client, REPO1, dig, dig, td.manifests[dig], method="HEAD")
    for dig, body in td.blobs.items():
        oci.blobHeadExists(client, REPO1, dig, body)


@pytest.mark.parametrize("name", PULLABLE)
def test_pull_data(client: MemoryClient, name: str) -> None:
    """run.go TestPull: GET of every tag, manifest digest and blob of a data set."""
    td = oci.generate(name)
    oci.pushData(client, td)
    for tag, dig in td.tags.items():
        oci.manifestGetExists(client, REPO1, tag, dig, td.manifests[dig])
    for dig in td.manOrder:
        oci.manifestGetExists(client, REPO1, dig, dig, td.manifests[dig])
    for dig, body in td.blobs.items():
        oci.blobGetExistsFull(client, REPO1, dig, body)


def test_pull_nonDistributableLayersNotServed(client: MemoryClient) -> None:
    """run.go non-distributable-layers: the image pulls though its foreign layers were never pushed."""
    td = oci.generate("non-distributable-layers")
    oci.pushData(client, td)
    (dig,) = td.manOrder
    foreign = [layer["digest"] for layer in json.loads(td.manifests[dig])["layers"]
               if "urls" in layer]
    assert len(foreign) == 2
    for layer in foreign:
        check(client.request("HEAD", f"/v2/{REPO1}/blobs/{layer}"), 404)
    oci.manifestGetExists(client, REPO1, "non-distributable-image", dig, td.manifests[dig])
