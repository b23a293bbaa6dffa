"""
Tests for L{txregistry.storage.driver.factory}.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
import pytest_twisted
from twisted.application.service import IService
from twisted.internet import reactor

from txregistry.interfaces import IStorageDriver
from txregistry.storage.driver.base import CheckedDriver
from txregistry.storage.driver.factory import ThreadPoolService, makeDriver


@dataclass
class Filesystem:
    """
    A stand-in for the C{storage.filesystem} configuration.
    """

    rootdirectory: str = "/var/lib/registry"
    maxthreads: int = 3


@dataclass
class Storage:
    """
    A stand-in for the C{storage} configuration.
    """

    driver: str = "filesystem"
    filesystem: Filesystem = field(default_factory=Filesystem)


def test_inmemory() -> None:
    """The inmemory driver comes checked and needs no service."""
    setup = makeDriver(Storage(driver="inmemory"), reactor)
    assert isinstance(setup.driver, CheckedDriver)
    assert IStorageDriver.providedBy(setup.driver)
    assert setup.driver.name == "inmemory"
    assert setup.services == []


def test_unknownDriver() -> None:
    """An unknown driver name is refused with ValueError."""
    with pytest.raises(ValueError, match="s3"):
        makeDriver(Storage(driver="s3"), reactor)


@pytest_twisted.ensureDeferred
async def test_filesystem(tmp_path: Path) -> None:
    """The filesystem driver creates its root and runs in a pool started by its service."""
    root = tmp_path / "missing" / "root"
    setup = makeDriver(Storage(filesystem=Filesystem(str(root), 3)), reactor)
    assert root.is_dir()
    assert setup.driver.name == "filesystem"
    [service] = setup.services
    assert isinstance(service, ThreadPoolService) and IService.providedBy(service)
    assert (service.pool.max, service.pool.name) == (3, "txregistry-storage")
    assert not service.pool.started
    service.startService()
    try:
        assert service.pool.started and service.running
        await setup.driver.putContent("/a/file", b"content")
        assert (root / "a" / "file").read_bytes() == b"content"
    finally:
        service.stopService()
    assert not service.pool.started and not service.running
