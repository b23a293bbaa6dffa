"""
C{txregistry garbage-collect} (L{txregistry.commands.garbagecollect}) on a
filesystem storage root built by pushing through the API.
"""

from __future__ import annotations

from pathlib import Path

import pytest_twisted

from tests.api.support import InMemoryRegistry
from tests.test_cli import copyToDisk, pushImage, run, writeConfig
from txregistry.digest import Digest
from txregistry.storage import paths

NAME = "library/app"


def storedBlobs(root: Path) -> set[str]:
    """
    @return: the digests of the blobs stored under C{root}.
    """
    blobs = root / paths.BLOBS.lstrip("/")
    return {f"{data.parts[-4]}:{data.parts[-2]}" for data in blobs.glob("*/*/*/data")}


def blobSize(root: Path, digest: str) -> int:
    """
    @return: the size of a blob stored under C{root}.
    """
    return (root / paths.blobData(Digest.parse(digest)).lstrip("/")).stat().st_size


def build(tmp_path: Path) -> tuple[str, Path, set[str], str]:
    """
    Push a tagged image and an untagged one, and an image then deleted;
    write the storage to disk.

    @return: the configuration's path, the root, the blobs of the deleted
        image (config, layer, manifest), and the untagged manifest.
    """
    registry = InMemoryRegistry(delete_enabled=True)
    pushImage(registry, NAME, "v1", [b"config", b"layer"])
    pushImage(registry, NAME, "v2", [b"config 2", b"layer 2"])
    deleted = registry.request("HEAD", f"/v2/{NAME}/manifests/v2").header("Docker-Content-Digest")
    assert registry.request("DELETE", f"/v2/{NAME}/manifests/{deleted}").code == 202
    pushImage(registry, NAME, "v3", [b"config 3", b"layer 3"])
    untagged = registry.request("HEAD", f"/v2/{NAME}/manifests/v3").header("Docker-Content-Digest")
    root = tmp_path / "root"
    copyToDisk(registry, root)
    # Untag v3 on disk, as distribution's tag delete does.
    tagDir = root / paths.tag(NAME, "v3").lstrip("/")
    for link in sorted(tagDir.rglob("*"), reverse=True):
        link.unlink() if link.is_file() else link.rmdir()
    tagDir.rmdir()
    return (writeConfig(tmp_path), root,
            {deleted, *(str(Digest.of(b)) for b in (b"config 2", b"layer 2"))},
            untagged)


@pytest_twisted.ensureDeferred
async def test_garbageCollect(tmp_path: Path) -> None:
    """garbage-collect deletes the blobs of a deleted manifest, prints a line per thing removed and the counts, and exits 0."""
    config, root, deleted, untagged = build(tmp_path)
    before = storedBlobs(root)
    freed = sum(blobSize(root, digest) for digest in deleted)
    result = await run("garbage-collect", config)
    assert (result.status, result.err) == (0, "")
    assert storedBlobs(root) == before - deleted
    lines = result.out.splitlines()
    assert sorted(line.split()[2] for line in lines if line.startswith("deleted blob ")) == \
        sorted(deleted)
    assert f"deleted layer link {NAME}@{Digest.of(b'layer 2')} (unreferenced)" in lines
    assert lines[-1] == f"3 blobs, 0 manifests, 0 tags removed, {freed} bytes freed; " \
        f"{len(before) - 3} blobs kept"


@pytest_twisted.ensureDeferred
async def test_dryRunAndQuiet(tmp_path: Path) -> None:
    """--dry-run deletes nothing and says what would be removed; --quiet prints the counts only."""
    config, root, deleted, untagged = build(tmp_path)
    before = storedBlobs(root)
    result = await run("garbage-collect", config, "--dry-run", "--delete-untagged")
    assert result.status == 0
    assert storedBlobs(root) == before
    lines = result.out.splitlines()
    assert [line for line in lines if " manifest " in line] == [
        f"would delete manifest {NAME}@{untagged} (untagged)"]
    assert lines[-1].startswith("dry run: 6 blobs, 1 manifests, 0 tags would be removed, ")
    quiet = await run("garbage-collect", config, "--delete-untagged", "--quiet")
    assert quiet.status == 0
    assert quiet.out.splitlines() == [lines[-1].removeprefix("dry run: ")
                                      .replace("would be removed", "removed")
                                      .replace("would be freed", "freed")]
    assert storedBlobs(root) == before - deleted - {
        untagged, *(str(Digest.of(b)) for b in (b"config 3", b"layer 3"))}
