"""
Load a configuration: read the file (or the embedded default), apply the
environment, parse, and refuse what is not built yet.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

import yaml

from txregistry.config._yaml import load_yaml
from txregistry.config.environ import (
    apply_environment,
    ignore_unknown_key,
    key_paths,
    origin_note,
)
from txregistry.config.errors import ConfigError, UnknownKey
from txregistry.config.model import Configuration
from txregistry.config.parse import expand_string_forms, parse_configuration
from txregistry.config.unsupported import check_supported

#: The configuration used when no file is given.  The relative
#: C{rootdirectory} is resolved against the working directory at load time.
DEFAULT_CONFIG = """\
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: ./txregistry-data
  delete:
    enabled: false
http:
  addr: 127.0.0.1:5000
"""


def yaml_problem(error: yaml.YAMLError) -> str:
    """
    @return: what is wrong with a YAML document, in one line, with the line
        and column where it is (PyYAML's own message spans several lines
        and calls the document C{"<unicode string>"}).
    """
    if not isinstance(error, yaml.MarkedYAMLError):
        return " ".join(str(error).split())
    mark = error.problem_mark or error.context_mark
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    problem = error.problem or "invalid"
    context = f" ({error.context})" if error.context else ""
    return f"{where}{problem}{context}"


def load_config(
    path: str | None,
    environ: Mapping[str, str],
    cwd: str | None = None,
    check: Callable[[Configuration], object] | None = None,
) -> Configuration:
    """
    Load a registry configuration in distribution's C{config.yml} format.

    @param path: the configuration file, or L{None} for the embedded
        L{DEFAULT_CONFIG}: filesystem storage in C{./txregistry-data} (made
        absolute against C{cwd}), listening on C{127.0.0.1:5000}, deletes
        disabled, log level C{info}.
    @param environ: the environment; every C{REGISTRY_*} variable overrides
        a key (see L{txregistry.config.environ}).  Pass C{os.environ} in
        production and a plain dict in tests.
    @param cwd: the directory relative paths (such as a relative
        C{storage.filesystem.rootdirectory}) are resolved against; the
        process's working directory by default.
    @param check: called with the parsed configuration to check what
        parsing cannot (that the files it names load, that its endpoints
        can be built: L{txregistry.configuration.checkConfiguration}); raises a
        L{ConfigError}, which gets the same note on the environment as the
        parser's own.
    @return: the configuration.
    @raise ConfigError: if the file cannot be read or parsed, has an unknown
        key or an invalid value (also when set from the environment: the
        message then names the variable; an unknown key only a variable
        wrote is ignored with a warning), asks for a feature not built yet,
        or fails C{check}.
    """
    if cwd is None:
        cwd = os.getcwd()
    if path is None:
        source, text = "<default configuration>", DEFAULT_CONFIG
    else:
        source = path
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(
                (), f"cannot read configuration file {path}: {e}"
            ) from None
    try:
        tree = load_yaml(text)
    except yaml.YAMLError as e:
        raise ConfigError((), f"{source} is not valid YAML: {yaml_problem(e)}") from None
    if tree is None:
        tree = {}
    if not isinstance(tree, dict):
        raise ConfigError((), f"{source} must hold a mapping at its top level")
    expand_string_forms(tree)
    written = key_paths(tree)
    origins = apply_environment(tree, environ)
    while True:
        try:
            config = parse_configuration(tree, cwd)
            check_supported(config)
            if check is not None:
                check(config)
        except UnknownKey as e:
            if not ignore_unknown_key(e, tree, written, origins):
                raise origin_note(e, origins) from None
        except ConfigError as e:
            raise origin_note(e, origins) from None
        else:
            return config
