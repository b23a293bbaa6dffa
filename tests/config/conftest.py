"""
Fixtures for the configuration tests.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from txregistry.config import Configuration, load_config
from txregistry.configuration import checkConfiguration

Loader = Callable[..., Configuration]


def _loader(tmp_path: Path, checked: bool) -> Loader:
    def load(text: str, environ: Mapping[str, str] | None = None) -> Configuration:
        path = tmp_path / "config.yml"
        path.write_text(textwrap.dedent(text))
        return load_config(str(path), environ or {}, cwd=str(tmp_path),
                           check=checkConfiguration if checked else None)

    return load


@pytest.fixture
def load(tmp_path: Path) -> Loader:
    """
    A function that writes YAML text to a file under C{tmp_path} and loads
    it, with the environment given (none by default) and C{tmp_path} as the
    working directory: parsed only, no file it names loaded.
    """
    return _loader(tmp_path, checked=False)


@pytest.fixture
def start(tmp_path: Path) -> Loader:
    """
    Like L{load}, but loading as C{twistd registry} does at start: the
    subsystems then check the files and endpoints the configuration names
    (L{txregistry.configuration.checkConfiguration}).
    """
    return _loader(tmp_path, checked=True)
