"""
The registry's HTTP site: uploads and manifest puts stream their bodies.
"""

from __future__ import annotations

import re
from typing import Any

from twisted.logger import Logger
from twisted.web.http import datetimeToLogString
from twisted.web.server import Site

from txregistry.http.accesslog import registryLogFormatter, requestFields
from txregistry.http.drain import Connections
from txregistry.http.h2 import RegistryProtocol
from txregistry.http.limit import ConnectionLimit
from txregistry.http.request import RegistryChannel, StreamingRequest
from txregistry.metrics import Metrics

# Requests whose bodies go to the handler as they arrive: blob upload
# chunks and manifests (refused past their size limit without being read).
_STREAMED = re.compile(
    rb"^/v2/.+/(?:blobs/uploads/[^/?]*|manifests/[^/?]+)(?:\?.*)?$", re.DOTALL)
_STREAMED_METHODS = frozenset([b"POST", b"PATCH", b"PUT"])


def isStreamedRequest(method: bytes, path: bytes) -> bool:
    """
    @param method: the request's method.
    @param path: the request's target, with its query.
    @return: whether the request's body is streamed to its handler.
    """
    return method in _STREAMED_METHODS and _STREAMED.match(path) is not None


class RegistrySite(Site):
    """
    A L{Site} whose upload requests are handled while their bodies arrive
    (see L{StreamingRequest}).
    """

    requestFactory = StreamingRequest
    displayTracebacks = False
    _accessLogger = Logger()

    def __init__(self, resource: Any, accessLog: bool = True,
                 headerTimeout: float | None = None,
                 connectionLimit: ConnectionLimit | None = None,
                 connections: Connections | None = None,
                 metrics: Metrics | None = None,
                 **kwargs: Any) -> None:
        """
        @param resource: the root resource.
        @param accessLog: whether to log a line per request
            (C{log.accesslog.disabled} turns it off).
        @param headerTimeout: the seconds each request has to send its
            headers (see L{RegistryChannel}), or L{None} for no limit.
        @param connectionLimit: counts the connections, and closes those
            over its cap; or L{None}.
        @param connections: tracks the open connections, to drain them at
            shutdown; or L{None}.
        @param metrics: counts each request once it is done; or L{None}.
        @param kwargs: L{Site}'s; its C{logFormatter} is
            L{registryLogFormatter} unless given.
        """
        kwargs.setdefault("logFormatter", registryLogFormatter)
        super().__init__(resource, **kwargs)
        self._accessLog = accessLog
        self._headerTimeout = headerTimeout
        self._connectionLimit = connectionLimit
        self._connections = connections
        self._metrics = metrics

    def getResourceFor(self, request: Any) -> Any:
        if self._metrics is not None:
            request.dispatchedAt = self.reactor.seconds()
            self._metrics.requestStarted(request)
        return super().getResourceFor(request)

    def log(self, request: Any) -> None:
        """
        Count the request in the metrics (if any), and log its line in the
        site's log format (combined, with the user, by default), to C{logPath} if given, else
        as an event carrying its fields (see L{txregistry.http.accesslog}).
        """
        metrics = self._metrics
        if metrics is not None and request.dispatchedAt is not None:
            metrics.requestDone(request, self.reactor.seconds() - request.dispatchedAt)
        if not self._accessLog:
            return
        if self.logPath is not None:
            super().log(request)
        else:
            fields = requestFields(request)
            fields["http.response.status"] = str(request.code)
            # The date Twisted caches each second (from startFactory on),
            # rather than one formatted per request.
            date = self._logDateTime or datetimeToLogString(self.reactor.seconds())
            self._accessLogger.info(
                "{line}", line=self._logFormatter(date, request), fields=fields)

    def stopFactory(self) -> None:
        # Called once the listeners stop: while connections drain, their
        # requests are still logged.
        if self._connections is None:
            super().stopFactory()
        else:
            self._connections.drained().addCallback(lambda _: super(RegistrySite, self).stopFactory())

    def buildProtocol(self, addr: Any) -> Any:
        limit = self._connectionLimit
        if limit is not None:
            unserved = limit.admit()
            if unserved is not None:
                return unserved
        protocol = super().buildProtocol(addr)
        if self._connections is not None:
            self._connections.opened(protocol)
        return protocol

    def protocol(self):  # type: ignore[override]
        channel = RegistryChannel()
        channel.headerTimeout = self._headerTimeout
        limit = self._connectionLimit
        connections = self._connections
        protocol: RegistryProtocol

        def closed() -> None:
            if limit is not None:
                limit.release()
            if connections is not None:
                connections.closed(protocol)

        protocol = RegistryProtocol(channel, closed)
        return protocol

    def streamsBody(self, method: bytes, path: bytes) -> bool:
        """
        @return: whether the request with this method and target streams
            its body (see L{isStreamedRequest}).
        """
        return isStreamedRequest(method, path)
