"""
The content management workflow of the OCI conformance suite: deleting
tags, manifests and blobs with deletes enabled (C{conformance/04_management_test.go},
C{conformance/run.go} C{TestDelete}).
"""

from __future__ import annotations

import pytest

from tests.conformance import oci
from tests.conformance.clients import MemoryClient
from tests.conformance.oci import REPO1, check


@pytest.fixture
def managed(client: MemoryClient) -> oci.TestData:
    """The classic management setup: config, layer, a manifest tagged "tagtest0"."""
    td = oci.generate("image")
    oci.pushData(client, td)
    (dig,) = td.manOrder
    oci.manifestPut(client, REPO1, "tagtest0", dig, td.manifests[dig])
    return td


def test_management_deleteTag(client: MemoryClient, managed: oci.TestData) -> None:
    """04_management_test.go: DELETE request to manifest tag should return 202."""
    response = client.request("DELETE", f"/v2/{REPO1}/manifests/tagtest0")
    check(response, 202)
    check(client.request("HEAD", f"/v2/{REPO1}/manifests/tagtest0", headers=oci.accept()), 404)
    (dig,) = managed.manOrder
    oci.manifestGetExists(client, REPO1, dig, dig, managed.manifests[dig])


def test_management_deleteManifestByDigest(client: MemoryClient,
                                           managed: oci.TestData) -> None:
    """04_management_test.go: DELETE request to manifest (digest) yields 202; GET is then 404."""
    (dig,) = managed.manOrder
    check(client.request("DELETE", f"/v2/{REPO1}/manifests/tagtest0"), 202)
    check(client.request("DELETE", f"/v2/{REPO1}/manifests/{dig}"), 202)
    response = client.request("GET", f"/v2/{REPO1}/manifests/{dig}", headers=oci.accept())
    check(response, 404)
    assert oci.errorCodesOf(response) == ["MANIFEST_UNKNOWN"]


def test_management_tagsListReflectsDeletion(client: MemoryClient,
                                             managed: oci.TestData) -> None:
    """04_management_test.go: GET request to tags list should reflect manifest deletion."""
    before = oci.tagList(client, REPO1)
    assert before is not None and "tagtest0" in before
    check(client.request("DELETE", f"/v2/{REPO1}/manifests/tagtest0"), 202)
    after = oci.tagList(client, REPO1)
    assert after is not None and len(after) < len(before)
    assert "tagtest0" not in after


def test_management_deleteBlobs(client: MemoryClient, managed: oci.TestData) -> None:
    """04_management_test.go: DELETE request to blob URL yields 202; its GET is then 404."""
    for dig in managed.blobs:
        check(client.request("DELETE", f"/v2/{REPO1}/blobs/{dig}"), 202)
        response = check(client.request("GET", f"/v2/{REPO1}/blobs/{dig}"), 404)
        assert oci.errorCodesOf(response) == ["BLOB_UNKNOWN"]


def test_management_deleteDeletedManifest(client: MemoryClient, managed: oci.TestData) -> None:
    """run.go ManifestDelete: deleting an already deleted manifest answers 404, never 5xx."""
    (dig,) = managed.manOrder
    check(client.request("DELETE", f"/v2/{REPO1}/manifests/{dig}"), 202)
    check(client.request("DELETE", f"/v2/{REPO1}/manifests/{dig}"), 404)


@pytest.mark.parametrize("name", oci.DATA_SETS)
def test_management_deleteData(client: MemoryClient, name: str) -> None:
    """run.go TestDelete: tags, manifests (in reverse) and blobs delete, each at once (atomic)."""
    td = oci.generate(name)
    oci.pushData(client, td)
    for tag in td.tags:
        assert oci.manifestDelete(client, REPO1, tag).code == 202
    for dig in reversed(td.manOrder):
        response = oci.manifestDelete(client, REPO1, dig)
        if dig in td.badDigest:
            assert response.code == 404
    for dig in td.blobs:
        oci.blobDelete(client, REPO1, dig)
