"""
Tests for L{txregistry.http.drain}: graceful shutdown with a drain timeout.
"""

from __future__ import annotations

from typing import Any

import h2.errors
import h2.events
from twisted.application.internet import StreamServerEndpointService
from twisted.application.service import Service
from twisted.internet.defer import succeed
from twisted.internet.error import ConnectionAborted
from twisted.internet.task import Clock
from twisted.python.failure import Failure

from tests.http.test_h2 import Exchange
from tests.http.test_hostile import connect
from tests.http.test_streaming import UPLOAD, UploadResource, head
from txregistry.http.drain import Connections, DrainingService
from txregistry.http.site import RegistrySite


class Port:
    """
    A listening port that records when it stops listening, and starts and
    stops its factory as Twisted's ports do.
    """

    def __init__(self, events: list[str], factory: Any) -> None:
        self._events = events
        self._factory = factory
        factory.doStart()

    def stopListening(self) -> Any:
        self._events.append("stop listening")
        self._factory.doStop()
        return succeed(None)


class Endpoint:
    """
    An endpoint listening on a L{Port}.
    """

    def __init__(self, events: list[str]) -> None:
        self._events = events

    def listen(self, factory: Any) -> Any:
        return succeed(Port(self._events, factory))


class Storage(Service):
    """
    A service that records when it stops.
    """

    def __init__(self, events: list[str]) -> None:
        self._events = events

    def stopService(self) -> None:
        self._events.append("storage stopped")
        super().stopService()


def drainingSite(timeout: float = 30, logPath: str | None = None) -> tuple[RegistrySite, DrainingService, Clock, list[str]]:
    """
    @return: a site whose connections are drained for up to C{timeout}
        seconds by a started service listening for it (with a storage
        service), its clock and the list of stop events.
    @param logPath: where the site writes its access log.
    """
    clock = Clock()
    events: list[str] = []
    connections = Connections(clock)
    site = RegistrySite(UploadResource(), connections=connections, reactor=clock,
                        logPath=logPath)
    top = DrainingService(connections, timeout)
    Storage(events).setServiceParent(top)
    StreamServerEndpointService(Endpoint(events), site).setServiceParent(top)
    top.startService()
    return site, top, clock, events


def test_idleConnectionsCloseAtOnce() -> None:
    """An idle keep-alive connection is closed as soon as the drain starts, after the listener stopped."""
    site, top, clock, events = drainingSite()
    protocol, transport = connect(site)
    protocol.dataReceived(head("GET", "/v2/"))
    assert b"200 OK" in transport.value()
    stopped = top.stopService()
    assert events == ["stop listening"]
    assert transport.disconnecting
    protocol.connectionLost(None)
    clock.advance(Connections.POLL)
    assert events == ["stop listening", "storage stopped"]
    assert stopped.called


def test_requestInFlightFinishes(tmp_path: Any) -> None:
    """A request in flight is let finish, its response says Connection: close, it is logged, and the connection then closes; the storage stops last."""
    accessLog = tmp_path / "access.log"
    site, top, clock, events = drainingSite(timeout=30, logPath=str(accessLog))
    protocol, transport = connect(site)
    protocol.dataReceived(head("PATCH", UPLOAD, "Content-Length: 6") + b"abc")
    stopped = top.stopService()
    clock.advance(20)
    assert not transport.disconnecting
    assert events == ["stop listening"]
    protocol.dataReceived(b"def")
    assert b"X-Length: 6" in transport.value()
    assert b"Connection: close" in transport.value()
    assert transport.disconnecting
    assert f'"PATCH {UPLOAD} HTTP/1.1" 204' in accessLog.read_text()
    protocol.connectionLost(None)
    clock.advance(Connections.POLL)
    assert stopped.called
    assert events == ["stop listening", "storage stopped"]


def test_abortedAfterTimeout() -> None:
    """A request still in flight at the timeout is aborted, and the stop completes."""
    site, top, clock, events = drainingSite(timeout=5)
    protocol, transport = connect(site)
    protocol.dataReceived(head("PATCH", UPLOAD, "Content-Length: 6") + b"abc")
    stopped = top.stopService()
    clock.advance(4.9)
    assert not transport.disconnecting
    assert not stopped.called
    clock.advance(0.1)
    assert transport.disconnecting
    assert b"HTTP/1.1" not in transport.value()
    protocol.connectionLost(Failure(ConnectionAborted()))
    clock.advance(Connections.POLL)
    assert stopped.called
    assert events == ["stop listening", "storage stopped"]


def test_http2ConnectionDrains() -> None:
    """
    An HTTP/2 connection is sent a GOAWAY naming its highest stream, and
    kept while that stream is open; a stream the client opens after it is
    refused unprocessed; the connection is closed once the stream ends.
    """
    resource = UploadResource()
    exchange = Exchange(resource)
    connections = Connections(exchange.clock)
    connections.opened(exchange.server)
    stream = exchange.request(b"PATCH", UPLOAD.encode(), (b"content-length", b"6"),
                              body=b"abc", end=False)
    drained = connections.drain(30)
    exchange.flush()
    [goAway] = [e for e in exchange.events if isinstance(e, h2.events.ConnectionTerminated)]
    assert (goAway.error_code, goAway.last_stream_id) == (0, stream)
    late = exchange.request(b"PATCH", UPLOAD.encode(), (b"content-length", b"3"), body=b"xyz")
    [refused] = [e for e in exchange.events if isinstance(e, h2.events.StreamReset)]
    assert (refused.stream_id, refused.error_code) == (late, h2.errors.ErrorCodes.REFUSED_STREAM)
    assert len(resource.requests) == 1
    exchange.clock.advance(10)
    assert not exchange.transport.disconnecting
    exchange.client.send_data(stream, b"def", end_stream=True)
    exchange.flush()
    assert exchange.response(stream)[0] == 204
    exchange.clock.advance(Connections.POLL)
    assert exchange.transport.disconnecting
    connections.closed(exchange.server)
    exchange.clock.advance(Connections.POLL)
    assert drained.called


def test_idleHTTP2ConnectionToldBeforeClosed() -> None:
    """An idle HTTP/2 connection gets a GOAWAY (NO_ERROR, last stream 0) before it is closed."""
    exchange = Exchange(UploadResource())
    connections = Connections(exchange.clock)
    connections.opened(exchange.server)
    connections.drain(30)
    assert exchange.transport.disconnecting
    exchange.flush()
    [goAway] = [e for e in exchange.events if isinstance(e, h2.events.ConnectionTerminated)]
    assert (goAway.error_code, goAway.last_stream_id) == (0, 0)
