"""
The registry's Prometheus metrics (C{http.debug.prometheus}): requests by
method, route and status, their latency, and the bytes pushed and pulled,
each observed once per request when it finishes; upload requests in
progress; the storage driver's calls by operation, their latency and
errors.

Labels are bounded: a route is one of L{ROUTES}, never a repository's name;
a method outside L{METHODS} is counted as C{OTHER}.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString
from twisted.python.failure import Failure

#: The route names a request is counted under.
ROUTES = ("base", "catalog", "tags", "manifest", "blob", "upload", "referrers", "other")

#: The methods counted by name.
METHODS = frozenset(["GET", "HEAD", "PUT", "POST", "PATCH", "DELETE", "OPTIONS"])

#: The upper bounds of the latency histograms' buckets, in seconds.
BUCKETS = Histogram.DEFAULT_BUCKETS

# The methods of the requests carrying an upload's data.
_UPLOADING = frozenset([b"POST", b"PATCH", b"PUT"])

_ROUTE = re.compile(
    rb"^/v2/(?:(?P<catalog>_catalog)"
    rb"|.+?/(?P<kind>tags/list|manifests|blobs/uploads|blobs|referrers)(?:/[^/]*)?)/?$",
    re.DOTALL)
_KINDS = {b"tags/list": "tags", b"manifests": "manifest", b"blobs/uploads": "upload",
          b"blobs": "blob", b"referrers": "referrers"}


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


class _Series:
    """
    The observations of one histogram series: how many fell in each bucket
    (not cumulated) and their sum.
    """

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * len(BUCKETS)
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(BUCKETS, value)] += 1
        self.total += value


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


class Metrics(Collector):
    """
    The registry's metrics, kept as plain numbers (observed in the reactor's
    thread, without the locks of C{prometheus_client}'s metrics) and
    collected into a registry of their own (not C{prometheus_client}'s
    global one) when scraped.

    @ivar registry: the L{CollectorRegistry} the metrics are served from.
    """

    def __init__(self) -> None:
        self._requests: dict[tuple[str, str, int], _Series] = {}
        self._received = 0
        self._sent = 0
        self._uploading = 0
        self._storageCalls: dict[str, _Series] = {}
        self._storageErrors: dict[tuple[str, str], int] = {}
        self.registry = CollectorRegistry()
        self.registry.register(self)

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
        method = request.method.decode("ascii", "replace")
        if method not in METHODS:
            method = "OTHER"
        key = (method, routeOf(request.path), request.code)
        series = self._requests.get(key)
        if series is None:
            series = self._requests[key] = _Series()
        series.observe(seconds)
        self._sent += request.sentLength
        self._received += _receivedBytes(request)

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
        series.observe(seconds)
        if failure is not None:
            key = (operation, type(failure.value).__name__)
            self._storageErrors[key] = self._storageErrors.get(key, 0) + 1

    def collect(self) -> Iterator[Metric]:
        """
        @return: the metrics' families, as they stand.
        """
        requests = [(key, list(series.counts), series.total)
                    for key, series in list(self._requests.items())]
        byStatus = CounterMetricFamily(
            "registry_http_requests", "HTTP requests served, by method, route and status.",
            labels=["method", "route", "code"])
        latency: dict[tuple[str, str], tuple[list[int], float]] = {}
        for (method, route, code), counts, total in requests:
            byStatus.add_metric([method, route, str(code)], sum(counts))
            before = latency.get((method, route))
            if before is not None:
                counts = [a + b for a, b in zip(before[0], counts, strict=True)]
                total += before[1]
            latency[method, route] = (counts, total)
        yield byStatus
        yield _histogram(
            "registry_http_request_duration_seconds",
            "Seconds from a request's dispatch to its response's end, by method and route.",
            ["method", "route"],
            [(key, counts, total) for key, (counts, total) in latency.items()])
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
