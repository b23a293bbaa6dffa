"""
The supervisor of the worker processes: spawns them, restarts those that
die, stops them all.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred
from twisted.internet.error import ProcessDone, ProcessExitedAlready
from twisted.internet.interfaces import IProtocolFactory
from twisted.internet.protocol import ProcessProtocol
from twisted.logger import ILogObserver, Logger, globalLogPublisher
from twisted.python.failure import Failure

from txregistry.workers.figures import CHANNEL_FD
from txregistry.workers.logrelay import LineRelay

#: The directory holding the C{txregistry} package, put first on a
#: worker's C{PYTHONPATH} so that it runs the supervisor's code.
CODE_ROOT = str(Path(__file__).resolve().parent.parent.parent)


class WorkerProtocol(ProcessProtocol):
    """
    The supervisor's end of one worker process: writes the worker's
    specification on its standard input (and keeps it open: the worker
    stops at its end), relays its output to the log, and reports its end.

    @ivar index: the worker's number.
    """

    def __init__(
        self,
        index: int,
        payload: bytes,
        relay: LineRelay,
        ended: Callable[[WorkerProtocol, Failure], None],
    ) -> None:
        """
        @param index: the worker's number.
        @param payload: written to the worker's standard input at start.
        @param relay: logs what the worker writes.
        @param ended: called with this protocol and the reason once the
            process has ended.
        """
        self.index = index
        self._payload = payload
        self._relay = relay
        self._ended = ended

    @property
    def pid(self) -> int | None:
        """
        @return: the worker's process id, or L{None} once it has ended.
        """
        return getattr(self.transport, "pid", None)

    def connectionMade(self) -> None:
        self.transport.write(self._payload)  # type: ignore[union-attr]

    def childDataReceived(self, childFD: int, data: bytes) -> None:
        self._relay.dataReceived(childFD, data)

    def processEnded(self, reason: Failure) -> None:  # type: ignore[override]
        self._relay.flush()
        self._ended(self, reason)

    def signal(self, name: str) -> bool:
        """
        Send a signal to the worker if it is still running.

        @param name: C{TERM}, C{KILL}, C{HUP}...
        @return: whether it was sent.
        """
        try:
            self.transport.signalProcess(name)  # type: ignore[union-attr]
        except (ProcessExitedAlready, OSError):
            return False
        return True


class ProcessSpawner:
    """
    Spawns a worker: C{python -m txregistry.workers} with the supervisor's
    Python, environment and working directory, its standard input, output
    and error on pipes to the supervisor, and, with a C{channel}, a Unix
    socket to the supervisor as its file descriptor
    L{txregistry.workers.figures.CHANNEL_FD}.
    """

    def __init__(
        self,
        reactor: Any,
        executable: str = sys.executable,
        environ: dict[str, str] | None = None,
        channel: IProtocolFactory | None = None,
    ) -> None:
        """
        @param reactor: an C{IReactorProcess} and C{IReactorSocket}.
        @param executable: the Python to run.
        @param environ: the environment; the supervisor's by default.
        @param channel: builds the supervisor's end of each worker's socket
            (L{txregistry.workers.figures.WorkerFigures}); or L{None} for
            no socket.
        """
        self._reactor = reactor
        self._executable = executable
        self._environ = dict(os.environ if environ is None else environ)
        self._channel = channel

    def __call__(self, protocol: ProcessProtocol, index: int) -> None:
        """
        Spawn worker C{index}, connected to C{protocol}.
        """
        env = dict(self._environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [CODE_ROOT] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
        )
        argv = [self._executable, "-m", "txregistry.workers", "--worker", str(index)]
        childFDs: dict[int, str | int] = {0: "w", 1: "r", 2: "r"}
        if self._channel is None:
            self._reactor.spawnProcess(protocol, self._executable, argv, env=env,
                                       childFDs=childFDs)
            return
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        with ours, theirs:
            childFDs[CHANNEL_FD] = theirs.fileno()
            self._reactor.spawnProcess(protocol, self._executable, argv, env=env,
                                       childFDs=childFDs)
            self._reactor.adoptStreamConnection(ours.fileno(), socket.AF_UNIX, self._channel)


#: The seconds a worker has to exit after C{SIGTERM} (beyond
#: C{http.draintimeout}) before it is killed.
STOP_TIMEOUT = 10.0


class WorkerSupervisor(Service):
    """
    Runs workers 2 to C{count} while running.

    A worker that ends while the supervisor runs is started again after a
    delay that doubles with each consecutive early death (from
    C{restartDelay} to C{maxRestartDelay}); a worker that ran for
    C{stableAfter} seconds starts the count again.  Stopping sends
    C{SIGTERM} to every worker, then C{SIGKILL} to those still running
    after C{stopTimeout} seconds; L{stopService}'s L{Deferred} fires once
    all have ended.
    """

    log = Logger()

    def __init__(
        self,
        count: int,
        payload: Callable[[int], bytes],
        spawn: Callable[[ProcessProtocol, int], None],
        clock: Any,
        observer: ILogObserver = globalLogPublisher,
        stopTimeout: float = STOP_TIMEOUT,
        restartDelay: float = 0.5,
        maxRestartDelay: float = 30.0,
        stableAfter: float = 30.0,
    ) -> None:
        """
        @param count: how many workers serve, this process included.
        @param payload: returns what worker C{i} reads on its standard
            input (L{txregistry.workers.spec.encodeSpec}); called when the
            worker is spawned, so after the listeners are bound.
        @param spawn: starts a process connected to a protocol, for worker
            C{i} (a L{ProcessSpawner}, or a fake in tests).
        @param clock: an C{IReactorTime}.
        @param observer: where the workers' log events go.
        """
        self._count = count
        self._payload = payload
        self._spawn = spawn
        self._clock = clock
        self._observer = observer
        self._stopTimeout = stopTimeout
        self._restartDelay = restartDelay
        self._maxRestartDelay = maxRestartDelay
        self._stableAfter = stableAfter
        self._workers: dict[int, WorkerProtocol] = {}
        self._startedAt: dict[int, float] = {}
        self._failures: dict[int, int] = {}
        self._pendingRestarts: dict[int, Any] = {}
        self._stopped: Deferred[None] | None = None

    @property
    def workers(self) -> dict[int, WorkerProtocol]:
        """
        @return: the running workers by number (a copy).
        """
        return dict(self._workers)

    def startService(self) -> None:
        super().startService()
        self._stopped = None
        self.log.info(
            "worker 1 of {count} is this process (pid {pid}); starting the others",
            count=self._count, pid=os.getpid(),
        )
        for index in range(2, self._count + 1):
            self._start(index)

    def stopService(self) -> Deferred[None]:
        super().stopService()
        for call in self._pendingRestarts.values():
            call.cancel()
        self._pendingRestarts.clear()
        stopped: Deferred[None] = Deferred()
        self._stopped = stopped
        if not self._workers:
            stopped.callback(None)
            return stopped
        for worker in list(self._workers.values()):
            worker.signal("TERM")
        kill = self._clock.callLater(self._stopTimeout, self._kill)

        def cancelKill(result: object) -> object:
            if kill.active():
                kill.cancel()
            return result

        stopped.addBoth(cancelKill)
        return stopped

    def signalAll(self, name: str) -> None:
        """
        Send a signal to every running worker.

        @param name: C{HUP}, C{TERM}...
        """
        for worker in list(self._workers.values()):
            worker.signal(name)

    def _kill(self) -> None:
        for worker in list(self._workers.values()):
            self.log.warn(
                "worker {index} (pid {pid}) did not stop in {timeout}s: killing it",
                index=worker.index, pid=worker.pid, timeout=self._stopTimeout,
            )
            worker.signal("KILL")

    def _start(self, index: int) -> None:
        self._pendingRestarts.pop(index, None)
        relay = LineRelay(index, self._observer, self._clock)
        worker = WorkerProtocol(index, self._payload(index), relay, self._ended)
        self._workers[index] = worker
        self._startedAt[index] = self._clock.seconds()
        try:
            self._spawn(worker, index)
        except Exception:
            self.log.failure("cannot start worker {index}", index=index)
            self._ended(worker, Failure())
            return
        self.log.info("started worker {index} (pid {pid})", index=index, pid=worker.pid)

    def _ended(self, worker: WorkerProtocol, reason: Failure) -> None:
        index = worker.index
        if self._workers.get(index) is not worker:
            return
        del self._workers[index]
        if not self.running:
            if not self._workers and self._stopped is not None:
                self._stopped.callback(None)
            return
        lived = self._clock.seconds() - self._startedAt.get(index, 0.0)
        failures = 0 if lived >= self._stableAfter else self._failures.get(index, 0)
        delay = min(self._maxRestartDelay, self._restartDelay * 2**failures)
        self._failures[index] = failures + 1
        how = "exited" if reason.check(ProcessDone) else str(reason.value)
        self.log.error(
            "worker {index} ended unexpectedly ({how}); restarting it in {delay}s",
            index=index, how=how, delay=delay,
        )
        self._pendingRestarts[index] = self._clock.callLater(delay, self._start, index)
