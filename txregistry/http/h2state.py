"""
h2's connection state machine, for request bodies that stream in: it parses
frames from views of the reads, gives the C{DATA} that one read brings for a
stream as one event, and does not make h2's per-frame trace text out of
whole payloads.
"""

from __future__ import annotations

import binascii
from collections import deque
from typing import Any

import h2.connection
import hyperframe.frame
from h2.events import DataReceived, Event
from h2.exceptions import FrameDataMissingError, ProtocolError
from h2.frame_buffer import FrameBuffer
from hyperframe.exceptions import InvalidDataError, InvalidFrameError
from hyperframe.frame import Frame


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


def installCheapReprs() -> None:
    """
    Give hyperframe's frames the reprs above (L{shortDataRepr},
    L{dataBodyRepr}), which replace its own for the whole process.  Called
    when an HTTP/2 connection is built, not on import; doing it again
    changes nothing.
    """
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
        self._consume(9)
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

    #: Whether the client's first C{SETTINGS}, which ends its connection
    #: preface, has arrived.
    prefaceReceived = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        installCheapReprs()
        self.incoming_buffer = ReadsFrameBuffer(server=not self.config.client_side)

    def _receive_settings_frame(self, frame: Any) -> Any:
        if "ACK" not in frame.flags:
            self.prefaceReceived = True
        return super()._receive_settings_frame(frame)

    def receive_data(self, data: Any) -> list[Event]:
        return coalesceData(super().receive_data(data))

    def goAway(self) -> int:
        """
        Queue a C{GOAWAY} (C{NO_ERROR}) naming the highest stream the client
        has opened as the last one processed, and keep the connection open
        for the streams up to it to finish (RFC 9113, 6.8).  h2 takes every
        C{GOAWAY} it sends for the connection's end, after which it would
        neither send nor receive anything: its state is put back.

        @return: the last stream processed.
        """
        last = self.highest_inbound_stream_id
        state = self.state_machine.state
        self.close_connection(last_stream_id=last)
        self.state_machine.state = state
        return last
