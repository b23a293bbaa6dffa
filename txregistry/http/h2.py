"""
HTTP/2 for the registry: a connection that lets a handler answer a request
before its body has arrived, and the protocol that switches to it when TLS
negotiates C{h2}.
"""

from __future__ import annotations

import binascii
from collections import deque
from functools import partial
from typing import Any

import h2.connection
import hyperframe.frame
import priority
from h2.errors import ErrorCodes
from h2.events import DataReceived, Event
from h2.exceptions import FrameDataMissingError, ProtocolError
from h2.frame_buffer import FrameBuffer
from h2.settings import SettingCodes
from hyperframe.exceptions import InvalidDataError, InvalidFrameError
from hyperframe.frame import Frame
from twisted.internet.defer import Deferred
from twisted.web._http2 import _END_STREAM_SENTINEL, H2Connection
from twisted.web.http import _GenericHTTPChannelProtocol

#: What a client may send before the registry acknowledges it, per stream and
#: per connection (HTTP/2's default is 64 KiB: a few round trips per MiB).
RECEIVE_WINDOW = 16777216
#: The largest frame a client may send (the default is 16 KiB).
MAX_RECEIVED_FRAME = 1024 * 1024
#: How long after an early answer its stream is reset.
RESET_DELAY = 0.0
#: How much the sending loop sends before letting the reactor run.
SEND_BUDGET = 1024 * 1024


def _hexRepr(head: bytes, size: int) -> str:
    """
    hyperframe's C{_raw_data_repr} text of C{size} bytes starting with
    C{head}: at most the first 10 in hex, then "..." if there are more.
    """
    if not size:
        return "None"
    shown = binascii.hexlify(head[:10]).decode("ascii")
    return f"<hex:{shown}...>" if size > 10 else f"<hex:{shown}>"


def shortDataRepr(data: bytes | None) -> str:
    """
    hyperframe's C{_raw_data_repr}, giving the same text without turning the
    whole payload into hex first.  h2 takes the repr of every frame it
    receives, for a trace line it then drops: with 1 MiB C{DATA} frames that
    was a fifth of the reactor's time during an HTTP/2 upload.
    """
    return _hexRepr(data[:10], len(data)) if data else "None"


def dataBodyRepr(frame: hyperframe.frame.DataFrame) -> str:
    """
    The body part of a C{DATA} frame's repr, as hyperframe's gives it,
    without serializing the body (a copy of the whole payload) first.
    """
    padding = frame.serialize_padding_data()
    head = padding + bytes(frame.data[:10]) + bytes(min(frame.pad_length, 10))
    return _hexRepr(head, len(padding) + len(frame.data) + frame.pad_length)


hyperframe.frame._raw_data_repr = shortDataRepr
hyperframe.frame.DataFrame._body_repr = dataBodyRepr  # type: ignore[method-assign,assignment]


def coalesceData(events: list[Event]) -> list[Event]:
    """
    @return: C{events}, with each run of L{DataReceived} for one stream made
        one event: the data joined, their flow-controlled lengths added.
    """
    coalesced: list[Event] = []
    run: list[DataReceived] = []

    def endRun() -> None:
        if len(run) > 1:
            coalesced.append(DataReceived(
                stream_id=run[0].stream_id,
                data=b"".join(event.data for event in run),
                flow_controlled_length=sum(event.flow_controlled_length for event in run),
                stream_ended=run[-1].stream_ended))
        else:
            coalesced.extend(run)
        run.clear()

    for event in events:
        if not (isinstance(event, DataReceived) and run and run[0].stream_id == event.stream_id):
            endRun()
        if isinstance(event, DataReceived):
            run.append(event)
        else:
            coalesced.append(event)
    endRun()
    return coalesced


class ReadsFrameBuffer(FrameBuffer):
    """
    h2's L{FrameBuffer} without its copies.  h2's appends every read to one
    C{bytearray}, copies each frame out of it and deletes the frame from its
    front; this one keeps the reads as they came and parses each frame from
    a view of them, joining only a frame that is cut across reads.
    """

    def __init__(self, server: bool = False) -> None:
        super().__init__(server)
        self._reads: deque[memoryview] = deque()
        self._buffered = 0

    def add_data(self, data: Any) -> None:
        if self._preamble_len:
            # h2's checks the client's preamble and keeps what follows it.
            super().add_data(data)
            data, self._data = bytes(self._data), bytearray()
        elif not isinstance(data, bytes):
            data = bytes(data)  # a view of a buffer its owner may reuse
        if data:
            self._reads.append(memoryview(data))
            self._buffered += len(data)

    def _view(self, size: int, consume: bool) -> memoryview:
        """
        @return: the next C{size} bytes (there are as many), a view of one
            read where they lie in one; consumed if C{consume}.
        """
        first = self._reads[0] if self._reads else memoryview(b"")
        if len(first) >= size:
            view = first[:size]
        else:
            pieces, missing = [], size
            for read in self._reads:
                pieces.append(read[:missing])
                missing -= len(pieces[-1])
                if not missing:
                    break
            view = memoryview(b"".join(pieces))
        if consume:
            self._consume(size)
        return view

    def _consume(self, size: int) -> None:
        self._buffered -= size
        while size:
            first = self._reads[0]
            if len(first) > size:
                self._reads[0] = first[size:]
                return
            self._reads.popleft()
            size -= len(first)

    def __next__(self) -> Frame:
        # h2's FrameBuffer.__next__, over the reads.
        if self._buffered < 9:
            raise StopIteration
        try:
            frame, length = Frame.parse_frame_header(self._view(9, consume=False))
        except (InvalidDataError, InvalidFrameError) as err:
            raise ProtocolError(f"Received frame with invalid header: {err!s}") from err
        if self._buffered < 9 + length:
            raise StopIteration
        self._validate_frame_length(length)
        self._view(9, consume=True)
        try:
            frame.parse_body(self._view(length, consume=True))
        except InvalidDataError as err:
            raise ProtocolError("Received frame with non-compliant data") from err
        except InvalidFrameError as err:
            raise FrameDataMissingError("Frame data missing or invalid") from err
        complete = self._update_header_buffer(frame)
        return complete if complete is not None else self.__next__()


class StreamingH2Connection(h2.connection.H2Connection):
    """
    h2's connection state machine, for bodies that stream: it parses frames
    from views of the reads (L{ReadsFrameBuffer}), and gives the C{DATA}
    that one read brings for a stream as one event.  Clients send 16 KiB
    frames (curl, Go), so a 1 MiB read would otherwise go through the
    request body, the upload's writer and a flow-control acknowledgement 64
    times.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.incoming_buffer = ReadsFrameBuffer(server=not self.config.client_side)

    def receive_data(self, data: Any) -> list[Event]:
        return coalesceData(super().receive_data(data))


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
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conn = StreamingH2Connection(self.conn.config)
        self._abandoned: set[int] = set()
        self._expectingContinue: set[int] = set()

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

    def _requestReceived(self, event: Any) -> None:
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
    L{RegistryH2Connection} when TLS negotiates C{h2}.
    """

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
        new: Any = RegistryH2Connection()
        new.requestFactory = self._requestFactory
        new.site = self._site
        new.factory = self._factory
        new.timeOut = self._timeOut
        new.callLater = self._callLater
        new.makeConnection(old.transport)
        networkProducer.registerProducer(new, True)
        self._channel = new
        self._negotiatedProtocol = b"h2"  # type: ignore[assignment]
