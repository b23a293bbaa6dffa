"""
Tests for L{txregistry.storage.gc.service}: the online collector's runs,
on the in-memory driver and a L{Clock}, and how the service tree includes
it.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from twisted.internet.defer import ensureDeferred
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactor
from twisted.logger import LogLevel, formatEvent, globalLogPublisher

from tests.api.helpers import blobStored, result
from tests.api.support import imageManifest
from tests.storage.gc.test_inflight import OCI
from txregistry.config import GCConfig, load_config
from txregistry.digest import Digest
from txregistry.metrics import Figures, Metrics
from txregistry.service import makeService, makeWorkerService, withSecret
from txregistry.storage.driver.base import CheckedDriver
from txregistry.storage.driver.errors import UnexpectedError
from txregistry.storage.driver.inmemory import InMemoryDriver
from txregistry.storage.gc.collector import Report
from txregistry.storage.gc.lease import LEASE
from txregistry.storage.gc.service import BUSY, DONE, DRY_RUN, FAILED, CollectionService
from txregistry.storage.registry import Registry
from txregistry.workers import WorkerSpec

MINUTE = timedelta(minutes=1)


class Observed:
    """
    A L{txregistry.storage.gc.service.CollectionObserver} keeping what it
    is told.
    """

    def __init__(self) -> None:
        self.runs: list[tuple[str, float, float, Report | None]] = []

    def collectionEnded(self, outcome: str, ended: float, seconds: float,
                        report: Report | None) -> None:
        self.runs.append((outcome, ended, seconds, report))


def garbage(registry: Registry) -> tuple[Digest, Digest]:
    """
    Push an image whose manifest is then deleted, and one that stays.

    @return: the layer of the deleted image (garbage) and of the kept one.
    """
    digests = []
    for name, layer in [("gone", b"lost layer"), ("kept", b"kept layer")]:
        blobs = [b"config " + layer, layer]
        for blob in blobs:
            assert result(ensureDeferred(registry.uploads.storeWhole(name, blob,
                                                                     Digest.of(blob))))
        payload = json.dumps(imageManifest(Digest.of(blobs[0]), len(blobs[0]),
                                           [(Digest.of(layer), len(layer))])).encode()
        result(ensureDeferred(registry.manifests.put(name, payload, OCI, Digest.of(payload))))
        digests.append((Digest.of(layer), Digest.of(payload)))
    result(ensureDeferred(registry.manifests.delete("gone", digests[0][1])))
    return digests[0][0], digests[1][0]


def makeCollection(driver: Any = None, **settings: Any) -> tuple[Clock, Registry, Observed,
                                                                 CollectionService]:
    """
    @return: a clock set an hour past the data's times, a registry with
        garbage, an observer, and the started collection service (every
        minute, a minute's grace) on them.
    """
    clock = Clock()
    clock.advance(time.time() + 3600)
    registry = Registry.onDriver(driver or CheckedDriver(InMemoryDriver()), clock)
    observed = Observed()
    config = GCConfig(enabled=True, interval=MINUTE, graceperiod=MINUTE, **settings)
    service = CollectionService.fromConfig(config, registry, clock, observed)
    service.delay = 5
    service.startService()
    return clock, registry, observed, service


def test_collectsEveryInterval() -> None:
    """The first run comes after the delay, then one every interval: the
    garbage is deleted, the rest kept, and the observer told."""
    clock, registry, observed, service = makeCollection()
    lost, kept = garbage(registry)
    clock.advance(4)
    assert observed.runs == []
    clock.advance(1)                # the delay: the run takes the lease
    clock.advance(1)                # ... which settles
    [(outcome, ended, seconds, report)] = observed.runs
    assert (outcome, ended, seconds) == (DONE, clock.seconds(), 1)
    assert report is not None and report.blobs == 3 and not report.dryRun
    assert not blobStored(registry.driver, lost)
    assert blobStored(registry.driver, kept)
    assert not blobStored(registry.driver, Digest.of(b"config lost layer"))
    clock.advance(59)
    clock.advance(1)
    assert [run[0] for run in observed.runs] == [DONE, DONE]
    assert observed.runs[1][3] is not None and observed.runs[1][3].blobs == 0
    service.stopService()


def test_deletedBlobsForgotten() -> None:
    """The registry's caches forget the blobs a run deletes."""
    clock, registry, observed, service = makeCollection()
    lost, kept = garbage(registry)
    for digest in (lost, kept):
        assert result(ensureDeferred(registry.blobs.size(digest))) is not None
    clock.advance(5)
    clock.advance(1)
    assert registry.blobs.knownSize(lost) is None
    assert registry.blobs.knownSize(kept) is not None
    service.stopService()


def test_dryRun() -> None:
    """A dry run reports the garbage and deletes nothing."""
    clock, registry, observed, service = makeCollection(dryrun=True)
    lost, _ = garbage(registry)
    clock.advance(5)
    clock.advance(1)
    [(outcome, _, _, report)] = observed.runs
    assert outcome == DRY_RUN and report is not None and report.blobs == 3
    assert blobStored(registry.driver, lost)
    service.stopService()


def test_busyWhileAnotherHoldsTheLease() -> None:
    """While another process holds the lease, a run deletes nothing and is
    counted as busy."""
    clock, registry, observed, service = makeCollection()
    lost, _ = garbage(registry)
    result(registry.driver.putContent(LEASE, json.dumps(
        {"owner": "other", "expires": clock.seconds() + 600}).encode()))
    clock.advance(5)
    assert [(run[0], run[3]) for run in observed.runs] == [(BUSY, None)]
    assert blobStored(registry.driver, lost)
    service.stopService()


def test_twoCollectorsOneStorage() -> None:
    """Two processes collecting on one storage: while one runs, the other
    finds the lease held and does nothing; once the first is gone, the
    other runs."""
    clock, registry, first, one = makeCollection()
    lost, kept = garbage(registry)
    second = Observed()
    other = Registry.onDriver(registry.driver, clock)
    two = CollectionService.fromConfig(
        GCConfig(enabled=True, interval=MINUTE, graceperiod=MINUTE), other, clock, second)
    two.delay = 5.5
    two.startService()
    clock.advance(5)                # one takes the lease, and waits for it to settle
    clock.advance(0.5)              # two finds it held
    assert [run[0] for run in second.runs] == [BUSY]
    clock.advance(0.5)
    assert [run[0] for run in first.runs] == [DONE]
    assert not blobStored(registry.driver, lost) and blobStored(registry.driver, kept)
    one.stopService()
    clock.advance(60)               # two, now alone, takes it
    clock.advance(1)
    assert [run[0] for run in second.runs] == [BUSY, DONE]
    two.stopService()


def firstRunLogged(clock: Clock) -> list[dict[str, Any]]:
    """
    Let the first run of L{makeCollection}'s service happen.

    @return: the events logged meanwhile.
    """
    events: list[dict[str, Any]] = []
    globalLogPublisher.addObserver(events.append)
    try:
        clock.advance(5)
        clock.advance(1)
    finally:
        globalLogPublisher.removeObserver(events.append)
    return events


class BrokenDriver(InMemoryDriver):
    """
    An in-memory driver whose C{walk} fails while C{broken}.
    """

    broken = True

    def walk(self, path: str) -> Any:
        if self.broken:
            raise UnexpectedError("in-memory", "the disk is on fire")
        return super().walk(path)


def test_failureLoggedAndNextRunGoesOn() -> None:
    """A failing run is logged and counted; the lease is released and the
    next run collects."""
    driver = BrokenDriver()
    clock, registry, observed, service = makeCollection(CheckedDriver(driver))
    lost, _ = garbage(registry)
    events = firstRunLogged(clock)
    assert [run[0] for run in observed.runs] == [FAILED]
    assert [formatEvent(e) for e in events if e["log_level"] == LogLevel.critical] == [
        "garbage collection failed"]
    driver.broken = False
    clock.advance(60)
    clock.advance(1)
    assert [run[0] for run in observed.runs] == [FAILED, DONE]
    assert not blobStored(registry.driver, lost)
    service.stopService()


def test_summaryLogged() -> None:
    """Each run logs one summary line with the counts."""
    clock, registry, observed, service = makeCollection()
    garbage(registry)
    events = firstRunLogged(clock)
    lines = [formatEvent(e) for e in events
             if e.get("log_namespace", "").endswith("CollectionService")]
    assert len(lines) == 1
    assert lines[0].startswith("garbage collection deleted 3 blobs (")
    service.stopService()


def test_stopCancelsRun() -> None:
    """Stopping the service during a run cancels it and releases the lease."""
    clock, registry, observed, service = makeCollection()
    clock.advance(5)                # waiting for the lease to settle
    service.stopService()
    clock.advance(1)
    assert observed.runs == []
    assert result(registry.driver.getContents([LEASE])) == [None]


def test_pinnedBlobSpared() -> None:
    """A blob a push pins during the run is not deleted by it."""
    clock, registry, observed, service = makeCollection()
    lost, _ = garbage(registry)
    clock.advance(5)
    pin = result(ensureDeferred(registry.inflight.pin([lost])))
    registry.inflight.unpin(pin)
    clock.advance(1)
    report = observed.runs[0][3]
    assert report is not None and report.blobs == 2 and report.skipped >= 1
    assert blobStored(registry.driver, lost)
    service.stopService()


def test_metrics() -> None:
    """The metrics count runs by outcome and what they reclaimed, and show
    the last run's end and duration, in a scrape of worker 1 alone or of
    the sum of every worker's figures."""
    metrics = Metrics()
    report = Report(False)
    metrics.collectionEnded(BUSY, 100.0, 0.5, None)
    clock, registry, _, service = makeCollection()
    garbage(registry)
    service.observer = metrics
    clock.advance(5)
    clock.advance(1)
    service.stopService()
    metrics.collectionEnded(DRY_RUN, 200.0, 2.0, report)
    samples = scraped(metrics.registry)
    assert samples[("registry_gc_runs_total", (("outcome", "done"),))] == 1
    assert samples[("registry_gc_runs_total", (("outcome", "busy"),))] == 1
    assert samples[("registry_gc_runs_total", (("outcome", "dryrun"),))] == 1
    assert samples[("registry_gc_deleted_blobs_total", ())] == 3
    assert samples[("registry_gc_reclaimed_bytes_total", ())] > 0
    assert samples[("registry_gc_deleted_manifests_total", ())] == 0
    assert samples[("registry_gc_last_run_timestamp_seconds", ())] == 200.0
    assert samples[("registry_gc_last_run_duration_seconds", ())] == 2.0
    # With workers, one scrape sums every worker's figures (sent as JSON).
    total = Figures()
    total.add(json.loads(json.dumps(metrics.snapshot())))
    total.add(json.loads(json.dumps(Metrics().snapshot())))
    registry = CollectorRegistry()
    registry.register(total)
    assert scraped(registry) == samples


def scraped(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """
    @return: the GC samples a scrape of C{registry} gives, by name and labels.
    """
    text = generate_latest(registry).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples if s.name.startswith("registry_gc_")}


def test_treeRunsItOnWorkerOne(tmp_path: Path) -> None:
    """With storage.maintenance.gc enabled, the supervisor (worker 1) runs
    the collection service and other workers do not; read-only, nobody."""
    text = ("version: 0.1\nstorage:\n  inmemory:\n  maintenance:\n    gc:\n"
            "      enabled: true\n{readonly}http:\n  addr: 127.0.0.1:0\n  workers: 2\n")
    path = tmp_path / "config.yml"
    path.write_text(text.format(readonly=""))
    config = load_config(str(path), {}, cwd=str(tmp_path))
    supervisor = makeService(config, None, MemoryReactor(), spawn=lambda *a: None)
    assert [type(s) for s in supervisor].count(CollectionService) == 1
    worker = makeWorkerService(
        WorkerSpec(2, 2, withSecret(config), makeWorkerService,
                   config.listen_endpoints(), [5000]), MemoryReactor())
    assert CollectionService not in [type(s) for s in worker]
    path.write_text(text.format(readonly="    readonly:\n      enabled: true\n"))
    config = load_config(str(path), {}, cwd=str(tmp_path))
    supervisor = makeService(config, None, MemoryReactor(), spawn=lambda *a: None)
    assert CollectionService not in [type(s) for s in supervisor]


