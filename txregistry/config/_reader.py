"""
Typed, path-aware access to one mapping of the loaded YAML tree.

Every accessor either returns a value of the promised type or raises
L{ConfigError} naming the key's full dotted path.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterator, Sequence
from datetime import timedelta
from typing import TypeVar

from txregistry.config._yaml import TypedScalar, resolved
from txregistry.config.errors import ConfigError, PathStep, UnknownKey
from txregistry.config.units import parse_duration, parse_size

_T = TypeVar("_T")


def describe(value: object) -> str:
    """
    Describe a loaded value for an error message.

    @param value: a value from the loaded tree.
    @return: C{'ten'} for a string, C{12} for a number as written, C{a
        mapping} or C{a list} for collections, C{null} for L{None}.
    """
    if value is None:
        return "null"
    if isinstance(value, TypedScalar):
        return str(value)
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def as_string(keys: Sequence[PathStep], value: object) -> str:
    """
    Read a scalar as a string, exactly as written (as Go's C{yaml.v2} does).

    @param keys: the value's path, for errors.
    @param value: the loaded value.
    @return: the text.
    @raise ConfigError: if C{value} is a mapping, a list or null.
    """
    if isinstance(value, str):
        return str(value)
    raise ConfigError(keys, f"must be a string, got {describe(value)}")


def as_string_list(keys: Sequence[PathStep], value: object) -> list[str]:
    """
    Read a list of strings; null is the empty list.

    @param keys: the value's path, for errors.
    @param value: the loaded value.
    @return: the strings.
    @raise ConfigError: if C{value} is not a list of strings.
    """
    if value is None:
        return []
    if not isinstance(value, list):
        raise ConfigError(keys, f"must be a list of strings, got {describe(value)}")
    return [as_string((*keys, index), item) for index, item in enumerate(value)]


class Section:
    """
    One mapping of the configuration tree, with its path and allowed keys.

    Creating a L{Section} checks that the value is a mapping (null counts as
    an empty one) and that it has no key outside C{allowed}.

    @ivar keys: the path of this mapping from the document root.
    @ivar value: the mapping itself.
    """

    def __init__(
        self,
        keys: Sequence[PathStep],
        value: object,
        allowed: Collection[str] | None,
    ) -> None:
        """
        @param keys: the path of this mapping.
        @param value: the loaded value, expected to be a mapping or null.
        @param allowed: the keys this mapping may hold; L{None} allows any
            (for free-form maps such as C{log.fields}).
        @raise ConfigError: if C{value} is not a mapping, has a non-string
            key, or has a key outside C{allowed}.
        """
        self.keys = tuple(keys)
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise ConfigError(self.keys, f"must be a mapping, got {describe(value)}")
        for key in value:
            if not isinstance(key, str):
                raise ConfigError(
                    self.keys, f"keys must be strings, got {describe(key)}"
                )
            if allowed is not None and key not in allowed:
                raise UnknownKey((*self.keys, key), _unknown_key(key, allowed))
        self.value: dict[str, object] = {str(key): item for key, item in value.items()}

    def path(self, key: PathStep) -> tuple[PathStep, ...]:
        """
        @param key: a key of this mapping.
        @return: the key's full path.
        """
        return (*self.keys, key)

    def has(self, key: str) -> bool:
        """
        @param key: a key of this mapping.
        @return: whether the key is present with a non-null value.
        """
        return self.value.get(key) is not None

    def raw(self, key: str) -> object:
        """
        @param key: a key of this mapping.
        @return: the loaded value, or L{None} if absent.
        """
        return self.value.get(key)

    def items(self) -> Iterator[tuple[str, object]]:
        """
        @return: the keys and loaded values, in document order.
        """
        return iter(self.value.items())

    def section(self, key: str, allowed: Collection[str] | None) -> Section:
        """
        @param key: a key whose value is a mapping.
        @param allowed: the keys that mapping may hold (L{None}: any).
        @return: the nested section (empty if the key is absent or null).
        """
        return Section(self.path(key), self.raw(key), allowed)

    def sections(self, key: str, allowed: Collection[str]) -> list[Section]:
        """
        @param key: a key whose value is a list of mappings.
        @param allowed: the keys each mapping may hold.
        @return: one section per element (none if the key is absent).
        @raise ConfigError: if the value is not a list.
        """
        value = self.raw(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise ConfigError(self.path(key), f"must be a list, got {describe(value)}")
        return [
            Section((*self.path(key), index), item, allowed)
            for index, item in enumerate(value)
        ]

    def string(
        self, key: str, default: _T, choices: Collection[str] | None = None
    ) -> str | _T:
        """
        @param key: a key whose value is a string.
        @param default: returned if the key is absent or null.
        @param choices: if given, the only accepted values.
        @return: the string, or C{default}.
        @raise ConfigError: if the value is not a string or not a choice.
        """
        value = self.raw(key)
        if value is None:
            return default
        text = as_string(self.path(key), value)
        if choices is not None and text not in choices:
            raise ConfigError(
                self.path(key),
                f"must be one of {', '.join(choices)}, got {describe(value)}",
            )
        return text

    def string_list(self, key: str) -> list[str]:
        """
        @param key: a key whose value is a list of strings.
        @return: the strings (empty if the key is absent).
        """
        return as_string_list(self.path(key), self.raw(key))

    def string_map(self, key: str) -> dict[str, str]:
        """
        @param key: a key whose value maps names to scalars.
        @return: the map, every scalar read as written.
        """
        section = self.section(key, None)
        return {
            name: as_string(section.path(name), value)
            for name, value in section.items()
            if value is not None
        }

    def headers(self, key: str) -> dict[str, list[str]]:
        """
        @param key: a key whose value maps header names to lists of values,
            like Go's C{http.Header}.
        @return: the headers.
        """
        section = self.section(key, None)
        return {
            name: as_string_list(section.path(name), value)
            for name, value in section.items()
        }

    def boolean(self, key: str, default: bool) -> bool:
        """
        @param key: a key whose value is a boolean.
        @param default: returned if the key is absent or null.
        @return: the boolean.
        @raise ConfigError: if the value is not a boolean.
        """
        value = self.raw(key)
        if value is None:
            return default
        if isinstance(resolved(value), bool):
            return bool(resolved(value))
        raise ConfigError(
            self.path(key), f"must be true or false, got {describe(value)}"
        )

    def integer(self, key: str, default: int, minimum: int | None = None) -> int:
        """
        @param key: a key whose value is an integer.
        @param default: returned if the key is absent or null.
        @param minimum: if given, the smallest accepted value.
        @return: the integer.
        @raise ConfigError: if the value is not an integer or is too small.
        """
        value = self.raw(key)
        if value is None:
            return default
        number = resolved(value)
        floor = "" if minimum is None else f" >= {minimum}"
        if not isinstance(number, int) or isinstance(number, bool):
            raise ConfigError(
                self.path(key), f"must be an integer{floor}, got {describe(value)}"
            )
        if minimum is not None and number < minimum:
            raise ConfigError(
                self.path(key), f"must be an integer{floor}, got {describe(value)}"
            )
        return number

    def duration(self, key: str, default: _T) -> timedelta | _T:
        """
        @param key: a key whose value is a Go-style duration (see
            L{parse_duration}).
        @param default: returned if the key is absent or null.
        @return: the duration.
        @raise ConfigError: if the value is not a duration.
        """
        value = self.raw(key)
        if value is None:
            return default
        try:
            return parse_duration(resolved(value))
        except ValueError as e:
            raise ConfigError(self.path(key), str(e)) from None

    def size(self, key: str, default: _T) -> int | _T:
        """
        @param key: a key whose value is a size in bytes (see L{parse_size}).
        @param default: returned if the key is absent or null.
        @return: the number of bytes.
        @raise ConfigError: if the value is not a size.
        """
        value = self.raw(key)
        if value is None:
            return default
        try:
            return parse_size(resolved(value))
        except ValueError as e:
            raise ConfigError(self.path(key), str(e)) from None


def _unknown_key(key: str, allowed: Collection[str]) -> str:
    message = "unknown key"
    close = difflib.get_close_matches(key, list(allowed), n=1)
    if close:
        message += f" (did you mean {close[0]!r}?)"
    return f"{message}; known keys here: {', '.join(sorted(allowed))}"
