"""
Tests for L{txregistry.logging}: values from requests cannot forge log lines;
the formatters write distribution's shapes with the static fields on every
line.
"""

from __future__ import annotations

import io
import json

import pytest
from twisted.logger import Logger

from txregistry.logging import loggable, makeObserver


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
