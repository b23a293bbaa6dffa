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
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from twisted.python.failure import Failure

#: The route names a request is counted under.
ROUTES = ("base", "catalog", "tags", "manifest", "blob", "upload", "referrers", "other")

#: The methods counted by name.
METHODS = frozenset(["GET", "HEAD", "PUT", "POST", "PATCH", "DELETE", "OPTIONS"])

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


class Metrics:
    """
    The registry's metrics, in a registry of their own (not
    C{prometheus_client}'s global one).

    @ivar registry: the L{CollectorRegistry} the metrics are served from.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._requests = Counter(
            "registry_http_requests", "HTTP requests served, by method, route and status.",
            ["method", "route", "code"], registry=self.registry)
        self._latency = Histogram(
            "registry_http_request_duration_seconds",
            "Seconds from a request's dispatch to its response's end, by method and route.",
            ["method", "route"], registry=self.registry)
        self._received = Counter(
            "registry_http_received_bytes", "Request body bytes received (pushed).",
            registry=self.registry)
        self._sent = Counter(
            "registry_http_sent_bytes", "Response body bytes sent (pulled).",
            registry=self.registry)
        self._uploading = Gauge(
            "registry_http_uploads_in_progress",
            "Upload requests (POST, PATCH, PUT of an upload) being served.",
            registry=self.registry)
        self._storageCalls = Histogram(
            "registry_storage_call_duration_seconds",
            "Seconds of the storage driver's calls, by operation.",
            ["operation"], registry=self.registry)
        self._storageErrors = Counter(
            "registry_storage_errors", "Storage driver calls that failed, by operation and error.",
            ["operation", "error"], registry=self.registry)
        # The children of the labelled metrics, by label values: looked up
        # here rather than by prometheus_client, which locks for each.
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._operations: dict[str, Any] = {}

    def storageCallEnded(self, operation: str, seconds: float, failure: Failure | None) -> None:
        """
        Count a storage driver call (a
        L{txregistry.storage.driver.base.CallObserver}).

        @param operation: the driver method's name.
        @param seconds: how long it took.
        @param failure: what it failed with, or L{None}.
        """
        child = self._operations.get(operation)
        if child is None:
            child = self._operations[operation] = self._storageCalls.labels(operation)
        child.observe(seconds)
        if failure is not None:
            self._storageErrors.labels(operation, type(failure.value).__name__).inc()

    def requestStarted(self, request: Any) -> None:
        """
        Count an upload request in progress until it ends (finished or
        lost).

        @param request: the L{txregistry.http.request.StreamingRequest},
            dispatched to its resource.
        """
        if request.method in _UPLOADING and routeOf(request.path) == "upload":
            self._uploading.inc()
            request.notifyFinish().addBoth(lambda _: self._uploading.dec())

    def requestDone(self, request: Any, seconds: float) -> None:
        """
        Count a finished request.

        @param request: the L{txregistry.http.request.StreamingRequest}.
        @param seconds: how long it took.
        """
        method = request.method.decode("ascii", "replace")
        if method not in METHODS:
            method = "OTHER"
        route = routeOf(request.path)
        key = (method, route, request.code)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                self._requests.labels(method, route, str(request.code)),
                self._latency.labels(method, route))
        children[0].inc()
        children[1].observe(seconds)
        self._sent.inc(request.sentLength)
        received = _receivedBytes(request)
        if received:
            self._received.inc(received)


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
