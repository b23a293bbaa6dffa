"""
A worker's log events, carried to its supervisor as JSON lines on the
worker's standard output and logged there with the worker's number, with
their fields (a request's id, client, repository, user: see
L{txregistry.logging.eventFields}) for the supervisor's JSON lines.
"""

from __future__ import annotations

import json
from typing import IO, Any

from twisted.logger import (
    ILogObserver,
    InvalidLogLevelError,
    LogEvent,
    LogLevel,
    formatEvent,
)
from twisted.python.failure import Failure
from zope.interface import implementer

from txregistry.jsonparse import parseJSON
from txregistry.logging import eventFields


@implementer(ILogObserver)
class RelayObserver:
    """
    In a worker: writes each event as one JSON line (C{time}, C{level},
    C{namespace}, C{system}, C{text}, and C{fields} if it has any) for
    L{LineRelay}.
    """

    def __init__(self, stream: IO[str]) -> None:
        """
        @param stream: the worker's standard output.
        """
        self._stream = stream

    def __call__(self, event: LogEvent) -> None:
        text = formatEvent(event)
        failure = event.get("log_failure")
        if isinstance(failure, Failure):
            text = f"{text}\n{failure.getTraceback()}".lstrip("\n")
        record = {
            "time": event.get("log_time"),
            "level": event.get("log_level", LogLevel.info).name,
            "namespace": event.get("log_namespace"),
            "system": event.get("log_system"),
            "text": text,
        }
        fields = eventFields(event)
        if fields:
            record["fields"] = fields
        try:
            self._stream.write(json.dumps(record, default=repr) + "\n")
            self._stream.flush()
        except OSError:
            pass  # the supervisor is gone; the stdin watcher stops us


class LineRelay:
    """
    In the supervisor: turns what one worker writes into log events.

    Lines of L{RelayObserver} keep their time, level, namespace and fields; any
    other line (a crash before logging started) is logged as it is, at
    C{error} level from standard error and C{info} from standard output.
    Every event's C{log_system} names the worker, before its own system
    (or C{namespace#level}, as twistd shows events without one), and so
    does its C{worker} field (for JSON lines).
    """

    def __init__(self, index: int, observer: ILogObserver, clock: Any) -> None:
        """
        @param index: the worker's number.
        @param observer: where events go (C{globalLogPublisher}).
        @param clock: an C{IReactorTime} stamping lines that carry no time.
        """
        self._index = index
        self._observer = observer
        self._clock = clock
        self._buffers: dict[int, bytes] = {}

    def dataReceived(self, fd: int, data: bytes) -> None:
        """
        Log the complete lines of C{data}, keeping an incomplete last line.

        @param fd: 1 or 2: the worker's standard output or error.
        @param data: bytes it wrote.
        """
        lines = (self._buffers.pop(fd, b"") + data).split(b"\n")
        if lines[-1]:
            self._buffers[fd] = lines[-1]
        for line in lines[:-1]:
            if line.strip():
                self.lineReceived(fd, line.decode("utf-8", "replace"))

    def flush(self) -> None:
        """
        Log incomplete last lines (the worker has exited).
        """
        buffers, self._buffers = self._buffers, {}
        for fd, line in sorted(buffers.items()):
            self.lineReceived(fd, line.decode("utf-8", "replace"))

    def lineReceived(self, fd: int, line: str) -> None:
        """
        Log one line of the worker.
        """
        record = _parse(line)
        if record is None:
            level = LogLevel.error if fd == 2 else LogLevel.info
            record = {"text": line, "level": level}
        level = record["level"]
        namespace = record.get("namespace") or "txregistry.workers"
        system = record.get("system") or f"{namespace}#{level.name}"
        event = {
            "log_time": record.get("time") or self._clock.seconds(),
            "log_level": level,
            "log_namespace": namespace,
            "log_system": f"worker {self._index}, {system}",
            "log_format": "{worker_text}",
            "worker_text": record["text"],
            "worker": self._index,
        }
        fields = record.get("fields")
        event["fields"] = {**(fields if isinstance(fields, dict) else {}),
                           "worker": str(self._index)}
        self._observer(event)


def _parse(line: str) -> dict[str, Any] | None:
    """
    @return: the fields of a L{RelayObserver} line, its level a
        L{LogLevel}; or L{None} if C{line} is not one.
    """
    if not line.startswith("{"):
        return None
    try:
        record = parseJSON(line)
        record["level"] = LogLevel.levelWithName(record["level"])
    except (ValueError, KeyError, TypeError, AttributeError, InvalidLogLevelError):
        return None
    if not isinstance(record.get("text"), str):
        return None
    return dict(record)
