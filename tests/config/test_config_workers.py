"""
Tests for C{http.workers}, txregistry's extension: how many processes
serve each listening address.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from txregistry.config import ConfigError, Configuration

MINIMAL = "version: 0.1\nstorage:\n  inmemory:\n"

Loader = Callable[..., Configuration]


def test_default_one(load: Loader) -> None:
    """Without http.workers one process serves."""
    assert load(MINIMAL).http.workers == 1


def test_given(load: Loader) -> None:
    """http.workers is read as an integer."""
    assert load(MINIMAL + "http:\n  workers: 4\n").http.workers == 4


def test_from_environment(load: Loader) -> None:
    """REGISTRY_HTTP_WORKERS sets it."""
    config = load(MINIMAL, {"REGISTRY_HTTP_WORKERS": "3"})
    assert config.http.workers == 3


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5", "true"])
def test_invalid(load: Loader, value: str) -> None:
    """Anything but an integer >= 1 is refused at http.workers."""
    with pytest.raises(ConfigError, match=r"http\.workers.*integer >= 1"):
        load(MINIMAL + f"http:\n  workers: {value}\n")


def test_unix_refused(start: Loader) -> None:
    """A unix socket cannot be shared by several workers: the start fails at
    http.addr (checked by txregistry.tls.listeners.check_endpoints)."""
    with pytest.raises(ConfigError, match=r"http\.addr.*SO_REUSEPORT"):
        start(MINIMAL + "http:\n  net: unix\n  addr: /tmp/r.sock\n  workers: 2\n")


def test_unix_one_worker(start: Loader) -> None:
    """With one worker a unix socket is fine."""
    config = start(MINIMAL + "http:\n  net: unix\n  addr: /tmp/r.sock\n  workers: 1\n")
    assert config.listen_endpoints() == ["unix:/tmp/r.sock"]


def test_shareable_endpoints(start: Loader) -> None:
    """tcp:, tcp6: and ssl: endpoints are accepted with several workers."""
    config = start(
        MINIMAL + "http:\n  workers: 2\n  endpoints: ['tcp:5000', 'tcp6:5001']\n"
    )
    assert config.http.workers == 2
