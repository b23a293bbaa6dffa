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
from txregistry.storage.driver.factory import (
    METADATA_THREADS,
    ThreadPoolService,
    makeDriver,
)
from txregistry.storage.driver.watched import WatchService


@dataclass
class Filesystem:
    """
    A stand-in for the C{storage.filesystem} configuration.
    """

    rootdirectory: str = "/var/lib/registry"
    maxthreads: int = 3
    uploadmemory: int = 8 * 1024 * 1024


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
    """The filesystem driver creates its root, runs in pools (bulk: maxthreads; small reads: a few) started by their services, and caches links watched by a service."""
    root = tmp_path / "missing" / "root"
    setup = makeDriver(Storage(filesystem=Filesystem(str(root), 3)), reactor)
    assert root.is_dir()
    assert setup.driver.name == "filesystem"
    *pools, watch = setup.services
    assert all(isinstance(s, ThreadPoolService) and IService.providedBy(s) for s in pools)
    assert [(s.pool.max, s.pool.name) for s in pools] == [
        (3, "txregistry-storage"), (METADATA_THREADS, "txregistry-metadata")]
    assert not any(s.pool.started for s in pools)
    assert isinstance(watch, WatchService)
    for service in setup.services:
        service.startService()
    try:
        assert all(s.pool.started and s.running for s in pools)
        await setup.driver.putContent("/a/file", b"content")
        assert await setup.driver.getContent("/a/file") == b"content"
        assert (root / "a" / "file").read_bytes() == b"content"
        await setup.driver.putContent("/a/link", b"sha256:x")
        assert await setup.driver.getContent("/a/link") == b"sha256:x"
        assert len(watch.files) == 1
    finally:
        for service in setup.services:
            service.stopService()
    assert not any(s.pool.started or s.running for s in pools)
    assert len(watch.files) == 0
