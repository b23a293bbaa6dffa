"""
Logging as the configuration's C{log} section asks: C{log.level} filters
events, C{log.formatter} picks text, JSON lines (one object per line, with
distribution's C{time}, C{level} and C{msg} keys) or logstash's JSON lines
(C{@timestamp}, C{@version}, C{level}, C{message}), and C{log.fields} are
added to every line (C{key=value} at the end of a text line).

Under twistd, L{observerFactory} is handed to twistd as its C{--logger}, so
twistd still decides nothing else: it starts logging before it daemonises,
and C{--logfile} / C{--nodaemon} choose where lines go as usual.

Every value a log line takes from a request (a user name, a path, a header)
goes through L{loggable} first, so that a client cannot forge log lines.

Lines logged while a request is handled carry its fields (its id, client,
repository, user; see L{txregistry.http.accesslog}): the request runs its
handling through L{runWithFields}, and the JSON observers add
L{eventFields} to each line.  The fields live in a C{contextvars} variable,
which Twisted carries into the coroutines and C{inlineCallbacks} started
while it is set, whatever thread or callback later resumes them.
"""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Callable, Mapping
from contextvars import ContextVar, copy_context
from datetime import UTC, datetime
from typing import IO, Any

from twisted.logger import (
    FileLogObserver,
    FilteringLogObserver,
    ILogObserver,
    LogEvent,
    LogLevel,
    LogLevelFilterPredicate,
    formatEvent,
    formatEventAsClassicLogText,
)
from twisted.python.failure import Failure
from twisted.python.logfile import LogFile
from zope.interface import implementer


def loggable(value: str | bytes) -> str:
    r"""
    Make a value taken from a request safe to put in a log line: control
    characters (C0, DEL, C1), line and paragraph separators and other
    characters that do not print are escaped as C{repr} escapes them
    (C{\r}, C{\n}, C{\x1b}, C{\u2028}), and backslashes are doubled, so
    a value can neither end a line nor pass for another.

    @param value: text, or bytes (read as UTF-8, an undecodable byte
        written as C{\xNN}).
    @return: printable text.
    """
    if isinstance(value, bytes):
        value = value.replace(b"\\", b"\\\\").decode("utf-8", "backslashreplace")
    else:
        value = value.replace("\\", "\\\\")
    if value.isprintable():
        return value
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in value)


#: What gives the fields of the request being handled, if one is.
_requestFields: ContextVar[Callable[[], Mapping[str, str]] | None] = ContextVar(
    "txregistry.logging.requestFields", default=None)


def runWithFields(fields: Callable[[], Mapping[str, str]], f: Callable[[], Any]) -> Any:
    """
    Call C{f} in a copy of the current context in which every event logged
    (by C{f}, and by the coroutines it starts, until they end) carries
    C{fields()}, as L{eventFields} gives them.

    @param fields: gives the fields; called for each line logged, so that
        they may change on the way (a user once authenticated).
    @param f: what to call.
    @return: what C{f} returns.
    """

    def run() -> Any:
        _requestFields.set(fields)
        return f()

    return copy_context().run(run)


def eventFields(event: LogEvent) -> dict[str, Any]:
    """
    @param event: an event, being logged (observers are called where it is
        logged).
    @return: the fields of the request being handled (see L{runWithFields}),
        updated with the event's own C{fields}.
    """
    current = _requestFields.get()
    fields: dict[str, Any] = dict(current()) if current is not None else {}
    own = event.get("fields")
    if isinstance(own, Mapping):
        fields.update(own)
    return fields


#: distribution's level names, as in C{log.level}.
LEVELS = {
    "debug": LogLevel.debug,
    "info": LogLevel.info,
    "warn": LogLevel.warn,
    "error": LogLevel.error,
}

_LEVEL_NAMES = {
    LogLevel.debug: "debug",
    LogLevel.info: "info",
    LogLevel.warn: "warning",
    LogLevel.error: "error",
    LogLevel.critical: "fatal",
}


@implementer(ILogObserver)
class JSONLineObserver:
    """
    Writes each event as one JSON object on one line, shaped like
    distribution's (logrus) JSON logs: C{time}, C{level}, C{msg}, the
    configured static fields, the fields of the request being handled and
    the event's own C{fields} (see L{eventFields}), C{namespace}, and C{error} for failures; or,
    with L{LOGSTASH} keys, like its C{logstash} formatter: C{@timestamp},
    C{@version} C{"1"}, C{message} and C{level}.
    """

    def __init__(
        self,
        stream: IO[str],
        fields: Mapping[str, str],
        keys: tuple[str, str] = ("time", "msg"),
        extra: Mapping[str, str] | None = None,
    ) -> None:
        """
        @param stream: a text stream to write lines to.
        @param fields: static fields added to every line.
        @param keys: the keys of the time and of the message.
        @param extra: keys every line has, whatever the fields say.
        """
        self.stream = stream
        self.fields = dict(fields)
        self.timeKey, self.messageKey = keys
        self.extra = dict(extra or {})

    def __call__(self, event: LogEvent) -> None:
        level = event.get("log_level", LogLevel.info)
        record: dict[str, Any] = dict(self.fields)
        record.update(eventFields(event))
        record.update(self.extra)
        record[self.timeKey] = datetime.fromtimestamp(
            event.get("log_time") or 0, UTC
        ).isoformat()
        record["level"] = _LEVEL_NAMES.get(level, "info")
        message = formatEvent(event)
        if not message and "log_io" in event:
            message = str(event["log_io"])
        record[self.messageKey] = message
        if event.get("log_namespace"):
            record["namespace"] = event["log_namespace"]
        failure = event.get("log_failure")
        if isinstance(failure, Failure):
            record["error"] = failure.getTraceback()
        self.stream.write(json.dumps(record, default=repr) + "\n")
        self.stream.flush()


def _textValue(value: str) -> str:
    """
    @return: C{value} as logrus's text formatter writes a field's value:
        bare, or quoted when empty or holding a space, C{=} or a quote.
    """
    value = loggable(value)
    if not value or any(c in value for c in ' ="'):
        return json.dumps(value)
    return value


def textFormatter(fields: Mapping[str, str]) -> Callable[[LogEvent], str | None]:
    """
    Twisted's text lines with the static fields appended as logrus's text
    formatter appends them: C{ key=value}, sorted by key.

    @param fields: static fields added to every line.
    @return: an event formatter for L{FileLogObserver}.
    """
    suffix = "".join(
        f" {loggable(key)}={_textValue(value)}" for key, value in sorted(fields.items())
    )

    def format(event: LogEvent) -> str | None:
        text = formatEventAsClassicLogText(event)
        if text is None or not suffix:
            return text
        return text[:-1] + suffix + "\n"

    return format


def makeObserver(
    stream: IO[str], level: str, formatter: str, fields: Mapping[str, str]
) -> ILogObserver:
    """
    Build the observer the C{log} section describes.

    @param stream: where lines go.
    @param level: C{debug}, C{info}, C{warn} or C{error}.
    @param formatter: C{text}, C{json} or C{logstash}.
    @param fields: static fields for every line.
    @return: an L{ILogObserver} dropping events below C{level}.
    """
    sink: ILogObserver
    if formatter == "json":
        sink = JSONLineObserver(stream, fields)
    elif formatter == "logstash":
        sink = JSONLineObserver(
            stream, fields, ("@timestamp", "message"), {"@version": "1"}
        )
    else:
        sink = FileLogObserver(stream, textFormatter(fields))
    predicate = LogLevelFilterPredicate(
        defaultLogLevel=LEVELS.get(level, LogLevel.info)
    )
    return FilteringLogObserver(sink, [predicate])


def _openLogFile(logfile: str | None, nodaemon: bool) -> IO[str]:
    """
    Choose the stream twistd itself would log to.

    @param logfile: twistd's C{--logfile} (C{-} for standard output).
    @param nodaemon: twistd's C{--nodaemon}.
    @return: a text stream.
    """
    if logfile == "-" or (not logfile and nodaemon):
        return sys.stdout
    logFile = LogFile.fromFullPath(logfile or "twistd.log")
    rotateOnSIGUSR1(logFile)
    return logFile  # type: ignore[return-value]


def rotateOnSIGUSR1(logFile: LogFile) -> None:
    """
    Rotate C{logFile} on SIGUSR1, as twistd does for the log file of its own
    observer (which a C{--logger} replaces), unless a handler is set already.

    @param logFile: the file lines go to.
    """
    if signal.getsignal(signal.SIGUSR1) not in (None, signal.SIG_DFL):
        return

    def rotate(signum: int, frame: object) -> None:
        from twisted.internet import reactor

        reactor.callFromThread(logFile.rotate)  # type: ignore[attr-defined]

    signal.signal(signal.SIGUSR1, rotate)


def observerFactory(
    config: Any, serverOptions: Mapping[str, Any]
) -> Callable[[], ILogObserver]:
    """
    Make a twistd C{--logger} factory honouring C{config.log}.

    @param config: the L{txregistry.config.Configuration}.
    @param serverOptions: twistd's options (C{logfile}, C{nodaemon}).
    @return: a callable taking no argument and returning the observer.
    """

    def factory() -> ILogObserver:
        stream = _openLogFile(
            serverOptions.get("logfile"), bool(serverOptions.get("nodaemon"))
        )
        return makeObserver(
            stream, config.log.level, config.log.formatter, config.log.fields
        )

    return factory


#: The factory L{twistdLogger} calls; set by L{installForTwistd}.  twistd
#: takes its C{--logger} as a dotted name to import, so the factory of this
#: run must be reachable by name: one per process, set once at start.
_twistdFactory: Callable[[], ILogObserver] | None = None


def twistdLogger() -> ILogObserver:
    """
    twistd's C{--logger} when the configuration asks for other logging.

    @return: the observer L{installForTwistd} prepared.
    """
    assert _twistdFactory is not None, "installForTwistd was not called"
    return _twistdFactory()


def installForTwistd(config: Any, twistdOptions: Any) -> bool:
    """
    Make twistd log as C{config.log} asks, if that is not twistd's default
    and neither C{--logger} nor C{--syslog} was given.

    @param config: the L{txregistry.config.Configuration}.
    @param twistdOptions: twistd's C{ServerOptions}, not yet post-processed
        (its C{logger} is still a dotted name).
    @return: whether twistd's logger was replaced.
    """
    global _twistdFactory
    if twistdOptions.get("logger") or twistdOptions.get("syslog"):
        return False
    if not needsObserver(config):
        return False
    _twistdFactory = observerFactory(config, twistdOptions)
    twistdOptions["logger"] = f"{__name__}.{twistdLogger.__name__}"
    return True


def needsObserver(config: Any) -> bool:
    """
    @return: whether C{config.log} asks for more than twistd's default
        logging (text, level C{info}, no fields).
    """
    log = config.log
    return log.level != "info" or log.formatter != "text" or bool(log.fields)
