"""
Tests for L{txregistry.logging}: values from requests cannot forge log lines;
the formatters write distribution's shapes with the static fields on every
line.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from twisted.internet.defer import Deferred
from twisted.logger import Logger

from txregistry.logging import eventFields, loggable, makeObserver, runWithFields


@pytest.mark.parametrize(("value", "logged"), [
    ("alice", "alice"),
    ("caf\u00e9 \u65e5\u672c", "caf\u00e9 \u65e5\u672c"),
    ("eve\r\nINFO forged line", "eve\\r\\nINFO forged line"),
    ("\x00\x07\t\x1b[31mred\x7f", "\\x00\\x07\\t\\x1b[31mred\\x7f"),
    ("\x85next\u2028line\u2029para", "\\x85next\\u2028line\\u2029para"),
    ("\u202egnp.exe", "\\u202egnp.exe"),
    ("back\\slash\\n", "back\\\\slash\\\\n"),
    (b"GET", "GET"),
    (b"/v2/a\r\nb\xff", "/v2/a\\r\\nb\\xff"),
    (b"\\xff\xff", "\\\\xff\\xff"),
    (b"caf\xc3\xa9", "caf\u00e9"),
])
def test_loggable(value: str | bytes, logged: str) -> None:
    """Controls, separators and invisible characters are escaped as repr does; backslashes doubled."""
    assert loggable(value) == logged


@pytest.mark.parametrize("value", [
    "".join(map(chr, range(0x00, 0xa0))), bytes(range(256)), "\\\r\n\\\\n",
])
def test_oneLine(value: str | bytes) -> None:
    """Whatever the value, the result is one printable line."""
    text = loggable(value)
    assert text.isprintable() and len(text.splitlines()) == 1


def test_textFields() -> None:
    """A text line ends with the static fields as sorted key=value pairs, quoted when needed."""
    stream = io.StringIO()
    observer = makeObserver(stream, "info", "text", {"service": "registry", "b": "x y"})
    Logger(namespace="test", observer=observer).info("hello {x}", x=1)
    [line] = stream.getvalue().splitlines()
    assert line.endswith('[test#info] hello 1 b="x y" service=registry')


def test_logstash() -> None:
    """A logstash line has @timestamp, @version "1", level, message and the static fields."""
    stream = io.StringIO()
    observer = makeObserver(stream, "info", "logstash", {"service": "registry"})
    Logger(namespace="test", observer=observer).warn("hello {x}", x=1)
    record = json.loads(stream.getvalue())
    assert record["@version"] == "1" and record["@timestamp"]
    assert record["message"] == "hello 1" and record["level"] == "warning"
    assert record["service"] == "registry" and "msg" not in record and "time" not in record


def test_requestFieldsOnEveryLine() -> None:
    """
    A line logged in L{runWithFields}, or later by a coroutine started
    there and resumed from elsewhere, carries the fields; the event's own
    win; a line logged outside carries none.
    """
    stream = io.StringIO()
    log = Logger(namespace="test", observer=makeObserver(stream, "info", "json", {}))
    arrived: Deferred[None] = Deferred()

    async def handle() -> None:
        log.warn("before")
        await arrived
        log.error("after", fields={"vars.name": "own"})

    started = runWithFields(lambda: {"http.request.id": "r1", "vars.name": "a"},
                            lambda: Deferred.fromCoroutine(handle()))
    log.info("elsewhere")
    arrived.callback(None)
    assert started.called
    before, elsewhere, after = (json.loads(line) for line in stream.getvalue().splitlines())
    assert (before["http.request.id"], before["vars.name"]) == ("r1", "a")
    assert "http.request.id" not in elsewhere
    assert (after["http.request.id"], after["vars.name"]) == ("r1", "own")


def test_fieldsAskedWhenLogged() -> None:
    """The fields are asked for each line, so a value set on the way (a user) shows from then on."""
    current = {"http.request.id": "r2"}
    seen: list[dict[str, Any]] = []

    def handle() -> None:
        seen.append(eventFields({}))
        current["auth.user.name"] = "alice"
        seen.append(eventFields({}))

    runWithFields(lambda: current, handle)
    assert seen == [{"http.request.id": "r2"},
                    {"http.request.id": "r2", "auth.user.name": "alice"}]
