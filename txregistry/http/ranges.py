"""
The C{Range} request header, for a single byte range.
"""

from __future__ import annotations

import re

_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$")


class UnsatisfiableRange(ValueError):
    """
    The range asked for lies wholly outside the content.
    """


def parseRange(header: str | None, size: int) -> tuple[int, int] | None:
    """
    Resolve a C{Range} header against content of C{size} bytes.

    Forms: C{bytes=first-last}, C{bytes=first-} and the suffix C{bytes=-n}.
    A last position past the end is clamped to the end.  A header that is
    not a single byte range is ignored, as RFC 9110 allows.

    @return: C{(start, length)} of the range to send, or L{None} to send
        the whole content.
    @raise UnsatisfiableRange: for a well-formed range that no byte of the
        content satisfies, or whose last position is before its first.
    """
    if header is None:
        return None
    match = _RANGE.match(header)
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise UnsatisfiableRange(header)
        start = max(0, size - suffix)
        return start, size - start
    start = int(first)
    end = size - 1 if not last else min(int(last), size - 1)
    if last and int(last) < start:
        # RFC 9110 lets a server ignore or reject it; Go's ServeContent
        # (distribution) and the OCI conformance suite reject it.
        raise UnsatisfiableRange(header)
    if start >= size:
        raise UnsatisfiableRange(header)
    return start, end - start + 1
