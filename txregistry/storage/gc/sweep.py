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
    @ivar linkedBy: the repositories whose C{_layers} link it.
    """

    digest: Digest
    linkedBy: tuple[str, ...]


def selectBlobs(inventory: Inventory, marked: set[Digest],
                cutoff: float) -> tuple[list[Candidate], int]:
    """
    Choose the blobs to delete: those not marked which no C{_layers} link
    written since C{cutoff} names (an upload resumed and committed late
    keeps its data's old time but writes a fresh link).  Their data's own
    time is checked when they are swept (L{sweepBlob}).

    @return: the candidates, by digest, and how many unmarked blobs were
        spared for a young link.
    """
    unmarked = inventory.blobs - marked
    linkedBy: dict[Digest, list[str]] = {}
    youngest: dict[Digest, float] = {}
    for repository in inventory.repositories.values():
        for digest in unmarked & repository.layers.keys():
            linkedBy.setdefault(digest, []).append(repository.name)
            youngest[digest] = max(youngest.get(digest, 0.0), repository.layers[digest])
    candidates, spared = [], 0
    for digest in unmarked:
        if youngest.get(digest, 0.0) >= cutoff:
            spared += 1
        else:
            candidates.append(Candidate(digest, tuple(sorted(linkedBy.get(digest, ())))))
    candidates.sort(key=lambda candidate: str(candidate.digest))
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
                    forget: Callable[[Digest], None] | None) -> int | None:
    """
    Delete a candidate blob: its C{_layers} links, then its data, then
    forget it in the caches of this process.

    Its data is stat-ed first, right before the delete: a blob written
    since C{cutoff} (pushed again meanwhile, or uploaded within the grace
    period) or gone is left alone, and so is a blob a request of this
    process has pinned.

    @return: its size if it was deleted (or, in a dry run, would be), else
        L{None}.
    """
    try:
        info = await driver.stat(paths.blobData(candidate.digest))
    except PathNotFound:
        return None
    if info.modTime >= cutoff:
        return None
    if dryRun:
        return info.size
    if inflight is None:
        await _delete(driver, candidate)
    else:
        async with inflight.deleting(candidate.digest) as allowed:
            if not allowed:
                return None
            await _delete(driver, candidate)
    if forget is not None:
        forget(candidate.digest)
    return info.size


async def _delete(driver: IStorageDriver, candidate: Candidate) -> None:
    for repository in candidate.linkedBy:
        link = paths.layerLink(repository, candidate.digest)
        await deleteIfPresent(driver, link.rsplit("/", 1)[0])
    await deleteIfPresent(driver, paths.blobDirectory(candidate.digest))
