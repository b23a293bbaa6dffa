"""
Push and pull images with skopeo, a real registry client.

Each test runs against txregistry and, as a check on the test itself,
against distribution.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness import (
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    OCILayout,
    RegistryProcess,
    assert_same_image,
    dir_contents,
    layer_blobs,
    read_blob,
    resolve_ref,
    skopeo,
)


def test_oci_round_trip(
    any_registry: RegistryProcess, single_image: OCILayout, tmp_path: Path
) -> None:
    """An OCI image pushed and pulled back is the same manifest and blobs."""
    ref = f"docker://{any_registry.host}/demo/app:v1"
    skopeo("copy", "--dest-tls-verify=false", f"oci:{single_image.path}:v1", ref)
    back = tmp_path / "back"
    skopeo("copy", "--src-tls-verify=false", ref, f"oci:{back}:v1")
    assert_same_image(single_image.path, "v1", back, "v1")


def test_inspect(any_registry: RegistryProcess, single_image: OCILayout) -> None:
    """skopeo inspect sees the pushed manifest, its digest, layers and tags."""
    ref = f"docker://{any_registry.host}/demo/app:v1"
    skopeo("copy", "--dest-tls-verify=false", f"oci:{single_image.path}:v1", ref)
    pushed = resolve_ref(single_image.path, "v1")

    raw = skopeo("inspect", "--tls-verify=false", "--raw", ref).stdout.encode()
    assert raw == read_blob(single_image.path, pushed["digest"])

    info = json.loads(skopeo("inspect", "--tls-verify=false", ref).stdout)
    assert info["Digest"] == pushed["digest"]
    assert info["Architecture"] == "amd64"
    assert info["Layers"] == list(layer_blobs(single_image.path, "v1"))
    assert "v1" in info["RepoTags"]


def test_docker_schema2_round_trip(
    any_registry: RegistryProcess, single_image: OCILayout, tmp_path: Path
) -> None:
    """A Docker schema 2 image is stored as such and comes back byte for
    byte (manifest, config and layers)."""
    converted = tmp_path / "v2s2"
    skopeo(
        "copy", "--format", "v2s2", f"oci:{single_image.path}:v1", f"dir:{converted}"
    )
    ref = f"docker://{any_registry.host}/demo/app:v2s2"
    skopeo("copy", "--dest-tls-verify=false", f"dir:{converted}", ref)

    raw = skopeo("inspect", "--tls-verify=false", "--raw", ref).stdout.encode()
    assert raw == (converted / "manifest.json").read_bytes()
    manifest = json.loads(raw)
    assert manifest["mediaType"] == DOCKER_MANIFEST
    assert [layer["digest"] for layer in manifest["layers"]] == list(
        layer_blobs(single_image.path, "v1")
    )

    back = tmp_path / "back"
    skopeo("copy", "--src-tls-verify=false", ref, f"dir:{back}")
    assert dir_contents(back) == dir_contents(converted)


def test_multi_arch_index(
    any_registry: RegistryProcess, multi_arch_image: OCILayout, tmp_path: Path
) -> None:
    """An OCI index of two images pushed with --all comes back whole."""
    ref = f"docker://{any_registry.host}/demo/multi:latest"
    skopeo(
        "copy",
        "--all",
        "--dest-tls-verify=false",
        f"oci:{multi_arch_image.path}:multi",
        ref,
    )
    index = json.loads(skopeo("inspect", "--tls-verify=false", "--raw", ref).stdout)
    assert index["mediaType"] == OCI_INDEX
    assert {m["platform"]["architecture"] for m in index["manifests"]} == {
        "amd64",
        "arm64",
    }
    assert {m["mediaType"] for m in index["manifests"]} == {OCI_MANIFEST}

    back = tmp_path / "back"
    skopeo("copy", "--all", "--src-tls-verify=false", ref, f"oci:{back}:multi")
    assert_same_image(multi_arch_image.path, "multi", back, "multi")
