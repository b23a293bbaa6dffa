"""
The OCI referrers API of a real C{twistd -n registry} over raw HTTP, and
its index beside distribution, which does not implement the API but must
keep serving the same root directory.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from harness import CLEAN_EXITS, Registries, RegistryProcess, http_request
from harness import push_blob as pushBlobTo

NAME = "demo/app"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
EMPTY_TYPE = "application/vnd.oci.empty.v1+json"
SBOM = "application/vnd.example.sbom.v1"
SIGNATURE = "application/vnd.example.signature.v1"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_blob(server: RegistryProcess, data: bytes) -> dict[str, Any]:
    """
    Push a blob to C{NAME} with a POST and a PUT.

    @return: its descriptor, less the media type.
    """
    return pushBlobTo(server, NAME, data)


def push_manifest(server: RegistryProcess, manifest: dict[str, Any],
                  reference: str | None = None) -> tuple[bytes, Any]:
    """
    Push a manifest by C{reference}, or by its digest.

    @return: its bytes and the response headers.
    """
    payload = json.dumps(manifest, indent="\t").encode()
    status, headers, body = http_request(
        server.base_url, "PUT", f"/v2/{NAME}/manifests/{reference or sha256(payload)}",
        payload, {"Content-Type": manifest["mediaType"]})
    assert status == 201, body
    return payload, headers


def push_referred_image(server: RegistryProcess) -> dict[str, Any]:
    """
    Push an image, tagged C{v1}, then an SBOM (an artifactType on the empty
    config) and a signature (typed by its config) referring to it.

    @return: the subject's, the SBOM's and the signature's bytes by name.
    """
    config = push_blob(server, b'{"architecture": "amd64", "os": "linux"}')
    layer = push_blob(server, b"layer data")
    empty = push_blob(server, b"{}")
    assert empty["digest"] == (
        "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a")
    image, headers = push_manifest(server, {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", **layer}],
    }, "v1")
    assert headers["OCI-Subject"] is None
    subject = {"mediaType": OCI_MANIFEST, "digest": sha256(image), "size": len(image)}
    sbom, headers = push_manifest(server, {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": SBOM,
        "config": {"mediaType": EMPTY_TYPE, **empty},
        "layers": [{"mediaType": "application/spdx+json", **push_blob(server, b"sbom")}],
        "subject": subject, "annotations": {"org.example.kind": "sbom"},
    })
    assert headers["OCI-Subject"] == sha256(image)
    signature, headers = push_manifest(server, {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": SIGNATURE, **push_blob(server, b'{"signed": true}')},
        "layers": [{"mediaType": EMPTY_TYPE, **empty}],
        "subject": subject,
    })
    assert headers["OCI-Subject"] == sha256(image)
    return {"image": image, "sbom": sbom, "signature": signature}


def list_referrers(server: RegistryProcess, digest: str, query: str = "") -> tuple[Any, list]:
    """
    @return: the headers and the descriptors of a 200 referrers index.
    """
    status, headers, body = http_request(
        server.base_url, "GET", f"/v2/{NAME}/referrers/{digest}{query}")
    assert status == 200, body
    assert headers["Content-Type"] == OCI_INDEX
    index = json.loads(body)
    assert (index["schemaVersion"], index["mediaType"]) == (2, OCI_INDEX)
    return headers, index["manifests"]


def test_referrers_over_http(txregistry_server: RegistryProcess) -> None:
    """Referrers pushed over HTTP are listed, filtered and indexed on disk, and a deleted one drops out."""
    pushed = push_referred_image(txregistry_server)
    image, sbom, signature = pushed["image"], pushed["sbom"], pushed["signature"]
    headers, listed = list_referrers(txregistry_server, sha256(image))
    assert headers["OCI-Filters-Applied"] is None
    assert listed == sorted([
        {"mediaType": OCI_MANIFEST, "digest": sha256(sbom), "size": len(sbom),
         "artifactType": SBOM, "annotations": {"org.example.kind": "sbom"}},
        {"mediaType": OCI_MANIFEST, "digest": sha256(signature), "size": len(signature),
         "artifactType": SIGNATURE},
    ], key=lambda d: d["digest"])

    headers, listed = list_referrers(txregistry_server, sha256(image), f"?artifactType={SIGNATURE}")
    assert headers["OCI-Filters-Applied"] == "artifactType"
    assert [d["digest"] for d in listed] == [sha256(signature)]

    entry = (txregistry_server.root / "docker/registry/v2/repositories" / NAME
             / "_manifests/referrers/sha256" / sha256(image)[7:] / "sha256" / sha256(sbom)[7:]
             / "link")
    assert entry.read_text() == sha256(sbom)
    status, _, _ = http_request(
        txregistry_server.base_url, "DELETE", f"/v2/{NAME}/manifests/{sha256(sbom)}")
    assert status == 202
    assert not entry.exists()
    _, listed = list_referrers(txregistry_server, sha256(image))
    assert [d["digest"] for d in listed] == [sha256(signature)]

    status, _, body = http_request(
        txregistry_server.base_url, "GET", f"/v2/{NAME}/referrers/sha256:nothex")
    assert status == 400
    assert [e["code"] for e in json.loads(body)["errors"]] == ["DIGEST_INVALID"]


def test_index_beside_distribution(registries: Registries, tmp_path) -> None:
    """distribution serves a root holding the referrers index, and a referrer it deletes is no longer listed by txregistry."""
    root = tmp_path / "shared-root"
    ours = registries.txregistry(root)
    pushed = push_referred_image(ours)
    assert ours.stop() in CLEAN_EXITS

    theirs = registries.distribution(root)
    for name, payload in pushed.items():
        status, _, body = http_request(
            theirs.base_url, "GET", f"/v2/{NAME}/manifests/{sha256(payload)}",
            headers={"Accept": OCI_MANIFEST})
        assert (status, body) == (200, payload), name
    status, _, body = http_request(theirs.base_url, "GET", f"/v2/{NAME}/tags/list")
    assert (status, json.loads(body)["tags"]) == (200, ["v1"])
    status, _, body = http_request(theirs.base_url, "GET", "/v2/_catalog")
    assert (status, json.loads(body)["repositories"]) == (200, [NAME])
    status, _, _ = http_request(
        theirs.base_url, "DELETE", f"/v2/{NAME}/manifests/{sha256(pushed['sbom'])}")
    assert status == 202
    theirs.stop()

    again = registries.txregistry(root)
    _, listed = list_referrers(again, sha256(pushed["image"]))
    assert [d["digest"] for d in listed] == [sha256(pushed["signature"])]
