"""
Go-style durations and human-readable sizes, as found in C{config.yml}, and
durations written back that way for log lines.

Both parsers raise L{ValueError} with a message that does not name a key;
the caller adds the key's path.
"""

from __future__ import annotations

import re
from datetime import timedelta
from fractions import Fraction

_DURATION_UNITS_NS = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,  # micro sign
    "\u03bcs": 1_000,  # Greek mu
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
}

_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
_UNIT = r"(?:ns|us|\u00b5s|\u03bcs|ms|s|m|h)"
_DURATION = re.compile(rf"(?:{_NUMBER}{_UNIT})+")
_DURATION_PART = re.compile(rf"({_NUMBER})({_UNIT})")

_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b)?", re.IGNORECASE)
_SIZE_POWERS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5}


def parse_duration(value: object) -> timedelta:
    """
    Parse a duration written the way Go's C{time.ParseDuration} reads it.

    A duration is a sequence of decimal numbers, each with an optional
    fraction and a unit (C{ns}, C{us}/C{µs}, C{ms}, C{s}, C{m}, C{h}), as in
    C{168h}, C{1h30m}, C{1.5s} or C{500ms}; a bare C{0} is zero.  The result
    is rounded to whole microseconds, the resolution of L{timedelta}.

    Unlike distribution, a non-zero number without a unit is refused: Go
    reads it as nanoseconds, which is almost never what the author meant.
    Negative durations are refused too: no setting of the registry takes one.

    @param value: a L{str}, the integer C{0}, or a L{timedelta} (returned as
        is).
    @return: the duration.
    @raise ValueError: if C{value} is not a duration.
    """
    if isinstance(value, timedelta):
        if value < timedelta(0):
            raise ValueError(f"must not be negative, got {value}")
        return value
    if isinstance(value, bool):
        raise ValueError(f"must be a duration such as '10s' or '1h30m', got {value!r}")
    if isinstance(value, int):
        if value == 0:
            return timedelta(0)
        raise ValueError(
            f"must be a duration with a unit such as '{value}s', got the bare "
            f"number {value} (distribution would read it as nanoseconds)"
        )
    if not isinstance(value, str):
        raise ValueError(f"must be a duration such as '10s' or '1h30m', got {value!r}")
    text = value.strip()
    if text in ("0", "+0", "-0"):
        return timedelta(0)
    if text.startswith("-"):
        raise ValueError(f"must not be negative, got {value!r}")
    if text.startswith("+"):
        text = text[1:]
    if not _DURATION.fullmatch(text):
        raise ValueError(f"must be a duration such as '10s' or '1h30m', got {value!r}")
    nanoseconds = sum(
        Fraction(number if not number.endswith(".") else number[:-1] or "0")
        * _DURATION_UNITS_NS[unit]
        for number, unit in _DURATION_PART.findall(text)
    )
    return timedelta(microseconds=round(nanoseconds / 1000))


def format_duration(duration: timedelta) -> str:
    """
    Write a duration the way C{config.yml} does, the inverse of
    L{parse_duration}: C{168h}, C{1h30m}, C{90s}... C{2m30s}, C{1.5s},
    C{500ms}, C{0s}.

    @param duration: a non-negative duration.
    @return: its text, which L{parse_duration} reads back to C{duration}.
    """
    microseconds = duration // timedelta(microseconds=1)
    if microseconds <= 0:
        return "0s"
    seconds, fraction = divmod(microseconds, 1_000_000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    if not fraction:
        return text + (f"{seconds}s" if seconds else "")
    if text or seconds:
        return text + f"{seconds}.{fraction:06d}".rstrip("0") + "s"
    if fraction % 1000 == 0:
        return f"{fraction // 1000}ms"
    return f"{fraction}us"


def parse_size(value: object) -> int:
    """
    Parse a size in bytes.

    An integer is a number of bytes.  A string is a number (with an optional
    fraction) and an optional unit, case-insensitive: C{k}, C{m}, C{g},
    C{t} or C{p}, optionally followed by C{b} or C{ib}.  Like Docker's
    C{--memory} flag (go-units' C{RAMInBytes}), every unit is a power of
    1024, so C{512M}, C{512MB} and C{512MiB} are all 536870912 bytes.  A
    lone C{b} suffix means bytes.

    @param value: an L{int} or a L{str}.
    @return: the number of bytes.
    @raise ValueError: if C{value} is not a size, is negative, or does not
        come to a whole number of bytes.
    """
    if isinstance(value, bool):
        raise ValueError(f"must be a size such as 512M or 1GiB, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"must not be negative, got {value}")
        return value
    if not isinstance(value, str):
        raise ValueError(f"must be a size such as 512M or 1GiB, got {value!r}")
    match = _SIZE.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"must be a size such as 512M or 1GiB, got {value!r}")
    number, prefix, suffix = match.groups()
    if not prefix and suffix and suffix.lower() == "ib":
        raise ValueError(f"must be a size such as 512M or 1GiB, got {value!r}")
    size = Fraction(number) * 1024 ** _SIZE_POWERS[prefix.lower()]
    if size.denominator != 1:
        raise ValueError(f"must come to a whole number of bytes, got {value!r}")
    return int(size)
