"""
Clients that are slow, endless or malformed on purpose: the deadline for a
request's headers (and an HTTP/2 preface), the cap on connections, C{Host}
and absurd body lengths.
"""

from __future__ import annotations

import socket
import ssl
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.address import IPv4Address
from twisted.internet.defer import succeed
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.internet.interfaces import IPushProducer
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.internet.threads import deferToThread
from twisted.logger import LogLevel, capturedLogs
from zope.interface import implementer

from tests.http.test_streaming import UPLOAD, UploadResource, head
from tests.tls.test_transport import localCertificate
from txregistry.http.limit import ConnectionLimit
from txregistry.http.request import MAX_BODY_LENGTH
from txregistry.http.site import RegistrySite
from txregistry.tls.transport import RegistryTLSEndpoint

ADDRESS = IPv4Address("TCP", "127.0.0.1", 1234)
BAD_REQUEST = b"HTTP/1.1 400 Bad Request"


def connect(site: RegistrySite, **attributes: Any) -> tuple[Any, StringTransport]:
    """
    @param attributes: set on the transport (C{negotiatedProtocol}).
    @return: a new connection to C{site} on a string transport.
    """
    protocol = site.buildProtocol(ADDRESS)
    transport = StringTransport()
    for name, value in attributes.items():
        setattr(transport, name, value)
    protocol.makeConnection(transport)
    return protocol, transport


def timedSite(seconds: float = 5) -> tuple[RegistrySite, Clock, UploadResource]:
    """
    @return: a site giving each request C{seconds} for its headers, its
        clock and its resource.
    """
    clock = Clock()
    resource = UploadResource()
    return RegistrySite(resource, headerTimeout=seconds, reactor=clock), clock, resource


def test_headersLateCloses() -> None:
    """A connection that trickles its headers is closed at the deadline, however often bytes come."""
    site, clock, resource = timedSite()
    protocol, transport = connect(site)
    for byte in b"GET /v2/ HTTP/1.1\r\nHost: test\r\n":
        protocol.dataReceived(bytes([byte]))
        clock.advance(0.1)
    assert not transport.disconnecting
    clock.advance(5)
    assert transport.disconnecting
    assert resource.requests == []


def test_silentConnectionCloses() -> None:
    """A connection that sends nothing (no first request line, no TLS handshake) is closed at the deadline."""
    site, clock, _ = timedSite()
    _, transport = connect(site)
    clock.advance(4.9)
    assert not transport.disconnecting
    clock.advance(0.1)
    assert transport.disconnecting


def test_headersInTimeKeepConnection() -> None:
    """Headers complete in time meet the deadline: a body that takes longer is not cut, and the next request gets a whole deadline."""
    site, clock, resource = timedSite()
    protocol, transport = connect(site)
    protocol.dataReceived(head("PATCH", UPLOAD, "Content-Length: 6"))
    clock.advance(30)
    protocol.dataReceived(b"abc")
    clock.advance(30)
    protocol.dataReceived(b"def")
    assert not transport.disconnecting
    assert b"X-Length: 6" in transport.value()
    clock.advance(4.9)
    assert not transport.disconnecting
    clock.advance(0.1)
    assert transport.disconnecting


def test_deadlineForEachRequest() -> None:
    """Each request on a kept-alive connection gets the whole deadline, counted from the previous answer."""
    site, clock, _ = timedSite()
    protocol, transport = connect(site)
    clock.advance(4)
    protocol.dataReceived(head("GET", "/v2/"))
    assert transport.value().endswith(b"ok")
    clock.advance(4)
    protocol.dataReceived(head("GET", "/v2/"))
    assert transport.value().count(b"HTTP/1.1 200") == 2
    clock.advance(4.9)
    assert not transport.disconnecting
    clock.advance(0.1)
    assert transport.disconnecting


def test_noDeadlineWithoutTimeout() -> None:
    """A site built without a header timeout schedules nothing."""
    clock = Clock()
    connect(RegistrySite(UploadResource(), reactor=clock))
    assert [call.func.__name__ for call in clock.getDelayedCalls()] == ["__timedOut"]


def test_http2PrefaceLateCloses() -> None:
    """An HTTP/2 connection whose preface never completes is aborted when the first deadline ends."""
    site, clock, _ = timedSite()
    protocol, transport = connect(site, negotiatedProtocol=b"h2")
    clock.advance(3)
    protocol.dataReceived(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
    clock.advance(1.9)
    assert not transport.disconnecting
    clock.advance(0.1)
    assert transport.disconnected


def test_http2PrefaceInTime() -> None:
    """An HTTP/2 connection whose SETTINGS arrive in time stays open past the deadline."""
    site, clock, _ = timedSite()
    protocol, transport = connect(site, negotiatedProtocol=b"h2")
    protocol.dataReceived(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
    clock.advance(10)
    assert not transport.disconnecting


def test_http11WithoutHost() -> None:
    """An HTTP/1.1 request without Host gets Go's 400 and the connection closes, without reaching the handler."""
    site, _, resource = timedSite()
    protocol, transport = connect(site)
    protocol.dataReceived(b"PATCH " + UPLOAD.encode() + b" HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
                          + head("GET", "/v2/"))
    assert transport.value() == (
        b"HTTP/1.1 400 Bad Request: missing required Host header\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"
        b"400 Bad Request: missing required Host header")
    assert transport.disconnecting
    assert resource.requests == []


def test_severalHosts() -> None:
    """A request with two Host headers gets a 400."""
    site, _, resource = timedSite()
    protocol, transport = connect(site)
    protocol.dataReceived(b"GET /v2/ HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
    assert transport.value().startswith(BAD_REQUEST + b": too many Host headers\r\n")
    assert resource.requests == []


def test_http10WithoutHost() -> None:
    """An HTTP/1.0 request needs no Host."""
    site, _, _ = timedSite()
    protocol, transport = connect(site)
    protocol.dataReceived(b"GET /v2/ HTTP/1.0\r\n\r\n")
    assert transport.value().startswith(b"HTTP/1.0 200 ")


def test_chunkSizeTooLarge() -> None:
    """A chunk size of 24 hex digits is answered 400 at once, not waited for."""
    site, _, resource = timedSite()
    protocol, transport = connect(site)
    protocol.dataReceived(head("PATCH", UPLOAD, "Transfer-Encoding: chunked")
                          + b"f" * 24 + b"\r\nabc")
    assert transport.value() == BAD_REQUEST + b"\r\n\r\n"
    assert transport.disconnecting
    assert resource.recorders[0].chunks == []


def test_largestChunkSize() -> None:
    """The largest chunk size a signed 64-bit integer holds is accepted, and its bytes delivered."""
    site, _, resource = timedSite()
    protocol, transport = connect(site)
    protocol.dataReceived(head("PATCH", UPLOAD, "Transfer-Encoding: chunked")
                          + b"%x\r\nabc" % (MAX_BODY_LENGTH,))
    assert transport.value() == b""
    assert resource.recorders[0].chunks == [b"abc"]


def test_contentLengthTooLarge() -> None:
    """A Content-Length past a signed 64-bit integer is answered 400 before any handler sees it."""
    site, _, resource = timedSite()
    protocol, transport = connect(site)
    protocol.dataReceived(head("PATCH", UPLOAD, f"Content-Length: {MAX_BODY_LENGTH + 1}"))
    assert transport.value().startswith(BAD_REQUEST + b": bad Content-Length\r\n")
    assert transport.disconnecting
    assert resource.requests == []


@implementer(IPushProducer)
class Port:
    """
    A listening port that records whether it is paused.
    """

    paused = False

    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False

    def stopProducing(self) -> None:
        pass


class Endpoint:
    """
    An endpoint listening on a L{Port}.
    """

    def __init__(self) -> None:
        self.port = Port()

    def listen(self, factory: Any) -> Any:
        return succeed(self.port)


def limitedSite(maximum: int) -> tuple[RegistrySite, Port, Clock]:
    """
    @return: a site serving at most C{maximum} connections, the port it
        listens on, and the limit's clock.
    """
    clock = Clock()
    limit = ConnectionLimit(maximum, clock)
    endpoint = Endpoint()
    limit.watch(endpoint).listen(None)
    return RegistrySite(UploadResource(), connectionLimit=limit, reactor=clock), endpoint.port, clock


def test_capPausesAccepting() -> None:
    """Reaching the cap pauses the listening port; a closed connection resumes it."""
    site, port, _ = limitedSite(2)
    first, _ = connect(site)
    assert not port.paused
    second, _ = connect(site)
    assert port.paused
    first.connectionLost(None)
    assert not port.paused
    connect(site)
    assert port.paused


def test_overCapClosedUnserved() -> None:
    """A connection accepted over the cap is closed at once, unserved, and does not count."""
    site, _, _ = limitedSite(1)
    served, _ = connect(site)
    unserved, transport = connect(site)
    assert transport.disconnected
    unserved.dataReceived(head("GET", "/v2/"))
    assert transport.value() == b""
    served.connectionLost(None)
    _, transport = connect(site)
    assert not transport.disconnecting


def test_capLoggedAtMostEveryMinute() -> None:
    """Reaching the cap is logged, then not again within a minute, then with the count of connections closed unserved."""
    site, _, clock = limitedSite(1)
    with capturedLogs() as events:
        served, _ = connect(site)
        connect(site)
        served.connectionLost(None)
        served, _ = connect(site)
        connect(site)
        clock.advance(60)
        connect(site)
    warnings = [e for e in events if e["log_level"] == LogLevel.warn]
    assert [(e["open"], e["unserved"]) for e in warnings] == [(1, 0), (1, 3)]


@pytest_twisted.ensureDeferred
async def test_overCapClosedUnderTLS(tmp_path: Any) -> None:
    """A TLS connection over the cap is closed before its handshake."""
    certificate, cafile = localCertificate(tmp_path)
    limit = ConnectionLimit(1, reactor)
    assert limit.admit() is None  # the one connection allowed, taken
    endpoint = RegistryTLSEndpoint(TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1"),
                                   certificate.options(), clock=reactor)
    port = await endpoint.listen(RegistrySite(UploadResource(), connectionLimit=limit))

    def handshake() -> None:
        context = ssl.create_default_context(cafile=cafile)
        # Refused by a reset, perhaps before connect() returns.
        with pytest.raises(OSError), \
                socket.create_connection(("127.0.0.1", port.getHost().port), timeout=10) as raw:
            context.wrap_socket(raw, server_hostname="localhost")

    try:
        await deferToThread(handshake)
    finally:
        await port.stopListening()
    assert limit.open == 1
