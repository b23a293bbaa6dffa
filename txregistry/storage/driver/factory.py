"""
Build the storage driver the configuration names, wrapped once in
L{CheckedDriver}, with the services it needs running.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from twisted.application.service import IService, Service
from twisted.internet.defer import Deferred
from twisted.python.threadpool import ThreadPool

from txregistry.cache import CountedLookups
from txregistry.interfaces import IStorageDriver
from txregistry.storage.driver.base import CallObserver, CheckedDriver

#: Threads for the filesystem driver's small reads (see FilesystemDriver).
METADATA_THREADS = 4


class ThreadPoolService(Service):
    """
    Starts a thread pool with the service and stops it (waiting for its
    threads) with the service.

    @ivar pool: the L{ThreadPool}.
    """

    def __init__(self, pool: ThreadPool) -> None:
        self.pool = pool

    def startService(self) -> None:
        super().startService()
        self.pool.start()

    def stopService(self) -> None:
        super().stopService()
        self.pool.stop()


@dataclass(frozen=True)
class StorageDriverSetup:
    """
    A driver and what must run for it to work.

    @ivar driver: the checked L{IStorageDriver}.
    @ivar services: L{IService}s to add to the application.
    @ivar removeTemporaries: removes the temporary files an interrupted
        write left (L{FilesystemDriver.removeTemporaries}), or L{None} if
        the driver makes none.
    @ivar caches: the driver's caches, by name (C{links}, the
        L{WatchedFiles}, where inotify works).
    """

    driver: IStorageDriver
    services: list[IService] = field(default_factory=list)
    removeTemporaries: Callable[[float], Deferred[list[str]]] | None = None
    caches: dict[str, CountedLookups] = field(default_factory=dict)


def _makeRoot(root: str) -> None:
    """
    Create the filesystem driver's root directory if it is missing.

    @raise ValueError: if it cannot be, naming the key and the reason.
    """
    try:
        os.makedirs(root, exist_ok=True)
    except OSError as e:
        where = f" ({e.filename})" if e.filename not in (None, root) else ""
        raise ValueError(f"storage.filesystem.rootdirectory: cannot create {root}: "
                         f"{e.strerror or e}{where}") from None


def makeDriver(storage: Any, reactor: Any, observer: CallObserver | None = None,
               cacheLinks: bool = True) -> StorageDriverSetup:
    """
    @param storage: the C{storage} configuration: its C{driver} is
        C{"filesystem"} or C{"inmemory"}; for C{"filesystem"}, its
        C{filesystem} has C{rootdirectory} (absolute; created if missing),
        C{maxthreads} and C{uploadmemory}.  Where inotify works, its links are cached
        (L{WatchedDriver}).
    @param reactor: the reactor the driver delivers results in, and the
        clock timing its calls for C{observer}.
    @param observer: told of each of the driver's calls once it ends (see
        L{CheckedDriver}); or L{None}.
    @param cacheLinks: whether to cache links where inotify works (a
        command reading each link once has no use for it).
    @raise ValueError: if the driver is unknown, or the root directory
        cannot be created.
    """
    # Each driver's modules are imported when it is configured.
    if storage.driver == "inmemory":
        from txregistry.storage.driver.inmemory import InMemoryDriver
        return StorageDriverSetup(CheckedDriver(InMemoryDriver(), observer, reactor))
    if storage.driver == "filesystem":
        from txregistry.storage.driver.filesystem import FilesystemDriver
        from txregistry.storage.driver.uploadmemory import UploadMemory
        from txregistry.storage.driver.watched import (
            Inotify,
            WatchedDriver,
            WatchedFiles,
            WatchService,
            defaultCapacity,
        )
        config = storage.filesystem
        _makeRoot(config.rootdirectory)
        pool = ThreadPool(minthreads=0, maxthreads=config.maxthreads,
                          name="txregistry-storage")
        metadata = ThreadPool(minthreads=0, maxthreads=METADATA_THREADS,
                              name="txregistry-metadata")
        filesystem = FilesystemDriver(
            config.rootdirectory, reactor, pool, metadataPool=metadata,
            memory=UploadMemory(config.uploadmemory))
        driver: IStorageDriver = filesystem
        services: list[IService] = [ThreadPoolService(pool), ThreadPoolService(metadata)]
        caches: dict[str, CountedLookups] = {}
        inotify = Inotify.open() if cacheLinks else None
        if inotify is not None:
            files = caches["links"] = WatchedFiles(inotify, defaultCapacity())
            driver = WatchedDriver(driver, config.rootdirectory, files)
            services.append(WatchService(files, reactor))
        return StorageDriverSetup(CheckedDriver(driver, observer, reactor), services,
                                  filesystem.removeTemporaries, caches)
    raise ValueError(f"unknown storage driver: {storage.driver!r}")
