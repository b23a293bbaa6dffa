"""
Tests for C{storage.maintenance.gc}: online garbage collection's settings.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from txregistry.config import ConfigError, Configuration, GCConfig

Loader = Callable[..., Configuration]

MINIMAL = "version: 0.1\nstorage:\n  inmemory:\n"


def test_defaults(load: Loader) -> None:
    """Without the section, online collection is off, hourly, with an hour's grace."""
    gc = load(MINIMAL).storage.maintenance.gc
    assert gc == GCConfig(enabled=False, interval=timedelta(hours=1),
                          graceperiod=timedelta(hours=1), deleteuntagged=False,
                          dryrun=False)


def test_parsed(load: Loader) -> None:
    """Every key is read, durations in Go's syntax."""
    gc = load(MINIMAL + "  maintenance:\n    gc:\n      enabled: true\n"
              "      interval: 10m\n      graceperiod: 90s\n"
              "      deleteuntagged: true\n      dryrun: true\n").storage.maintenance.gc
    assert gc == GCConfig(True, timedelta(minutes=10), timedelta(seconds=90), True, True)


def test_environment(load: Loader) -> None:
    """REGISTRY_STORAGE_MAINTENANCE_GC_* variables set the keys."""
    gc = load(MINIMAL, {"REGISTRY_STORAGE_MAINTENANCE_GC_ENABLED": "true",
                        "REGISTRY_STORAGE_MAINTENANCE_GC_GRACEPERIOD": "2s"}
              ).storage.maintenance.gc
    assert gc.enabled and gc.graceperiod == timedelta(seconds=2)


@pytest.mark.parametrize("section, message", [
    ("interval: 0s", "storage.maintenance.gc.interval: must be positive"),
    ("graceperiod: soon", "storage.maintenance.gc.graceperiod: "),
    ("enabled: maybe", "storage.maintenance.gc.enabled: "),
    ("grace: 1h", "storage.maintenance.gc.grace: unknown key"),
])
def test_invalid(load: Loader, section: str, message: str) -> None:
    """A bad value or an unknown key is refused with its path."""
    with pytest.raises(ConfigError, match=f"^{message}"):
        load(MINIMAL + f"  maintenance:\n    gc:\n      {section}\n")
