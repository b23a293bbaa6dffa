"""
Online garbage collection (C{storage.maintenance.gc}, a txregistry
extension): the collector of C{txregistry garbage-collect}, run inside the
daemon every C{interval} while it serves pushes and pulls.

Only one collector runs at a time on a storage: within a registry, worker 1
alone runs this service (see L{txregistry.service}); across the replicas
sharing a storage, each run first takes the storage's L{Lease}, and a run
that finds it held by another process does nothing.  A blob younger than
the grace period, or pinned by a push under way in this process
(L{InFlight}), is never deleted (see L{txregistry.storage.gc.collector}).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Protocol

from twisted.internet.defer import CancelledError, Deferred, ensureDeferred
from twisted.logger import Logger

from txregistry.config.model import GCConfig
from txregistry.config.units import format_duration
from txregistry.storage.gc.collector import GarbageCollector, Report
from txregistry.storage.gc.hooks import RetentionHook
from txregistry.storage.gc.inflight import InFlight
from txregistry.storage.gc.lease import Lease
from txregistry.storage.purge import RepeatingService, initialDelay
from txregistry.storage.registry import Registry

#: The outcomes of a run, as counted by an L{CollectionObserver}: it
#: deleted what it found, it only reported it (C{dryrun}), another process
#: held the lease, or it failed.
DONE, DRY_RUN, BUSY, FAILED = "done", "dryrun", "busy", "failed"


class CollectionObserver(Protocol):
    """
    Told of each run's end (L{txregistry.metrics.Metrics} is one).
    """

    def collectionEnded(self, outcome: str, ended: float, seconds: float,
                        report: Report | None) -> None:
        """
        @param outcome: one of L{DONE}, L{DRY_RUN}, L{BUSY}, L{FAILED}.
        @param ended: when the run ended (Unix time).
        @param seconds: how long the run took.
        @param report: what it removed (or would have), if it ran to the end.
        """


class CollectionService(RepeatingService):
    """
    Runs a L{GarbageCollector} every C{interval} (the first time after
    C{delay}), holding the storage's L{Lease}, and logs a summary of each
    run.  A run under way when the service stops is cancelled.

    @ivar collector: the L{GarbageCollector}.
    """

    log = Logger()

    def __init__(self, collector: GarbageCollector, lease: Lease, inflight: InFlight,
                 clock: Any, interval: timedelta, delay: float, *,
                 dryRun: bool = False, deleteUntagged: bool = False,
                 observer: CollectionObserver | None = None) -> None:
        """
        @param lease: the storage's lease, taken for each run.
        @param inflight: the pins of this process's pushes, which the
            collector checks too: it is told when a run begins and ends.
        @param clock: the L{IReactorTime} scheduling the runs.
        @param dryRun: only report what would be deleted.
        @param deleteUntagged: delete the manifests no tag keeps.
        @param observer: told of the end of each run.
        """
        super().__init__(clock, delay, interval)
        self.collector = collector
        self.lease = lease
        self.inflight = inflight
        self.dryRun = dryRun
        self.deleteUntagged = deleteUntagged
        self.observer = observer

    @classmethod
    def fromConfig(cls, config: GCConfig, registry: Registry, clock: Any,
                   observer: CollectionObserver | None = None,
                   retention: RetentionHook | None = None) -> CollectionService:
        """
        @param config: C{storage.maintenance.gc}.
        @param registry: the stores whose pins the collector checks and
            whose caches it clears of what it deletes.
        @param clock: the L{IReactorTime} scheduling the runs.
        @param observer: told of the end of each run.
        @param retention: the retention policy each run applies, if any.
        @return: the service for C{config}, its first run after a random
            delay of up to an interval (or half an hour, if shorter), so
            that replicas started together do not all try at once.
        """
        collector = GarbageCollector(registry.driver, clock,
                                     graceperiod=config.graceperiod.total_seconds(),
                                     inflight=registry.inflight,
                                     forget=registry.manifests.forget,
                                     retention=retention)
        return cls(collector, Lease(registry.driver, clock), registry.inflight, clock,
                   config.interval, initialDelay(config.interval), dryRun=config.dryrun,
                   deleteUntagged=config.deleteuntagged, observer=observer)

    def startService(self) -> None:
        super().startService()
        self.log.info(
            "collecting garbage every {interval}{mode}, first in {delay:.1f}s",
            interval=format_duration(self.interval), delay=self.delay,
            mode=(" (dry run)" if self.dryRun else "")
            + (", untagged manifests too" if self.deleteUntagged else ""))

    def runOnce(self) -> Deferred[Report | None]:
        """
        Collect garbage now, if no other process is.

        @return: a L{Deferred} firing with the L{Report}, or L{None} if the
            run did not happen (the lease was held), failed (logged) or
            was cancelled; it never fails.
        """
        return ensureDeferred(self._collect())

    async def _collect(self) -> Report | None:
        started = self.clock.seconds()
        report: Report | None = None
        try:
            with self.inflight.collecting():
                held, report = await self.lease.run(
                    lambda: self.collector.collect(dryRun=self.dryRun,
                                                   deleteUntagged=self.deleteUntagged))
        except CancelledError:
            return None
        except Exception:
            self.log.failure("garbage collection failed")
            outcome = FAILED
        else:
            outcome = (DRY_RUN if self.dryRun else DONE) if held else BUSY
        ended = self.clock.seconds()
        seconds = ended - started
        if outcome == BUSY:
            self.log.info("garbage collection skipped: another process holds {path}",
                          path=self.lease.path)
        elif report is not None:
            self.log.info(
                "garbage collection {verb} {blobs} blobs ({bytes} bytes), {manifests} "
                "manifests and {tags} tags; kept {kept} blobs, spared {skipped} "
                "in flight or in the grace period; {seconds:.3f}s",
                verb="would delete" if report.dryRun else "deleted",
                blobs=report.blobs, bytes=report.bytes, manifests=report.manifests,
                tags=report.tags, kept=report.kept, skipped=report.skipped,
                seconds=seconds)
        if self.observer is not None:
            self.observer.collectionEnded(outcome, ended, seconds, report)
        return report
