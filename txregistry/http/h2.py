"""
HTTP/2 for the registry: a connection that lets a handler answer a request
before its body has arrived, and the protocol that switches to it when TLS
negotiates C{h2}.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import priority
from h2.errors import ErrorCodes
from h2.settings import SettingCodes
from twisted.internet.defer import Deferred
from twisted.internet.protocol import connectionDone
from twisted.python.failure import Failure
from twisted.web._http2 import _END_STREAM_SENTINEL, H2Connection
from twisted.web.http import _GenericHTTPChannelProtocol

from txregistry.http.h2state import StreamingH2Connection

#: What a client may send before the registry acknowledges it, per stream and
#: per connection (HTTP/2's default is 64 KiB: a few round trips per MiB).
RECEIVE_WINDOW = 16777216
#: The largest frame a client may send (the default is 16 KiB).
MAX_RECEIVED_FRAME = 1024 * 1024
#: How long after an early answer its stream is reset.
RESET_DELAY = 0.0
#: How much the sending loop sends before letting the reactor run.
SEND_BUDGET = 1024 * 1024


class RegistryH2Connection(H2Connection):
    """
    An L{H2Connection} for streaming request bodies.

    A streamed request is dispatched once its stream is set up (see
    L{StreamingRequest.headersReceived}).
    Twisted forgets a stream once its response is sent and then fails on
    the client's further C{DATA} for it, which a registry provokes on
    purpose by refusing uploads on their headers.  Here such frames are
    dropped (their flow-control credit returned), and a stream answered
    before its body ended is reset with C{NO_ERROR} once the response is
    out, so that the client stops sending (RFC 9113, 8.1).

    When the process drains (see L{txregistry.http.drain}), L{goAway} tells
    the client to open no more streams, while those in flight finish.
    """

    conn: StreamingH2Connection
    _prefaceDeadline: Any = None
    _lastStream: int | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conn = StreamingH2Connection(self.conn.config)
        self._abandoned: set[int] = set()
        self._expectingContinue: set[int] = set()

    def awaitPreface(self, seconds: float) -> None:
        """
        Close the connection if the client's preface (its C{SETTINGS}) has
        not arrived in C{seconds}.
        """
        self._prefaceDeadline = self.callLater(seconds, self._prefaceLate)

    def _prefaceLate(self) -> None:
        self._prefaceDeadline = None
        transport: Any = self.transport
        if not self.conn.prefaceReceived and transport is not None:
            transport.abortConnection()

    def connectionLost(self, reason: Failure = connectionDone,
                       _cancelTimeouts: bool = True) -> None:
        deadline, self._prefaceDeadline = self._prefaceDeadline, None
        if deadline is not None and deadline.active():
            deadline.cancel()
        super().connectionLost(reason, _cancelTimeouts)

    def _send100Continue(self, streamID: int) -> None:
        # Called while the stream is being set up: decided in _requestReceived.
        self._expectingContinue.add(streamID)

    _host: Any = None

    def getHost(self) -> Any:
        # Asked by every request of every stream; constant for a connection.
        if self._host is None:
            self._host = super().getHost()
        return self._host

    def connectionMade(self) -> None:
        super().connectionMade()
        self.conn.update_settings({
            SettingCodes.INITIAL_WINDOW_SIZE: RECEIVE_WINDOW,
            SettingCodes.MAX_FRAME_SIZE: MAX_RECEIVED_FRAME,
        })
        increment = RECEIVE_WINDOW - self.conn.inbound_flow_control_window
        if increment > 0:
            self.conn.increment_flow_control_window(increment)
        self._writeFrames()

    def _writeFrames(self) -> None:
        data = self.conn.data_to_send()
        transport: Any = self.transport
        if data and transport is not None:
            transport.write(data)

    def _sendPrioritisedData(self, *args: Any) -> None:
        """
        Twisted's sending loop, sending up to L{SEND_BUDGET} bytes per turn
        of the reactor instead of one frame, slicing without copying, and
        writing each turn's frames at once.
        """
        if not self._stillProducing:
            return
        budget = SEND_BUDGET
        try:
            while budget > 0:
                try:
                    stream = next(self.priority)
                except priority.DeadlockError:
                    assert self._sendingDeferred is None
                    self._sendingDeferred = Deferred()
                    self._sendingDeferred.addCallback(self._sendPrioritisedData)
                    return
                if self._consumerBlocked is not None:
                    self._consumerBlocked.addCallback(self._sendPrioritisedData)
                    return
                budget -= self._sendFrame(stream)
        finally:
            self._writeFrames()
        self.resetTimeout()
        self._reactor.callLater(0, self._sendPrioritisedData)

    def _sendFrame(self, stream: int) -> int:
        """
        Queue the next frame of C{stream}'s response in the h2 state machine.

        @return: how many body bytes it holds.
        """
        queue = self._outboundStreamQueues[stream]
        frameData = queue.popleft()
        if frameData is _END_STREAM_SENTINEL:
            self.conn.end_stream(stream)
            self._writeFrames()
            self._requestDone(stream)
            return 0
        maxFrameSize = min(self.conn.max_outbound_frame_size,
                           self.conn.local_flow_control_window(stream))
        if len(frameData) > maxFrameSize:
            view = memoryview(frameData)
            queue.appendleft(view[maxFrameSize:])
            frameData = view[:maxFrameSize]
        if frameData:
            self.conn.send_data(stream, frameData)
        if not queue:
            self.priority.block(stream)
        if self.remainingOutboundWindow(stream) <= 0:
            self.streams[stream].flowControlBlocked()
        return len(frameData)

    def abandonStream(self, streamID: int) -> None:
        """
        Reset C{streamID} once its response is sent: its body will not
        be read.
        """
        self._abandoned.add(streamID)

    #: What this connection is registered with as the producer of its
    #: transport's data (see L{RegistryProtocol}), if anything.
    networkProducer: Any = None

    def loseConnection(self) -> None:
        """
        Close the connection once what is written is sent, as
        L{twisted.web.http.HTTPChannel.loseConnection} does: unregistered
        as its transport's producer first, for a TLS transport would not
        close while a producer is registered.
        """
        if self.networkProducer is not None:
            self.networkProducer.unregisterProducer()
        transport: Any = self.transport
        transport.loseConnection()

    def goAway(self) -> None:
        """
        Send a C{GOAWAY} (once): the client opens no more streams here, and
        those it has opened go on.  A stream it opens later (its C{HEADERS}
        crossed the C{GOAWAY}) is refused with C{REFUSED_STREAM}, which
        tells it the stream was not processed and may be retried elsewhere.
        """
        if self._lastStream is None:
            self._lastStream = self.conn.goAway()
            self._tryToWriteControlData()

    def _requestReceived(self, event: Any) -> None:
        if self._lastStream is not None and event.stream_id > self._lastStream:
            self.conn.reset_stream(event.stream_id, ErrorCodes.REFUSED_STREAM)
            self._tryToWriteControlData()
            return
        super()._requestReceived(event)
        # Only now can the stream carry a response: a streamed request is
        # dispatched here rather than while its headers are converted.
        streamID = event.stream_id
        request = self.streams[streamID]._request
        dispatch = getattr(request, "headersReceived", None)
        if dispatch is not None:
            dispatch()
        if streamID in self._expectingContinue:
            self._expectingContinue.discard(streamID)
            sendContinue = partial(H2Connection._send100Continue, self, streamID)
            body = getattr(request, "body", None)
            if body is None:
                sendContinue()
            else:
                # As over HTTP/1.1: only once a handler wants the body.
                body.expectContinue(sendContinue)

    def _requestDataReceived(self, event: Any) -> None:
        if event.stream_id in self.streams:
            super()._requestDataReceived(event)
        else:
            self.conn.acknowledge_received_data(event.flow_controlled_length,
                                                event.stream_id)
            self._tryToWriteControlData()

    def _requestEnded(self, event: Any) -> None:
        if event.stream_id in self.streams:
            super()._requestEnded(event)

    def _requestDone(self, streamID: int) -> None:
        super()._requestDone(streamID)
        if streamID in self._abandoned:
            self._abandoned.discard(streamID)
            # Not in the same write as the end of the response: curl (7.88)
            # reports an error for a reset read together with the last DATA.
            self._reactor.callLater(RESET_DELAY, self._resetStream, streamID)

    def _resetStream(self, streamID: int) -> None:
        transport: Any = self.transport
        if transport is not None and not transport.disconnecting:
            self.conn.reset_stream(streamID, ErrorCodes.NO_ERROR)
            self._tryToWriteControlData()


class RegistryProtocol(_GenericHTTPChannelProtocol):  # type: ignore[misc]
    """
    Serves HTTP/1.1 with the given channel, or HTTP/2 with a
    L{RegistryH2Connection} when TLS negotiates C{h2}.  The time the
    channel gave the first request's headers is given to the HTTP/2
    connection's preface.
    """

    def __init__(self, channel: Any, onClose: Callable[[], object] | None = None) -> None:
        """
        @param channel: the HTTP/1.1 channel.
        @param onClose: called once the connection is closed.
        """
        super().__init__(channel)
        self._onClose = onClose

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        try:
            super().connectionLost(reason)
        finally:
            if self._onClose is not None:
                self._onClose()

    def dataReceived(self, data: bytes) -> None:
        if (self._negotiatedProtocol is None
                and getattr(self._channel.transport, "negotiatedProtocol", None) == b"h2"):
            self._switchToHTTP2()
        super().dataReceived(data)

    def _switchToHTTP2(self) -> None:
        # As Twisted's own switch in _GenericHTTPChannelProtocol.dataReceived,
        # but to our connection class.
        old: Any = self._channel
        networkProducer = old._networkProducer
        networkProducer.unregisterProducer()
        old.setTimeout(None)
        remaining = old.stopHeaderDeadline()
        new: Any = RegistryH2Connection()
        new.requestFactory = self._requestFactory
        new.site = self._site
        new.factory = self._factory
        new.timeOut = self._timeOut
        new.callLater = self._callLater
        new.makeConnection(old.transport)
        if remaining is not None:
            new.awaitPreface(remaining)
        networkProducer.registerProducer(new, True)
        new.networkProducer = networkProducer
        self._channel = new
        self._negotiatedProtocol = b"h2"  # type: ignore[assignment]
