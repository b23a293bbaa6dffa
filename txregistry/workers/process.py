"""
The worker side: C{python -m txregistry.workers --worker N} reads its
L{WorkerSpec} on standard input, serves until its supervisor closes that
pipe (or sends C{SIGTERM}), and logs to standard output for the supervisor.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import IO, Any

from twisted.internet.interfaces import IReadDescriptor
from twisted.internet.main import CONNECTION_DONE
from twisted.logger import (
    FilteringLogObserver,
    Logger,
    LogLevel,
    LogLevelFilterPredicate,
    globalLogBeginner,
)
from twisted.python.failure import Failure
from zope.interface import implementer

from txregistry.logging import LEVELS
from txregistry.workers.logrelay import RelayObserver
from txregistry.workers.spec import WorkerSpec, readSpec

log = Logger()


@implementer(IReadDescriptor)
class EndOfFileWatcher:
    """
    Calls a function when a pipe reaches its end: the supervisor holds the
    other end of a worker's standard input, and the kernel closes it when
    the supervisor exits, however it dies.

    The reactor also disconnects its readers when it stops, so the function
    is called then too: it must do nothing once the reactor is stopping.
    """

    def __init__(self, fd: int, onEnd: Callable[[], object]) -> None:
        """
        @param fd: the pipe's read end.
        @param onEnd: called once, from the reactor, at its end.
        """
        self._fd = fd
        self._onEnd = onEnd

    def fileno(self) -> int:
        return self._fd

    def logPrefix(self) -> str:
        return "supervisor-pipe"

    def doRead(self) -> Any:
        try:
            data = os.read(self._fd, 4096)
        except BlockingIOError:
            return None
        except OSError:
            data = b""
        return None if data else CONNECTION_DONE

    def connectionLost(self, reason: Failure) -> None:
        self._onEnd()


def parseArguments(argv: Sequence[str]) -> argparse.Namespace:
    """
    @param argv: the command line arguments, without the program name.
    @return: C{worker}, the worker's number (informative: the
        specification read on standard input is authoritative).
    """
    parser = argparse.ArgumentParser(
        prog="python -m txregistry.workers",
        description="A txregistry worker process, started by its supervisor "
        "(http.workers): not meant to be run by hand.",
    )
    parser.add_argument("--worker", type=int, required=True)
    return parser.parse_args(argv)


def startLogging(spec: WorkerSpec, stream: IO[str]) -> None:
    """
    Send this process's log events to the supervisor, as C{log.level} asks.
    """
    level = LEVELS.get(spec.config.log.level, LogLevel.info)
    observer = FilteringLogObserver(
        RelayObserver(stream), [LogLevelFilterPredicate(defaultLogLevel=level)]
    )
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=True)


def serve(spec: WorkerSpec, stdinFD: int, reactor: Any) -> int:
    """
    Serve as worker C{spec.index} until the supervisor's pipe ends or the
    reactor is stopped (C{SIGTERM}).

    @return: the process's exit status: 0, or 1 if the service could not
        start (the supervisor starts the worker again later).
    """
    status = [0]
    top = spec.makeService(spec, reactor)

    def start() -> None:
        # ^C in a terminal reaches the whole process group: let the
        # supervisor decide when its workers stop.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            top.startService()
        except Exception:
            log.failure("worker {index} cannot start", index=spec.index)
            status[0] = 1
            reactor.stop()
            return
        reactor.addSystemEventTrigger("before", "shutdown", top.stopService)
        log.info(
            "worker {index} of {count} (pid {pid}) serving on ports {ports}",
            index=spec.index, count=spec.count, pid=os.getpid(), ports=spec.ports,
        )

    stopping: list[bool] = []

    def supervisorGone() -> None:
        if stopping:
            return  # the reactor disconnects its readers as it stops
        log.info("worker {index}: the supervisor is gone; stopping", index=spec.index)
        reactor.stop()

    reactor.addSystemEventTrigger("before", "shutdown", stopping.append, True)

    reactor.addReader(EndOfFileWatcher(stdinFD, supervisorGone))
    reactor.callWhenRunning(start)
    reactor.run()
    return status[0]


def main(argv: Sequence[str] | None = None) -> int:
    """
    The worker's entry point.

    @return: its exit status.
    """
    arguments = parseArguments(sys.argv[1:] if argv is None else argv)
    stdinFD = sys.stdin.fileno()
    try:
        spec = readSpec(stdinFD)
    except (EOFError, ValueError) as e:
        sys.stderr.write(f"worker {arguments.worker}: no specification: {e}\n")
        return 2
    stdout = sys.stdout
    startLogging(spec, stdout)
    from twisted.internet import reactor

    return serve(spec, stdinFD, reactor)
