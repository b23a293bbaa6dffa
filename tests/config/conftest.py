"""
Fixtures for the configuration tests.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from txregistry.config import Configuration, load_config


@pytest.fixture
def load(tmp_path: Path) -> Callable[..., Configuration]:
    """
    A function that writes YAML text to a file under C{tmp_path} and loads
    it, with the environment given (none by default) and C{tmp_path} as the
    working directory.
    """

    def load(text: str, environ: Mapping[str, str] | None = None) -> Configuration:
        path = tmp_path / "config.yml"
        path.write_text(textwrap.dedent(text))
        return load_config(str(path), environ or {}, cwd=str(tmp_path))

    return load
