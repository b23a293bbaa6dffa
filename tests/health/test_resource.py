"""
Tests for C{/debug/health} and the gate of the main listener, served by a
real L{Site} on 127.0.0.1.
"""

from __future__ import annotations

import json
from typing import Any

import pytest_twisted
import treq
from twisted.internet import reactor
from twisted.web.resource import IResource, Resource
from twisted.web.server import Site

from txregistry.health.registry import HealthRegistry
from txregistry.health.resource import UnhealthyGate, debugRoot


class Hello(Resource):
    """
    Answers C{hello}.
    """

    isLeaf = True

    def render(self, request: Any) -> bytes:
        return b"hello"


async def get(root: IResource, path: str, method: str = "GET") -> tuple[int, bytes]:
    """
    @return: the status and body of C{method path} served by C{root}.
    """
    port = reactor.listenTCP(0, Site(root), interface="127.0.0.1")  # type: ignore[attr-defined]
    try:
        response = await treq.request(
            method, f"http://127.0.0.1:{port.getHost().port}{path}", persistent=False)
        return response.code, await response.content()
    finally:
        await port.stopListening()


@pytest_twisted.ensureDeferred
async def test_debugHealth() -> None:
    """/debug/health answers {} (200) when healthy, and 503 naming each failing
    check with its reason when not."""
    health = HealthRegistry()
    status = health.register("/srv/down", 0)
    assert await get(debugRoot(health), "/debug/health") == (200, b"{}")
    status.update("file exists")
    code, body = await get(debugRoot(health), "/debug/health")
    assert (code, json.loads(body)) == (503, {"/srv/down": "file exists"})


@pytest_twisted.ensureDeferred
async def test_debugHealthOtherMethod() -> None:
    """/debug/health answers 404 to anything but GET, as distribution's."""
    code, body = await get(debugRoot(HealthRegistry()), "/debug/health", "POST")
    assert (code, body) == (404, b"404 page not found\n")


@pytest_twisted.ensureDeferred
async def test_gate() -> None:
    """The gate passes requests while healthy, and answers 503 UNAVAILABLE with
    distribution's detail while a check fails."""
    health = HealthRegistry()
    status = health.register("storagedriver_inmemory", 0)
    gate = UnhealthyGate(Hello(), health)
    assert await get(gate, "/v2/") == (200, b"hello")
    status.update("inmemory: disk gone")
    code, body = await get(gate, "/v2/")
    assert code == 503
    assert json.loads(body) == {"errors": [{
        "code": "UNAVAILABLE", "message": "service unavailable",
        "detail": "health check failed: please see /debug/health"}]}
    status.update(None)
    assert await get(gate, "/v2/") == (200, b"hello")
