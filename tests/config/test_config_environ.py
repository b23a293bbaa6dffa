"""
Tests for C{REGISTRY_*} environment overrides.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from twisted.logger import LogLevel, capturedLogs, formatEvent

from txregistry.config import ConfigError, Configuration, load_config

#: The smallest valid configuration; tests append sections to it.
MINIMAL = "version: 0.1\nstorage:\n  inmemory:\n"

#: The type of the C{load} fixture (see C{conftest.py}).
Loader = Callable[..., Configuration]


def test_rootdirectory(tmp_path: Path) -> None:
    """REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY sets storage.filesystem.rootdirectory."""
    config = load_config(None, {"REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": "/srv/x"})
    assert config.storage.filesystem is not None
    assert config.storage.filesystem.rootdirectory == "/srv/x"


def test_value_is_yaml() -> None:
    """Values are parsed as YAML: booleans, integers and lists get their types."""
    config = load_config(
        None,
        {
            "REGISTRY_STORAGE_DELETE_ENABLED": "true",
            "REGISTRY_STORAGE_FILESYSTEM_MAXTHREADS": "50",
            "REGISTRY_HTTP_HEADERS": "{X-Content-Type-Options: [nosniff]}",
            "REGISTRY_LOG_LEVEL": "debug",
            "REGISTRY_HTTP_ADDR": ":6000",
        },
    )
    assert config.storage.delete_enabled is True
    assert config.storage.filesystem is not None
    assert config.storage.filesystem.maxthreads == 50
    assert config.http.headers == {"X-Content-Type-Options": ["nosniff"]}
    assert config.log.level == "debug"
    assert config.listen_endpoints() == ["tcp:6000"]


def test_value_not_yaml_is_string() -> None:
    """A value that is not valid YAML, such as [::1]:5000, is used as a string."""
    config = load_config(None, {"REGISTRY_HTTP_ADDR": "[::1]:5000"})
    assert config.http.addr == "[::1]:5000"


def test_string_keeps_text() -> None:
    """A string value that looks like a number keeps its text."""
    config = load_config(None, {"REGISTRY_HTTP_SECRET": "0123"})
    assert config.http.secret == "0123"


def test_overrides_file(load: Loader) -> None:
    """An environment variable wins over the file's value."""
    config = load(MINIMAL + "http:\n  addr: :5000\n", {"REGISTRY_HTTP_ADDR": ":7000"})
    assert config.http.addr == ":7000"


def test_switch_driver(tmp_path: Path) -> None:
    """REGISTRY_STORAGE=inmemory switches the driver, keeping delete and others."""
    config = load_config(
        None,
        {
            "REGISTRY_STORAGE": "inmemory",
            "REGISTRY_STORAGE_DELETE_ENABLED": "true",
        },
    )
    assert config.storage.driver == "inmemory"
    assert config.storage.filesystem is None
    assert config.storage.delete_enabled is True


def test_switch_driver_keeps_file_settings(load: Loader) -> None:
    """Switching drivers keeps the file's storage.delete."""
    config = load(
        "version: 0.1\nstorage:\n  inmemory:\n  delete:\n    enabled: true\n",
        {
            "REGISTRY_STORAGE": "filesystem",
            "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": "/srv/y",
        },
    )
    assert config.storage.driver == "filesystem"
    assert config.storage.filesystem is not None
    assert config.storage.filesystem.rootdirectory == "/srv/y"
    assert config.storage.delete_enabled is True


def test_second_driver_refused() -> None:
    """Adding a second driver section from the environment is refused with a hint."""
    with pytest.raises(ConfigError, match=r"^storage: .*REGISTRY_STORAGE=<driver>"):
        load_config(None, {"REGISTRY_STORAGE_INMEMORY": ""})


def test_case_insensitive_existing_key(load: Loader) -> None:
    """An environment variable replaces a free-form key of any case in the file."""
    config = load(
        MINIMAL + "http:\n  headers:\n    X-Frame-Options: [DENY]\n",
        {"REGISTRY_HTTP_HEADERS_X-FRAME-OPTIONS": "[SAMEORIGIN]"},
    )
    assert config.http.headers == {"X-Frame-Options": ["SAMEORIGIN"]}


def test_list_index() -> None:
    """A numeric part indexes a list; one past the end appends."""
    config = load_config(
        None,
        {
            "REGISTRY_HTTP_ENDPOINTS_0": "tcp:5000",
            "REGISTRY_HTTP_ENDPOINTS_1": "tcp6:5000",
        },
    )
    assert config.listen_endpoints() == ["tcp:5000", "tcp6:5000"]


def test_list_index_replaces(load: Loader) -> None:
    """An index inside a list from the file replaces that element."""
    config = load(
        MINIMAL + "http:\n  endpoints: [tcp:1, tcp:2]\n",
        {"REGISTRY_HTTP_ENDPOINTS_1": "tcp:3"},
    )
    assert config.http.endpoints == ["tcp:1", "tcp:3"]


def test_list_index_gap() -> None:
    """An index beyond one past the end is refused, naming the variable."""
    with pytest.raises(
        ConfigError,
        match="^http.endpoints: environment variable REGISTRY_HTTP_ENDPOINTS_2",
    ):
        load_config(
            None,
            {
                "REGISTRY_HTTP_ENDPOINTS_0": "tcp:1",
                "REGISTRY_HTTP_ENDPOINTS_2": "tcp:3",
            },
        )


@pytest.mark.parametrize("environ, path", [
    ({"REGISTRY_HTTP_ADRR": "x"}, "http.adrr"),
    ({"REGISTRY_STORAGE_FILESYSTEM_ROOTDIR": "/x"}, "storage.filesystem.rootdir"),
    ({"REGISTRY_HTTP_ADRR_DEEPER": "x"}, "http.adrr"),
    ({"REGISTRY_LOG": "{level: debug, bogus: 1}"}, "log.bogus"),
])
def test_unknown_key_from_environment_ignored(environ: dict[str, str], path: str) -> None:
    """A variable naming an unknown key in a known section is ignored with a
    warning naming it, as distribution ignores unrecognised variables at
    every level; the rest of the environment still applies."""
    with capturedLogs() as events:
        config = load_config(None, {**environ, "REGISTRY_HTTP_SECRET": "kept"})
    assert config.http.secret == "kept"
    assert config.http.addr == "127.0.0.1:5000"
    warnings = [formatEvent(e) for e in events if e.get("log_level") == LogLevel.warn]
    name = next(iter(environ))
    assert warnings == [f"ignoring {path}, set by environment variable {name}: unknown key"]


def test_unknown_key_in_file_refused(load: Loader) -> None:
    """An unknown key written in the file stays an error, even with variables
    writing beside it."""
    with pytest.raises(ConfigError, match=r"^http\.adrr: unknown key"):
        load(MINIMAL + "http:\n  adrr: x\n", {"REGISTRY_HTTP_SECRET": "y"})


def test_unknown_section_ignored() -> None:
    """Variables naming no section (as Kubernetes sets for a Service named registry) are ignored, as distribution does."""
    kubernetes = {
        "REGISTRY_PORT": "tcp://10.0.0.1:5000",
        "REGISTRY_PORT_5000_TCP_ADDR": "10.0.0.1",
        "REGISTRY_SERVICE_HOST": "10.0.0.1",
        "REGISTRY_SERVICE_PORT": "5000",
    }
    assert load_config(None, kubernetes) == load_config(None, {})


def test_bad_value_names_variable() -> None:
    """A bad value from the environment is refused with its path and the variable."""
    with pytest.raises(
        ConfigError,
        match=(
            r"^storage.filesystem.maxthreads: must be an integer >= 25, got 'ten' "
            r"\(set by environment variable REGISTRY_STORAGE_FILESYSTEM_MAXTHREADS\)$"
        ),
    ):
        load_config(None, {"REGISTRY_STORAGE_FILESYSTEM_MAXTHREADS": "ten"})


def test_bad_value_inside_section_names_variable() -> None:
    """A bad value inside a section set whole names the section's variable."""
    with pytest.raises(
        ConfigError,
        match=(r"^log.level: .* \(set by environment variable REGISTRY_LOG\)$"),
    ):
        load_config(None, {"REGISTRY_LOG": "{level: loud}"})


def test_key_inside_scalar() -> None:
    """A variable that walks into a single value is refused."""
    with pytest.raises(ConfigError, match="^log.level: .*REGISTRY_LOG_LEVEL_X"):
        load_config(None, {"REGISTRY_LOG_LEVEL_X": "1"})


def test_empty_part() -> None:
    """A variable name with an empty part is refused."""
    with pytest.raises(ConfigError, match="REGISTRY_HTTP__ADDR has an empty part"):
        load_config(None, {"REGISTRY_HTTP__ADDR": ":1"})


def test_other_variables_ignored() -> None:
    """Variables without the REGISTRY_ prefix are ignored."""
    config = load_config(None, {"HTTP_ADDR": "x", "REGISTRYX": "y", "PATH": "/bin"})
    assert config.http.addr == "127.0.0.1:5000"


def test_environ_not_mutated() -> None:
    """load_config leaves the environment mapping as it was."""
    environ = {"REGISTRY_HTTP_ADDR": ":7000"}
    load_config(None, environ)
    assert environ == {"REGISTRY_HTTP_ADDR": ":7000"}
