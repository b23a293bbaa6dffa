"""
Tests for L{txregistry.storage.driver.filesystem}.
"""

from __future__ import annotations

import errno
import os
import shutil
import threading
import time
from pathlib import Path
from typing import IO, Any

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.python.threadpool import ThreadPool

from txregistry.interfaces import IStorageDriver
from txregistry.storage.driver.base import CheckedDriver
from txregistry.storage.driver.direct import ALIGN
from txregistry.storage.driver.errors import UnexpectedError
from txregistry.storage.driver.filesystem import FilesystemDriver
from txregistry.storage.driver.testsuite import (
    MiB,
    RecordingProducer,
    StorageDriverTests,
    someBytes,
)

POOL_NAME = "test-storage"


def startPool() -> ThreadPool:
    """
    @return: a started pool whose threads are named after L{POOL_NAME}.
    """
    pool = ThreadPool(minthreads=0, maxthreads=4, name=POOL_NAME)
    pool.start()
    return pool


class TestFilesystemDriver(StorageDriverTests):
    """
    The shared driver suite, over L{FilesystemDriver} with small water marks
    and a small direct buffer, so that writers mix direct and buffered
    writes at every turn.
    """

    highWater = 64 * 1024
    directBuffer = 2 * ALIGN

    def makeDriver(self, tmpPath: Path) -> IStorageDriver:
        self.root, self.pool = tmpPath, startPool()
        return FilesystemDriver(str(tmpPath), reactor, self.pool,
                                highWater=self.highWater, lowWater=16 * 1024,
                                syncEvery=MiB, directBuffer=self.directBuffer)

    def cleanDriver(self) -> None:
        self.pool.stop()
        assert os.listdir(self.root) == [], "files were left under the root"


class TestFilesystemDriverBuffered(TestFilesystemDriver):
    """
    The shared driver suite, over L{FilesystemDriver} writing only through
    the page cache.
    """

    directBuffer = 0


class FailingFile:
    """
    A file whose writes fail with ENOSPC.

    @ivar writes: how many writes were tried.
    """

    def __init__(self, f: IO[bytes]) -> None:
        self._file = f
        self.writes = 0

    def write(self, data: bytes) -> int:
        self.writes += 1
        raise OSError(errno.ENOSPC, "No space left on device")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)

    def __enter__(self) -> FailingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.close()


class TestFilesystemSpecifics:
    """
    What only the filesystem driver promises.
    """

    @pytest.fixture(autouse=True)
    def _pool(self, tmp_path: Path) -> Any:
        self.root = tmp_path
        self.pool = startPool()
        self.opened: list[tuple[str, str, str]] = []
        self.synced: list[tuple[int, str]] = []
        self.failing: list[FailingFile] = []
        self.failMode: str | None = None
        yield
        self.pool.stop()

    def opener(self, path: str, mode: str) -> IO[bytes]:
        self.opened.append((path, mode, threading.current_thread().name))
        f = open(path, mode)
        if mode == self.failMode:
            self.failing.append(FailingFile(f))
            return self.failing[-1]  # type: ignore[return-value]
        return f

    def fdatasync(self, fd: int) -> None:
        self.synced.append((os.lseek(fd, 0, os.SEEK_CUR),
                            threading.current_thread().name))
        os.fdatasync(fd)

    def startWriteback(self, fd: int) -> None:
        self.writtenBack.append((os.lseek(fd, 0, os.SEEK_CUR),
                                 threading.current_thread().name))

    def syncDirectory(self, path: str) -> None:
        self.syncedDirectories.append(path)

    def driver(self, **tuning: int) -> Any:
        self.syncedDirectories: list[str] = []
        self.writtenBack: list[tuple[int, str]] = []
        return CheckedDriver(FilesystemDriver(
            str(self.root), reactor, self.pool, opener=self.opener,
            fdatasync=self.fdatasync, startWriteback=self.startWriteback,
            syncDirectory=self.syncDirectory, **tuning))

    @pytest_twisted.ensureDeferred
    async def test_newDirectoriesDurable(self) -> None:
        """Every directory a small file or a move creates has its entry synced in its parent."""
        driver = self.driver()
        await driver.putContent("/a/b/link", b"x")
        root = str(self.root)
        assert sorted(self.syncedDirectories) == [root, f"{root}/a", f"{root}/a/b"]
        self.syncedDirectories.clear()
        await driver.move("/a/b/link", "/c/d/data")
        assert sorted(self.syncedDirectories) == [root, f"{root}/c", f"{root}/c/d"]
        self.syncedDirectories.clear()
        await driver.putContent("/a/b/other", b"y")
        assert self.syncedDirectories == [f"{root}/a/b"]

    @pytest_twisted.ensureDeferred
    async def test_directoriesSyncedLast(self) -> None:
        """A move syncs the directories it created only once the file is in place."""
        driver = self.driver()
        await driver.putContent("/up/data", b"blob")
        order: list[str] = []
        self.syncDirectory = lambda path: order.append(  # type: ignore[method-assign]
            "file there" if (self.root / "c" / "d" / "data").exists() else "file missing")
        driver = self.driver()
        await driver.move("/up/data", "/c/d/data")
        assert order == ["file there"] * 3

    @pytest_twisted.ensureDeferred
    async def test_notDurable(self) -> None:
        """putContent with durable=False stores atomically without syncing anything."""
        driver = self.driver()
        await driver.putContent("/a/b/startedat", b"now", durable=False)
        assert (self.root / "a" / "b" / "startedat").read_bytes() == b"now"
        assert self.synced == [] and self.syncedDirectories == []
        assert os.listdir(self.root / "a" / "b") == ["startedat"]

    @pytest_twisted.ensureDeferred
    async def test_plainFiles(self) -> None:
        """Stored files are plain files at <root><path>, with open()'s mode."""
        driver = self.driver()
        await driver.putContent("/a/small", b"small")
        writer = await driver.writer("/a/b/large")
        writer.write(someBytes(MiB))
        await writer.commit()
        assert (self.root / "a" / "small").read_bytes() == b"small"
        assert (self.root / "a" / "b" / "large").read_bytes() == someBytes(MiB)
        (self.root / "reference").write_bytes(b"")
        (self.root / "refdir").mkdir()
        mode = (self.root / "reference").stat().st_mode
        assert (self.root / "a" / "small").stat().st_mode == mode
        assert (self.root / "a" / "b").stat().st_mode == (
            self.root / "refdir").stat().st_mode

    @pytest_twisted.ensureDeferred
    async def test_putContentLeavesNoTemporary(self) -> None:
        """putContent leaves only the final file, and a failed one leaves the old."""
        driver = self.driver()
        for n in range(3):
            await driver.putContent("/a/file", b"v%d" % n)
        assert os.listdir(self.root / "a") == ["file"]
        self.failMode = "xb"
        with pytest.raises(UnexpectedError) as caught:
            await driver.putContent("/a/file", b"never")
        assert caught.value.enclosed.errno == errno.ENOSPC
        assert os.listdir(self.root / "a") == ["file"]
        assert await driver.getContent("/a/file") == b"v2"

    @pytest_twisted.ensureDeferred
    async def test_temporaryHidden(self) -> None:
        """A temporary file of putContent is never listed nor walked."""
        driver = self.driver()
        await driver.putContent("/a/file", b"x")
        (self.root / "a" / "file~0123").write_bytes(b"partial")
        assert await driver.list("/a") == ["/a/file"]
        assert [info.path for info in await driver.walk("/")] == ["/a", "/a/file"]

    @pytest_twisted.ensureDeferred
    async def test_syncsDuringLongWrite(self) -> None:
        """A long write starts writeback every syncEvery bytes, and commit syncs once at the end."""
        driver = self.driver(syncEvery=MiB, directBuffer=0)
        writer = await driver.writer("/a/file")
        for n in range(4):
            writer.write(someBytes(MiB, n))
        await writer.commit()
        offsets = [offset for offset, _ in self.writtenBack]
        assert offsets and offsets[0] <= 4 * MiB
        assert [offset for offset, _ in self.synced] == [4 * MiB]

    @pytest_twisted.ensureDeferred
    async def test_closeDoesNotSync(self) -> None:
        """close() stores without waiting for a sync, but starts writeback; commit() syncs once."""
        driver = self.driver()
        writer = await driver.writer("/a/file")
        writer.write(b"data")
        await writer.close()
        assert self.synced == []
        assert [offset for offset, _ in self.writtenBack] == [4]
        writer = await driver.writer("/a/file", True)
        writer.write(b"more")
        await writer.commit()
        assert [offset for offset, _ in self.synced] == [8]

    @pytest_twisted.ensureDeferred
    async def test_ioInThreadPool(self) -> None:
        """Every open, write and sync happens in a thread of the injected pool."""
        driver = self.driver(syncEvery=1)
        await driver.putContent("/a/file", b"content")
        assert await driver.getContent("/a/file") == b"content"
        reader = await driver.reader("/a/file", 3)
        assert await reader.read(100) == b"tent"
        await reader.close()
        writer = await driver.writer("/a/file", True)
        writer.write(b"!")
        await writer.commit()
        threads = [name for *_, name in self.opened + self.synced + self.writtenBack]
        assert len(threads) == 7
        assert all(name.startswith(f"PoolThread-{POOL_NAME}-") for name in threads)

    @pytest_twisted.ensureDeferred
    async def test_backgroundWriteErrorOnCommit(self) -> None:
        """An I/O error in a background write surfaces on commit; writing stops."""
        driver = self.driver()
        self.failMode = "ab"
        writer = await driver.writer("/a/file")
        writer.write(b"lost")
        writer.write(b"also lost")
        assert writer.size() == 13
        with pytest.raises(UnexpectedError) as caught:
            await writer.commit()
        assert caught.value.enclosed.errno == errno.ENOSPC
        assert self.failing[0].writes == 1
        assert self.synced == []

    @pytest_twisted.ensureDeferred
    async def test_backgroundWriteErrorResumesProducer(self) -> None:
        """A failed write drops the queue, so a paused producer is resumed."""
        driver = self.driver(highWater=10, lowWater=5)
        self.failMode = "ab"
        writer = await driver.writer("/a/file")
        producer = RecordingProducer()
        writer.registerProducer(producer, True)
        writer.write(b"more than ten bytes")
        assert producer.events == ["pause"]
        with pytest.raises(UnexpectedError):
            await writer.close()
        assert producer.events == ["pause", "resume"]

    @pytest_twisted.ensureDeferred
    async def test_backgroundWriteErrorStopsProducer(self) -> None:
        """A write that fails stops the producer at once (the rest of a
        request body is not read for nothing); the error comes with close."""
        driver = self.driver(directBuffer=0)
        self.failMode = "ab"
        writer = await driver.writer("/a/file")
        producer = RecordingProducer()
        writer.registerProducer(producer, True)
        writer.write(b"lost")
        for _ in range(1000):       # the failure comes back from a thread
            if producer.events:
                break
            await deferLater(reactor, 0.01)
        assert producer.events == ["stop"]
        writer.unregisterProducer()
        with pytest.raises(UnexpectedError):
            await writer.close()

    @pytest_twisted.ensureDeferred
    async def test_redirectURL(self) -> None:
        """The filesystem driver has no URL to redirect to."""
        assert await self.driver().redirectURL("/a/file", "GET") is None

    @pytest_twisted.ensureDeferred
    async def test_moveOnDisk(self) -> None:
        """move replaces the destination file on disk with the source's bytes."""
        driver = self.driver()
        await driver.putContent("/a/upload/data", b"blob")
        await driver.move("/a/upload/data", "/a/blobs/ab/data")
        assert (self.root / "a" / "blobs" / "ab" / "data").read_bytes() == b"blob"
        assert not (self.root / "a" / "upload" / "data").exists()


def test_writebackKeepsPagesCached(tmp_path: Path) -> None:
    """On Linux, writeback is started with sync_file_range, which succeeds on a real file."""
    from txregistry.storage.driver import filesystem

    assert filesystem._syncFileRange is not None
    with open(tmp_path / "f", "wb") as f:
        f.write(b"x" * 100_000)
        f.flush()
        assert filesystem._syncFileRange(f.fileno(), 0, 0, filesystem._SYNC_FILE_RANGE_WRITE) == 0
        filesystem._startWriteback(f.fileno())


@pytest_twisted.ensureDeferred
async def test_writerLockAcrossProcesses(tmp_path: Path) -> None:
    """A file another process writes (holds its flock) cannot be opened for writing: PathBusy."""
    import subprocess
    import sys

    from txregistry.storage.driver.errors import PathBusy

    (tmp_path / "file").write_bytes(b"held")
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, sys, time; f = open(sys.argv[1], 'r+b'); "
         "fcntl.flock(f, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(30)",
         str(tmp_path / "file")], stdout=subprocess.PIPE)
    pool = startPool()
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"locked\n"
        driver = FilesystemDriver(str(tmp_path), reactor, pool)
        with pytest.raises(PathBusy):
            await driver.writer("/file", append=True)
        holder.kill()
        holder.wait()
        writer = await driver.writer("/file", append=True)
        writer.write(b"!")
        await writer.commit()
        assert (tmp_path / "file").read_bytes() == b"held!"
    finally:
        holder.kill()
        holder.wait()
        pool.stop()


@pytest_twisted.ensureDeferred
async def test_removeTemporaries(tmp_path: Path) -> None:
    """removeTemporaries removes the temporary files of putContent older than
    the time given, at any depth, and nothing else: not younger ones, not
    other names, not what a symbolic link leads to."""
    pool = startPool()
    try:
        driver = FilesystemDriver(str(tmp_path), reactor, pool)
        await driver.putContent("/v2/blobs/sha256/ab/abcd/data", b"blob")
        blob = tmp_path / "v2/blobs/sha256/ab/abcd"
        old, young = blob / "data~0123456789abcdef", blob / "data~fedcba9876543210"
        others = [blob / "data~0123", tmp_path / "v2/x~0123456789abcdeg",
                  tmp_path / "notes~0123456789ABCDEF"]
        outside = tmp_path.parent / f"{tmp_path.name}-outside"
        outside.mkdir()
        behindLink = outside / "data~00000000000000aa"
        (tmp_path / "v2/link").symlink_to(outside)
        deep = tmp_path.joinpath(*"v2/repositories/a/b/c/d/e/f/g/h/i/j".split("/"))
        deep.mkdir(parents=True)
        oldDeep = deep / "link~aaaaaaaaaaaaaaaa"
        for path in [old, young, *others, behindLink, oldDeep]:
            path.write_bytes(b"partial")
        now = time.time()
        for path in [old, *others, behindLink, oldDeep]:
            os.utime(path, (now - 7200, now - 7200))
        removed = await driver.removeTemporaries(now - 3600)
        assert sorted(removed) == sorted(
            "/" + str(path.relative_to(tmp_path)) for path in [old, oldDeep])
        assert not old.exists() and not oldDeep.exists()
        assert all(path.exists() for path in [young, *others, behindLink])
        assert (blob / "data").read_bytes() == b"blob"
        assert await driver.removeTemporaries(now - 3600) == []
    finally:
        pool.stop()


@pytest_twisted.ensureDeferred
async def test_smallReadsInMetadataPool(tmp_path: Path) -> None:
    """Small reads run in the metadata pool; writes in the main pool."""
    threads: list[tuple[str, str]] = []

    def opener(path: str, mode: str) -> IO[bytes]:
        threads.append((mode, threading.current_thread().name))
        return open(path, mode)

    bulk = ThreadPool(minthreads=0, maxthreads=2, name="bulk")
    small = ThreadPool(minthreads=0, maxthreads=2, name="small")
    bulk.start()
    small.start()
    try:
        driver = FilesystemDriver(str(tmp_path), reactor, bulk, metadataPool=small,
                                  opener=opener)
        await driver.putContent("/a/link", b"sha256:x")
        assert await driver.getContents(["/a/link"]) == [b"sha256:x"]
        assert await driver.getContent("/a/link") == b"sha256:x"
        pools = [(mode, name.rsplit("-", 1)[0]) for mode, name in threads]
        assert pools == [("xb", "PoolThread-bulk"), ("rb", "PoolThread-small"),
                         ("rb", "PoolThread-small")]
    finally:
        bulk.stop()
        small.stop()


@pytest_twisted.ensureDeferred
async def test_withoutDirectIO(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a filesystem without O_DIRECT, writers write through the page cache, and stop trying."""
    from txregistry.storage.driver import filesystem

    tried: list[str] = []

    def noDirect(path: str) -> None:
        tried.append(path)
        return None
    monkeypatch.setattr(filesystem, "openDirect", noDirect)
    pool = startPool()
    try:
        driver = FilesystemDriver(str(tmp_path), reactor, pool, directBuffer=ALIGN)
        for n in range(2):
            writer = await driver.writer("/file", append=bool(n))
            writer.write(someBytes(3 * ALIGN, n))
            await writer.commit()
        assert (tmp_path / "file").read_bytes() == someBytes(3 * ALIGN, 0) + someBytes(3 * ALIGN, 1)
        assert tried == [str(tmp_path / "file")]
    finally:
        pool.stop()


@pytest_twisted.ensureDeferred
async def test_readAheadInDeviceSteps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A reader asks the kernel to read ahead of it, in calls no larger than the device's limit."""
    from txregistry.storage.driver import filesystem

    advised: list[tuple[int, int]] = []
    monkeypatch.setattr(filesystem, "_fadvise",
                        lambda fd, offset, length, advice: advised.append((offset, length)))
    fd = os.open(tmp_path, os.O_RDONLY)
    limit = filesystem._readAheadLimit(fd)
    os.close(fd)
    assert limit >= 128 * 1024
    (tmp_path / "blob").write_bytes(b"x" * 100)
    pool = startPool()
    try:
        driver = FilesystemDriver(str(tmp_path), reactor, pool)
        reader = await driver.reader("/blob", 10)
        assert await reader.read(50) == b"x" * 50
        await reader.close()
    finally:
        pool.stop()
    assert advised[0][0] == 10 and all(length <= limit for _, length in advised)
    assert sum(length for _, length in advised) == filesystem.READ_AHEAD
    assert [offset for offset, _ in advised] == sorted({offset for offset, _ in advised})


class VanishingDriver(FilesystemDriver):
    """
    A filesystem driver that deletes C{victim} right after listing its
    parent, as a request served during a walk would.
    """

    victim: str | None = None

    def _children(self, path: str) -> list[str]:
        children = super()._children(path)
        if self.victim is not None and self.victim.rsplit("/", 1)[0] == path:
            shutil.rmtree(self._local(self.victim))
            self.victim = None
        return children


@pytest_twisted.ensureDeferred
async def test_walkSkipsWhatVanishes(tmp_path: Path) -> None:
    """A directory deleted while a walk runs is left out of it, and the walk lists everything else instead of failing."""
    pool = startPool()
    try:
        driver = VanishingDriver(str(tmp_path), reactor, pool)
        await driver.putContent("/tags/a/current/link", b"x")
        await driver.putContent("/tags/b/current/link", b"y")
        driver.victim = "/tags/a"
        infos = await driver.walk("/tags")
        assert [info.path for info in infos] == [
            "/tags/b", "/tags/b/current", "/tags/b/current/link"]
    finally:
        pool.stop()
