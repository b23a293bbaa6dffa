"""
Tests for L{txregistry.jsonparse}: JSON from outside fails only with
L{InvalidJSON}, whatever its depth, numbers or encoding.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from txregistry.jsonparse import MAX_DEPTH, InvalidJSON, parseJSON


def depth(value: Any) -> int:
    """
    @return: how deeply arrays and objects nest in C{value} (0 for a scalar).
    """
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    return 0


def nested(levels: int) -> str:
    return "[" * levels + "]" * levels


def nestedObjects(levels: int) -> str:
    return '{"a":' * levels + "1" + "}" * levels


@pytest.mark.parametrize("levels", [MAX_DEPTH + 1, 1000, 10**5, 10**6])
@pytest.mark.parametrize("build", [nested, nestedObjects])
def test_deepRefused(levels: int, build: Any) -> None:
    """Arrays or objects nested past MAX_DEPTH, up to a million levels, are InvalidJSON."""
    with pytest.raises(InvalidJSON, match="nested more than"):
        parseJSON(build(levels).encode())


def test_maxDepthAccepted() -> None:
    """Nesting of exactly MAX_DEPTH levels is accepted."""
    assert depth(parseJSON(nested(MAX_DEPTH))) == MAX_DEPTH


def test_bracketsInStrings() -> None:
    """Brackets and escaped quotes inside strings do not count as nesting."""
    text = '"\\"' + "[" * (MAX_DEPTH * 2) + '\\\\"'
    assert parseJSON(f'{{"a": [{text}]}}') == {"a": [json.loads(text)]}


@pytest.mark.parametrize("document", [
    b"1" * 5000,  # past the int digits limit: ValueError
    b"[NaN]", b"Infinity", b"-Infinity",
    b"\xef\xbb\xbf{}",  # a UTF-8 byte order mark
    b'{"a": "\xff"}',  # not UTF-8
    '{"a": 1}'.encode("utf-16"),
    b"", b"{", b"[1,]", b"{} {}",
])
def test_notJSON(document: bytes) -> None:
    """Huge integers, NaN, a BOM, other encodings and syntax errors are all InvalidJSON."""
    with pytest.raises(InvalidJSON):
        parseJSON(document)


values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(exclude_categories=("Cs",))) | st.sampled_from(["[", "{\\\"", "]}"]),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=3), children, max_size=3),
    max_leaves=40)


@given(values, st.integers(min_value=0, max_value=2 * MAX_DEPTH))
def test_roundTrip(value: Any, wrapping: int) -> None:
    """Any JSON value comes back unchanged if it nests at most MAX_DEPTH levels, else is InvalidJSON."""
    for _ in range(wrapping):
        value = [value]
    document = json.dumps(value).encode()
    if depth(value) <= MAX_DEPTH:
        assert parseJSON(document) == value
    else:
        with pytest.raises(InvalidJSON):
            parseJSON(document)


@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_anyBytes(document: bytes) -> None:
    """Whatever the bytes, parseJSON returns a value or raises InvalidJSON, nothing else."""
    try:
        parseJSON(document)
    except InvalidJSON:
        pass
