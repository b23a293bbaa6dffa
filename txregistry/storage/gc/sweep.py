"""
The sweep phase: choose the blobs to delete and delete, links before data,
so that a reader who still finds a link finds the data it names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from twisted.logger import Logger

from txregistry.digest import Digest
from txregistry.interfaces import IStorageDriver
from txregistry.storage import paths
from txregistry.storage.driver.errors import PathNotFound
from txregistry.storage.gc.hooks import InFlightHook
from txregistry.storage.gc.inventory import Inventory
from txregistry.storage.links import deleteIfPresent

log = Logger()


@dataclass(frozen=True)
class Candidate:
    """
    A blob to delete.

    @ivar digest: the blob.
    @ivar size: its bytes.
    @ivar linkedBy: the repositories whose C{_layers} link it.
    """

    digest: Digest
    size: int
    linkedBy: tuple[str, ...]


def selectBlobs(inventory: Inventory, marked: set[Digest],
                cutoff: float) -> tuple[list[Candidate], int]:
    """
    Choose the blobs to delete: those not marked whose data was written
    before C{cutoff} and which no C{_layers} link written since names (an
    upload resumed and committed late keeps its data's old time but writes
    a fresh link).

    @return: the candidates, by digest, and how many unmarked blobs were
        spared for being young.
    """
    linkedBy: dict[Digest, list[str]] = {}
    youngest: dict[Digest, float] = {}
    for repository in inventory.repositories.values():
        for digest, modTime in repository.layers.items():
            linkedBy.setdefault(digest, []).append(repository.name)
            if modTime > youngest.get(digest, 0.0):
                youngest[digest] = modTime
    candidates, spared = [], 0
    for digest, blob in sorted(inventory.blobs.items()):
        if digest in marked:
            continue
        if blob.modTime >= cutoff or youngest.get(digest, 0.0) >= cutoff:
            spared += 1
            continue
        candidates.append(Candidate(digest, blob.size, tuple(sorted(linkedBy.get(digest, ())))))
    return candidates, spared


async def deleteManifest(driver: IStorageDriver, repository: str, digest: Digest,
                         subject: Digest | None, tags: Iterable[str]) -> None:
    """
    Delete a manifest from a repository as
    L{txregistry.storage.manifests.ManifestStore.delete} does: its revision,
    its referrers index entry, the tags naming it.
    """
    await deleteIfPresent(driver, paths.manifestRevision(repository, digest))
    if subject is not None:
        await deleteIfPresent(driver, paths.referrer(repository, subject, digest))
    for tag in tags:
        await deleteIfPresent(driver, paths.tag(repository, tag))


async def sweepBlob(driver: IStorageDriver, candidate: Candidate, cutoff: float, *,
                    dryRun: bool, inflight: InFlightHook | None,
                    forget: Callable[[Digest], None] | None) -> bool:
    """
    Delete a candidate blob: its C{_layers} links, then its data, then
    forget it in the caches of this process.

    The data is stat-ed again first: a blob rewritten since the inventory
    (its time moved past C{cutoff}) or gone is left alone, and so is a blob
    a request of this process has pinned.

    @return: whether it was deleted (or, in a dry run, would be).
    """
    data = paths.blobData(candidate.digest)
    try:
        info = await driver.stat(data)
    except PathNotFound:
        return False
    if info.modTime >= cutoff:
        return False
    if dryRun:
        return True
    if inflight is None:
        await _delete(driver, candidate)
    else:
        async with inflight.deleting(candidate.digest) as allowed:
            if not allowed:
                return False
            await _delete(driver, candidate)
    if forget is not None:
        forget(candidate.digest)
    return True


async def _delete(driver: IStorageDriver, candidate: Candidate) -> None:
    for repository in candidate.linkedBy:
        link = paths.layerLink(repository, candidate.digest)
        await deleteIfPresent(driver, link.rsplit("/", 1)[0])
    await deleteIfPresent(driver, paths.blobDirectory(candidate.digest))
