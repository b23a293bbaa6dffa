"""
Tests for L{txregistry.config.units}.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from txregistry.config.units import format_duration, parse_duration, parse_size

DURATIONS = [
    ("0", timedelta(0)),
    (0, timedelta(0)),
    ("168h", timedelta(hours=168)),
    ("24h", timedelta(days=1)),
    ("10s", timedelta(seconds=10)),
    ("1h30m", timedelta(hours=1, minutes=30)),
    ("2h10m5s", timedelta(hours=2, minutes=10, seconds=5)),
    ("500ms", timedelta(milliseconds=500)),
    ("1.5s", timedelta(seconds=1.5)),
    (".5m", timedelta(seconds=30)),
    ("1.m", timedelta(minutes=1)),
    ("250us", timedelta(microseconds=250)),
    ("250\u00b5s", timedelta(microseconds=250)),
    ("250\u03bcs", timedelta(microseconds=250)),
    ("1500ns", timedelta(microseconds=2)),
    ("3000s", timedelta(seconds=3000)),
    ("+5m", timedelta(minutes=5)),
    (timedelta(seconds=7), timedelta(seconds=7)),
]

BAD_DURATIONS = [
    "",
    "10",
    "ten",
    "10 s",
    "10sec",
    "1d",
    "h",
    "1h30",
    "-5s",
    "5s-",
    60,
    True,
    1.5,
    None,
    [],
    timedelta(seconds=-1),
]

SIZES = [
    (0, 0),
    (1234, 1234),
    ("1234", 1234),
    ("100b", 100),
    ("1k", 1024),
    ("1K", 1024),
    ("1kb", 1024),
    ("1KiB", 1024),
    ("512M", 512 * 1024**2),
    ("512MB", 512 * 1024**2),
    ("5MiB", 5 * 1024**2),
    ("1g", 1024**3),
    ("1.5G", 3 * 512 * 1024**2),
    ("2 GiB", 2 * 1024**3),
    ("1t", 1024**4),
    ("1P", 1024**5),
]

BAD_SIZES = [
    "",
    "M",
    "1x",
    "1mbb",
    "ten",
    "-1",
    -1,
    "1ib",
    "0.5b",
    "1.1k",
    True,
    1.5,
    None,
]


@pytest.mark.parametrize("text, expected", DURATIONS)
def test_duration(text: object, expected: timedelta) -> None:
    """parse_duration reads Go-style durations, rounding to microseconds."""
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", BAD_DURATIONS)
def test_bad_duration(text: object) -> None:
    """parse_duration refuses malformed, negative and unit-less durations."""
    with pytest.raises(ValueError, match="duration|negative"):
        parse_duration(text)


def test_bare_number_duration_explains() -> None:
    """A bare number is refused with a hint to add a unit."""
    with pytest.raises(ValueError, match=r"unit such as '60s'.*nanoseconds"):
        parse_duration(60)


@pytest.mark.parametrize("text, expected", SIZES)
def test_size(text: object, expected: int) -> None:
    """parse_size reads bytes and binary (1024-based) units, case-insensitively."""
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", BAD_SIZES)
def test_bad_size(text: object) -> None:
    """parse_size refuses malformed, negative and fractional-byte sizes."""
    with pytest.raises(ValueError):
        parse_size(text)


@pytest.mark.parametrize("duration, text", [
    (timedelta(hours=168), "168h"),
    (timedelta(days=1), "24h"),
    (timedelta(hours=1, minutes=30), "1h30m"),
    (timedelta(hours=2, minutes=10, seconds=5), "2h10m5s"),
    (timedelta(minutes=1, seconds=30), "1m30s"),
    (timedelta(seconds=1.5), "1.5s"),
    (timedelta(milliseconds=500), "500ms"),
    (timedelta(microseconds=250), "250us"),
    (timedelta(0), "0s"),
])
def test_formatDuration(duration: timedelta, text: str) -> None:
    """A duration is written as config.yml writes it, not as timedelta's str."""
    assert format_duration(duration) == text


@given(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=10_000)))
def test_formatDurationParsesBack(duration: timedelta) -> None:
    """What format_duration writes, parse_duration reads back unchanged."""
    assert parse_duration(format_duration(duration)) == duration
