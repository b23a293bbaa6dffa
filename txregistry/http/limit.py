"""
A cap on the connections one process serves at once.

At the cap, the process stops accepting: its listening sockets are paused,
so that new connections wait in the kernel's backlog (as nginx, HAProxy and
Go's C{LimitListener} do) until one closes.  A connection accepted over the
cap all the same (Twisted accepts a burst of pending connections at once) is
closed unserved.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import (
    IListeningPort,
    IProtocolFactory,
    IPushProducer,
    IReactorTime,
    IStreamServerEndpoint,
)
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from zope.interface import implementer


class _Unserved(Protocol):
    """
    A connection over the cap: closed as soon as it is made.
    """

    def connectionMade(self) -> None:
        transport: Any = self.transport
        transport.abortConnection()


class ConnectionLimit:
    """
    Counts the open connections of a process, and pauses the listening
    ports it watches while they reach L{maximum}.

    @ivar maximum: the most connections served at once.
    @ivar open: how many are open.
    """

    log = Logger()
    #: The least time between two log lines about the cap, in seconds.
    REPORT_INTERVAL = 60.0

    def __init__(self, maximum: int, clock: IReactorTime) -> None:
        """
        @param maximum: the most connections served at once.
        @param clock: dates the log lines, which are spaced out.
        """
        self.maximum = maximum
        self.open = 0
        self._clock = clock
        self._ports: list[IPushProducer] = []
        self._paused = False
        self._unserved = 0
        self._lastReport: float | None = None

    def watch(self, endpoint: IStreamServerEndpoint) -> IStreamServerEndpoint:
        """
        @return: C{endpoint}, whose listening port is paused at the cap.
        """
        return _WatchedEndpoint(endpoint, self)

    def listening(self, port: IListeningPort) -> IListeningPort:
        """
        Pause C{port} at the cap, from now on.

        @return: C{port}.
        """
        producer = IPushProducer(port, None)
        if producer is not None:
            self._ports.append(producer)
            if self._paused:
                producer.pauseProducing()
        return port

    def admit(self) -> Protocol | None:
        """
        Count a new connection.

        @return: L{None} if it may be served, or else the protocol that
            closes it.
        """
        if self.open >= self.maximum:
            self._unserved += 1
            self._report()
            return _Unserved()
        self.open += 1
        if self.open >= self.maximum and not self._paused:
            self._paused = True
            for port in self._ports:
                port.pauseProducing()
            self._report()
        return None

    def release(self) -> None:
        """
        Count a served connection's end.
        """
        self.open -= 1
        if self._paused and self.open < self.maximum:
            self._paused = False
            for port in self._ports:
                port.resumeProducing()

    def _report(self) -> None:
        now = self._clock.seconds()
        if self._lastReport is not None and now - self._lastReport < self.REPORT_INTERVAL:
            return
        self._lastReport = now
        self.log.warn(
            "{open} connections open, the most http.maxconnections allows: "
            "accepting no more until some close ({unserved} closed unserved "
            "since the last report)",
            open=self.open, unserved=self._unserved)
        self._unserved = 0


@implementer(IStreamServerEndpoint)
class _WatchedEndpoint:
    """
    An endpoint whose listening port a L{ConnectionLimit} pauses.
    """

    def __init__(self, endpoint: IStreamServerEndpoint, limit: ConnectionLimit) -> None:
        self._endpoint = endpoint
        self._limit = limit

    def listen(self, factory: IProtocolFactory) -> Deferred[IListeningPort]:
        return self._endpoint.listen(factory).addCallback(self._limit.listening)
