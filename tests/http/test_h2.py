"""
Streamed request bodies over HTTP/2: dispatched once every header is in,
paused by flow control, and refusable before the body ends.
"""

from __future__ import annotations

import random
import subprocess
import sys
from typing import Any

import h2.config
import h2.connection
import h2.events
import pytest
from h2.errors import ErrorCodes
from h2.exceptions import FrameTooLargeError, ProtocolError
from h2.frame_buffer import FrameBuffer
from hyperframe.frame import (
    ContinuationFrame,
    DataFrame,
    Frame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    SettingsFrame,
    WindowUpdateFrame,
)
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from tests.http.test_streaming import UploadResource
from txregistry.http.h2 import RECEIVE_WINDOW, RegistryH2Connection
from txregistry.http.h2state import ReadsFrameBuffer, coalesceData, shortDataRepr
from txregistry.http.site import RegistrySite


class Exchange:
    """
    An HTTP/2 client state machine wired to a server connection in memory.
    """

    def __init__(self, resource: Any) -> None:
        site = RegistrySite(resource)
        self.clock = Clock()
        self.server = RegistryH2Connection(reactor=self.clock)
        self.server.site = site
        self.server.requestFactory = site.requestFactory
        self.transport = StringTransport()
        self.server.makeConnection(self.transport)
        self.client = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding=None))
        self.client.initiate_connection()
        self.events: list[Any] = []
        self.flush()

    def flush(self) -> list[Any]:
        """
        Move bytes both ways until quiet; collect the client's events.
        """
        while True:
            self.clock.advance(0)
            moved = False
            data = self.client.data_to_send()
            if data:
                self.server.dataReceived(data)
                moved = True
            data = self.transport.value()
            if data:
                self.transport.clear()
                received = self.client.receive_data(data)
                if any(isinstance(e, h2.events.ConnectionTerminated) and not e.error_code
                       for e in received):
                    # h2 ends the connection on any GOAWAY; on a graceful one,
                    # clients (nghttp2, Go) let their open streams go on.
                    self.client.state_machine.state = h2.connection.ConnectionState.CLIENT_OPEN
                self.events += received
                moved = True
            if not moved:
                return self.events

    def request(self, method: bytes, path: bytes, *headers: tuple[bytes, bytes],
                body: bytes | None = None, end: bool = True) -> int:
        stream = self.client.get_next_available_stream_id()
        self.client.send_headers(stream, [
            (b":method", method), (b":path", path), (b":scheme", b"https"),
            (b":authority", b"registry"), *headers], end_stream=body is None and end)
        if body is not None:
            self.client.send_data(stream, body, end_stream=end)
        self.flush()
        return stream

    def response(self, stream: int) -> tuple[int | None, bytes]:
        status = None
        body = b""
        for event in self.events:
            if isinstance(event, h2.events.ResponseReceived) and event.stream_id == stream:
                status = int(dict(event.headers)[b":status"])
            elif isinstance(event, h2.events.DataReceived) and event.stream_id == stream:
                body += event.data
        return status, body


UPLOAD = b"/v2/a/b/blobs/uploads/some-id"


def test_allHeadersBeforeDispatch() -> None:
    """The handler sees headers sent after content-length, and the whole body streams to it."""
    resource = UploadResource()
    exchange = Exchange(resource)
    stream = exchange.request(b"PATCH", UPLOAD, (b"content-length", b"10"),
                              (b"content-range", b"0-9"), body=b"0123456789")
    request = resource.requests[0]
    assert request.getHeader(b"content-range") == b"0-9"
    assert b"".join(resource.recorders[0].chunks) == b"0123456789"
    status, _ = exchange.response(stream)
    assert status == 204


def test_flowControlBackpressure() -> None:
    """A paused body keeps the stream's window shut (its data unacknowledged); resuming delivers and reopens it."""
    resource = UploadResource()
    exchange = Exchange(resource)
    window = exchange.client.remote_settings.initial_window_size
    assert window == RECEIVE_WINDOW
    size = window // 2 + 1  # past half the window, so that h2 sends an update
    stream = exchange.request(b"PATCH", UPLOAD, (b"content-length", b"%d" % size), end=False)
    recorder = resource.recorders[0]
    recorder.producer.pauseProducing()
    frame = exchange.client.max_outbound_frame_size
    for offset in range(0, size, frame):
        exchange.client.send_data(stream, b"x" * min(frame, size - offset))
    exchange.flush()
    assert exchange.client.local_flow_control_window(stream) == window - size
    assert recorder.chunks == []
    recorder.producer.resumeProducing()
    exchange.flush()
    assert sum(map(len, recorder.chunks)) == size
    assert exchange.client.local_flow_control_window(stream) == window


def test_refusedBeforeBody() -> None:
    """A stream refused on its headers is answered, then reset with NO_ERROR; later DATA is ignored."""
    resource = UploadResource()
    exchange = Exchange(resource)
    stream = exchange.request(b"PATCH", b"/v2/refuse/blobs/uploads/x",
                              (b"content-length", b"1000000"), end=False)
    status, body = exchange.response(stream)
    assert (status, body) == (403, b"refused")
    resets = [e for e in exchange.events if isinstance(e, h2.events.StreamReset)]
    assert [(e.stream_id, e.error_code) for e in resets] == [(stream, ErrorCodes.NO_ERROR)]
    # The connection goes on serving other streams.
    other = exchange.request(b"GET", b"/v2/")
    assert exchange.response(other) == (200, b"ok")


def test_continueOnlyWhenBodyWanted() -> None:
    """A 100 Continue is sent when the handler asks for the body, and never for a stream refused first."""
    resource = UploadResource()
    exchange = Exchange(resource)
    expect = (b"expect", b"100-continue")
    refused = exchange.request(b"PATCH", b"/v2/refuse/blobs/uploads/x",
                               (b"content-length", b"10"), expect, end=False)
    accepted = exchange.request(b"PATCH", UPLOAD, (b"content-length", b"10"), expect, end=False)
    informational = [(e.stream_id, dict(e.headers)[b":status"]) for e in exchange.events
                     if isinstance(e, h2.events.InformationalResponseReceived)]
    assert informational == [(accepted, b"100")]
    assert exchange.response(refused)[0] == 403


def test_streamedBodyReadInLargePieces(monkeypatch: Any) -> None:
    """A streamed HTTP/2 body makes its connection's socket read in large pieces."""
    from txregistry.http import request as requestModule

    tuned: list[Any] = []
    monkeypatch.setattr(requestModule, "_readInLargePieces", tuned.append)
    exchange = Exchange(UploadResource())
    exchange.request(b"PATCH", UPLOAD, (b"content-length", b"3"), body=b"abc")
    assert tuned == [exchange.server]


@pytest.mark.parametrize("size", [0, 1, 9, 10, 11, 16384])
def test_frameReprIsHyperframes(size: int) -> None:
    """
    The cheap frame repr gives hyperframe's text (the first 10 bytes in hex,
    then "..." if there were more), and is the one h2's frames use.
    """
    RegistryH2Connection()
    data = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    frame = DataFrame(1, data)
    full = data.hex()
    expected = "None" if not data else "<hex:" + (full[:20] + "..." if len(full) > 20 else full) + ">"
    assert shortDataRepr(data) == expected
    assert repr(frame) == f"DataFrame(stream_id=1, flags=[]): {expected}"


@pytest.mark.parametrize("padLength", [0, 3, 12])
@pytest.mark.parametrize("size", [0, 1, 9, 16384])
def test_dataFrameReprIsHyperframes(size: int, padLength: int, monkeypatch: Any) -> None:
    """
    A C{DATA} frame's repr, padded or not, is the text hyperframe makes
    from its serialized body, without serializing it.
    """
    RegistryH2Connection()
    data = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    frame = DataFrame(1, data, pad_length=padLength,
                      flags=["PADDED"] if padLength else [])
    expected = f"DataFrame(stream_id=1, flags={frame.flags!r}): {shortDataRepr(frame.serialize_body())}"

    def copyOfThePayload() -> bytes:
        raise AssertionError("the body was serialized")
    monkeypatch.setattr(frame, "serialize_body", copyOfThePayload)
    assert repr(frame) == expected


def test_cheapReprsInstalledWhenHTTP2IsBuiltNotOnImport() -> None:
    """
    Importing the HTTP modules leaves hyperframe's reprs alone; building an
    HTTP/2 connection installs the cheap ones, and building another changes
    nothing.
    """
    script = """
import hyperframe.frame as frame
original = (frame._raw_data_repr, frame.DataFrame._body_repr)
import txregistry.http.site, txregistry.http.h2, txregistry.http.h2state as h2state
assert (frame._raw_data_repr, frame.DataFrame._body_repr) == original, "patched on import"
from txregistry.http.h2 import RegistryH2Connection
RegistryH2Connection()
installed = (frame._raw_data_repr, frame.DataFrame._body_repr)
assert installed == (h2state.shortDataRepr, h2state.dataBodyRepr), installed
RegistryH2Connection()
assert (frame._raw_data_repr, frame.DataFrame._body_repr) == installed
print(repr(frame.DataFrame(1, b"x" * 11)))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "DataFrame(stream_id=1, flags=[]): <hex:78787878787878787878...>\n"


def test_coalesceDataJoinsRunsOfOneStream() -> None:
    """
    Runs of C{DATA} events for one stream become one event, with the data
    joined and the flow-controlled lengths added; other events and other
    streams' data keep their places.
    """
    ended = h2.events.StreamEnded(stream_id=3)
    window = h2.events.WindowUpdated(stream_id=0, delta=10)

    def data(stream: int, payload: bytes, padding: int = 0,
             end: h2.events.StreamEnded | None = None) -> h2.events.DataReceived:
        return h2.events.DataReceived(stream_id=stream, data=payload,
                                      flow_controlled_length=len(payload) + padding,
                                      stream_ended=end)

    events = coalesceData([data(1, b"ab"), data(1, b"cd", 5), window, data(1, b"e"),
                           data(3, b"f"), data(3, b"g", end=ended), ended, data(1, b"h")])
    assert [(type(e).__name__, getattr(e, "stream_id", None), getattr(e, "data", None),
             getattr(e, "flow_controlled_length", None)) for e in events] == [
        ("DataReceived", 1, b"abcd", 9), ("WindowUpdated", 0, None, None),
        ("DataReceived", 1, b"e", 1), ("DataReceived", 3, b"fg", 2),
        ("StreamEnded", 3, None, None), ("DataReceived", 1, b"h", 1)]
    assert events[3].stream_ended is ended


def test_framesOfOneReadReachTheBodyAtOnce() -> None:
    """
    The 16 KiB (and padded) frames of a body that arrive in one read reach
    the request's body as one piece, and the whole connection window,
    padding included, is given back.
    """
    resource = UploadResource()
    exchange = Exchange(resource)
    size = (RECEIVE_WINDOW // 2 // 16384 + 1) * 16384    # past half: h2 sends an update
    stream = exchange.request(b"PATCH", UPLOAD, (b"content-length", b"%d" % size), end=False)
    body = bytes(range(256)) * (size // 256)
    for offset in range(0, size, 16384):
        exchange.client.send_data(stream, body[offset:offset + 16384], pad_length=7,
                                  end_stream=offset + 16384 == size)
    exchange.flush()
    assert [len(chunk) for chunk in resource.recorders[0].chunks] == [size]
    assert b"".join(resource.recorders[0].chunks) == body
    assert exchange.client.outbound_flow_control_window == RECEIVE_WINDOW
    assert exchange.response(stream)[0] == 204


PREAMBLE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def someFrames() -> list[Frame]:
    """Frames of every shape a client sends: empty, padded, split headers, large."""
    return [
        SettingsFrame(0, settings={SettingsFrame.INITIAL_WINDOW_SIZE: 1 << 20}),
        SettingsFrame(0, flags=["ACK"]),
        HeadersFrame(1, b"h" * 40, flags=["END_HEADERS"]),
        DataFrame(1, b""),
        DataFrame(1, bytes(range(256)) * 64),
        DataFrame(1, b"p" * 1000, pad_length=20, flags=["PADDED"]),
        WindowUpdateFrame(0, window_increment=65535),
        HeadersFrame(3, b"first", flags=["PADDED"], pad_length=3),
        ContinuationFrame(3, b"second"),
        ContinuationFrame(3, b"third", flags=["END_HEADERS"]),
        DataFrame(3, b"z" * 300_000, flags=["END_STREAM"]),
        PingFrame(0, b"12345678"),
        GoAwayFrame(0, last_stream_id=3),
    ]


def parsed(buffer: FrameBuffer, reads: list[bytes]) -> list[bytes]:
    """The frames C{buffer} gives, read by read, serialized again."""
    buffer.max_frame_size = 1 << 20
    frames = []
    for read in reads:
        buffer.add_data(read)
        frames += [frame.serialize() for frame in buffer]
    return frames


def test_readsFrameBufferParsesAsH2s() -> None:
    """
    Reads cut anywhere (single bytes, inside the preamble, headers and
    bodies, or many frames at once) give the frames h2's buffer gives.
    """
    wire = PREAMBLE + b"".join(frame.serialize() for frame in someFrames())
    expected = parsed(FrameBuffer(server=True), [wire])
    assert len(expected) == 11      # the continuations joined to their headers
    rng = random.Random(5)
    for _ in range(20):
        reads, offset = [], 0
        while offset < len(wire):
            size = rng.choice([1, 2, 8, 9, 10, 100, 16393, 70000, 500000])
            reads.append(wire[offset:offset + size])
            offset += size
        assert parsed(ReadsFrameBuffer(server=True), reads) == expected


def test_readsFrameBufferChecks() -> None:
    """A wrong preamble, and a frame over the largest size, are refused as h2's are."""
    with pytest.raises(ProtocolError):
        parsed(ReadsFrameBuffer(server=True), [b"GET / HTTP/1.1\r\n\r\n"])
    big = DataFrame(1, b"x" * ((1 << 20) + 1)).serialize()
    with pytest.raises(FrameTooLargeError):
        parsed(ReadsFrameBuffer(server=True), [PREAMBLE, big[:100], big[100:]])
