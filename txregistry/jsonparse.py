"""
Parsing JSON that comes from outside: every document a client sends
(manifests, tokens) or a file names (JWKS) is read with L{parseJSON}, which
fails only with L{InvalidJSON}.

Python's parser recurses once per level of nesting, so a document nested a
thousand levels deep raises C{RecursionError} (at a depth that depends on the
caller's stack and on the Python version), and a number of more than 4,300
digits raises C{ValueError}.  L{parseJSON} turns both into L{InvalidJSON},
and refuses any document nested deeper than L{MAX_DEPTH}, so that what is
accepted never depends on where it is parsed, and what is accepted can be
walked recursively.
"""

from __future__ import annotations

import json
import re
from typing import Any

#: The deepest nesting of arrays and objects accepted.  Manifests and tokens
#: nest 4 or 5 levels; Go's encoding/json, which distribution uses, stops at
#: 10,000, which Python's recursive parser cannot reach.
MAX_DEPTH = 100

# A JSON string, escapes included (possessive: linear in its length).
_STRING = re.compile(rb'"[^"\\]*+(?:\\.[^"\\]*+)*+"', re.DOTALL)
_NOT_BRACKETS = bytes(range(256)).translate(None, b"[]{}")


def _withinDepth(limit: int) -> re.Pattern[bytes]:
    # Balanced brackets nested at most `limit` deep: a regular language, so
    # one linear pass of the regex engine (no recursion in Python).
    pattern = b""
    for _ in range(limit):
        pattern = rb"(?:[\[{]" + pattern + rb"[\]}])*+"
    return re.compile(pattern)


_WITHIN_MAX_DEPTH = _withinDepth(MAX_DEPTH)


class InvalidJSON(ValueError):
    """
    A document is not JSON, is not UTF-8, or is nested too deeply.
    """


def _refuseConstant(name: str) -> Any:
    raise InvalidJSON(f"{name} is not JSON")


def parseJSON(document: bytes | str) -> Any:
    """
    Parse a JSON document strictly: UTF-8 only (no byte order mark), no
    C{NaN} or C{Infinity}, at most L{MAX_DEPTH} levels of nesting.

    @return: the value the document holds.
    @raise InvalidJSON: if it is not such a document.
    """
    if isinstance(document, str):
        text, raw = document, document.encode("utf-8", "surrogatepass")
    else:
        raw = bytes(document)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise InvalidJSON(f"not UTF-8: {e}") from None
    try:
        value = json.loads(text, parse_constant=_refuseConstant)
    except RecursionError:
        raise InvalidJSON(f"nested more than {MAX_DEPTH} levels deep") from None
    except ValueError as e:
        raise InvalidJSON(str(e)) from None
    if isinstance(value, dict | list) and _WITHIN_MAX_DEPTH.fullmatch(
            _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)) is None:
        raise InvalidJSON(f"nested more than {MAX_DEPTH} levels deep")
    return value
