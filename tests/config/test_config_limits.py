"""
Tests for C{http.headertimeout} and C{http.maxconnections}, txregistry's
extensions bounding slow clients and open connections.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from txregistry.config import ConfigError, Configuration

MINIMAL = "version: 0.1\nstorage:\n  inmemory:\n"

Loader = Callable[..., Configuration]


def test_defaults(load: Loader) -> None:
    """Without the keys, requests get 30s for their headers and a process serves 4096 connections."""
    http = load(MINIMAL).http
    assert (http.headertimeout, http.maxconnections) == (timedelta(seconds=30), 4096)


def test_given(load: Loader) -> None:
    """Both keys are read from the file: a duration and an integer."""
    http = load(MINIMAL + "http:\n  headertimeout: 1.5s\n  maxconnections: 10\n").http
    assert (http.headertimeout, http.maxconnections) == (timedelta(seconds=1.5), 10)


def test_from_environment(load: Loader) -> None:
    """REGISTRY_HTTP_HEADERTIMEOUT and REGISTRY_HTTP_MAXCONNECTIONS set them."""
    http = load(MINIMAL, {"REGISTRY_HTTP_HEADERTIMEOUT": "2m",
                          "REGISTRY_HTTP_MAXCONNECTIONS": "100"}).http
    assert (http.headertimeout, http.maxconnections) == (timedelta(minutes=2), 100)


@pytest.mark.parametrize(("value", "message"), [("0", "longer than 0"), ("0s", "longer than 0"),
                                                ("30", "unit"), ("-1s", "negative")])
def test_invalid_header_timeout(load: Loader, value: str, message: str) -> None:
    """A header timeout must be a positive duration with a unit."""
    with pytest.raises(ConfigError, match=rf"^http\.headertimeout: .*{message}"):
        load(MINIMAL + f"http:\n  headertimeout: {value}\n")


@pytest.mark.parametrize("value", ["0", "-5", "many"])
def test_invalid_max_connections(load: Loader, value: str) -> None:
    """The connection cap must be an integer >= 1."""
    with pytest.raises(ConfigError, match=r"^http\.maxconnections: .*integer >= 1"):
        load(MINIMAL + f"http:\n  maxconnections: {value}\n")
