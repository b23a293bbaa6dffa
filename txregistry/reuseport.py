"""
Listening sockets that several processes share with C{SO_REUSEPORT}.

With C{http.workers} above 1, every worker process binds its own socket to
the same address and port with C{SO_REUSEPORT}; the kernel then spreads the
incoming connections over the processes (a single listening socket handed
to several processes does not balance on Linux: the process that happens to
be in C{accept()} wins).

L{ReusePortReactor} stands in for the reactor given to Twisted's endpoint
parser: the C{tcp:}, C{tcp6:} and C{ssl:} endpoints built by
L{serverFromString} call its C{listenTCP} / C{listenSSL}, which create such
a socket and hand it to the real reactor with C{adoptStreamPort}.  TLS
(C{ssl:}, and C{tls+} descriptions wrapped by L{txregistry.tls.listeners})
is a protocol factory wrapper, so it rides on the same socket.
"""

from __future__ import annotations

import socket
from typing import Any

from twisted.internet.abstract import isIPv6Address
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IListeningPort, IStreamServerEndpoint
from twisted.protocols.tls import TLSMemoryBIOFactory

#: The endpoint types whose sockets can be shared with C{SO_REUSEPORT}.
SHAREABLE = ("tcp", "tcp6", "ssl")


def endpointType(description: str) -> str:
    """
    @param description: a Twisted server endpoint description.
    @return: its type: the part before the first C{:} (C{tcp}, C{unix}...).
    """
    return description.split(":", 1)[0]


def checkShareable(description: str) -> None:
    """
    Refuse a description whose socket cannot be shared by worker processes.

    @param description: a Twisted server endpoint description, without the
        C{tls+} prefix.
    @raise ValueError: unless it is a C{tcp:}, C{tcp6:} or C{ssl:}
        description; the message says why.
    """
    kind = endpointType(description)
    if kind not in SHAREABLE:
        raise ValueError(
            f"{description!r} cannot be served by several workers: http.workers "
            "above 1 shares each listening address between processes with "
            f"SO_REUSEPORT, which only {', '.join(k + ':' for k in SHAREABLE)} "
            "listeners support (set http.workers to 1 to serve it)"
        )


def reusePortSocket(
    host: str, port: int, backlog: int = 50
) -> socket.socket:
    """
    Create a listening, non-blocking TCP socket with C{SO_REUSEPORT} (and
    C{SO_REUSEADDR}, as Twisted sets it).

    @param host: the interface to bind: an IPv4 or IPv6 address, a host name
        (resolved to IPv4, as Twisted's C{tcp:} endpoint does), or C{""}
        for every IPv4 interface.
    @param port: the port; C{0} lets the kernel choose one.
    @param backlog: the C{listen()} backlog.
    @return: the socket, which the caller owns (and closes).
    @raise OSError: if it cannot be bound.
    """
    if isIPv6Address(host):
        family = socket.AF_INET6
        address: Any = socket.getaddrinfo(
            host, port, family, socket.SOCK_STREAM, 0,
            socket.AI_PASSIVE | socket.AI_NUMERICHOST,
        )[0][4]
    else:
        family = socket.AF_INET
        address = (host, port)
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class ReusePortReactor:
    """
    The reactor handed to L{serverFromString} for one shared listener: its
    C{listenTCP} and C{listenSSL} bind with C{SO_REUSEPORT} and adopt the
    socket into the real reactor.

    @ivar port: the port to bind instead of the one asked for (a worker
        joins the port the first process got), or L{None}.
    @ivar listeningPort: the L{IListeningPort} once listening, else L{None}.
    """

    def __init__(self, reactor: Any, port: int | None = None) -> None:
        """
        @param reactor: the real reactor (an C{IReactorSocket}).
        @param port: the port to bind whatever the description says, or
            L{None} to bind the description's.
        """
        self._reactor = reactor
        self.port = port
        self.listeningPort: IListeningPort | None = None

    @property
    def boundPort(self) -> int:
        """
        @return: the port the socket is bound to.
        @raise RuntimeError: if it is not listening yet.
        """
        if self.listeningPort is None:
            raise RuntimeError("not listening yet")
        return int(self.listeningPort.getHost().port)  # type: ignore[attr-defined]

    def listenTCP(
        self, port: int, factory: Any, backlog: int = 50, interface: str = ""
    ) -> IListeningPort:
        """
        Listen like C{IReactorTCP.listenTCP}, on a C{SO_REUSEPORT} socket.
        """
        if self.port is not None:
            port = self.port
        sock = reusePortSocket(interface, port, backlog)
        try:
            listening = self._reactor.adoptStreamPort(sock.fileno(), sock.family, factory)
        finally:
            sock.close()  # the reactor holds its own duplicate
        self.listeningPort = listening
        return listening  # type: ignore[no-any-return]

    def listenSSL(
        self,
        port: int,
        factory: Any,
        contextFactory: Any,
        backlog: int = 50,
        interface: str = "",
    ) -> IListeningPort:
        """
        Listen like C{IReactorSSL.listenSSL}: TLS in memory over
        L{listenTCP}.
        """
        return self.listenTCP(
            port, TLSMemoryBIOFactory(contextFactory, False, factory), backlog, interface
        )


class SharedListeners:
    """
    Builds the endpoints of one process's listeners, each on a
    C{SO_REUSEPORT} socket, and remembers them in order.

    Pass an instance as C{makeEndpoint} to
    L{txregistry.tls.listeners.build_listeners}, which calls it once per
    description, in order: the process that binds first reads L{ports}
    after listening, and a worker given those ports binds the same ones.

    @ivar reactors: one L{ReusePortReactor} per endpoint built, in order.
    """

    def __init__(self, ports: list[int] | None = None) -> None:
        """
        @param ports: the port of each listener, in order, to join; or
            L{None} to bind the descriptions' own ports.
        """
        self._ports = ports
        self.reactors: list[ReusePortReactor] = []

    def __call__(self, reactor: Any, description: str) -> IStreamServerEndpoint:
        """
        @param reactor: the real reactor.
        @param description: a C{tcp:}, C{tcp6:} or C{ssl:} description.
        @return: an endpoint listening on a C{SO_REUSEPORT} socket.
        @raise ValueError: for any other description (see
            L{checkShareable}), or for more descriptions than ports given.
        """
        checkShareable(description)
        port = None
        if self._ports is not None:
            if len(self.reactors) >= len(self._ports):
                raise ValueError(f"no port given for listener {description!r}")
            port = self._ports[len(self.reactors)]
        shared = ReusePortReactor(reactor, port)
        self.reactors.append(shared)
        return serverFromString(shared, description)  # type: ignore[no-any-return]

    def ports(self) -> list[int]:
        """
        @return: the port each listener is bound to, in order.
        @raise RuntimeError: if one is not listening yet.
        """
        return [shared.boundPort for shared in self.reactors]
