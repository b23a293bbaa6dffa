"""
The private names of Twisted, h2, hyperframe and pyOpenSSL that txregistry
relies on.

The HTTP/1.1, HTTP/2 and TLS layers override or reach into these libraries'
internals for speed and for streaming request bodies (see the modules named
below).  Nothing in those libraries promises to keep them, so
C{pyproject.toml} pins the versions they were measured against, and
C{tests/test_private_apis.py} checks that each one is still there (and that
every private name the code uses is listed here).

Each name is written C{module:attribute.path}.  An attribute that is an
instance's, not its class's, counts as there when the class's source uses
it on C{self}.
"""

from __future__ import annotations

import importlib
import inspect
import re
from functools import cache

#: For each txregistry module, the private names it relies on: names with a
#: private part, everything of the classes of Twisted's private C{_http2}
#: module, and a few public but undocumented attributes the code sets
#: (reading sizes, h2's frame buffer).
PRIVATE_NAMES: dict[str, tuple[str, ...]] = {
    "txregistry.http.h2": (
        "twisted.web._http2:H2Connection",
        "twisted.web._http2:H2Connection._consumerBlocked",
        "twisted.web._http2:H2Connection.callLater",
        "twisted.web._http2:H2Connection.conn",
        "twisted.web._http2:H2Connection.connectionLost",
        "twisted.web._http2:H2Connection.connectionMade",
        "twisted.web._http2:H2Connection.factory",
        "twisted.web._http2:H2Connection.getHost",
        "twisted.web._http2:H2Connection.priority",
        "twisted.web._http2:H2Connection.remainingOutboundWindow",
        "twisted.web._http2:H2Connection.requestFactory",
        "twisted.web._http2:H2Connection.site",
        "twisted.web._http2:H2Connection.streams",
        "twisted.web._http2:H2Connection.timeOut",
        "twisted.web._http2:H2Connection._outboundStreamQueues",
        "twisted.web._http2:H2Connection._reactor",
        "twisted.web._http2:H2Connection._requestDataReceived",
        "twisted.web._http2:H2Connection._requestDone",
        "twisted.web._http2:H2Connection._requestEnded",
        "twisted.web._http2:H2Connection._requestReceived",
        "twisted.web._http2:H2Connection._send100Continue",
        "twisted.web._http2:H2Connection._sendPrioritisedData",
        "twisted.web._http2:H2Connection._sendingDeferred",
        "twisted.web._http2:H2Connection._stillProducing",
        "twisted.web._http2:H2Connection._tryToWriteControlData",
        "twisted.web._http2:H2Stream._request",
        "twisted.web._http2:H2Stream.flowControlBlocked",
        "twisted.web._http2:_END_STREAM_SENTINEL",
        "twisted.web.http:HTTPChannel._networkProducer",
        "twisted.web.http:_GenericHTTPChannelProtocol",
        "twisted.web.http:_GenericHTTPChannelProtocol._callLater",
        "twisted.web.http:_GenericHTTPChannelProtocol._channel",
        "twisted.web.http:_GenericHTTPChannelProtocol._factory",
        "twisted.web.http:_GenericHTTPChannelProtocol._negotiatedProtocol",
        "twisted.web.http:_GenericHTTPChannelProtocol._requestFactory",
        "twisted.web.http:_GenericHTTPChannelProtocol._site",
        "twisted.web.http:_GenericHTTPChannelProtocol._timeOut",
        "twisted.web.http:_GenericHTTPChannelProtocol.dataReceived",
    ),
    "txregistry.http.h2state": (
        "h2.connection:H2Connection.incoming_buffer",
        "h2.connection:H2Connection.state_machine",
        "h2.connection:H2ConnectionStateMachine.state",
        "h2.connection:H2Connection._receive_settings_frame",
        "h2.frame_buffer:FrameBuffer.add_data",
        "h2.frame_buffer:FrameBuffer._data",
        "h2.frame_buffer:FrameBuffer._preamble_len",
        "h2.frame_buffer:FrameBuffer._update_header_buffer",
        "h2.frame_buffer:FrameBuffer._validate_frame_length",
        "hyperframe.frame:DataFrame._body_repr",
        "hyperframe.frame:_raw_data_repr",
    ),
    "txregistry.http.request": (
        "twisted.internet.abstract:FileDescriptor.bufferSize",
        "twisted.web._http2:H2Stream._conn",
        "twisted.web._http2:H2Stream.command",
        "twisted.web._http2:H2Stream.path",
        "twisted.web._http2:H2Stream.site",
        "twisted.web._http2:H2Stream.streamID",
        "twisted.web.http:HTTPChannel._abortingCall",
        "twisted.web.http:HTTPChannel._command",
        "twisted.web.http:HTTPChannel._path",
        "twisted.web.http:HTTPChannel._send100Continue",
        "twisted.web.http:HTTPChannel._transferDecoder",
        "twisted.web.http:HTTPChannel._version",
        "twisted.web.http:Request._disconnected",
        "twisted.web.http:_ChunkedTransferDecoder",
        "twisted.web.http:_ChunkedTransferDecoder._dataReceived_CHUNK_LENGTH",
        "twisted.web.http:_ChunkedTransferDecoder.length",
        "twisted.web.http:_MalformedChunkedDataError",
    ),
    "txregistry.http.producer": (
        "twisted.internet.abstract:FileDescriptor.SEND_LIMIT",
        "twisted.web.http:Request._disconnected",
    ),
    "txregistry.http.site": (
        "twisted.web.http:HTTPFactory._logDateTime",
        "twisted.web.http:HTTPFactory._logFormatter",
    ),
    "txregistry.tls.transport": (
        "OpenSSL.SSL:Connection._from_ssl",
        "OpenSSL.SSL:Connection._ssl",
        "OpenSSL.SSL:_ffi",
        "OpenSSL.SSL:_ffi.buffer",
        "OpenSSL.SSL:_ffi.new",
        "OpenSSL.SSL:_lib",
        "OpenSSL.SSL:_lib.BIO_read",
        "OpenSSL.SSL:_lib.SSL_read",
        "twisted.internet.tcp:Connection.doRead",
        "twisted.protocols.tls:TLSMemoryBIOProtocol._aborted",
        "twisted.protocols.tls:TLSMemoryBIOProtocol._bufferedWrite",
        "twisted.protocols.tls:TLSMemoryBIOProtocol._flushReceiveBIO",
        "twisted.protocols.tls:TLSMemoryBIOProtocol._flushSendBIO",
        "twisted.protocols.tls:TLSMemoryBIOProtocol._lostTLSConnection",
        "twisted.protocols.tls:TLSMemoryBIOProtocol._shutdownTLS",
        "twisted.protocols.tls:TLSMemoryBIOProtocol._tlsConnection",
        "twisted.protocols.tls:TLSMemoryBIOProtocol._tlsShutdownFinished",
        "twisted.protocols.tls:TLSMemoryBIOProtocol._write",
    ),
    "txregistry.startup": (
        "twisted.application.internet:StreamServerEndpointService._raiseSynchronously",
    ),
}


@cache
def _source(cls: type) -> str:
    try:
        return inspect.getsource(cls)
    except (OSError, TypeError):
        return ""


def mentions(cls: type, attribute: str) -> bool:
    """
    @return: whether the source of C{cls} itself reads or assigns
        C{self.<attribute>}.
    """
    return re.search(rf"\bself\.{re.escape(attribute)}\b", _source(cls)) is not None


def defines(owner: object, attribute: str) -> bool:
    """
    @return: whether C{owner} has C{attribute}, or is a class whose source
        (or a base class's) reads or assigns C{self.<attribute>}.
    """
    return hasattr(owner, attribute) or any(
        mentions(cls, attribute) for cls in getattr(owner, "__mro__", ()))


def missingPart(name: str) -> str | None:
    """
    @param name: a private name, C{module:attribute.path}.
    @return: the first part of C{name} that cannot be found (the module, or
        the attribute path up to the missing attribute), or L{None} if it
        is all there.
    """
    moduleName, _, path = name.partition(":")
    try:
        owner: object = importlib.import_module(moduleName)
    except ImportError:
        return moduleName
    parts = path.split(".")
    for index, attribute in enumerate(parts):
        if not defines(owner, attribute):
            return f"{moduleName}:{'.'.join(parts[:index + 1])}"
        owner = getattr(owner, attribute, None)
    return None
