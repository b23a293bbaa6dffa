"""
C{txregistry garbage-collect} beside distribution's C{docker-registry
garbage-collect}, each run on a copy of the storage root of a real C{twistd
-n registry} that skopeo and raw HTTP pushed into: both delete the same
blobs where distribution is right, ours keeps what distribution wrongly
deletes (the children of indexes, referrers), and the registry restarted on
what ours left serves every image that remains.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from harness import (
    DOCKER_REGISTRY,
    OCI_MANIFEST,
    OCILayout,
    Registries,
    RegistryProcess,
    clean_environ,
    distribution_config,
    free_port,
    http_request,
    image_blobs,
    push_blob,
    skopeo,
    txregistry_config,
)

EMPTY_TYPE = "application/vnd.oci.empty.v1+json"
SIGNATURE = "application/vnd.example.signature.v1"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push(server: RegistryProcess, layout: OCILayout, tag: str, ref: str) -> None:
    """
    Push tag C{tag} of C{layout} (every manifest of an index) as C{ref}.
    """
    skopeo("copy", "--all", "--dest-tls-verify=false", f"oci:{layout.path}:{tag}",
           f"docker://{server.host}/{ref}")


def digest_of(server: RegistryProcess, name: str, reference: str) -> str:
    """
    @return: the digest of the manifest C{name:reference}.
    """
    status, headers, _ = http_request(
        server.base_url, "HEAD", f"/v2/{name}/manifests/{reference}",
        headers={"Accept": "application/vnd.oci.image.index.v1+json, " + OCI_MANIFEST})
    assert status == 200
    return str(headers["Docker-Content-Digest"])


def push_referrer(server: RegistryProcess, name: str, subject: str, size: int,
                  label: str) -> tuple[str, int, str]:
    """
    Push, untagged, a signature whose subject is C{name@subject} (of
    C{size} bytes).

    @return: its digest and size, and the digest of its layer.
    """
    empty = push_blob(server, name, b"{}")
    layer = push_blob(server, name, f"{label} of {subject}".encode())
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": SIGNATURE,
        "config": {"mediaType": EMPTY_TYPE, **empty},
        "layers": [{"mediaType": "application/octet-stream", **layer}],
        "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": size},
    }).encode()
    status, _, body = http_request(
        server.base_url, "PUT", f"/v2/{name}/manifests/{sha256(manifest)}", manifest,
        {"Content-Type": OCI_MANIFEST})
    assert status == 201, body
    return sha256(manifest), len(manifest), layer["digest"]


def push_signature(server: RegistryProcess, name: str, subject: str) -> dict[str, str]:
    """
    Push, untagged, a signature of C{name@subject}, and a signature of that
    signature.

    @return: the digests of the signature, its layer, the countersignature
        and its layer, by name.
    """
    status, _, payload = http_request(server.base_url, "GET", f"/v2/{name}/manifests/{subject}",
                                      headers={"Accept": OCI_MANIFEST})
    assert status == 200
    signature, size, layer = push_referrer(server, name, subject, len(payload), "signature")
    counter, _, counterLayer = push_referrer(server, name, signature, size, "countersignature")
    return {"signature": signature, "signatureLayer": layer,
            "countersignature": counter, "countersignatureLayer": counterLayer}


def delete_manifest(server: RegistryProcess, name: str, reference: str) -> str:
    """
    Delete a manifest through the API.

    @return: its digest.
    """
    digest = digest_of(server, name, reference)
    status, _, _ = http_request(server.base_url, "DELETE", f"/v2/{name}/manifests/{digest}")
    assert status == 202
    return digest


def stored_blobs(root: Path) -> set[str]:
    """
    @return: the digests of the blobs under C{root}'s C{blobs/}.
    """
    blobs = root / "docker" / "registry" / "v2" / "blobs"
    return {f"{data.parts[-4]}:{data.parts[-2]}" for data in blobs.glob("*/*/*/data")}


def layer_links(root: Path) -> set[str]:
    """
    @return: C{repository@digest} of every C{_layers} link under C{root}.
    """
    repositories = root / "docker" / "registry" / "v2" / "repositories"
    return {f"{link.parent.parent.parent.parent.relative_to(repositories)}"
            f"@{link.parts[-3]}:{link.parts[-2]}"
            for link in repositories.glob("**/_layers/*/*/link")}


def our_gc(root: Path, *flags: str) -> str:
    """
    Run C{txregistry garbage-collect} on C{root}.

    @return: what it printed.
    """
    config = root.parent / f"{root.name}-txregistry.yml"
    config.write_text(yaml.safe_dump(txregistry_config(root, free_port())))
    result = subprocess.run(
        [sys.executable, "-m", "txregistry.cli", "garbage-collect", *flags, str(config)],
        capture_output=True, text=True, timeout=300, env=clean_environ())
    assert (result.returncode, result.stderr) == (0, ""), result
    return result.stdout


def their_gc(root: Path, *flags: str) -> str:
    """
    Run distribution's C{docker-registry garbage-collect} on C{root}.

    @return: what it printed.
    """
    config = root.parent / f"{root.name}-distribution.yml"
    config.write_text(yaml.safe_dump(distribution_config(root, free_port())))
    result = subprocess.run(
        [DOCKER_REGISTRY, "garbage-collect", *flags, str(config)],
        capture_output=True, text=True, timeout=300, env=clean_environ())
    assert result.returncode == 0, result
    return result.stdout + result.stderr


def collect_both(server: RegistryProcess, *flags: str) -> tuple[Path, Path, str]:
    """
    Stop C{server}, then collect a copy of its root with each collector.

    @return: the root our collector ran on, the root distribution's ran
        on, and what ours printed.
    """
    server.stop()
    ours, theirs = server.root.parent / "ours", server.root.parent / "theirs"
    shutil.copytree(server.root, ours)
    shutil.copytree(server.root, theirs)
    printed = our_gc(ours, *flags)
    their_gc(theirs, *flags)
    return ours, theirs, printed


def pull_back(server: RegistryProcess, ref: str, target: Path) -> None:
    """
    Pull C{ref} (every manifest of an index) into a C{dir:} image, skopeo
    checking every digest, and check that it is the manifest C{ref} names.
    """
    target.parent.mkdir(exist_ok=True)
    skopeo("copy", "--all", "--src-tls-verify=false", f"docker://{server.host}/{ref}",
           f"dir:{target}")
    name, tag = ref.rsplit(":", 1)
    assert sha256((target / "manifest.json").read_bytes()) == digest_of(server, name, tag)


@pytest.fixture
def layouts(make_layout: Callable[[str], OCILayout]) -> dict[str, OCILayout]:
    """
    Images to push: C{one} to C{four} (single images, tagged C{v1}), and C{multi} (an index of two images, tagged C{multi}).
    """
    made = {}
    for name in ("one", "two", "three", "four"):
        made[name] = make_layout(name)
        made[name].tag("v1", made[name].add_image(layers=2))
    multi = make_layout("multi")
    multi.tag("multi", multi.add_index([multi.add_image("amd64"), multi.add_image("arm64")]))
    made["multi"] = multi
    return made


def test_same_blobs_as_distribution(registries: Registries, layouts: dict[str, OCILayout],
                                    tmp_path: Path) -> None:
    """
    Without --delete-untagged both collectors leave the same blobs (those
    of deleted manifests and orphan uploads go, shared layers, untagged
    images, indexes and referrers stay); ours also removes the _layers
    links of what it deleted; the registry restarted on what ours left
    serves every image.
    """
    server = registries.txregistry()
    push(server, layouts["one"], "v1", "app:v1")
    push(server, layouts["one"], "v1", "shared:v1")
    push(server, layouts["two"], "v1", "app:v2")
    push(server, layouts["three"], "v1", "app:v2")   # v2's first image is now untagged
    push(server, layouts["multi"], "multi", "multi:multi")
    push_signature(server, "shared", digest_of(server, "shared", "v1"))
    push(server, layouts["four"], "v1", "gone:v1")
    orphan = push_blob(server, "app", b"an upload no manifest names")["digest"]
    delete_manifest(server, "app", "v1")       # its blobs stay: shared:v1 is the same image
    deleted = image_blobs(layouts["four"].path, delete_manifest(server, "gone", "v1"))
    before = stored_blobs(server.root)

    ours, theirs, printed = collect_both(server)

    assert stored_blobs(ours) == stored_blobs(theirs)
    assert before - stored_blobs(ours) == {orphan, *deleted}
    assert f"deleted blob {orphan} " in printed
    assert f"app@{orphan}" not in layer_links(ours)
    assert f"app@{orphan}" in layer_links(theirs)
    restarted = registries.txregistry(ours)
    for ref in ("shared:v1", "app:v2", "multi:multi"):
        pull_back(restarted, ref, tmp_path / "pulled" / ref.replace(":", "-"))


def test_delete_untagged_same_as_distribution(registries: Registries,
                                              layouts: dict[str, OCILayout],
                                              tmp_path: Path) -> None:
    """
    With --delete-untagged, on a registry without indexes or referrers,
    both collectors leave the same blobs: an image untagged by a push of
    its tag goes but for the layers another image shares; the registry
    restarted on what ours left serves every tagged image.
    """
    server = registries.txregistry()
    push(server, layouts["one"], "v1", "app:v1")
    push(server, layouts["two"], "v1", "app:v2")
    push(server, layouts["two"], "v1", "other:v1")
    push(server, layouts["three"], "v1", "app:v2")   # v2's first image is now untagged
    untagged = digest_of(server, "other", "v1")
    deleted = delete_manifest(server, "app", "v1")
    before = stored_blobs(server.root)

    ours, theirs, printed = collect_both(server, "--delete-untagged")

    assert stored_blobs(ours) == stored_blobs(theirs)
    assert deleted not in stored_blobs(ours) and untagged in stored_blobs(ours)
    assert before - stored_blobs(ours)
    assert f"deleted manifest app@{untagged} (untagged)" in printed
    restarted = registries.txregistry(ours)
    for ref in ("app:v2", "other:v1"):
        pull_back(restarted, ref, tmp_path / "pulled" / ref.replace(":", "-"))
    status, _, _ = http_request(restarted.base_url, "GET", f"/v2/app/manifests/{untagged}",
                                headers={"Accept": OCI_MANIFEST})
    assert status == 404


def test_delete_untagged_keeps_children_and_referrers(
        registries: Registries, layouts: dict[str, OCILayout], tmp_path: Path) -> None:
    """
    With --delete-untagged ours keeps the untagged children of a tagged
    index and the (untagged) referrers of a tagged image, and their
    referrers: the index still pulls and the signatures are listed and
    served after a restart.  Distribution's collector deletes them, and the
    index no longer pulls from what it left.
    """
    server = registries.txregistry()
    push(server, layouts["multi"], "multi", "multi:multi")
    push(server, layouts["one"], "v1", "app:v1")
    push(server, layouts["two"], "v1", "app:v2")
    push(server, layouts["three"], "v1", "app:v2")
    subject = digest_of(server, "app", "v1")
    signatures = push_signature(server, "app", subject)
    index = json.loads(http_request(server.base_url, "GET", "/v2/multi/manifests/multi",
                                    headers={"Accept": "application/vnd.oci.image.index.v1+json"}
                                    )[2])
    children = {child["digest"] for child in index["manifests"]}
    childLayers = set()
    for child in children:
        manifest = json.loads(http_request(server.base_url, "GET",
                                           f"/v2/multi/manifests/{child}",
                                           headers={"Accept": OCI_MANIFEST})[2])
        childLayers |= {layer["digest"] for layer in manifest["layers"]}
    kept = children | childLayers | set(signatures.values())

    ours, theirs, printed = collect_both(server, "--delete-untagged")

    assert kept <= stored_blobs(ours)
    assert [line for line in printed.splitlines() if " manifest " in line] == [
        f"deleted manifest app@{digest_of_layout(layouts['two'])} (untagged)"]
    assert not childLayers & stored_blobs(theirs), "distribution keeps index children now"
    assert not {signatures["signatureLayer"], signatures["countersignatureLayer"]} & \
        stored_blobs(theirs)
    restarted = registries.txregistry(ours)
    pull_back(restarted, "multi:multi", tmp_path / "pulled" / "ours")
    status, _, body = http_request(restarted.base_url, "GET", f"/v2/app/referrers/{subject}")
    assert status == 200
    assert [m["digest"] for m in json.loads(body)["manifests"]] == [signatures["signature"]]
    for digest in (signatures["signature"], signatures["countersignature"]):
        status, _, _ = http_request(restarted.base_url, "GET", f"/v2/app/manifests/{digest}",
                                    headers={"Accept": OCI_MANIFEST})
        assert status == 200
    broken = registries.txregistry(theirs)
    with pytest.raises(AssertionError) as failure:
        pull_back(broken, "multi:multi", tmp_path / "pulled" / "theirs")
    assert "manifest unknown" in str(failure.value)


def digest_of_layout(layout: OCILayout) -> str:
    """
    @return: the digest of the manifest tagged C{v1} in C{layout}.
    """
    index = json.loads((layout.path / "index.json").read_text())
    return str(index["manifests"][0]["digest"])
