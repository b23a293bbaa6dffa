"""
A representative subset of the OCI conformance suite replayed against a
real C{twistd -n registry} process (deletes enabled) over a loopback socket:
each workflow at least once.
"""

from __future__ import annotations

import os

from harness import RegistryProcess

from tests.conformance import oci
from tests.conformance.clients import ProcessClient
from tests.conformance.oci import REPO1, REPO2, check


def test_process_pushBlobAPIs(txregistry_server: RegistryProcess) -> None:
    """run.go TestBlobAPIs: post only, post+put, chunked out of order, stream and mount work."""
    client = ProcessClient(txregistry_server.base_url)
    for algo in ("sha256", "sha512"):
        data = os.urandom(oci.CHUNK_MIN * 3 - 5)
        dig = oci.digestOf(data, algo)
        oci.blobPostOnly(client, REPO1, dig, data)
        oci.blobRoundTrip(client, REPO1, dig, data)
        oci.blobPostPut(client, REPO1, dig, data)
        oci.blobRoundTrip(client, REPO1, dig, data)
        oci.blobPatchChunked(client, REPO1, dig, data, putLastChunk=True, outOfOrder=True)
        oci.blobRoundTrip(client, REPO1, dig, data)
        oci.blobPatchStream(client, REPO1, dig, data)
        oci.blobRoundTrip(client, REPO1, dig, data)
        oci.pushBlobAny(client, REPO2, dig, data)
        assert oci.blobMount(client, REPO1, REPO2, dig, data) == 201
        oci.blobDelete(client, REPO1, dig)
        assert oci.blobMount(client, REPO1, "", dig, data) == 201
        oci.blobRoundTrip(client, REPO1, dig, data)
        bad = data + b"oh no"
        oci.blobPostPut(client, REPO1, dig, bad, expectBadDigest=True)


def test_process_pushAndPullData(txregistry_server: RegistryProcess) -> None:
    """run.go TestPush/TestHead/TestPull: an index, sha512 and non-distributable data sets."""
    client = ProcessClient(txregistry_server.base_url)
    for name in ("index", "sha512", "non-distributable-layers", "bad-digest-image"):
        td = oci.generate(name)
        oci.pushData(client, td)
        if td.badDigest:
            continue
        for tag, dig in td.tags.items():
            oci.manifestGetExists(client, REPO1, tag, dig, td.manifests[dig], method="HEAD")
            oci.manifestGetExists(client, REPO1, tag, dig, td.manifests[dig])
        for dig in td.manOrder:
            oci.manifestGetExists(client, REPO1, dig, dig, td.manifests[dig])
        for dig, body in td.blobs.items():
            oci.blobHeadExists(client, REPO1, dig, body)
            oci.blobGetExistsFull(client, REPO1, dig, body)


def test_process_pullRange(txregistry_server: RegistryProcess) -> None:
    """run.go range requests: 206 with Content-Range for bytes=500-1499, 416 past the end."""
    client = ProcessClient(txregistry_server.base_url)
    data = os.urandom(2048)
    dig = oci.digestOf(data)
    oci.pushBlobAny(client, REPO1, dig, data)
    response = client.request("GET", f"/v2/{REPO1}/blobs/{dig}",
                              headers={"Range": "bytes=500-1499"})
    check(response, 206)
    assert response.body == data[500:1500]
    assert response.header("Content-Range") in ("bytes 500-1499/2048", "bytes 500-1499/*")
    check(client.request("GET", f"/v2/{REPO1}/blobs/{dig}",
                         headers={"Range": "bytes=5000-10000"}), 416)


def test_process_discovery(txregistry_server: RegistryProcess) -> None:
    """03_discovery_test.go and run.go TestList/TestReferrers: tags with n/last, referrers."""
    client = ProcessClient(txregistry_server.base_url)
    td = oci.generate("artifacts-with-subject")
    oci.pushData(client, td)
    tags = sorted(td.tags)
    assert oci.tagList(client, REPO1) == tags
    assert oci.tagList(client, REPO1, n="1") == tags[:1]
    assert oci.tagList(client, REPO1, n="1", last=tags[0]) == tags[1:2]
    ((subject, goals),) = td.referrers.items()
    _, index = oci.referrersList(client, REPO1, subject)
    assert {e["digest"] for e in index["manifests"]} == {g["digest"] for g in goals}
    response, index = oci.referrersList(client, REPO1, subject, oci.MT_EXAMPLE_CONF1)
    assert response.header("OCI-Filters-Applied") == "artifactType"
    assert [e["artifactType"] for e in index["manifests"]] == [oci.MT_EXAMPLE_CONF1]
    _, empty = oci.referrersList(client, REPO1, oci.randomDigest())
    assert empty["manifests"] == []


def test_process_management(txregistry_server: RegistryProcess) -> None:
    """04_management_test.go and run.go TestDelete: tag, manifest and blob deletes (atomic)."""
    client = ProcessClient(txregistry_server.base_url)
    td = oci.generate("image")
    oci.pushData(client, td)
    (dig,) = td.manOrder
    assert oci.manifestDelete(client, REPO1, "image").code == 202
    assert oci.tagList(client, REPO1) in (None, [])
    assert oci.manifestDelete(client, REPO1, dig).code == 202
    for blobDigest in td.blobs:
        assert oci.blobDelete(client, REPO1, blobDigest).code == 202
    oci.blobPostCancel(client, REPO1)
