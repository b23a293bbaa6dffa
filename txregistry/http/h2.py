"""
HTTP/2 for the registry: a connection that lets a handler answer a request
before its body has arrived, and the protocol that switches to it when TLS
negotiates C{h2}.
"""

from __future__ import annotations

from typing import Any

from h2.errors import ErrorCodes
from twisted.web._http2 import H2Connection
from twisted.web.http import _GenericHTTPChannelProtocol


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
        self._abandoned: set[int] = set()

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
        request = self.streams[event.stream_id]._request
        dispatch = getattr(request, "headersReceived", None)
        if dispatch is not None:
            dispatch()

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
