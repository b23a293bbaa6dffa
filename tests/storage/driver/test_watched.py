"""
Tests for L{txregistry.storage.driver.watched}: link files cached while
inotify watches their directory.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.python.threadpool import ThreadPool

from txregistry.interfaces import IStorageDriver
from txregistry.storage.driver.filesystem import FilesystemDriver
from txregistry.storage.driver.testsuite import StorageDriverTests
from txregistry.storage.driver.watched import (
    CAPACITY,
    IN_Q_OVERFLOW,
    Inotify,
    WatchedDriver,
    WatchedFiles,
    WatchService,
    defaultCapacity,
)

pytestmark = pytest.mark.skipif(Inotify.open() is None, reason="no inotify here")


def startPool() -> ThreadPool:
    """
    @return: a started pool.
    """
    pool = ThreadPool(minthreads=0, maxthreads=2, name="test-watched")
    pool.start()
    return pool


def watches(files: WatchedFiles) -> int:
    """
    @return: how many watches the kernel holds for C{files}' instance.
    """
    with open(f"/proc/self/fdinfo/{files.fileno()}") as info:
        return sum(line.startswith("inotify") for line in info)


def writeLink(path: Path, content: bytes) -> None:
    """
    Replace a link atomically, as the drivers do.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name("link~new")
    temporary.write_bytes(content)
    os.replace(temporary, path)


def inOtherProcess(code: str, *args: str) -> None:
    """
    Run Python C{code} (with C{sys.argv[1:]} = C{args}) in another process,
    until it exits.
    """
    subprocess.run([sys.executable, "-c", f"import os, sys; {code}", *args], check=True)


class FakeInotify(Inotify):
    """
    A real inotify instance whose C{add} may fail with a chosen error, and
    which can report a queue overflow.
    """

    def __init__(self) -> None:
        real = Inotify.open()
        assert real is not None
        super().__init__(real._libc, real.fileno())
        self.addError: int | None = None
        self.overflow = False

    def add(self, directory: str) -> int:
        if self.addError is not None:
            raise OSError(self.addError, os.strerror(self.addError), directory)
        return super().add(directory)

    def read(self) -> list[tuple[int, int]]:
        events = super().read()
        if self.overflow:
            self.overflow = False
            events.append((-1, IN_Q_OVERFLOW))
        return events


def cached(files: WatchedFiles, path: Path, content: bytes) -> None:
    """
    Cache C{content} as C{path}'s, as a read through C{files} does.
    """
    files.refresh()
    directory = files.watch(str(path))
    assert directory is not None
    files.refresh()
    files.fill(directory, str(path), content)
    assert files.get(str(path)) == content


class TestWatchedFiles:
    """
    The cache alone, driven as a driver drives it.
    """

    @pytest.fixture(autouse=True)
    def _files(self, tmp_path: Path) -> Any:
        self.inotify = FakeInotify()
        self.files = WatchedFiles(self.inotify, capacity=3)
        self.link = tmp_path / "a" / "link"
        writeLink(self.link, b"sha256:1")
        yield
        self.files.close()

    def test_changeByOtherProcessSeenAtOnce(self) -> None:
        """A link replaced or removed by another process is dropped by the very next lookup."""
        for change in ("os.replace(sys.argv[2], sys.argv[1])", "os.unlink(sys.argv[1])"):
            cached(self.files, self.link, b"sha256:1")
            writeLink(self.link.with_name("new"), b"sha256:2")
            inOtherProcess(change, str(self.link), str(self.link.with_name("new")))
            self.files.refresh()
            assert self.files.get(str(self.link)) is None
            writeLink(self.link, b"sha256:1")

    def test_lookupsCounted(self) -> None:
        """Each lookup counts as a hit if the file is cached, else as a miss."""
        self.files.get(str(self.link))
        cached(self.files, self.link, b"sha256:1")
        self.files.get(str(self.link))
        assert (self.files.hits, self.files.misses) == (2, 1)

    def test_eventBeforeFillPreventsIt(self) -> None:
        """A change between the watch and the fill keeps the (maybe stale) content out."""
        self.files.refresh()
        directory = self.files.watch(str(self.link))
        assert directory is not None
        stale = self.link.read_bytes()
        inOtherProcess("os.unlink(sys.argv[1])", str(self.link))
        self.files.refresh()
        self.files.fill(directory, str(self.link), stale)
        assert self.files.get(str(self.link)) is None
        assert len(self.files) == 0
        assert watches(self.files) == 0

    def test_missingNotCached(self) -> None:
        """A missing file is not cached and its directory is no longer watched."""
        self.files.refresh()
        directory = self.files.watch(str(self.link.with_name("other")))
        assert directory is not None
        self.files.refresh()
        self.files.fill(directory, str(self.link.with_name("other")), None)
        assert len(self.files) == 0
        assert watches(self.files) == 0

    def test_evictionRemovesWatches(self, tmp_path: Path) -> None:
        """Past its capacity the least recently used file goes, with its directory's watch."""
        links = [tmp_path / name / "link" for name in "bcde"]
        for link in links:
            writeLink(link, b"x")
        for link in links[:3]:
            cached(self.files, link, b"x")
        assert watches(self.files) == 3
        self.files.get(str(links[0]))
        cached(self.files, links[3], b"x")
        assert [self.files.get(str(link)) for link in links] == [b"x", None, b"x", b"x"]
        assert watches(self.files) == 3

    def test_sharedDirectoryWatchedOnce(self) -> None:
        """Files of one directory share its watch, which goes with the last of them."""
        other = self.link.with_name("other")
        other.write_bytes(b"y")
        cached(self.files, self.link, b"sha256:1")
        cached(self.files, other, b"y")
        assert watches(self.files) == 1
        other.write_bytes(b"z")
        self.files.refresh()
        assert (self.files.get(str(self.link)), self.files.get(str(other))) == (None, None)
        assert watches(self.files) == 0

    @pytest.mark.parametrize("error", [errno.ENOENT, errno.ENOSPC])
    def test_unwatchableNotCached(self, error: int) -> None:
        """A directory that cannot be watched (missing, watch limit reached) is not cached."""
        self.inotify.addError = error
        assert self.files.watch(str(self.link)) is None
        assert len(self.files) == 0

    def test_overflowClears(self) -> None:
        """A queue overflow drops every file and watch."""
        cached(self.files, self.link, b"sha256:1")
        self.inotify.overflow = True
        self.files.refresh()
        assert len(self.files) == 0
        assert watches(self.files) == 0

    def test_invalidateBelow(self, tmp_path: Path) -> None:
        """Invalidating a path drops the file there, its directory's files and every file below it."""
        deep = tmp_path / "a" / "b" / "c" / "link"
        aside = tmp_path / "x" / "link"
        for link in (deep, aside):
            writeLink(link, b"x")
            cached(self.files, link, b"x")
        self.files.invalidate(str(tmp_path / "a" / "b"))
        assert (self.files.get(str(deep)), self.files.get(str(aside))) == (None, b"x")
        self.files.invalidate(str(aside))
        assert len(self.files) == 0
        assert watches(self.files) == 0

    def test_close(self) -> None:
        """Once closed, nothing is cached."""
        cached(self.files, self.link, b"sha256:1")
        self.files.close()
        self.files.refresh()
        assert self.files.get(str(self.link)) is None
        assert self.files.watch(str(self.link)) is None


def test_defaultCapacity(tmp_path: Path) -> None:
    """At most a quarter of the user's watch limit is used, and CAPACITY where it is unknown."""
    limit = tmp_path / "max_user_watches"
    limit.write_text("8192\n")
    assert defaultCapacity(str(limit)) == 2048
    limit.write_text("1048576\n")
    assert defaultCapacity(str(limit)) == CAPACITY
    assert defaultCapacity(str(tmp_path / "missing")) == CAPACITY


class TestWatchedDriver:
    """
    L{WatchedDriver} over a L{FilesystemDriver}.
    """

    @pytest.fixture(autouse=True)
    def _driver(self, tmp_path: Path) -> Any:
        self.root = tmp_path
        self.pool = startPool()
        self.opened: list[str] = []
        self.failing = ""
        inotify = Inotify.open()
        assert inotify is not None
        self.files = WatchedFiles(inotify)
        self.service = WatchService(self.files, reactor)
        self.service.startService()
        self.driver = WatchedDriver(
            FilesystemDriver(str(tmp_path), reactor, self.pool, opener=self.opener),
            str(tmp_path), self.files)
        yield
        self.service.stopService()
        self.pool.stop()

    def opener(self, path: str, mode: str) -> IO[bytes]:
        self.opened.append(path[len(str(self.root)):])
        if path == f"{self.root}{self.failing}" and mode == "rb":
            raise OSError(errno.EIO, "I/O error")
        return open(path, mode)

    @pytest_twisted.ensureDeferred
    async def test_hitWithoutThread(self) -> None:
        """Once read, links are answered at once, with no thread; other files are read each time."""
        await self.driver.putContent("/r/a/link", b"sha256:a")
        await self.driver.putContent("/r/b/link", b"sha256:b")
        await self.driver.putContent("/r/data", b"blob")
        paths = ["/r/a/link", "/r/b/link", "/r/c/link"]
        assert await self.driver.getContents(paths) == [b"sha256:a", b"sha256:b", None]
        assert await self.driver.getContent("/r/data") == b"blob"
        self.opened.clear()
        got: list[Any] = []
        self.driver.getContents(paths[:2]).addCallback(got.append)
        self.driver.getContent("/r/a/link").addCallback(got.append)
        assert got == [[b"sha256:a", b"sha256:b"], b"sha256:a"]
        assert self.opened == []
        assert await self.driver.getContents(paths) == [b"sha256:a", b"sha256:b", None]
        assert await self.driver.getContent("/r/data") == b"blob"
        assert self.opened == ["/r/c/link", "/r/data"]

    @pytest_twisted.ensureDeferred
    async def test_otherProcessWrite(self) -> None:
        """A link another process replaces is read afresh by the next read."""
        await self.driver.putContent("/r/a/link", b"sha256:a")
        assert await self.driver.getContent("/r/a/link") == b"sha256:a"
        writeLink(self.root / "new", b"sha256:b")
        inOtherProcess("os.replace(sys.argv[1], sys.argv[2])",
                       str(self.root / "new"), str(self.root / "r" / "a" / "link"))
        d = self.driver.getContents(["/r/a/link"])
        assert not d.called
        assert await d == [b"sha256:b"]

    @pytest_twisted.ensureDeferred
    async def test_ownWritesInvalidateAtOnce(self) -> None:
        """A write or delete through the driver drops the link when called and when done."""
        await self.driver.putContent("/r/t/current/link", b"sha256:a")
        assert await self.driver.getContent("/r/t/current/link") == b"sha256:a"
        written = self.driver.putContent("/r/t/current/link", b"sha256:b")
        assert len(self.files) == 0
        # A read racing the write is not kept: it may have read the old link.
        racing = self.driver.getContent("/r/t/current/link")
        await written
        await racing
        assert await self.driver.getContent("/r/t/current/link") == b"sha256:b"
        deleted = self.driver.delete("/r/t")
        assert len(self.files) == 0
        await deleted
        assert await self.driver.getContents(["/r/t/current/link"]) == [None]
        await self.driver.putContent("/r/m/link", b"sha256:m")
        assert await self.driver.getContent("/r/m/link") == b"sha256:m"
        moved = self.driver.move("/r/m/link", "/r/n/link")
        assert len(self.files) == 0
        await moved
        assert await self.driver.getContents(["/r/m/link", "/r/n/link"]) == [None, b"sha256:m"]
        await self.driver.delete("/r")

    @pytest_twisted.ensureDeferred
    async def test_deleteAllInvalidatesAtOnce(self) -> None:
        """deleteAll drops the links below every path it deletes, when called and when done."""
        await self.driver.putContent("/r/a/link", b"sha256:a")
        await self.driver.putContent("/r/b/c/link", b"sha256:c")
        await self.driver.putContent("/r/d/link", b"sha256:d")
        paths = ["/r/a/link", "/r/b/c/link", "/r/d/link"]
        assert await self.driver.getContents(paths) == [b"sha256:a", b"sha256:c", b"sha256:d"]
        deleted = self.driver.deleteAll(["/r/a", "/r/b"])
        assert await self.driver.getContents(paths[2:]) == [b"sha256:d"]
        assert len(self.files) == 1
        # A read racing the delete is not kept: it may have read the link.
        racing = self.driver.getContents(paths)
        assert await deleted == [True, True]
        await racing
        self.opened.clear()
        assert await self.driver.getContents(paths) == [None, None, b"sha256:d"]
        assert self.opened == ["/r/a/link", "/r/b/c/link"]
        await self.driver.delete("/r")

    @pytest_twisted.ensureDeferred
    async def test_failedReadNotCached(self) -> None:
        """A read that fails is reported, caches nothing and leaves no watch behind."""
        await self.driver.putContent("/r/a/link", b"sha256:a")
        self.failing = "/r/a/link"
        with pytest.raises(OSError):
            await self.driver.getContents(["/r/a/link"])
        with pytest.raises(OSError):
            await self.driver.getContent("/r/a/link")
        assert len(self.files) == 0
        assert watches(self.files) == 0

    @pytest_twisted.ensureDeferred
    async def test_idleEventsConsumed(self) -> None:
        """The reactor reads the events while no lookup does."""
        await self.driver.putContent("/r/a/link", b"sha256:a")
        assert await self.driver.getContent("/r/a/link") == b"sha256:a"
        writeLink(self.root / "r" / "a" / "link", b"sha256:b")
        d: Deferred[None] = Deferred()
        reactor.callLater(0.05, d.callback, None)
        await d
        assert len(self.files) == 0


class TestWatchedDriverSuite(StorageDriverTests):
    """
    The shared driver suite, over L{WatchedDriver}.
    """

    highWater = 64 * 1024

    def makeDriver(self, tmpPath: Path) -> IStorageDriver:
        self.root, self.pool = tmpPath, startPool()
        inotify = Inotify.open()
        assert inotify is not None
        self.files = WatchedFiles(inotify)
        filesystem = FilesystemDriver(str(tmpPath), reactor, self.pool,
                                      highWater=self.highWater, lowWater=16 * 1024)
        return WatchedDriver(filesystem, str(tmpPath), self.files)

    def cleanDriver(self) -> None:
        self.files.close()
        self.pool.stop()
        assert os.listdir(self.root) == [], "files were left under the root"
