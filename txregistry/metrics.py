"""
The registry's Prometheus metrics (C{http.debug.prometheus}): requests by
method, route and status, their latency, and the bytes pushed and pulled,
each observed once per request when it finishes; upload requests in
progress; the storage driver's calls by operation, their latency and
errors; the lookups of the in-memory caches that hit and missed; the
online garbage collector's runs, by outcome, and what they reclaimed.

Labels are bounded: a route is one of L{ROUTES}, never a repository's name;
a method outside L{METHODS} is counted as C{OTHER}.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable, Iterator, Mapping
from functools import lru_cache
from typing import Any

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

from txregistry.cache import CountedLookups

#: The route names a request is counted under.
ROUTES = ("base", "catalog", "tags", "manifest", "blob", "upload", "referrers", "other")

#: The methods counted by name.
METHODS = frozenset(["GET", "HEAD", "PUT", "POST", "PATCH", "DELETE", "OPTIONS"])

#: The upper bounds of the latency histograms' buckets, in seconds.
BUCKETS = Histogram.DEFAULT_BUCKETS

# The names of L{METHODS}, by the bytes of the request line.
_METHODS = {method.encode("ascii"): method for method in METHODS}

# The methods of the requests carrying an upload's data (and a manifest's).
_UPLOADING = frozenset([b"POST", b"PATCH", b"PUT"])

_ROUTE = re.compile(
    rb"^/v2/(?:(?P<catalog>_catalog)"
    rb"|.+?/(?P<kind>tags/list|manifests|blobs/uploads|blobs|referrers)(?:/[^/]*)?)/?$",
    re.DOTALL)
_KINDS = {b"tags/list": "tags", b"manifests": "manifest", b"blobs/uploads": "upload",
          b"blobs": "blob", b"referrers": "referrers"}


# Paths repeat (tags, digests): the last ones' routes are kept.
@lru_cache(maxsize=4096)
def routeOf(path: bytes) -> str:
    """
    @param path: a request's path, without its query.
    @return: the name of the route serving it, one of L{ROUTES}.
    """
    if path in (b"/v2", b"/v2/"):
        return "base"
    match = _ROUTE.match(path)
    if match is None:
        return "other"
    if match["catalog"]:
        return "catalog"
    return _KINDS[match["kind"]]


#: What L{Figures.snapshot} returns: plain lists and numbers (JSON).
Snapshot = dict[str, Any]


class _Series:
    """
    The observations of one histogram series: how many fell in each bucket
    (not cumulated) and their sum.
    """

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * len(BUCKETS)
        self.total = 0.0

    def add(self, counts: list[int], total: float) -> None:
        """
        Add another series' observations to this one.
        """
        self.counts = [a + b for a, b in zip(self.counts, counts, strict=True)]
        self.total += total


def _series(table: dict[Any, _Series], key: Any) -> _Series:
    """
    @return: the series of C{key} in C{table}, added if missing.
    """
    series = table.get(key)
    if series is None:
        series = table[key] = _Series()
    return series


def _histogram(name: str, documentation: str, labels: list[str],
               series: list[tuple[tuple[str, ...], list[int], float]]) -> HistogramMetricFamily:
    """
    @param series: each series' label values, bucket counts and sum.
    @return: the histogram family of C{series}.
    """
    family = HistogramMetricFamily(name, documentation, labels=labels)
    for values, counts, total in series:
        cumulated, buckets = 0, []
        for bound, count in zip(BUCKETS, counts, strict=True):
            cumulated += count
            buckets.append((floatToGoString(bound), cumulated))
        family.add_metric(list(values), buckets, total)
    return family


class Figures(Collector):
    """
    The registry's figures as plain numbers: what one process observed, or
    the sum of several processes' L{snapshot}s (L{add}).
    """

    def __init__(self) -> None:
        self._requests: dict[tuple[str, str, int], _Series] = {}
        self._received = 0
        self._sent = 0
        self._uploading = 0
        self._storageCalls: dict[str, _Series] = {}
        self._storageErrors: dict[tuple[str, str], int] = {}
        self._caches: dict[str, tuple[int, int]] = {}
        self._collections: dict[str, int] = {}
        self._reclaimed = [0, 0, 0]     # blobs, bytes, manifests
        self._lastCollection: list[float] = []     # its end, its seconds

    def snapshot(self) -> Snapshot:
        """
        @return: the figures as they stand, for L{add}.
        """
        return {
            "requests": [[*key, series.counts, series.total]
                         for key, series in list(self._requests.items())],
            "received": self._received,
            "sent": self._sent,
            "uploading": self._uploading,
            "storageCalls": [[operation, series.counts, series.total]
                             for operation, series in list(self._storageCalls.items())],
            "storageErrors": [[*key, count] for key, count in list(self._storageErrors.items())],
            "caches": [[name, *counts] for name, counts in self._caches.items()],
            "collections": dict(self._collections),
            "reclaimed": list(self._reclaimed),
            "lastCollection": list(self._lastCollection),
        }

    def add(self, snapshot: Snapshot, gauges: bool = True) -> None:
        """
        Add another process's figures to these.

        @param snapshot: what its L{snapshot} returned.
        @param gauges: whether to add its gauges (the uploads it has in
            progress) too, or only its counters (for a process that ended).
        """
        for method, route, code, counts, total in snapshot["requests"]:
            _series(self._requests, (method, route, code)).add(counts, total)
        self._received += snapshot["received"]
        self._sent += snapshot["sent"]
        if gauges:
            self._uploading += snapshot["uploading"]
        for operation, counts, total in snapshot["storageCalls"]:
            _series(self._storageCalls, operation).add(counts, total)
        for operation, error, count in snapshot["storageErrors"]:
            key = (operation, error)
            self._storageErrors[key] = self._storageErrors.get(key, 0) + count
        for name, hits, misses in snapshot["caches"]:
            before = self._caches.get(name, (0, 0))
            self._caches[name] = (before[0] + hits, before[1] + misses)
        for outcome, count in snapshot["collections"].items():
            self._collections[outcome] = self._collections.get(outcome, 0) + count
        self._reclaimed = [a + b for a, b in zip(self._reclaimed, snapshot["reclaimed"],
                                                 strict=True)]
        self._lastCollection = max(self._lastCollection, snapshot["lastCollection"])

    def collect(self) -> Iterator[Metric]:
        """
        @return: the metrics' families, as they stand.
        """
        byStatus = CounterMetricFamily(
            "registry_http_requests", "HTTP requests served, by method, route and status.",
            labels=["method", "route", "code"])
        latency: dict[tuple[str, str], _Series] = {}
        for (method, route, code), series in list(self._requests.items()):
            byStatus.add_metric([method, route, str(code)], sum(series.counts))
            _series(latency, (method, route)).add(series.counts, series.total)
        yield byStatus
        yield _histogram(
            "registry_http_request_duration_seconds",
            "Seconds from a request's dispatch to its response's end, by method and route.",
            ["method", "route"],
            [(key, series.counts, series.total) for key, series in latency.items()])
        yield CounterMetricFamily("registry_http_received_bytes",
                                  "Request body bytes received (pushed).", self._received)
        yield CounterMetricFamily("registry_http_sent_bytes",
                                  "Response body bytes sent (pulled).", self._sent)
        yield GaugeMetricFamily("registry_http_uploads_in_progress",
                                "Upload requests (POST, PATCH, PUT of an upload) being served.",
                                self._uploading)
        yield _histogram(
            "registry_storage_call_duration_seconds",
            "Seconds of the storage driver's calls, by operation.", ["operation"],
            [((operation,), list(series.counts), series.total)
             for operation, series in list(self._storageCalls.items())])
        errors = CounterMetricFamily(
            "registry_storage_errors", "Storage driver calls that failed, by operation and error.",
            labels=["operation", "error"])
        for (operation, error), count in list(self._storageErrors.items()):
            errors.add_metric([operation, error], count)
        yield errors
        hits = CounterMetricFamily(
            "registry_cache_hits", "Lookups that found an entry, by in-memory cache.",
            labels=["cache"])
        misses = CounterMetricFamily(
            "registry_cache_misses", "Lookups that found no entry, by in-memory cache.",
            labels=["cache"])
        for name, (hit, missed) in sorted(self._caches.items()):
            hits.add_metric([name], hit)
            misses.add_metric([name], missed)
        yield hits
        yield misses
        yield from self._collectGC()

    def _collectGC(self) -> Iterator[Metric]:
        runs = CounterMetricFamily("registry_gc_runs",
                                   "Online garbage collection runs, by outcome.",
                                   labels=["outcome"])
        for outcome, count in sorted(self._collections.items()):
            runs.add_metric([outcome], count)
        yield runs
        blobs, size, manifests = self._reclaimed
        yield CounterMetricFamily("registry_gc_deleted_blobs",
                                  "Blobs deleted by online garbage collection.", blobs)
        yield CounterMetricFamily("registry_gc_reclaimed_bytes",
                                  "Bytes of the blobs deleted by online garbage collection.",
                                  size)
        yield CounterMetricFamily("registry_gc_deleted_manifests",
                                  "Manifests deleted by online garbage collection.", manifests)
        if self._lastCollection:
            end, seconds = self._lastCollection
            yield GaugeMetricFamily("registry_gc_last_run_timestamp_seconds",
                                    "When the last garbage collection run ended (Unix time).",
                                    end)
            yield GaugeMetricFamily("registry_gc_last_run_duration_seconds",
                                    "How long the last garbage collection run took.", seconds)


class Metrics(Figures):
    """
    The figures of this process, observed in the reactor's thread (without
    the locks of C{prometheus_client}'s metrics), and collected into a
    registry of their own (not C{prometheus_client}'s global one) when
    scraped.

    @ivar registry: the L{CollectorRegistry} this process's figures are
        served from.
    """

    def __init__(self) -> None:
        super().__init__()
        self._counted: dict[str, CountedLookups] = {}
        self.registry = CollectorRegistry()
        self.registry.register(self)

    def countCaches(self, caches: Mapping[str, CountedLookups]) -> None:
        """
        Report the lookups of caches, read when scraped.

        @param caches: caches by name (the C{cache} label: a fixed set).
        """
        self._counted.update(caches)

    def _readCaches(self) -> None:
        self._caches = {name: (cache.hits, cache.misses)
                        for name, cache in self._counted.items()}

    def snapshot(self) -> Snapshot:
        self._readCaches()
        return super().snapshot()

    def collect(self) -> Iterator[Metric]:
        self._readCaches()
        return super().collect()

    def requestStarted(self, request: Any) -> None:
        """
        Count an upload request in progress until it ends (finished or
        lost).

        @param request: the L{txregistry.http.request.StreamingRequest},
            dispatched to its resource.
        """
        if request.method in _UPLOADING and routeOf(request.path) == "upload":
            self._uploading += 1
            request.notifyFinish().addBoth(self._uploadEnded)

    def _uploadEnded(self, result: object) -> None:
        self._uploading -= 1

    def requestDone(self, request: Any, seconds: float) -> None:
        """
        Count a finished request.

        @param request: the L{txregistry.http.request.StreamingRequest}.
        @param seconds: how long it took.
        """
        key = (_METHODS.get(request.method, "OTHER"), routeOf(request.path), request.code)
        series = self._requests.get(key)
        if series is None:
            series = self._requests[key] = _Series()
        # _Series.observe, inline: this runs for every request.
        series.counts[bisect_left(BUCKETS, seconds)] += 1
        series.total += seconds
        self._sent += request.sentLength
        if request.method in _UPLOADING:
            self._received += _receivedBytes(request)

    def collectionEnded(self, outcome: str, ended: float, seconds: float,
                        report: Any) -> None:
        """
        Count a run of the online garbage collector (a
        L{txregistry.storage.gc.service.CollectionObserver}).

        @param outcome: how it ended (C{done}, C{dryrun}, C{busy}, C{failed}).
        @param ended: when it ended (Unix time).
        @param seconds: how long it took.
        @param report: its L{txregistry.storage.gc.collector.Report}, if any.
        """
        self._collections[outcome] = self._collections.get(outcome, 0) + 1
        if report is not None and not report.dryRun:
            self._reclaimed = [self._reclaimed[0] + report.blobs,
                               self._reclaimed[1] + report.bytes,
                               self._reclaimed[2] + report.manifests]
        self._lastCollection = [ended, seconds]

    def storageCallEnded(self, operation: str, seconds: float, failure: Failure | None) -> None:
        """
        Count a storage driver call (a
        L{txregistry.storage.driver.base.CallObserver}).

        @param operation: the driver method's name.
        @param seconds: how long it took.
        @param failure: what it failed with, or L{None}.
        """
        series = self._storageCalls.get(operation)
        if series is None:
            series = self._storageCalls[operation] = _Series()
        series.counts[bisect_left(BUCKETS, seconds)] += 1
        series.total += seconds
        if failure is not None:
            key = (operation, type(failure.value).__name__)
            self._storageErrors[key] = self._storageErrors.get(key, 0) + 1


class Exposition(Resource):
    """
    Serves the figures of this process, and those of its peers (the other
    workers, L{txregistry.workers.figures}) summed with them, in
    Prometheus' text format or OpenMetrics' (as C{Accept} asks), collected
    in the reactor's thread when scraped.
    """

    isLeaf = True
    log = Logger()

    def __init__(self, metrics: Metrics,
                 peers: Callable[[], Deferred[list[Snapshot]]] | None = None) -> None:
        """
        @param metrics: this process's figures.
        @param peers: gathers the figures of the other processes, or
            L{None}.
        """
        super().__init__()
        self._metrics = metrics
        self._peers = peers

    def render_GET(self, request: Any) -> Any:
        encoder, contentType = choose_encoder(
            (request.getHeader(b"accept") or b"").decode("latin-1"))
        if self._peers is None:
            request.setHeader(b"content-type", contentType.encode("ascii"))
            return encoder(self._metrics.registry)
        lost: list[Failure] = []
        request.notifyFinish().addErrback(lost.append)

        def write(snapshots: list[Snapshot]) -> None:
            total = Figures()
            total.add(self._metrics.snapshot())
            for snapshot in snapshots:
                total.add(snapshot)
            registry = CollectorRegistry(auto_describe=False)
            registry.register(total)
            body = encoder(registry)
            if not lost:
                request.setHeader(b"content-type", contentType.encode("ascii"))
                request.write(body)
                request.finish()

        def failed(failure: Failure) -> None:
            self.log.failure("cannot gather the workers' metrics", failure)
            if not lost:
                request.setResponseCode(500)
                request.finish()

        self._peers().addCallback(write).addErrback(failed)
        return NOT_DONE_YET


def _receivedBytes(request: Any) -> int:
    """
    @return: the bytes of the request's body read: those streamed to its
        handler, else its C{Content-Length} (its body was read whole).
    """
    body = getattr(request, "body", None)
    if body is not None:
        return int(body.received)
    length = request.getHeader(b"content-length")
    try:
        return max(int(length), 0) if length else 0
    except ValueError:
        return 0
