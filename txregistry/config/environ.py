"""
Apply C{REGISTRY_*} environment variables to a loaded configuration tree,
following distribution's rules.

C{REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY=/x} sets
C{storage.filesystem.rootdirectory}: the name after C{REGISTRY_} is split on
C{_}, each part names a key (matched case-insensitively, new keys are
lower-cased) and a numeric part indexes a list (one past the end appends).
The value is parsed as YAML, so C{true} is a boolean and C{[a, b]} a list; a
value that is not valid YAML (such as C{[::1]:5000}) is taken as a plain
string, where distribution would fail.  Variables are applied in lexical
order of their names, so C{REGISTRY_STORAGE} is applied before
C{REGISTRY_STORAGE_DELETE_ENABLED}.

One deliberate difference: C{REGISTRY_STORAGE=inmemory} (a plain driver
name) switches the storage driver but keeps C{storage.delete},
C{.maintenance}, C{.cache}, C{.redirect} and C{.tag}; distribution would
drop them too.

A variable whose first part names no section (C{REGISTRY_PORT},
C{REGISTRY_SERVICE_HOST}: Kubernetes sets these for a Service named
C{registry}) is ignored with a warning, as distribution does.  Unknown keys
within a section are found by the parser, like unknown keys written in the
file; one that only a variable wrote (C{REGISTRY_HTTP_ADRR}) is then dropped
with a warning too (L{ignore_unknown_key}), as distribution ignores
unrecognised variables at every level, while an unknown key in the file
stays an error.  L{apply_environment} returns where each variable wrote, so
that errors can name the variable.
"""

from __future__ import annotations

from collections.abc import Mapping

import yaml
from twisted.logger import Logger

from txregistry.config._yaml import load_yaml
from txregistry.config.errors import ConfigError, PathStep, UnknownKey

PREFIX = "REGISTRY_"

#: The top-level keys of distribution's configuration.
SECTIONS = (
    "version", "log", "loglevel", "storage", "auth", "middleware", "reporting",
    "http", "notifications", "redis", "health", "catalog", "tags", "proxy",
    "compatibility", "validation", "policy",
)

log = Logger()

#: The keys of C{storage} that are not a driver.
STORAGE_GENERIC_KEYS = frozenset({"delete", "redirect", "cache", "maintenance", "tag"})

_Container = dict[str, object] | list[object]


def apply_environment(
    tree: dict[str, object], environ: Mapping[str, str]
) -> dict[tuple[PathStep, ...], str]:
    """
    Apply every C{REGISTRY_*} variable of C{environ} to C{tree}, in place.

    @param tree: the loaded document (a mapping).
    @param environ: the environment.
    @return: for each path written, the name of the variable that wrote it.
    @raise ConfigError: if a variable's name is malformed or walks through a
        value that is not a mapping or a list; the message names the
        variable.
    """
    origins: dict[tuple[PathStep, ...], str] = {}
    for name in sorted(environ):
        if not name.startswith(PREFIX):
            continue
        if name[len(PREFIX):].split("_", 1)[0].lower() not in SECTIONS:
            log.warn("ignoring unrecognized environment variable {name}", name=name)
            continue
        keys = _apply_one(tree, name, environ[name])
        origins[keys] = name
    return origins


def _parse_value(text: str) -> object:
    try:
        return load_yaml(text)
    except yaml.YAMLError:
        return text


def _apply_one(tree: dict[str, object], name: str, text: str) -> tuple[PathStep, ...]:
    parts = name[len(PREFIX) :].split("_")
    if not all(parts):
        raise ConfigError(
            tuple(part.lower() for part in parts),
            f"environment variable {name} has an empty part in its name",
        )
    value = _parse_value(text)
    keys: list[PathStep] = []
    node: _Container = tree
    for position, part in enumerate(parts):
        last = position == len(parts) - 1
        step = _step(node, part, keys, name)
        keys.append(step)
        if last:
            _assign(node, step, value, tuple(keys))
            break
        child = _get(node, step)
        if child is None:
            child = [] if parts[position + 1].isdigit() else {}
            _assign(node, step, child, tuple(keys))
        if isinstance(child, str) and tuple(keys) in (("storage",), ("auth",)):
            child = {child: None}
            _assign(node, step, child, tuple(keys))
        if not isinstance(child, (dict, list)):
            raise ConfigError(
                tuple(keys),
                f"is a single value, so environment variable {name} cannot set a key "
                "inside it",
            )
        node = child
    return tuple(keys)


def _step(node: _Container, part: str, keys: list[PathStep], name: str) -> PathStep:
    if isinstance(node, list):
        if not part.isdigit() or int(part) > len(node):
            raise ConfigError(
                tuple(keys),
                f"environment variable {name}: {part!r} is not an index of this list "
                f"of {len(node)} (one past the end appends)",
            )
        return int(part)
    for key in node:
        if isinstance(key, str) and key.upper() == part.upper():
            return key
    return part.lower()


def _get(node: _Container, step: PathStep) -> object:
    if isinstance(node, list):
        assert isinstance(step, int)
        return node[step] if step < len(node) else None
    assert isinstance(step, str)
    return node.get(step)


def _assign(
    node: _Container, step: PathStep, value: object, keys: tuple[PathStep, ...]
) -> None:
    if isinstance(node, list):
        assert isinstance(step, int)
        if step == len(node):
            node.append(value)
        else:
            node[step] = value
        return
    assert isinstance(step, str)
    if keys == ("storage",) and isinstance(value, str):
        current = node.get("storage")
        kept = {}
        if isinstance(current, dict):
            kept = {k: v for k, v in current.items() if k in STORAGE_GENERIC_KEYS}
        node["storage"] = {value: None, **kept}
        return
    node[step] = value


def origin_note(
    error: ConfigError, origins: Mapping[tuple[PathStep, ...], str]
) -> ConfigError:
    """
    Add to C{error} the environment variables that set its key.

    @param error: an error found in the configuration.
    @param origins: the result of L{apply_environment}.
    @return: C{error} with a note naming the variable that set the key (or
        one of its parents), or the variables that set keys inside it;
        C{error} itself if none did.
    """
    for length in range(len(error.keys), 0, -1):
        name = origins.get(error.keys[:length])
        if name is not None:
            return error.with_note(f"set by environment variable {name}")
    inside = sorted(
        name for keys, name in origins.items() if keys[: len(error.keys)] == error.keys
    )
    if inside:
        return error.with_note(f"set by environment variable {', '.join(inside)}")
    return error


def key_paths(tree: object, prefix: tuple[PathStep, ...] = ()) -> set[tuple[PathStep, ...]]:
    """
    @param tree: a loaded document, or a part of it.
    @return: the path of every key and list item in C{tree}.
    """
    found: set[tuple[PathStep, ...]] = set()
    items: list[tuple[PathStep, object]] = []
    if isinstance(tree, dict):
        items = [(key, value) for key, value in tree.items() if isinstance(key, str)]
    elif isinstance(tree, list):
        items = list(enumerate(tree))
    for step, value in items:
        path = (*prefix, step)
        found.add(path)
        found |= key_paths(value, path)
    return found


def ignore_unknown_key(
    error: UnknownKey,
    tree: dict[str, object],
    written: set[tuple[PathStep, ...]],
    origins: Mapping[tuple[PathStep, ...], str],
) -> bool:
    """
    Drop from C{tree} an unknown key that only environment variables wrote,
    with a warning naming them, as distribution ignores unrecognised
    variables.

    @param error: the parser's complaint about the key.
    @param tree: the document the parser read, with the environment
        applied; changed in place.
    @param written: the L{key_paths} of the document before the environment
        was applied: a key among them was written in the file.
    @param origins: the result of L{apply_environment}.
    @return: whether the key was dropped (else it came from the file).
    """
    names = sorted(name for keys, name in origins.items()
                   if error.keys[:len(keys)] == keys or keys[:len(error.keys)] == error.keys)
    if error.keys in written or not names:
        return False
    node: object = tree
    for step in error.keys[:-1]:
        node = node[step]  # type: ignore[index]
    del node[error.keys[-1]]  # type: ignore[attr-defined]
    for name in names:
        log.warn("ignoring {path}, set by environment variable {name}: unknown key",
                 name=name, path=error.path)
    return True
