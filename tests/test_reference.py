"""
Tests for L{txregistry.reference}: globs of repository names.
"""

from __future__ import annotations

import pytest

from txregistry.reference import compileNameGlob


@pytest.mark.parametrize("glob, name, matches", [
    ("library/*", "library/debian", True),
    ("library/*", "library/debian/slim", False),
    ("library/*", "library", False),
    ("team/**", "team/app", True),
    ("team/**", "team/app/web", True),
    ("team/**", "team", False),
    ("**/cache", "cache", True),
    ("**/cache", "a/b/cache", True),
    ("**/cache", "a/b/cache2", False),
    ("**", "any/thing", True),
    ("app-?", "app-1", True),
    ("a?c", "a/c", False),
    ("lib[a-c]", "libb", True),
    ("lib[!a-c]", "libb", False),
    ("lib[!a-c]", "libd", True),
    ("lib[!a-c]", "lib/", False),
    ("a.b", "axb", False),
    ("a+b", "a+b", True),
])
def test_glob(glob: str, name: str, matches: bool) -> None:
    """
    * stays within a path component, ** crosses them (and **/ may match
    none), ? and [] match one character but /, and the rest is literal.
    """
    assert bool(compileNameGlob(glob).fullmatch(name)) is matches


@pytest.mark.parametrize("glob, message", [
    ("", "must not be empty"),
    ("a[bc", "has a '[' at 1 that is never closed"),
    ("a[]", "has a '[' at 1 that is never closed"),
    ("[z-a]", "is not a valid glob"),
])
def test_invalid_glob(glob: str, message: str) -> None:
    """
    An empty glob, an unclosed [ and a reversed range are refused.
    """
    with pytest.raises(ValueError, match=message.replace("[", r"\[")):
        compileNameGlob(glob)
