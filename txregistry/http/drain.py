"""
Graceful shutdown (C{http.draintimeout}): stop accepting connections, let
the requests in flight finish for up to the timeout, then abort the rest.

As Go's C{http.Server.Shutdown}, which distribution uses: the listeners
close first, idle keep-alive connections close at once, and the others are
checked every L{Connections.POLL} seconds and closed as soon as their
request is answered.  An HTTP/2 connection is first sent a C{GOAWAY}, so
that its client opens no more streams while those in flight finish.  An upload cut by the abort stays resumable: its data
is on the storage, and a client resumes from the range C{GET} reports.
"""

from __future__ import annotations

from typing import Any

from twisted.application.internet import StreamServerEndpointService
from twisted.application.service import IService, MultiService, Service
from twisted.internet.defer import (
    Deferred,
    gatherResults,
    inlineCallbacks,
    maybeDeferred,
)
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger


def _busy(channel: Any) -> bool:
    """
    @return: whether the HTTP/1.1 channel or HTTP/2 connection has a
        request in flight (its headers or body arriving, or its response
        being written).
    """
    return bool(getattr(channel, "requests", None) or getattr(channel, "streams", None))


class Connections:
    """
    The open connections of a process, which L{drain} closes.

    @ivar open: the protocols of the open connections.
    """

    log = Logger()
    #: The seconds between two looks at the connections while draining.
    POLL = 0.1

    def __init__(self, clock: IReactorTime) -> None:
        self.open: set[Any] = set()
        self._clock = clock
        self._waiting: list[Deferred[None]] = []

    def opened(self, protocol: Any) -> None:
        """
        Count a new connection, served by C{protocol} (its C{_channel} is
        the HTTP/1.1 channel or HTTP/2 connection).
        """
        self.open.add(protocol)

    def closed(self, protocol: Any) -> None:
        """
        Count a connection's end.
        """
        self.open.discard(protocol)

    def drained(self) -> Deferred[None]:
        """
        @return: fires once L{drain} has closed (or aborted) every
            connection.
        """
        waiting: Deferred[None] = Deferred()
        self._waiting.append(waiting)
        return waiting

    def drain(self, timeout: float) -> Deferred[None]:
        """
        Close the connections as their requests end, and abort those still
        open after C{timeout} seconds.

        @return: fires once every connection is closed (or aborted).
        """
        done = self.drained()
        started = self._clock.seconds()
        self.log.info("draining {count} connections for up to {timeout}s",
                      count=len(self.open), timeout=timeout)

        def look() -> None:
            if not self.open:
                loop.stop()
                return
            if self._clock.seconds() - started >= timeout:
                self.log.warn("aborting {count} connections still open after "
                              "http.draintimeout", count=len(self.open))
                for protocol in list(self.open):
                    _transport(protocol).abortConnection()
                loop.stop()
                return
            for protocol in list(self.open):
                self._close(protocol)

        loop = LoopingCall(look)
        loop.clock = self._clock

        def finished(_: object) -> None:
            waiting, self._waiting = self._waiting, []
            for each in waiting:
                each.callback(None)

        loop.start(self.POLL).addCallback(finished)
        return done

    def _close(self, protocol: Any) -> None:
        """
        Close the connection if it is idle; else have its response be the
        last one on it (HTTP/1.1), or its streams the last ones (HTTP/2).
        """
        channel = getattr(protocol, "_channel", protocol)
        goAway = getattr(channel, "goAway", None)
        if goAway is not None:
            goAway()
        if not _busy(channel):
            # The channel's, which a TLS transport needs (see
            # RegistryH2Connection.loseConnection).
            channel.loseConnection()
            return
        for request in getattr(channel, "requests", ()):
            if not request.startedWriting:
                request.responseHeaders.setRawHeaders(b"connection", [b"close"])
        if hasattr(channel, "requests"):
            channel.persistent = False


def _transport(protocol: Any) -> Any:
    return getattr(protocol, "_channel", protocol).transport


class DrainingService(MultiService):
    """
    The services of a serving process, stopped in order: the listeners
    first, then the connections are drained (L{Connections.drain}), then
    the other services (the storage's among them, which requests in flight
    still use).  Those added with L{stopWithListeners} (the supervisor of
    other worker processes, which drain on their own) stop meanwhile.
    """

    def __init__(self, connections: Connections, timeout: float) -> None:
        """
        @param connections: the connections drained at stop.
        @param timeout: the most seconds they are given.
        """
        super().__init__()
        self._connections = connections
        self._timeout = timeout
        self._early: list[IService] = []

    def stopWithListeners(self, service: IService) -> None:
        """
        Add C{service}, to be stopped with the listeners, while the
        connections drain.
        """
        service.setServiceParent(self)
        self._early.append(service)

    @inlineCallbacks
    def stopService(self) -> Any:
        Service.stopService(self)
        children = list(self)
        listeners = [s for s in children if isinstance(s, StreamServerEndpointService)]
        early = [maybeDeferred(s.stopService) for s in self._early]
        yield gatherResults([maybeDeferred(s.stopService) for s in listeners])
        yield self._connections.drain(self._timeout)
        yield gatherResults(early + [
            maybeDeferred(s.stopService) for s in reversed(children)
            if s not in listeners and s not in self._early])
