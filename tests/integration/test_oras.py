"""
Push and pull OCI artifacts with the C{oras} Python SDK against a real
C{twistd -n registry}: files with custom media types, configs, annotations,
tags, and artifacts attached to an image through C{subject}, listed by the
referrers API of the OCI distribution specification 1.1.

The SDK has no call for the referrers API, so those requests are made over
raw HTTP; everything else goes through the SDK.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import oras.oci
import oras.provider
import pytest
from harness import (
    OCI_INDEX,
    OCI_MANIFEST,
    RegistryProcess,
    canonical_json,
    http_request,
    sha256,
)

#: The media type of the empty descriptor's blob, C{{}}, as artifacts with
#: no config use it (image-spec 1.1).
EMPTY_JSON = "application/vnd.oci.empty.v1+json"

SBOM_TYPE = "application/vnd.example.sbom.v1+json"
SIGNATURE_TYPE = "application/vnd.example.signature.v1"


def client() -> oras.provider.Registry:
    """
    @return: an SDK client speaking plain HTTP.
    """
    return oras.provider.Registry(insecure=True, tls_verify=False)


def write(path: Path, data: bytes) -> Path:
    """
    Write C{data} to C{path}.

    @return: C{path}.
    """
    path.write_bytes(data)
    return path


def manifest_digest(
    server: RegistryProcess, name: str, reference: str
) -> tuple[str, int]:
    """
    @return: the digest and size of a stored manifest, from C{HEAD}.
    """
    status, headers, _ = http_request(
        server.base_url,
        "HEAD",
        f"/v2/{name}/manifests/{reference}",
        headers={"Accept": f"{OCI_MANIFEST}, {OCI_INDEX}"},
    )
    assert status == 200, (name, reference, status)
    return headers["Docker-Content-Digest"], int(headers["Content-Length"])


def push_image(
    server: RegistryProcess, tmp_path: Path, name: str, tag: str
) -> dict[str, Any]:
    """
    Push a small artifact with the SDK to serve as a subject.

    @return: its descriptor (media type, digest and size).
    """
    layer = write(tmp_path / f"{tag}-layer.bin", os.urandom(4096))
    response = client().push(
        target=f"{server.host}/{name}:{tag}",
        files=[f"{layer}:application/vnd.oci.image.layer.v1.tar"],
        disable_path_validation=True,
        quiet=True,
    )
    assert response.status_code == 201, response.text
    digest, size = manifest_digest(server, name, tag)
    return {"mediaType": OCI_MANIFEST, "digest": digest, "size": size}


def push_manifest(
    server: RegistryProcess, name: str, reference: str, manifest: dict[str, Any]
) -> tuple[int, Any, bytes]:
    """
    PUT a manifest exactly as C{canonical_json} encodes it.

    @return: the status, headers and body of the answer.
    """
    return http_request(
        server.base_url,
        "PUT",
        f"/v2/{name}/manifests/{reference}",
        body=canonical_json(manifest),
        headers={"Content-Type": OCI_MANIFEST},
    )


def attach_signature(
    server: RegistryProcess, tmp_path: Path, name: str, subject: dict[str, Any]
) -> tuple[str, bytes]:
    """
    Push, by digest, an artifact with C{artifactType} L{SIGNATURE_TYPE}, an
    empty config and one blob, whose C{subject} is C{subject}: blobs through
    the SDK, the manifest as exact bytes.

    @return: the referrer's digest and its bytes.
    """
    registry = client()
    container = registry.get_container(f"{server.host}/{name}")
    signature = write(tmp_path / "signature.sig", os.urandom(512))
    layer = oras.oci.NewLayer(str(signature), media_type="application/vnd.example.sig")
    assert registry.upload_blob(str(signature), container, layer).status_code in (
        200,
        201,
    )
    empty = write(tmp_path / "empty.json", b"{}")
    config = {"mediaType": EMPTY_JSON, "digest": sha256(b"{}"), "size": 2}
    assert registry.upload_blob(str(empty), container, config).status_code in (200, 201)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": SIGNATURE_TYPE,
        "config": config,
        "layers": [layer],
        "subject": subject,
        "annotations": {"org.example.signer": "integration-tests"},
    }
    body = canonical_json(manifest)
    digest = sha256(body)
    status, headers, answer = push_manifest(server, name, digest, manifest)
    assert status == 201, answer
    assert headers["Docker-Content-Digest"] == digest
    return digest, body


def referrers(
    server: RegistryProcess, name: str, digest: str, query: str = ""
) -> tuple[Any, dict[str, Any]]:
    """
    C{GET /v2/<name>/referrers/<digest>}, expected to answer 200 with an
    OCI image index.

    @return: the headers and the parsed index.
    """
    status, headers, body = http_request(
        server.base_url, "GET", f"/v2/{name}/referrers/{digest}{query}"
    )
    assert status == 200, (status, body[:500])
    assert headers["Content-Type"].split(";")[0] == OCI_INDEX
    index = json.loads(body)
    assert index["schemaVersion"] == 2
    assert index["mediaType"] == OCI_INDEX
    return headers, index


@pytest.mark.parametrize("chunked", [False, True], ids=["monolithic", "chunked"])
def test_push_pull_round_trip(
    txregistry_server: RegistryProcess, tmp_path: Path, chunked: bool
) -> None:
    """Files pushed with custom media types, a config and annotations pull back byte for byte."""
    source = tmp_path / "source"
    source.mkdir()
    files = {
        "model.bin": (
            os.urandom(3 * 1024 * 1024 + 17),
            "application/vnd.example.model.v1",
        ),
        "readme.md": (b"# an artifact\n", "text/markdown"),
        "empty.dat": (b"", "application/vnd.example.empty"),
    }
    for filename, (data, _) in files.items():
        write(source / filename, data)
    config = write(tmp_path / "config.json", b'{"kind": "example"}')
    target = f"{txregistry_server.host}/demo/artifact:v1"

    response = client().push(
        target=target,
        files=[f"{source / f}:{media}" for f, (_, media) in files.items()],
        manifest_config=f"{config}:application/vnd.example.config.v1+json",
        manifest_annotations={"org.example.purpose": "round-trip"},
        disable_path_validation=True,
        do_chunked=chunked,
        chunk_size=1024 * 1024,
        quiet=True,
    )
    assert response.status_code == 201, response.text

    manifest = client().get_manifest(target)
    assert manifest["mediaType"] == OCI_MANIFEST
    assert manifest["annotations"] == {"org.example.purpose": "round-trip"}
    assert manifest["config"]["mediaType"] == "application/vnd.example.config.v1+json"
    assert manifest["config"]["digest"] == sha256(config.read_bytes())
    layers = {
        layer["annotations"]["org.opencontainers.image.title"]: layer
        for layer in manifest["layers"]
    }
    assert sorted(layers) == sorted(files)
    for filename, (data, media) in files.items():
        assert layers[filename]["mediaType"] == media
        assert layers[filename]["digest"] == sha256(data)
        assert layers[filename]["size"] == len(data)

    out = tmp_path / "out"
    pulled = client().pull(target=target, outdir=str(out))
    assert sorted(Path(p).name for p in pulled) == sorted(files)
    for filename, (data, _) in files.items():
        assert (out / filename).read_bytes() == data, filename

    status, _, body = http_request(
        txregistry_server.base_url,
        "GET",
        f"/v2/demo/artifact/blobs/{manifest['config']['digest']}",
    )
    assert (status, body) == (200, config.read_bytes())


def test_artifact_type_kept(txregistry_server: RegistryProcess, tmp_path: Path) -> None:
    """A manifest with artifactType and an empty config, uploaded with the SDK, reads back unchanged."""
    registry = client()
    container = registry.get_container(f"{txregistry_server.host}/demo/sbom:latest")
    sbom_data = json.dumps({"packages": ["a", "b"]}).encode()
    sbom = write(tmp_path / "sbom.json", sbom_data)
    layer = oras.oci.NewLayer(str(sbom), media_type=SBOM_TYPE)
    layer["annotations"] = {"org.opencontainers.image.title": "sbom.json"}
    assert registry.upload_blob(str(sbom), container, layer).status_code in (200, 201)
    empty = write(tmp_path / "empty.json", b"{}")
    config = {"mediaType": EMPTY_JSON, "digest": sha256(b"{}"), "size": 2}
    assert registry.upload_blob(str(empty), container, config).status_code in (200, 201)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": SBOM_TYPE,
        "config": config,
        "layers": [layer],
        "annotations": {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"},
    }
    response = registry.upload_manifest(manifest, container)
    assert response.status_code == 201, response.text

    assert registry.get_manifest(container) == manifest
    out = tmp_path / "out"
    registry.pull(target=str(container), outdir=str(out))
    assert (out / "sbom.json").read_bytes() == sbom_data


def test_tags_list(txregistry_server: RegistryProcess, tmp_path: Path) -> None:
    """get_tags lists every pushed tag, whole and paginated with N."""
    tags = ["v1", "v2", "latest", "1.0.0"]
    for tag in tags:
        push_image(txregistry_server, tmp_path, "demo/tagged", tag)
    registry = client()
    name = f"{txregistry_server.host}/demo/tagged"
    assert sorted(registry.get_tags(name)) == sorted(tags)
    assert registry.get_tags(name, N=2) == sorted(tags)[:2]
    assert registry.get_tags(name, N=3) == sorted(tags)[:3]


def test_attached_artifact_pushed(
    txregistry_server: RegistryProcess, tmp_path: Path
) -> None:
    """An artifact whose subject is an image is stored, and the PUT names the subject in OCI-Subject."""
    image = push_image(txregistry_server, tmp_path, "demo/image", "v1")
    digest, body = attach_signature(txregistry_server, tmp_path, "demo/image", image)

    status, headers, got = http_request(
        txregistry_server.base_url,
        "GET",
        f"/v2/demo/image/manifests/{digest}",
        headers={"Accept": OCI_MANIFEST},
    )
    assert (status, got) == (200, body)
    assert headers["Docker-Content-Digest"] == digest

    # Pushed again, the registry answers as the 1.1 spec asks of one that
    # processes subject: with the subject's digest in OCI-Subject.
    status, headers, _ = push_manifest(
        txregistry_server, "demo/image", digest, json.loads(body)
    )
    assert status == 201
    assert headers.get("OCI-Subject") == image["digest"]


def test_referrers_listed(txregistry_server: RegistryProcess, tmp_path: Path) -> None:
    """The referrers API lists artifacts attached by the SDK and by hand, with their artifactType."""
    image = push_image(txregistry_server, tmp_path, "demo/image", "v1")

    # Attached with the SDK's own subject support; having no artifactType,
    # its artifact type is its config's media type.
    sbom = write(tmp_path / "sbom.json", b'{"sbom": true}')
    response = client().push(
        target=f"{txregistry_server.host}/demo/image:sbom",
        files=[f"{sbom}:application/spdx+json"],
        manifest_config=f"{sbom}:{SBOM_TYPE}",
        manifest_annotations={"org.example.kind": "sbom"},
        subject=oras.oci.Subject(**image),
        disable_path_validation=True,
        quiet=True,
    )
    assert response.status_code == 201, response.text
    sbom_digest, sbom_size = manifest_digest(txregistry_server, "demo/image", "sbom")

    signature_digest, signature = attach_signature(
        txregistry_server, tmp_path, "demo/image", image
    )

    headers, index = referrers(txregistry_server, "demo/image", image["digest"])
    assert "OCI-Filters-Applied" not in headers
    by_digest = {d["digest"]: d for d in index["manifests"]}
    assert by_digest == {
        sbom_digest: {
            "mediaType": OCI_MANIFEST,
            "digest": sbom_digest,
            "size": sbom_size,
            "artifactType": SBOM_TYPE,
            "annotations": {"org.example.kind": "sbom"},
        },
        signature_digest: {
            "mediaType": OCI_MANIFEST,
            "digest": signature_digest,
            "size": len(signature),
            "artifactType": SIGNATURE_TYPE,
            "annotations": {"org.example.signer": "integration-tests"},
        },
    }


def test_referrers_filtered(txregistry_server: RegistryProcess, tmp_path: Path) -> None:
    """?artifactType= keeps only the matching referrers and says so in OCI-Filters-Applied."""
    image = push_image(txregistry_server, tmp_path, "demo/image", "v1")
    signature_digest, _ = attach_signature(
        txregistry_server, tmp_path, "demo/image", image
    )
    other = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": SBOM_TYPE,
        "config": {"mediaType": EMPTY_JSON, "digest": sha256(b"{}"), "size": 2},
        "layers": [{"mediaType": EMPTY_JSON, "digest": sha256(b"{}"), "size": 2}],
        "subject": image,
    }
    status, _, body = push_manifest(
        txregistry_server, "demo/image", sha256(canonical_json(other)), other
    )
    assert status == 201, body

    _, everything = referrers(txregistry_server, "demo/image", image["digest"])
    assert len(everything["manifests"]) == 2

    headers, index = referrers(
        txregistry_server,
        "demo/image",
        image["digest"],
        "?artifactType=application%2Fvnd.example.signature.v1",
    )
    assert headers.get("OCI-Filters-Applied") == "artifactType"
    assert [(d["digest"], d["artifactType"]) for d in index["manifests"]] == [
        (signature_digest, SIGNATURE_TYPE)
    ]

    headers, index = referrers(
        txregistry_server,
        "demo/image",
        image["digest"],
        "?artifactType=application%2Fnone",
    )
    assert headers.get("OCI-Filters-Applied") == "artifactType"
    assert index["manifests"] == []


def test_referrers_of_unknown_subject(
    txregistry_server: RegistryProcess, tmp_path: Path
) -> None:
    """A digest nothing refers to has an empty referrers index, never a 404."""
    push_image(txregistry_server, tmp_path, "demo/image", "v1")
    _, index = referrers(txregistry_server, "demo/image", sha256(b"nothing"))
    assert index["manifests"] == []


def test_referrer_pushed_before_subject(
    txregistry_server: RegistryProcess, tmp_path: Path
) -> None:
    """A referrer may be pushed before its subject exists, and is listed once the subject is pushed."""
    subject = {"mediaType": OCI_MANIFEST, "digest": sha256(b"later"), "size": 5}
    signature_digest, _ = attach_signature(
        txregistry_server, tmp_path, "demo/early", subject
    )
    _, index = referrers(txregistry_server, "demo/early", subject["digest"])
    assert [d["digest"] for d in index["manifests"]] == [signature_digest]


def test_deleted_referrer_unlisted(
    txregistry_server: RegistryProcess, tmp_path: Path
) -> None:
    """A referrer deleted by digest disappears from its subject's referrers."""
    image = push_image(txregistry_server, tmp_path, "demo/image", "v1")
    signature_digest, _ = attach_signature(
        txregistry_server, tmp_path, "demo/image", image
    )
    _, index = referrers(txregistry_server, "demo/image", image["digest"])
    assert [d["digest"] for d in index["manifests"]] == [signature_digest]

    status, _, _ = http_request(
        txregistry_server.base_url,
        "DELETE",
        f"/v2/demo/image/manifests/{signature_digest}",
    )
    assert status == 202
    _, index = referrers(txregistry_server, "demo/image", image["digest"])
    assert index["manifests"] == []
