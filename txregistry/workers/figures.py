"""
The metrics of workers 2 to N, gathered by worker 1 (the only one serving
the debug listener) each time C{/metrics} is scraped, so that a scrape
reports the whole daemon.

Each worker keeps its figures as plain numbers
(L{txregistry.metrics.Metrics}); the supervisor asks for them over a Unix
socket pair, the worker's end being its file descriptor L{CHANNEL_FD}: a
request is an empty string, the answer the worker's
L{txregistry.metrics.Figures.snapshot} in JSON, each string prefixed with
its length (L{Int32StringReceiver}).  Nothing crosses the processes between
scrapes, so observing costs a worker nothing more than it costs worker 1.

A worker's counters must not go back when it dies and is started again
(Prometheus would read a fall of the sum as a reset of the whole counter):
the supervisor adds the last figures it had of a worker whose socket closed
to those of the workers gone (its gauge excepted).  What a worker counted
between the last scrape and its end is lost.
"""

from __future__ import annotations

import json
import os
import socket
from collections import deque
from collections.abc import Callable
from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.protocol import Factory, connectionDone
from twisted.logger import Logger
from twisted.protocols.basic import Int32StringReceiver
from twisted.python.failure import Failure

from txregistry.metrics import Figures, Snapshot

#: The worker's file descriptor of its end of the socket pair.
CHANNEL_FD = 3

#: The seconds a worker has to answer before its last figures are used.
ANSWER_TIMEOUT = 2.0


class FiguresServer(Int32StringReceiver):
    """
    The worker's end: answers each request with its figures.
    """

    def __init__(self, snapshot: Callable[[], Snapshot]) -> None:
        """
        @param snapshot: returns the worker's figures.
        """
        self._snapshot = snapshot

    def stringReceived(self, string: bytes) -> None:
        self.sendString(json.dumps(self._snapshot()).encode("utf-8"))


class FiguresClient(Int32StringReceiver):
    """
    The supervisor's end, for one worker: asks for its figures, and keeps
    the last it got.

    @ivar last: the last figures the worker sent, or L{None}.
    """

    MAX_LENGTH = 64 * 1024 * 1024

    def __init__(self, workers: WorkerFigures) -> None:
        self._workers = workers
        self._waiting: deque[Deferred[Snapshot | None]] = deque()
        self.last: Snapshot | None = None

    def connectionMade(self) -> None:
        self._workers.clients.add(self)

    def ask(self) -> Deferred[Snapshot | None]:
        """
        @return: the worker's figures, or its last ones (L{None} if none)
            if it does not answer in L{ANSWER_TIMEOUT} seconds.
        """
        answer: Deferred[Snapshot | None] = Deferred()
        self._waiting.append(answer)
        self.sendString(b"")
        answer.addTimeout(ANSWER_TIMEOUT, self._workers.clock)

        def failed(failure: Failure) -> Snapshot | None:
            self._workers.log.warn("a worker did not send its metrics: {error}",
                                   error=failure.value)
            return self.last

        return answer.addErrback(failed)

    def stringReceived(self, string: bytes) -> None:
        self.last = json.loads(string)
        while self._waiting:
            answer = self._waiting.popleft()
            if not answer.called:  # else timed out
                answer.callback(self.last)
                return

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._workers.clients.discard(self)
        if self.last is not None:
            self._workers.gone.add(self.last, gauges=False)
        while self._waiting:
            answer = self._waiting.popleft()
            if not answer.called:
                answer.errback(reason)


class WorkerFigures(Factory):
    """
    In the supervisor: the factory of L{FiguresClient}s (one per worker
    spawned, see L{txregistry.workers.ProcessSpawner}), and the gathering
    of their figures.

    @ivar clients: the workers connected.
    @ivar gone: the counters of the workers that ended.
    """

    log = Logger()

    def __init__(self, clock: Any) -> None:
        """
        @param clock: times out a worker that does not answer.
        """
        self.clock = clock
        self.clients: set[FiguresClient] = set()
        self.gone = Figures()

    def buildProtocol(self, addr: Any) -> FiguresClient:
        return FiguresClient(self)

    def gather(self) -> Deferred[list[Snapshot]]:
        """
        @return: the figures of every worker running (or its last ones),
            and those of the workers gone.
        """
        asked = [client.ask() for client in list(self.clients)]

        def known(snapshots: list[Snapshot | None]) -> list[Snapshot]:
            return [self.gone.snapshot()] + [s for s in snapshots if s is not None]

        return gatherResults(asked).addCallback(known)


class _Serving(Factory):
    """
    Builds the worker's L{FiguresServer}.
    """

    def __init__(self, snapshot: Callable[[], Snapshot]) -> None:
        self._snapshot = snapshot

    def buildProtocol(self, addr: Any) -> FiguresServer:
        return FiguresServer(self._snapshot)


class FiguresService(Service):
    """
    In a worker: serves its figures on L{CHANNEL_FD} while running.
    """

    log = Logger()

    def __init__(self, snapshot: Callable[[], Snapshot], reactor: Any,
                 fd: int = CHANNEL_FD) -> None:
        """
        @param snapshot: returns the worker's figures.
        @param reactor: an C{IReactorSocket}.
        @param fd: the worker's end of the socket pair (closed once
            adopted).
        """
        self._snapshot = snapshot
        self._reactor = reactor
        self._fd = fd

    def startService(self) -> None:
        super().startService()
        try:
            self._reactor.adoptStreamConnection(self._fd, socket.AF_UNIX,
                                                _Serving(self._snapshot))
        except OSError:
            self.log.failure("cannot serve this worker's metrics on fd {fd}", fd=self._fd)
            return
        os.close(self._fd)

