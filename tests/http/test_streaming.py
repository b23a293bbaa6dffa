"""
Upload requests are handled when their headers arrive, and their bodies
stream to the handler with backpressure, over raw HTTP/1.1 bytes.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionLost
from twisted.internet.interfaces import IConsumer
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET
from zope.interface import implementer

from txregistry.http.body import RequestBodyError
from txregistry.http.site import RegistrySite, isStreamedRequest


@implementer(IConsumer)
class Recorder:
    """
    A consumer that records what it is given and can pause its producer.
    """

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.producer: Any = None

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        self.producer = producer

    def unregisterProducer(self) -> None:
        self.producer = None

    def write(self, data: bytes) -> None:
        self.chunks.append(data)


class UploadResource(Resource):
    """
    Reads streamed bodies into a L{Recorder}; answers C{204} with the body
    length once complete, or refuses at once with C{403} if the path says
    so.
    """

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[Any] = []
        self.recorders: list[Recorder] = []
        self.failures: list[Any] = []

    def render(self, request: Any) -> Any:
        self.requests.append(request)
        if b"refuse" in request.path:
            request.setResponseCode(403)
            request.setHeader(b"Content-Length", b"7")
            return b"refused"
        if request.body is None:
            request.setHeader(b"Content-Length", b"2")
            return b"ok"
        recorder = Recorder()
        self.recorders.append(recorder)

        def done(length: int) -> None:
            request.setResponseCode(204)
            request.setHeader(b"X-Length", b"%d" % (length,))
            request.finish()

        request.body.deliverTo(recorder).addCallbacks(done, self.failures.append)
        return NOT_DONE_YET


def connect(resource: Resource) -> tuple[Any, StringTransport]:
    """
    @return: a registry channel serving C{resource} on a string transport.
    """
    site = RegistrySite(resource)
    protocol = site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 1234))
    transport = StringTransport()
    protocol.makeConnection(transport)
    return protocol, transport


UPLOAD = "/v2/a/b/blobs/uploads/some-id"


def head(method: str, path: str, *headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: test", *headers, "", ""]
    return "\r\n".join(lines).encode()


def test_streamedRequests() -> None:
    """Upload chunks, monolithic posts and manifest puts stream; reads and other paths do not."""
    assert isStreamedRequest(b"PATCH", b"/v2/a/b/blobs/uploads/x")
    assert isStreamedRequest(b"PUT", b"/v2/a/b/blobs/uploads/x?digest=sha256:1")
    assert isStreamedRequest(b"POST", b"/v2/a/blobs/uploads/?digest=sha256:1")
    assert isStreamedRequest(b"PUT", b"/v2/a/manifests/latest")
    assert not isStreamedRequest(b"GET", b"/v2/a/blobs/uploads/x")
    assert not isStreamedRequest(b"PUT", b"/v2/a/tags/list")
    assert not isStreamedRequest(b"POST", b"/v2/a/manifests/x/y")


def test_dispatchedBeforeBody() -> None:
    """The handler sees the request once its headers are complete, before any body byte."""
    resource = UploadResource()
    protocol, transport = connect(resource)
    protocol.dataReceived(head("PATCH", UPLOAD, "Content-Length: 10"))
    assert len(resource.requests) == 1
    assert resource.recorders[0].chunks == []
    protocol.dataReceived(b"0123456789")
    assert b"".join(resource.recorders[0].chunks) == b"0123456789"
    assert transport.value().startswith(b"HTTP/1.1 204 ")
    assert b"X-Length: 10" in transport.value()


def test_chunkedBody() -> None:
    """A chunked body is decoded and delivered chunk by chunk."""
    resource = UploadResource()
    protocol, transport = connect(resource)
    protocol.dataReceived(head("PATCH", UPLOAD, "Transfer-Encoding: chunked"))
    protocol.dataReceived(b"5\r\nhello\r\n")
    assert resource.recorders[0].chunks == [b"hello"]
    assert transport.value() == b""
    protocol.dataReceived(b"6\r\n world\r\n0\r\n\r\n")
    assert b"".join(resource.recorders[0].chunks) == b"hello world"
    assert b"X-Length: 11" in transport.value()


def test_backpressure() -> None:
    """A consumer that pauses the body pauses the connection's transport, and resumes it."""
    resource = UploadResource()
    protocol, transport = connect(resource)
    protocol.dataReceived(head("PATCH", UPLOAD, "Content-Length: 20"))
    recorder = resource.recorders[0]
    recorder.producer.pauseProducing()
    assert transport.producerState == "paused"
    recorder.producer.resumeProducing()
    assert transport.producerState == "producing"
    protocol.dataReceived(b"x" * 20)
    assert b"X-Length: 20" in transport.value()


def test_bufferedUntilConsumerAttaches() -> None:
    """Body bytes arriving before the handler attaches are kept; past the limit the transport pauses."""
    resource = UploadResource()
    resource.render = lambda request: (resource.requests.append(request), NOT_DONE_YET)[1]
    protocol, transport = connect(resource)
    size = 3 * 1024 * 1024
    protocol.dataReceived(head("PATCH", UPLOAD, f"Content-Length: {size}"))
    protocol.dataReceived(b"y" * (size // 2))
    assert transport.producerState == "paused"
    recorder = Recorder()
    request = resource.requests[0]
    delivered: list[int] = []
    request.body.deliverTo(recorder).addCallback(delivered.append)
    assert transport.producerState == "producing"
    protocol.dataReceived(b"y" * (size - size // 2))
    assert delivered == [size]
    assert sum(map(len, recorder.chunks)) == size


def test_refusedBeforeBody() -> None:
    """A request refused on its headers is answered at once, without 100 Continue, and the connection closes."""
    resource = UploadResource()
    protocol, transport = connect(resource)
    protocol.dataReceived(head("PATCH", "/v2/refuse/blobs/uploads/x",
                               "Content-Length: 1000000000", "Expect: 100-continue"))
    response = transport.value()
    assert response.startswith(b"HTTP/1.1 403 ")
    assert b"100 Continue" not in response
    assert b"Connection: close" in response
    assert transport.disconnecting
    # What the client goes on sending is ignored.
    protocol.dataReceived(b"z" * 100_000)
    assert transport.value() == response


def test_continueForAccepted() -> None:
    """An accepted upload with Expect: 100-continue is told to continue."""
    resource = UploadResource()
    protocol, transport = connect(resource)
    protocol.dataReceived(head("PATCH", UPLOAD, "Content-Length: 3", "Expect: 100-continue"))
    assert transport.value() == b"HTTP/1.1 100 Continue\r\n\r\n"
    protocol.dataReceived(b"abc")
    assert b"204" in transport.value()


def test_emptyBodyKeepsConnection() -> None:
    """An empty-bodied streamed request answered at once keeps the connection for the next request."""
    resource = UploadResource()
    protocol, transport = connect(resource)
    protocol.dataReceived(head("POST", "/v2/refuse/blobs/uploads/", "Content-Length: 0")
                          + head("GET", "/v2/", ""))
    response = transport.value()
    assert response.count(b"HTTP/1.1 ") == 2
    assert b"Connection: close" not in response
    assert response.endswith(b"ok")
    assert not transport.disconnecting


def test_pipelinedUploads() -> None:
    """Two uploads on one connection are each delivered their own body."""
    resource = UploadResource()
    protocol, transport = connect(resource)
    protocol.dataReceived(head("PATCH", UPLOAD, "Content-Length: 3") + b"one"
                          + head("PATCH", UPLOAD, "Content-Length: 5") + b"three")
    assert [b"".join(r.chunks) for r in resource.recorders] == [b"one", b"three"]
    assert transport.value().count(b"HTTP/1.1 204") == 2


def test_clientGoesAway() -> None:
    """A body cut short by a lost connection fails its delivery with RequestBodyError."""
    resource = UploadResource()
    protocol, transport = connect(resource)
    protocol.dataReceived(head("PATCH", UPLOAD, "Content-Length: 10") + b"01234")
    protocol.connectionLost(Failure(ConnectionLost("gone")))
    assert len(resource.failures) == 1
    assert resource.failures[0].check(RequestBodyError)


def test_otherRequestsBuffered() -> None:
    """Requests that are not streamed get their body in request.content, as Twisted does."""
    seen: list[bytes] = []

    class Echo(Resource):
        isLeaf = True

        def render(self, request: Any) -> bytes:
            seen.append(request.content.read())
            assert getattr(request, "body", None) is None
            request.setHeader(b"Content-Length", b"0")
            return b""

    protocol, transport = connect(Echo())
    protocol.dataReceived(head("POST", "/v2/other", "Content-Length: 4") + b"data")
    assert seen == [b"data"]


def test_tlsOnPlainPort() -> None:
    """A TLS handshake on the plain port gets Go's 400 at once and the connection closes."""
    protocol, transport = connect(UploadResource())
    protocol.dataReceived(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
    assert transport.value().startswith(b"HTTP/1.0 400 Bad Request\r\n")
    assert transport.disconnecting


def test_continueOnlyWhenBodyWanted() -> None:
    """100 Continue waits until the handler asks for the body; an asynchronous refusal never sends it."""
    resource = UploadResource()
    pending: list[Any] = []
    resource.render = lambda request: (pending.append(request), NOT_DONE_YET)[1]
    protocol, transport = connect(resource)
    expect = ("Content-Length: 3", "Expect: 100-continue")
    protocol.dataReceived(head("PATCH", UPLOAD, *expect))
    assert transport.value() == b""
    pending[0].body.deliverTo(Recorder())
    assert transport.value() == b"HTTP/1.1 100 Continue\r\n\r\n"

    protocol, transport = connect(resource)
    protocol.dataReceived(head("PATCH", UPLOAD, *expect))
    refused = pending[1]
    refused.setResponseCode(404)
    refused.setHeader(b"Content-Length", b"0")
    refused.finish()
    assert transport.value().startswith(b"HTTP/1.1 404 ")
    assert b"100 Continue" not in transport.value()
    assert transport.disconnecting


def test_accessLogSwitch(tmp_path: Any) -> None:
    """The site writes an access log line per request unless the access log is off."""
    for enabled in (True, False):
        path = tmp_path / f"access-{enabled}.log"
        site = RegistrySite(UploadResource(), accessLog=enabled, logPath=str(path))
        site.startFactory()
        protocol = site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 1234))
        protocol.makeConnection(StringTransport())
        protocol.dataReceived(head("GET", "/v2/"))
        site.stopFactory()
        assert (b"GET /v2/" in path.read_bytes()) is enabled


def test_hostAskedOnce() -> None:
    """The channel asks its transport for the local address once, however many requests it serves."""
    protocol, transport = connect(UploadResource())
    asked: list[int] = []
    host = transport.getHost()
    transport.getHost = lambda: (asked.append(1), host)[1]  # type: ignore[method-assign]
    protocol.dataReceived(head("GET", "/v2/") * 3)
    assert transport.value().count(b"HTTP/1.1 200 ") == 3
    assert len(asked) == 1


def test_noServerHeader() -> None:
    """Responses, streamed or not, carry no Server header (Twisted would send
    its name and version; distribution sends none)."""
    resource = UploadResource()
    protocol, transport = connect(resource)
    protocol.dataReceived(head("GET", "/v2/")
                          + head("PATCH", UPLOAD, "Content-Length: 2") + b"ab")
    response = transport.value()
    assert response.count(b"HTTP/1.1 ") == 2, response
    assert b"server:" not in response.lower(), response
