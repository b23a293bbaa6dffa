"""
The request/channel pair that lets a resource handle a request while its
body is still arriving.

Twisted Web reads a whole body into C{request.content} before any resource
renders.  For the requests the site names (blob uploads, manifest puts), a
L{StreamingRequest} instead dispatches itself to the resource as soon as its
headers are complete and hands the body over chunk by chunk, as a
L{RequestBody}.  A resource that answers before the body is complete (an
error, a refusal) makes the connection close after the answer, as the rest of
the body will never be read.
"""

from __future__ import annotations

from functools import partial
from io import BytesIO
from typing import Any, cast

from twisted.internet.base import DelayedCall
from twisted.internet.interfaces import IPushProducer
from twisted.internet.protocol import connectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.http import (
    HTTPChannel,
    _ChunkedTransferDecoder,
    _MalformedChunkedDataError,
)
from twisted.web.server import Request

from txregistry.http.accesslog import requestFields
from txregistry.http.body import RequestBody
from txregistry.http.transport import socketTransport
from txregistry.logging import runWithFields

#: How much a connection receiving a streamed body reads at once (Twisted
#: reads 64 KiB): fewer, larger pieces for the reactor, the hashing and
#: the writing to handle.
READ_SIZE = 1024 * 1024


def _readInLargePieces(transport: Any) -> None:
    socket = socketTransport(transport)
    if socket is not None and socket.bufferSize < READ_SIZE:
        socket.bufferSize = READ_SIZE


class StreamingRequest(Request):
    """
    A request that streams its body when its site says so.

    @ivar body: the L{RequestBody} of a streamed request, else L{None} (the
        body is then in C{content}, as usual).
    @ivar dispatchedAt: when the request was dispatched to its resource, if
        its site keeps metrics (see L{txregistry.http.site.RegistrySite}).
    @ivar requestId: its id, once asked for (see
        L{txregistry.http.accesslog.requestId}).
    @ivar authenticatedUser: the user it was allowed for, if known (see
        L{txregistry.http.accesslog.authenticated}).
    """

    body: RequestBody | None = None
    dispatchedAt: float | None = None
    requestId: str | None = None
    authenticatedUser: str | None = None
    _dispatched = False
    _channelDone = False
    _finishPending = False
    _dispatchWhenHeadersEnd: tuple[bytes, bytes] | None = None

    def gotLength(self, length: int | None) -> None:
        channel: Any = self.channel
        http1 = hasattr(channel, "_command")
        command, path = (channel._command, channel._path) if http1 else (
            channel.command, channel.path)
        if not channel.site.streamsBody(command, path):
            super().gotLength(length)
            return
        self.content = BytesIO()
        # An HTTP/1.1 body is paused by pausing the connection; an HTTP/2
        # stream pauses itself (by flow control), leaving its siblings alone.
        self.body = RequestBody(cast(IPushProducer, self.transport if http1 else channel),
                                length)
        self._dispatched = True
        if http1:
            _readInLargePieces(self.transport)
            # HTTP/1.1 calls this once every header is in.
            super().requestReceived(command, path, channel._version)
        else:
            _readInLargePieces(getattr(channel, "_conn", None))
            # HTTP/2 calls this on the content-length header, perhaps before
            # others (Content-Range, Authorization), and before its stream can
            # respond: the connection calls headersReceived when it can.
            self._dispatchWhenHeadersEnd = (command, path)

    def headersReceived(self) -> None:
        """
        Dispatch a streamed HTTP/2 request, now that all its headers are in
        and its stream is set up (called by
        L{txregistry.http.h2.RegistryH2Connection}).
        """
        pending, self._dispatchWhenHeadersEnd = self._dispatchWhenHeadersEnd, None
        if pending is not None:
            super().requestReceived(pending[0], pending[1], b"HTTP/2")

    def process(self) -> None:
        # Lines logged while it is handled carry its fields.
        runWithFields(partial(requestFields, self), super().process)

    def handleContentChunk(self, data: bytes) -> None:
        if self.body is None:
            super().handleContentChunk(data)
        else:
            self.body.dataReceived(data)

    def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
        if not self._dispatched:
            super().requestReceived(command, path, version)
            return
        # The channel says the body is complete; the request was dispatched
        # when its headers were.
        self._channelDone = True
        assert self.body is not None
        self.body.bodyComplete()
        if self._finishPending:
            super().finish()

    def write(self, data: bytes) -> None:
        if not self.startedWriting:
            self._closeIfBodyUnread()
            # Twisted names itself and its version; distribution sends no
            # Server header, and a version only helps an attacker.
            self.responseHeaders.removeHeader(b"server")
        super().write(data)

    def finish(self) -> None:
        if self.body is None or self._channelDone or self._disconnected:
            super().finish()
        elif self.body.allReceived:
            # The channel is about to end the body (in this very call stack);
            # finishing now would let it parse the end of this request as the
            # start of the next.
            self._finishPending = True
        else:
            self._closeIfBodyUnread()
            super().finish()

    def connectionLost(self, reason) -> None:  # type: ignore[no-untyped-def]
        if self.body is not None:
            self.body.bodyFailed(reason)
        super().connectionLost(reason)

    def _closeIfBodyUnread(self) -> None:
        body = self.body
        if body is None or self._channelDone or body.allReceived:
            return
        body.discard()
        channel: Any = self.channel
        if isinstance(channel, RegistryChannel):
            self.setHeader(b"Connection", b"close")
            channel.abandonRequestBody()
        else:
            abandonStream = getattr(channel._conn, "abandonStream", None)
            if abandonStream is not None:
                abandonStream(channel.streamID)


_TLS_ON_PLAIN_PORT = (b"HTTP/1.0 400 Bad Request\r\n\r\n"
                      b"Client sent an HTTP request to an HTTPS server.\n")

#: The largest body length a request may announce, as its C{Content-Length}
#: or as the size of one chunk: what a signed 64-bit integer holds, Go's
#: bound for a C{Content-Length}.
MAX_BODY_LENGTH = 2**63 - 1


class _BoundedChunkedDecoder(_ChunkedTransferDecoder):
    """
    Twisted's decoder of a chunked body, refusing a chunk size above
    L{MAX_BODY_LENGTH} (which would otherwise be waited for).
    """

    def _dataReceived_CHUNK_LENGTH(self) -> bool:
        parsed = super()._dataReceived_CHUNK_LENGTH()
        if parsed and self.length > MAX_BODY_LENGTH:
            raise _MalformedChunkedDataError("Chunk size is too large.")
        return parsed


class RegistryChannel(HTTPChannel):
    """
    An HTTP/1.1 channel that can give up reading a request's body: the
    response to that request is then the last one on the connection.

    It gives each request C{headerTimeout} seconds to send its headers,
    counted from the opening of the connection (a TLS handshake included)
    or from the end of the previous response: a connection that takes
    longer is closed.  Twisted's idle timeout, which every read resets, is
    not enough against clients that trickle their headers.  An HTTP/1.1
    request without C{Host}, or any with several, is answered 400 (RFC 9112,
    3.2).

    @ivar headerTimeout: the seconds given to each request's headers, or
        L{None} for no limit.
    """

    headerTimeout: float | None = None
    _headerDeadline: DelayedCall | None = None
    _awaitingHeaders = False
    _abandoned = False
    _sawData = False
    _host: Any = None
    log = Logger()

    def getHost(self) -> Any:
        # Every request asks (Twisted's Request.__init__), and each ask is a
        # getsockname() system call: 12% of the reactor under GET load.
        if self._host is None:
            self._host = super().getHost()
        return self._host

    def dataReceived(self, data: bytes) -> None:
        if not self._sawData and data:
            self._sawData = True
            if data[:1] == b"\x16":
                # A TLS handshake on a plain HTTP port: answer as Go's
                # net/http does, so that clients that try HTTPS first (skopeo,
                # docker) fall back at once instead of timing out.
                transport: Any = self.transport
                transport.write(_TLS_ON_PLAIN_PORT)
                transport.loseConnection()
                self._abandoned = True
                return
        super().dataReceived(data)

    def connectionMade(self) -> None:
        super().connectionMade()
        if self.headerTimeout is not None:
            self._awaitingHeaders = True
            self._headerDeadline = self.callLater(self.headerTimeout, self._headersLate)

    def stopHeaderDeadline(self) -> float | None:
        """
        Stop counting the time given to the current request's headers.

        @return: the seconds that were left, or L{None} if none were counted.
        """
        deadline, self._headerDeadline = self._headerDeadline, None
        if deadline is None:
            return None
        deadline.cancel()
        return max(0.0, deadline.getTime() - deadline.seconds()) if self._awaitingHeaders else None

    def _headersLate(self) -> None:
        self._headerDeadline = None
        if not self._awaitingHeaders:
            # They came in time; a new deadline starts after the response.
            return
        transport: Any = self.transport
        self.log.debug("closing a connection whose request headers did not "
                       "arrive in time: {peer}", peer=transport.getPeer())
        # As Twisted's idle timeout: the response before, if any, may still
        # be on its way; the connection is aborted if it does not go.
        self._abortingCall = self.callLater(self.abortTimeout, self.forceAbortClient)
        self.loseConnection()

    def allHeadersReceived(self) -> None:
        # Once per request: the deadline is not cancelled (and a new one made
        # for the next request), only marked as met, and moved on after the
        # response, as cheap as can be.
        self._awaitingHeaders = False
        hosts = self.requests[-1].requestHeaders.getRawHeaders(b"Host", ())
        if len(hosts) != 1 and (hosts or self._version == b"HTTP/1.1"):
            self._refuse(b"too many Host headers" if hosts else b"missing required Host header")
            return
        decoder: Any = self._transferDecoder
        if type(decoder) is _ChunkedTransferDecoder:
            # Before any of the body is decoded.
            self._transferDecoder = _BoundedChunkedDecoder(
                decoder.dataCallback, decoder.finishCallback)
        elif self.length is not None and self.length > MAX_BODY_LENGTH:
            self._refuse(b"bad Content-Length")
            return
        super().allHeadersReceived()

    def _refuse(self, reason: bytes) -> None:
        """
        Answer 400 as Go's net/http does, and close: nothing more the client
        sends is read.
        """
        self._abandoned = True
        transport: Any = self.transport
        transport.write(b"HTTP/1.1 400 Bad Request: %s\r\n"
                        b"Content-Type: text/plain; charset=utf-8\r\n"
                        b"Connection: close\r\n\r\n"
                        b"400 Bad Request: %s" % (reason, reason))
        self.loseConnection()

    def requestDone(self, request: Any) -> None:
        timeout = self.headerTimeout
        if self.persistent and timeout is not None:
            # The next request's time starts now, before its bytes, if they
            # are already in, are parsed.
            self._awaitingHeaders = True
            deadline = self._headerDeadline
            if deadline is None:
                self._headerDeadline = self.callLater(timeout, self._headersLate)
            else:
                deadline.reset(timeout)
        super().requestDone(request)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.stopHeaderDeadline()
        super().connectionLost(reason)

    def abandonRequestBody(self) -> None:
        """
        Ignore everything the client sends from now on and close the
        connection once the current response is written.
        """
        self._abandoned = True
        self.persistent = False

    def lineReceived(self, line: bytes) -> None:
        if not self._abandoned:
            super().lineReceived(line)

    def rawDataReceived(self, data: bytes) -> None:
        if not self._abandoned:
            super().rawDataReceived(data)

    def allContentReceived(self) -> None:
        if not self._abandoned:
            super().allContentReceived()

    def _send100Continue(self) -> None:
        # A streamed request's body is only asked for once its handler
        # accepted it; one refused before that gets no 100 Continue.
        if self._abandoned:
            return
        body = getattr(self.requests[-1], "body", None) if self.requests else None
        if body is None:
            super()._send100Continue()
        else:
            body.expectContinue(super()._send100Continue)
