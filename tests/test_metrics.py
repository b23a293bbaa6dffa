"""
Tests for L{txregistry.metrics}: the route names requests are counted
under, and the counts a L{RegistrySite} keeps of the requests it serves on
127.0.0.1.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import pytest_twisted
import treq
from prometheus_client import CollectorRegistry
from prometheus_client.openmetrics import parser as openmetrics
from prometheus_client.parser import text_string_to_metric_families
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.task import deferLater
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

from txregistry.cache import LRUCache
from txregistry.health.registry import HealthRegistry
from txregistry.health.resource import debugRoot
from txregistry.http.site import RegistrySite
from txregistry.metrics import ROUTES, Exposition, Figures, Metrics, routeOf
from txregistry.storage.driver.errors import PathNotFound


@pytest.mark.parametrize("path, route", [
    (b"/v2/", "base"),
    (b"/v2", "base"),
    (b"/v2/_catalog", "catalog"),
    (b"/v2/library/ubuntu/tags/list", "tags"),
    (b"/v2/a/b/c/manifests/latest", "manifest"),
    (b"/v2/a/manifests/sha256:" + b"0" * 64, "manifest"),
    (b"/v2/a/blobs/sha256:" + b"0" * 64, "blob"),
    (b"/v2/a/blobs/uploads/", "upload"),
    (b"/v2/a/blobs/uploads/5a7e", "upload"),
    (b"/v2/blobs/blobs/uploads/x", "upload"),
    (b"/v2/a/referrers/sha256:" + b"0" * 64, "referrers"),
    (b"/v2/_catalog/manifests/x", "manifest"),
    (b"/", "other"),
    (b"/v2/a/b", "other"),
    (b"/debug/health", "other"),
])
def test_routeOf(path: bytes, route: str) -> None:
    """Each path is counted under its route's name, never the repository's."""
    assert routeOf(path) == route
    assert route in ROUTES


class Echo(Resource):
    """
    Answers C{hello} (200), or 404 under C{/v2/missing/}.
    """

    isLeaf = True

    def render(self, request: Any) -> bytes:
        if request.path.startswith(b"/v2/missing/"):
            request.setResponseCode(404)
        request.content.read()
        return b"hello"


async def call(site: RegistrySite, method: str, path: str, body: bytes = b"") -> None:
    """
    Make C{method path} with C{body} to C{site}, served on 127.0.0.1.
    """
    port = reactor.listenTCP(0, site, interface="127.0.0.1")  # type: ignore[attr-defined]
    try:
        response = await treq.request(
            method, f"http://127.0.0.1:{port.getHost().port}{path}", data=body or None,
            persistent=False)
        await response.content()
    finally:
        await port.stopListening()


@pytest_twisted.ensureDeferred
async def test_requestsCounted() -> None:
    """A site with metrics counts each request once under its method, route
    and status, observes its latency, and adds the bytes it received and
    sent."""
    metrics = Metrics()
    site = RegistrySite(Echo(), accessLog=False, metrics=metrics)
    for _ in range(3):
        await call(site, "GET", "/v2/library/app/manifests/latest")
    await call(site, "GET", "/v2/missing/manifests/latest")
    await call(site, "PUT", "/v2/library/app/tags/list", b"x" * 100)
    value = metrics.registry.get_sample_value
    assert value("registry_http_requests_total",
                 {"method": "GET", "route": "manifest", "code": "200"}) == 3
    assert value("registry_http_requests_total",
                 {"method": "GET", "route": "manifest", "code": "404"}) == 1
    assert value("registry_http_requests_total",
                 {"method": "PUT", "route": "tags", "code": "200"}) == 1
    assert value("registry_http_request_duration_seconds_count",
                 {"method": "GET", "route": "manifest"}) == 4
    assert value("registry_http_sent_bytes_total") == 5 * len(b"hello")
    assert value("registry_http_received_bytes_total") == 100


@pytest_twisted.ensureDeferred
async def test_metricsPath() -> None:
    """The debug root serves the metrics at the configured path, nested or
    not, beside /debug/health."""
    metrics = Metrics()
    root = debugRoot(HealthRegistry(), Exposition(metrics), "/debug/prom/metrics")
    port = reactor.listenTCP(0, RegistrySite(root, accessLog=False),  # type: ignore[attr-defined]
                             interface="127.0.0.1")
    try:
        base = f"http://127.0.0.1:{port.getHost().port}"
        response = await treq.get(f"{base}/debug/prom/metrics", persistent=False)
        assert response.code == 200
        assert b"registry_http_requests_total" in await response.content()
        response = await treq.get(f"{base}/debug/health", persistent=False)
        assert response.code == 200
        await response.content()
    finally:
        await port.stopListening()


class Held(Resource):
    """
    Holds each request open until C{release} is called.
    """

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[Any] = []

    def render(self, request: Any) -> object:
        self.requests.append(request)
        return NOT_DONE_YET

    def release(self) -> None:
        for request in self.requests:
            request.write(b"done")
            request.finish()


@pytest_twisted.ensureDeferred
async def test_uploadsInProgress() -> None:
    """An upload request counts as in progress from its dispatch until it
    ends; other requests do not count."""
    metrics = Metrics()
    held = Held()
    site = RegistrySite(held, accessLog=False, metrics=metrics)
    port = reactor.listenTCP(0, site, interface="127.0.0.1")  # type: ignore[attr-defined]
    base = f"http://127.0.0.1:{port.getHost().port}"

    def inProgress() -> float | None:
        return metrics.registry.get_sample_value("registry_http_uploads_in_progress")

    try:
        responses = [treq.request("PATCH", f"{base}/v2/a/blobs/uploads/u1", data=b"x",
                                  persistent=False),
                     treq.get(f"{base}/v2/a/blobs/uploads/u1", persistent=False)]
        while len(held.requests) < 2:
            await deferLater(reactor, 0.01)
        assert inProgress() == 1
        held.release()
        for response in responses:
            await (await response).content()
        assert inProgress() == 0
    finally:
        await port.stopListening()


def test_storageCalls() -> None:
    """Storage calls are observed by operation into cumulative buckets, and
    failed ones counted by operation and error."""
    metrics = Metrics()
    metrics.storageCallEnded("stat", 0.5, None)
    metrics.storageCallEnded("stat", 0.25, Failure(PathNotFound("inmemory", "/a")))
    value = metrics.registry.get_sample_value
    assert value("registry_storage_call_duration_seconds_count", {"operation": "stat"}) == 2
    assert value("registry_storage_call_duration_seconds_sum", {"operation": "stat"}) == 0.75
    for le, count in [("0.1", 0), ("0.25", 1), ("0.5", 2), ("+Inf", 2)]:
        assert value("registry_storage_call_duration_seconds_bucket",
                     {"operation": "stat", "le": le}) == count
    assert value("registry_storage_errors_total",
                 {"operation": "stat", "error": "PathNotFound"}) == 1


def test_cachesCounted() -> None:
    """The lookups of the caches counted are read when scraped, by cache name."""
    metrics = Metrics()
    cache: LRUCache[str, int] = LRUCache(10)
    metrics.countCaches({"blob_sizes": cache})
    cache.put("a", 1, 1)
    cache.get("a")
    cache.get("b")
    cache.get("c")
    value = metrics.registry.get_sample_value
    assert value("registry_cache_hits_total", {"cache": "blob_sizes"}) == 1
    assert value("registry_cache_misses_total", {"cache": "blob_sizes"}) == 2


class Request:
    """
    What L{Metrics.requestDone} reads of a finished request.
    """

    def __init__(self, method: bytes, path: bytes, code: int, sent: int = 0,
                 received: int = 0) -> None:
        self.method, self.path, self.code, self.sentLength = method, path, code, sent
        self._length = str(received).encode()

    def getHeader(self, name: bytes) -> bytes | None:
        return self._length if name == b"content-length" else None


def observed() -> Metrics:
    """
    @return: metrics that observed a request of each kind, an upload in
        progress, a failed storage call and a cache's lookups.
    """
    metrics = Metrics()
    metrics.requestDone(Request(b"GET", b"/v2/a/manifests/latest", 200, sent=10), 0.2)
    metrics.requestDone(Request(b"PUT", b"/v2/a/manifests/latest", 201, received=5), 0.02)
    metrics._uploading = 1
    metrics.storageCallEnded("stat", 0.25, Failure(PathNotFound("inmemory", "/a")))
    cache: LRUCache[str, int] = LRUCache(10)
    cache.get("a")
    metrics.countCaches({"links": cache})
    return metrics


def test_figuresAdded() -> None:
    """Snapshots of several processes add up, series by series, the gauge only
    for processes still running."""
    total = Figures()
    total.add(observed().snapshot())
    total.add(json.loads(json.dumps(observed().snapshot())))
    total.add(observed().snapshot(), gauges=False)
    registry = CollectorRegistry()
    registry.register(total)
    value = registry.get_sample_value
    assert value("registry_http_requests_total",
                 {"method": "GET", "route": "manifest", "code": "200"}) == 3
    assert value("registry_http_request_duration_seconds_count",
                 {"method": "PUT", "route": "manifest"}) == 3
    assert value("registry_http_request_duration_seconds_bucket",
                 {"method": "GET", "route": "manifest", "le": "0.25"}) == 3
    assert value("registry_http_request_duration_seconds_sum",
                 {"method": "GET", "route": "manifest"}) == pytest.approx(0.6)
    assert value("registry_http_sent_bytes_total") == 30
    assert value("registry_http_received_bytes_total") == 15
    assert value("registry_http_uploads_in_progress") == 2
    assert value("registry_storage_call_duration_seconds_count", {"operation": "stat"}) == 3
    assert value("registry_storage_errors_total",
                 {"operation": "stat", "error": "PathNotFound"}) == 3
    assert value("registry_cache_misses_total", {"cache": "links"}) == 3
    assert value("registry_cache_hits_total", {"cache": "links"}) == 0


@pytest_twisted.ensureDeferred
async def test_expositionAddsPeers() -> None:
    """The exposition serves this process's figures summed with those its
    peers are asked for at each scrape, in the format the scraper accepts."""
    metrics = observed()
    asked: list[int] = []

    def peers() -> Deferred[list[dict[str, Any]]]:
        asked.append(1)
        return deferLater(reactor, 0, lambda: [observed().snapshot()])

    port = reactor.listenTCP(  # type: ignore[attr-defined]
        0, RegistrySite(Exposition(metrics, peers), accessLog=False), interface="127.0.0.1")
    try:
        url = f"http://127.0.0.1:{port.getHost().port}/"
        for accept, contentType, parse in [
                (None, "text/plain", text_string_to_metric_families),
                ("application/openmetrics-text", "application/openmetrics-text",
                 openmetrics.text_string_to_metric_families)]:
            headers = {"Accept": accept} if accept else {}
            response = await treq.get(url, headers=headers, persistent=False)
            assert response.code == 200
            assert response.headers.getRawHeaders("content-type")[0].startswith(contentType)
            samples = {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
                       for family in parse(await response.text())
                       for sample in family.samples}
            key = ("registry_http_requests_total",
                   (("code", "200"), ("method", "GET"), ("route", "manifest")))
            assert samples[key] == 2
            assert samples[("registry_http_uploads_in_progress", ())] == 2
        assert len(asked) == 2
    finally:
        await port.stopListening()
