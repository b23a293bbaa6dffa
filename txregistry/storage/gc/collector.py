"""
The garbage collector: distribution's mark and sweep, fixed where
distribution is wrong, and safe to run while the registry serves pushes.

Every revision of every repository is a root (with delete-untagged, every
tagged manifest), a kept index keeps its children and a kept manifest its
referrers (L{txregistry.storage.gc.mark}); the blobs no kept manifest needs
are deleted, each with the C{_layers} links naming it, and forgotten by the
caches of this process (L{txregistry.storage.gc.sweep}).

Why a blob a push needs is never deleted
========================================

The run starts at C{start}; C{cutoff} is C{start - graceperiod} (offline,
with nothing pushed, the grace period is 0).  A push writes, in order, the
blob's data, its C{_layers} link, the manifest's blob, the manifest's
revision link, and its tag; a manifest push first checks that the
repository links every blob it names.

 1. A blob is deleted only if no kept manifest needs it, no C{_layers}
    link naming it was written after C{cutoff}, and its data was written
    before C{cutoff} (stat-ed right before the delete, rule 3).  So the
    blobs of a push that started within the grace period are never
    deleted: an upload in progress, or one finished but whose manifest is
    not pushed yet.  The link's time matters too: an upload resumed and
    committed late keeps its data's old time.
 2. The inventory is not one snapshot, and a manifest may be pushed while
    it is read.  After the blobs are listed, the links are walked again and
    what was written meanwhile joins the inventory before marking: a
    revision written since C{cutoff} is a root whatever its tags (so a
    manifest pushed, or pushed again, during the run keeps what it needs
    even if it was unknown or untagged when first read), and a C{_layers}
    link written since spares its blob (rule 1).  Without a grace period
    (offline) this second walk is skipped: nothing is pushed then, and if
    something were, no second walk could save the blobs its push uploaded
    just before the run.
 3. Right before each blob is deleted its data is stat-ed (a blob pushed
    again meanwhile has a new time and is spared), and, online, the
    in-flight pins of this process are checked inside
    L{InFlightHook.deleting}: a manifest push pins what it names before it
    checks the links and until its revision link is written, an upload
    commit pins its blob until its link is written, and a pin taken during
    a delete waits for it, after which the push finds the blob gone and
    fails (C{MANIFEST_BLOB_UNKNOWN}) or writes it again.  Links go before
    data, so a reader that finds a link finds the data, and a push that
    checked the links before they went has pinned the blob.
 4. Manifests are deleted (delete-untagged, retention) only if their
    revision link is older than C{cutoff}, and the repository's tags are
    read again right before: a manifest tagged meanwhile is kept, and
    marked again with what it needs before any blob is chosen; so is one
    that a push of this process has pinned (an index naming it), checked
    as in 3.

What remains is a push served by another process (a worker or a replica
sharing the storage) whose manifest names a blob that was already
unreferenced and older than the grace period, and which checks that blob's
links between the second walk (2) and the delete of those links: the pins
of one process do not reach another.  Such a push fails if it checks after
the links are gone; if it checked just before, it may be acknowledged for a
manifest whose blob is then deleted.  The window is the time between two
storage calls of one blob's sweep, and it only concerns content that
nothing used for longer than the grace period: blobs uploaded for a push
are younger than the grace period for the push's duration, which is what
the grace period must exceed (hence its default of an hour, online).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

from twisted.internet.defer import DeferredSemaphore, gatherResults
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from txregistry.digest import Digest
from txregistry.interfaces import IStorageDriver
from txregistry.storage import paths
from txregistry.storage.gc.hooks import InFlightHook, RetentionHook
from txregistry.storage.gc.inventory import (
    Inventory,
    RepositoryInventory,
    inBatches,
    readInventory,
    readLayers,
    readLinks,
    readManifests,
    readTags,
)
from txregistry.storage.gc.mark import Doomed, Marks, keptWith, mark
from txregistry.storage.gc.sweep import (
    Candidate,
    manifestPaths,
    selectBlobs,
    sweepBlobs,
)
from txregistry.storage.pulls import readPulls

#: How many repositories' tags one storage call reads again before their
#: doomed tags and manifests are deleted (rule 4): few enough that little
#: time passes between the read and the deletes.
REPOSITORIES = 64


@dataclass(frozen=True)
class Removed:
    """
    One thing the collector removed (or, in a dry run, would remove).

    @ivar kind: C{"blob"}, C{"manifest"}, C{"tag"} or C{"layer-link"}.
    @ivar digest: the blob or manifest (for a tag, the manifest it named).
    @ivar repository: the repository, for all but blobs.
    @ivar tag: the tag, for a tag.
    @ivar size: a blob's bytes, else 0.
    @ivar reason: why: C{"unreferenced"}, C{"untagged"}, C{"retention: ..."}.
    """

    kind: str
    digest: Digest | None
    repository: str | None
    tag: str | None
    size: int
    reason: str


@dataclass
class Report:
    """
    What a collection removed.

    @ivar dryRun: whether nothing was actually deleted.
    @ivar removed: what was (or would be) removed, in order.
    @ivar kept: how many blobs are kept.
    @ivar skipped: how many candidates (blobs, manifests, tags) were spared
        by the grace period or the checks made right before deleting.
    """

    dryRun: bool
    removed: list[Removed] = field(default_factory=list)
    kept: int = 0
    skipped: int = 0

    def _count(self, kind: str) -> int:
        return sum(1 for item in self.removed if item.kind == kind)

    @property
    def blobs(self) -> int:
        """
        @return: how many blobs were removed.
        """
        return self._count("blob")

    @property
    def bytes(self) -> int:
        """
        @return: the bytes of the blobs removed.
        """
        return sum(item.size for item in self.removed if item.kind == "blob")

    @property
    def manifests(self) -> int:
        """
        @return: how many manifests were removed from repositories.
        """
        return self._count("manifest")

    @property
    def tags(self) -> int:
        """
        @return: how many tags were removed.
        """
        return self._count("tag")


class GarbageCollector:
    """
    Collects the garbage of one storage.
    """

    log = Logger()

    def __init__(self, driver: IStorageDriver, clock: IReactorTime, *,
                 graceperiod: float = 0.0,
                 inflight: InFlightHook | None = None,
                 forget: Callable[[Digest], None] | None = None,
                 retention: RetentionHook | None = None,
                 concurrency: int = 16) -> None:
        """
        @param graceperiod: seconds: nothing written more recently is
            deleted (0 offline, when nothing is pushed meanwhile).
        @param inflight: the pins of the requests of this process (online).
        @param forget: called with each blob deleted, to drop it from the
            caches of this process.
        @param retention: the policy removing tags and old untagged
            manifests.
        @param concurrency: how many storage calls run at once.
        """
        self.driver = driver
        self.clock = clock
        self.graceperiod = graceperiod
        self.inflight = inflight
        self.forget = forget
        self.retention = retention
        self.concurrency = concurrency

    async def collect(self, *, dryRun: bool = False, deleteUntagged: bool = False) -> Report:
        """
        Collect once.

        @param dryRun: delete nothing, report what would be deleted.
        @param deleteUntagged: delete the untagged manifests (but the
            children and referrers of kept ones).
        @return: the L{Report}.
        """
        start = self.clock.seconds()
        cutoff = start - self.graceperiod
        times = self.graceperiod > 0 or self.retention is not None
        inventory = await readInventory(
            self.driver, self.concurrency, times=times,
            tags=deleteUntagged or self.retention is not None)
        if self.retention is not None:
            pulls = await readPulls(self.driver, list(inventory.repositories), self.concurrency)
            for name, pulled in pulls.items():
                inventory.repositories[name].pulled = pulled
        if self.graceperiod > 0:
            await self._recheck(inventory)
        forced: dict[str, set[Digest]] = {}

        def marking() -> Marks:
            return mark(inventory, now=start, deleteUntagged=deleteUntagged,
                        youngerThan=cutoff, retention=self.retention, forced=forced)

        marks = marking()
        report = Report(dryRun)
        spared = await self._deleteManifests(inventory, marks, report)
        if not dryRun:
            await self._forgetPulls(inventory, report, start)
        if spared:
            for repository, digest in spared:
                forced.setdefault(repository, set()).add(digest)
            marks = marking()
        if not times:
            await readLayers(self.driver, inventory.repositories.values(),
                             inventory.blobs - marks.blobs, self.concurrency)
        candidates, young = selectBlobs(inventory, marks.blobs, cutoff)
        report.skipped += young
        swept = await self._sweep(candidates, cutoff, dryRun)
        for candidate, size in zip(candidates, swept, strict=True):
            if size is None:
                report.skipped += 1
                continue
            report.removed.extend(
                Removed("layer-link", candidate.digest, repository, None, 0, "unreferenced")
                for repository in candidate.linkedBy)
            report.removed.append(
                Removed("blob", candidate.digest, None, None, size, "unreferenced"))
        report.kept = len(inventory.blobs) - report.blobs
        self.log.info(
            "garbage collection{dry}: {blobs} blobs ({bytes} bytes), {manifests} manifests, "
            "{tags} tags removed, {kept} blobs kept, {skipped} spared",
            dry=" (dry run)" if dryRun else "", blobs=report.blobs, bytes=report.bytes,
            manifests=report.manifests, tags=report.tags, kept=report.kept,
            skipped=report.skipped)
        return report

    async def _recheck(self, inventory: Inventory) -> None:
        """
        Walk the links again (rule 2 of the module docstring): add what
        was written meanwhile to C{inventory}, with its new times.
        """
        repositories, _ = await readLinks(self.driver, self.concurrency, times=True)
        for name, fresh in repositories.items():
            known = inventory.repositories.setdefault(name, RepositoryInventory(name))
            known.revisions.update(fresh.revisions)
            known.layers.update(fresh.layers)
        await readManifests(self.driver, (digest for repository in repositories.values()
                                          for digest in repository.revisions),
                            inventory.manifests, self.concurrency)

    async def _deleteManifests(self, inventory: Inventory, marks: Marks,
                               report: Report) -> list[tuple[str, Digest]]:
        """
        Delete the tags and manifests C{marks} dooms, reading the tags of
        their repositories again first (rule 4), L{REPOSITORIES} repositories
        at a time: their tags read in one storage call, then their doomed
        tags deleted in one, then their doomed manifests in one.

        @return: the doomed manifests found tagged, and so spared.
        """
        doomed: dict[str, list[Doomed]] = {}
        for item in [*marks.tags, *marks.manifests]:
            doomed.setdefault(item.repository, []).append(item)
        names = sorted(doomed)
        semaphore = DeferredSemaphore(self.concurrency)
        results = await gatherResults(
            [semaphore.run(self._deleteInRepositories, inventory,
                           {name: doomed[name] for name in names[start:start + REPOSITORIES]},
                           report)
             for start in range(0, len(names), REPOSITORIES)], consumeErrors=True)
        return [spared for result in results for spared in result]

    async def _deleteInRepositories(self, inventory: Inventory, doomed: dict[str, list[Doomed]],
                                    report: Report) -> list[tuple[str, Digest]]:
        names = list(doomed)
        spared: list[tuple[str, Digest]] = []
        tagPaths: list[str] = []
        untagged: list[tuple[str, Doomed]] = []
        for name, tags in zip(names, await self._readTags(names), strict=True):
            # A manifest tagged since the inventory was read keeps, as when
            # marking, its children and referrers: the inventory may have
            # missed its tag (one written meanwhile).
            untagging = {item.tag for item in doomed[name]
                         if item.tag is not None and tags.get(item.tag) == item.digest}
            tagged = keptWith([digest for tag, digest in tags.items() if tag not in untagging],
                              inventory.repositories[name], inventory.manifests)
            for item in doomed[name]:
                if item.tag is not None:
                    if tags.get(item.tag) != item.digest:
                        report.skipped += 1
                        continue
                    del tags[item.tag]
                    tagPaths.append(paths.tag(name, item.tag))
                    report.removed.append(
                        Removed("tag", item.digest, name, item.tag, 0, item.reason))
                elif item.digest in tagged:
                    report.skipped += 1
                    spared.append((name, item.digest))
                else:
                    untagged.append((name, item))
        if report.dryRun:
            deleted = untagged
        else:
            if tagPaths:
                await self.driver.deleteAll(tagPaths)
            deleted = await self._deleteUntagged(inventory, untagged)
        gone = set(deleted)
        for name, item in untagged:
            if (name, item) in gone:
                report.removed.append(
                    Removed("manifest", item.digest, name, None, 0, item.reason))
            else:
                report.skipped += 1
                spared.append((name, item.digest))
        return spared

    async def _deleteUntagged(self, inventory: Inventory,
                                untagged: list[tuple[str, Doomed]]) -> list[tuple[str, Doomed]]:
        """
        Delete manifests from their repositories, in one storage call,
        unless, online, a push of this process has pinned them (an index
        naming them): the guards of the whole batch are entered together.

        @return: those deleted.
        """
        async with AsyncExitStack() as guards:
            deleted = []
            for name, item in untagged:
                if self.inflight is None or await guards.enter_async_context(
                        self.inflight.deleting(item.digest)):
                    deleted.append((name, item))
            files = []
            for name, item in deleted:
                references = inventory.manifests.get(item.digest)
                files.extend(manifestPaths(
                    name, item.digest, None if references is None else references.subject, ()))
            if files:
                await self.driver.deleteAll(files)
        return deleted

    async def _readTags(self, names: list[str]) -> list[dict[str, Digest]]:
        """
        @return: the tags of each repository, read afresh.
        """
        listed = await self.driver.lists([paths.tags(name) for name in names])
        found = await readTags(self.driver, {
            name: {child.rsplit("/", 1)[1]: 0.0 for child in children or ()}
            for name, children in zip(names, listed, strict=True)}, self.concurrency)
        return [{tag: digest for tag, (digest, _) in found.get(name, {}).items()}
                for name in names]

    async def _sweep(self, candidates: list[Candidate], cutoff: float,
                     dryRun: bool) -> list[int | None]:
        """
        Sweep the candidates, L{concurrency} at a time.

        @return: for each, its size if it was deleted, else L{None}.
        """
        async def sweep(batch: list[Candidate]) -> list[int | None]:
            return await sweepBlobs(self.driver, batch, cutoff, dryRun=dryRun,
                                    inflight=self.inflight, forget=self.forget)

        return await inBatches(candidates, sweep, self.concurrency)

    async def _forgetPulls(self, inventory: Inventory, report: Report,
                           before: float) -> None:
        """
        Delete the pull records (L{txregistry.storage.pulls}) of the tags
        just deleted, and of those found missing that were last written
        before C{before}, so that a tag pushed again later does not inherit
        the pulls of its namesake.
        """
        deleted = {(item.repository, item.tag) for item in report.removed if item.kind == "tag"}
        stale = [paths.pulledRecord(name, tag)
                 for name, repository in sorted(inventory.repositories.items())
                 for tag, modTime in sorted(repository.pulled.items())
                 if (name, tag) in deleted or tag not in repository.tags and modTime < before]

        await inBatches(stale, self.driver.deleteAll, self.concurrency)
