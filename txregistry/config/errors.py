"""
The one error the configuration package raises.
"""

from __future__ import annotations

from collections.abc import Sequence

#: One step of a path into the configuration tree: a mapping key or a list index.
PathStep = str | int


def format_path(keys: Sequence[PathStep]) -> str:
    """
    Render a path into the configuration tree the way messages show it.

    @param keys: the mapping keys and list indices from the document root.
    @return: a dotted path such as C{storage.filesystem.maxthreads}, with
        list indices in brackets (C{http.endpoints[0]}); C{<root>} for the
        empty path.
    """
    text = ""
    for key in keys:
        if isinstance(key, int):
            text += f"[{key}]"
        else:
            text += f".{key}" if text else key
    return text or "<root>"


class ConfigError(Exception):
    """
    The configuration is invalid, or asks for something this version cannot do.

    The message always starts with the dotted path of the offending key, as
    in C{storage.filesystem.maxthreads: must be an integer >= 25, got 'ten'}.

    @ivar keys: the path of the offending key, as a tuple of steps.
    @ivar path: the same path, rendered by L{format_path}.
    @ivar reason: the message without the path.
    """

    def __init__(self, keys: Sequence[PathStep], reason: str) -> None:
        """
        @param keys: the path of the offending key (may be empty for the
            document itself).
        @param reason: what is wrong, without the path.
        """
        self.keys = tuple(keys)
        self.path = format_path(self.keys)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def with_note(self, note: str) -> ConfigError:
        """
        Return a copy of this error with C{note} appended to its reason.

        @param note: extra context, such as the environment variable that
            set the key.
        @return: a new L{ConfigError} for the same path.
        """
        return ConfigError(self.keys, f"{self.reason} ({note})")


class UnknownKey(ConfigError):
    """
    A mapping holds a key the registry does not know.
    """
