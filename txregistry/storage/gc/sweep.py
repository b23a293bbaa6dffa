"""
The sweep phase: choose the blobs to delete and delete, links before data,
so that a reader who still finds a link finds the data it names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AsyncExitStack
from dataclasses import dataclass

from twisted.logger import Logger

from txregistry.digest import Digest
from txregistry.interfaces import IStorageDriver
from txregistry.storage import paths
from txregistry.storage.gc.hooks import InFlightHook
from txregistry.storage.gc.inventory import Inventory

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


def manifestPaths(repository: str, digest: Digest, subject: Digest | None,
                  tags: Iterable[str]) -> list[str]:
    """
    @return: what deleting a manifest from a repository deletes, in order,
        as L{txregistry.storage.manifests.ManifestStore.delete} does: its
        revision, its referrers index entry, the tags naming it.
    """
    found = [paths.manifestRevision(repository, digest)]
    if subject is not None:
        found.append(paths.referrer(repository, subject, digest))
    return found + [paths.tag(repository, tag) for tag in tags]


async def sweepBlobs(driver: IStorageDriver, candidates: list[Candidate], cutoff: float, *,
                     dryRun: bool, inflight: InFlightHook | None,
                     forget: Callable[[Digest], None] | None) -> list[int | None]:
    """
    Delete candidate blobs, a batch in a few storage calls: their data
    stat-ed, then (guarded by L{InFlightHook.deleting}, the whole batch's
    guards entered together) every C{_layers} link naming them, then their
    data; then forget them in the caches of this process.

    Their data is stat-ed first, right before the deletes: a blob written
    since C{cutoff} (pushed again meanwhile, or uploaded within the grace
    period) or gone is left alone, and so is a blob a request of this
    process has pinned.

    @return: for each candidate, its size if it was deleted (or, in a dry
        run, would be), else L{None}.
    """
    infos = await driver.stats([paths.blobData(candidate.digest) for candidate in candidates])
    sizes = [None if info is None or info.modTime >= cutoff else info.size for info in infos]
    if dryRun:
        return sizes
    async with AsyncExitStack() as guards:
        if inflight is not None:
            for i, candidate in enumerate(candidates):
                if sizes[i] is not None and not await guards.enter_async_context(
                        inflight.deleting(candidate.digest)):
                    sizes[i] = None
        doomed = [candidate for candidate, size in zip(candidates, sizes, strict=True)
                  if size is not None]
        links = [paths.layerLink(repository, candidate.digest).rsplit("/", 1)[0]
                 for candidate in doomed for repository in candidate.linkedBy]
        if links:
            await driver.deleteAll(links)
        if doomed:
            await driver.deleteAll([paths.blobDirectory(candidate.digest)
                                    for candidate in doomed])
    if forget is not None:
        for candidate in doomed:
            forget(candidate.digest)
    return sizes
