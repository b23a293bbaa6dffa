"""
The one test suite every storage driver runs (the shape of distribution's
C{driver/testsuites/testsuites.go}).

A driver's test module subclasses L{StorageDriverTests}, names the class
C{Test...} and implements L{StorageDriverTests.makeDriver}.  Each test gets a
fresh driver wrapped in L{CheckedDriver}, keeps its files under C{/t}, and
fails if the driver still holds anything when it ends.  Needs pytest and
pytest-twisted.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.interfaces import IPushProducer
from zope.interface import implementer

from txregistry.interfaces import FileInfo, IStorageDriver
from txregistry.storage.driver.base import CheckedDriver
from txregistry.storage.driver.errors import (
    InvalidOffset,
    InvalidPath,
    PathBusy,
    PathNotFound,
    StorageDriverError,
)

MiB = 1024 * 1024

INVALID_PATHS = [
    "", "a/b", "/..", "/.", "/t/..", "/t/.", "/t/../b", "/t/./b", "//t", "/t//b",
    "/t/b/", "/t\x00b", "/t\u00e9", "/t b", "/t/b\n", "\\t",
]


def someBytes(size: int, seed: int = 0) -> bytes:
    """
    @return: C{size} pseudo-random bytes, the same for the same C{seed}.
    """
    return random.Random(seed).randbytes(size)


async def assertHoldsNothing(driver: IStorageDriver) -> None:
    """
    Fail unless C{driver} stores no file and no directory.
    """
    left = await driver.walk("/")
    assert left == [], f"the test left {[info.path for info in left]}"


@implementer(IPushProducer)
class RecordingProducer:
    """
    A push producer that records what its consumer asks of it.

    @ivar events: C{"pause"}, C{"resume"} and C{"stop"}, in order.
    """

    def __init__(self) -> None:
        self.events: list[str] = []

    def pauseProducing(self) -> None:
        self.events.append("pause")

    def resumeProducing(self) -> None:
        self.events.append("resume")

    def stopProducing(self) -> None:
        self.events.append("stop")


async def _write(driver: Any, path: str, chunks: list[bytes],
                 append: bool = False) -> bytes:
    writer = await driver.writer(path, append)
    for chunk in chunks:
        writer.write(chunk)
    await writer.commit()
    return b"".join(chunks)


async def _readAll(reader: Any, size: int) -> bytes:
    parts = []
    while part := await reader.read(size):
        parts.append(part)
    await reader.close()
    return b"".join(parts)


class StorageDriverTests:
    """
    The tests of the L{IStorageDriver} contract, for any driver.

    @cvar highWater: the queued bytes above which the driver's writers pause
        their producer, or L{None} if they never do.
    @ivar driver: the driver under test, wrapped in L{CheckedDriver}.
    """

    highWater: int | None = None

    def makeDriver(self, tmpPath: Path) -> IStorageDriver:
        """
        @param tmpPath: a fresh directory the driver may use.
        @return: a new, empty, unwrapped driver.
        """
        raise NotImplementedError

    def cleanDriver(self) -> None:
        """
        Release what L{makeDriver} took, after the emptiness check.
        """

    @pytest.fixture(autouse=True)
    def _driver(self, tmp_path: Path) -> Any:
        self.driver = CheckedDriver(self.makeDriver(tmp_path))
        yield
        try:
            pytest_twisted.blockon(
                Deferred.fromCoroutine(assertHoldsNothing(self.driver))
            )
        finally:
            self.cleanDriver()

    @pytest.mark.parametrize("size", [0, 1, 3 * MiB + 7])
    @pytest_twisted.ensureDeferred
    async def test_putGetContent(self, size: int) -> None:
        """getContent returns exactly what putContent stored."""
        await self.driver.putContent("/t/a/file", someBytes(size))
        assert await self.driver.getContent("/t/a/file") == someBytes(size)
        await self.driver.delete("/t")

    @pytest_twisted.ensureDeferred
    async def test_putContentOverwrites(self) -> None:
        """putContent replaces a longer content with a shorter one."""
        await self.driver.putContent("/t/file", someBytes(100_000, 1))
        await self.driver.putContent("/t/file", b"short")
        assert await self.driver.getContent("/t/file") == b"short"
        assert (await self.driver.stat("/t/file")).size == 5
        await self.driver.delete("/t")

    @pytest_twisted.ensureDeferred
    async def test_getContentMissing(self) -> None:
        """getContent of a missing file fails with PathNotFound."""
        with pytest.raises(PathNotFound):
            await self.driver.getContent("/t/missing")

    @pytest_twisted.ensureDeferred
    async def test_putContentBelowFile(self) -> None:
        """A file cannot be stored below another file."""
        await self.driver.putContent("/t/file", b"x")
        with pytest.raises(StorageDriverError):
            await self.driver.putContent("/t/file/below", b"y")
        assert await self.driver.getContent("/t/file") == b"x"
        await self.driver.delete("/t")

    @pytest_twisted.ensureDeferred
    async def test_writerClose(self) -> None:
        """Chunks written then closed are stored in order; size() counts them."""
        writer = await self.driver.writer("/t/file")
        chunks = [someBytes(n, n) for n in (1, 0, 1000, 70_000, 5)]
        for chunk in chunks:
            writer.write(chunk)
        assert writer.size() == sum(map(len, chunks))
        await writer.close()
        assert await self.driver.getContent("/t/file") == b"".join(chunks)
        await self.driver.delete("/t")

    @pytest_twisted.ensureDeferred
    async def test_writerLarge(self) -> None:
        """Several MiB in many uneven chunks are committed intact."""
        chunks = [someBytes(n, n) for n in range(1, 5 * MiB, 333_333)]
        content = await _write(self.driver, "/t/file", chunks)
        assert await self.driver.getContent("/t/file") == content
        await self.driver.delete("/t")

    @pytest_twisted.ensureDeferred
    async def test_writerAppendResumes(self) -> None:
        """An appending writer starts at the stored size and continues the file."""
        writer = await self.driver.writer("/t/file")
        writer.write(b"first;")
        await writer.close()
        writer = await self.driver.writer("/t/file", True)
        assert writer.size() == 6
        writer.write(b"second")
        assert writer.size() == 12
        await writer.commit()
        assert await self.driver.getContent("/t/file") == b"first;second"
        await self.driver.delete("/t")

    @pytest_twisted.ensureDeferred
    async def test_writerAppendMissing(self) -> None:
        """Appending to a missing file fails with PathNotFound."""
        with pytest.raises(PathNotFound):
            await self.driver.writer("/t/missing", True)

    @pytest_twisted.ensureDeferred
    async def test_writerTruncates(self) -> None:
        """A writer without append starts the file afresh."""
        await self.driver.putContent("/t/file", b"old content")
        writer = await self.driver.writer("/t/file")
        assert writer.size() == 0
        writer.write(b"new")
        await writer.commit()
        assert await self.driver.getContent("/t/file") == b"new"
        await self.driver.delete("/t")

    @pytest_twisted.ensureDeferred
    async def test_writerCancel(self) -> None:
        """A cancelled writer leaves no file behind."""
        await self.driver.putContent("/t/kept", b"x")
        writer = await self.driver.writer("/t/file")
        writer.write(someBytes(100_000))
        await writer.cancel()
        with pytest.raises(PathNotFound):
            await self.driver.stat("/t/file")
        assert await self.driver.list("/t") == ["/t/kept"]
        await self.driver.delete("/t")

    @pytest_twisted.ensureDeferred
    async def test_getContents(self) -> None:
        """getContents reads several files in order, None for missing ones; invalid paths fail."""
        await self.driver.putContent("/t/a", b"first")
        await self.driver.putContent("/t/b/c", b"")
        assert await self.driver.getContents(["/t/a", "/t/missing", "/t/b/c", "/t/b"]) == [
            b"first", None, b"", None]
        assert await self.driver.getContents([]) == []
        with pytest.raises(InvalidPath):
            await self.driver.getContents(["/t/a", "/t/../a"])
        await self.driver.delete("/t")

    @pytest_twisted.ensureDeferred
    async def test_writerExclusive(self) -> None:
        """A second writer of a path held by one fails with PathBusy, appending or not, until the first ends."""
        writer = await self.driver.writer("/t/file")
        writer.write(b"first")
        for append in (True, False):
            with pytest.raises(PathBusy):
                await self.driver.writer("/t/file", append)
        await writer.close()
        second = await self.driver.writer("/t/file", True)
        second.write(b"+second")
        await second.commit()
        assert await self.driver.getContent("/t/file") == b"first+second"
        await self.driver.delete("/t")

    @pytest_twisted.ensureDeferred
    async def test_writerBackpressure(self) -> None:
        """
        A writer with a high-water mark pauses its producer above it and
        resumes it once drained; one without (it stores synchronously) never
        pauses it.
        """
        writer = await self.driver.writer("/t/file")
        producer = RecordingProducer()
        writer.registerProducer(producer, True)
        size = 4 * MiB if self.highWater is None else self.highWater
        writer.write(someBytes(size))
        assert producer.events == []
        writer.write(b"x")
        expected = [] if self.highWater is None else ["pause"]
        assert producer.events == expected
        await writer.close()
        assert producer.events == ([] if self.highWater is None else ["pause", "resume"])
        writer.unregisterProducer()
        assert (await self.driver.stat("/t/file")).size == size + 1
        await self.driver.delete("/t")

    @pytest_twisted.ensureDeferred
    async def test_concurrentWriters(self) -> None:
        """Writers to different paths interleaved keep their own contents."""
        paths = [f"/t/{i}/data" for i in range(4)]
        writers = [await self.driver.writer(path) for path in paths]
        for n in range(50):
            for i, writer in enumerate(writers):
                writer.write(someBytes(10_000 + i, n * 10 + i))
        await gatherResults([writer.commit() for writer in writers])
        for i, path in enumerate(paths):
            expected = b"".join(someBytes(10_000 + i, n * 10 + i) for n in range(50))
            assert await self.driver.getContent(path) == expected
        await self.driver.delete("/t")

    @pytest.mark.parametrize("offset", [0, 1, 50_000, 99_999, 100_000])
    @pytest_twisted.ensureDeferred
    async def test_readerAtOffset(self, offset: int) -> None:
        """A reader opened at an offset returns the rest of the file."""
        await self.driver.putContent("/t/file", someBytes(100_000))
        reader = await self.driver.reader("/t/file", offset)
        assert await _readAll(reader, 64 * 1024) == someBytes(100_000)[offset:]
        await self.driver.delete("/t")

    @pytest.mark.parametrize("offset", [-1, 11])
    @pytest_twisted.ensureDeferred
    async def test_readerInvalidOffset(self, offset: int) -> None:
        """A reader before the start or past the end fails with InvalidOffset."""
        await self.driver.putContent("/t/file", b"0123456789")
        with pytest.raises(InvalidOffset):
            await self.driver.reader("/t/file", offset)
        await self.driver.delete("/t")

    @pytest_twisted.ensureDeferred
    async def test_readerMissing(self) -> None:
        """A reader of a missing file fails with PathNotFound."""
        with pytest.raises(PathNotFound):
            await self.driver.reader("/t/missing")

    @pytest_twisted.ensureDeferred
    async def test_readerSmallReads(self) -> None:
        """Many small reads, then a second close, give back the whole content."""
        content = someBytes(300_001)
        await self.driver.putContent("/t/file", content)
        reader = await self.driver.reader("/t/file")
        assert await _readAll(reader, 1000) == content
        await reader.close()
        await self.driver.delete("/t")

    @pytest_twisted.ensureDeferred
    async def test_statFileAndDirectory(self) -> None:
        """stat tells files (with their size) from directories (size 0)."""
        before = time.time() - 5
        await self.driver.putContent("/t/dir/file", b"12345")
        info = await self.driver.stat("/t/dir/file")
        assert (info.path, info.size, info.isDir) == ("/t/dir/file", 5, False)
        assert before <= info.modTime <= time.time() + 5
        info = await self.driver.stat("/t/dir")
        assert (info.path, info.size, info.isDir) == ("/t/dir", 0, True)
        assert (await self.driver.stat("/")).isDir
        await self.driver.delete("/t")

    @pytest_twisted.ensureDeferred
    async def test_statMissing(self) -> None:
        """stat of a missing path, or of one below a file, fails with PathNotFound."""
        await self.driver.putContent("/t/file", b"x")
        for path in ("/t/missing", "/t/file/below"):
            with pytest.raises(PathNotFound):
                await self.driver.stat(path)
        await self.driver.delete("/t")

    @pytest_twisted.ensureDeferred
    async def test_list(self) -> None:
        """list gives the sorted full paths of direct children only."""
        for path in ("/t/c/d/e", "/t/a", "/t/b/x", "/t/b/y"):
            await self.driver.putContent(path, b"x")
        assert await self.driver.list("/t") == ["/t/a", "/t/b", "/t/c"]
        assert await self.driver.list("/t/b") == ["/t/b/x", "/t/b/y"]
        assert await self.driver.list("/") == ["/t"]
        await self.driver.delete("/t")

    @pytest_twisted.ensureDeferred
    async def test_listMissing(self) -> None:
        """list of a missing directory fails with PathNotFound."""
        with pytest.raises(PathNotFound):
            await self.driver.list("/t/missing")

    @pytest_twisted.ensureDeferred
    async def test_emptyRoot(self) -> None:
        """An empty driver's root exists and has no children."""
        assert await self.driver.list("/") == []
        assert await self.driver.walk("/") == []

    @pytest_twisted.ensureDeferred
    async def test_move(self) -> None:
        """move puts the content at the destination, in new directories."""
        await self.driver.putContent("/t/source", b"content")
        await self.driver.move("/t/source", "/t/new/dirs/dest")
        assert await self.driver.getContent("/t/new/dirs/dest") == b"content"
        with pytest.raises(PathNotFound):
            await self.driver.getContent("/t/source")
        await self.driver.delete("/t")

    @pytest_twisted.ensureDeferred
    async def test_moveOverwrites(self) -> None:
        """move replaces an existing destination."""
        await self.driver.putContent("/t/source", b"new")
        await self.driver.putContent("/t/dest", someBytes(10_000))
        await self.driver.move("/t/source", "/t/dest")
        assert await self.driver.getContent("/t/dest") == b"new"
        assert await self.driver.list("/t") == ["/t/dest"]
        await self.driver.delete("/t")

    @pytest_twisted.ensureDeferred
    async def test_moveMissing(self) -> None:
        """move of a missing source fails with PathNotFound and leaves dest alone."""
        await self.driver.putContent("/t/dest", b"kept")
        with pytest.raises(PathNotFound):
            await self.driver.move("/t/missing", "/t/dest")
        assert await self.driver.getContent("/t/dest") == b"kept"
        await self.driver.delete("/t")

    @pytest_twisted.ensureDeferred
    async def test_deleteFile(self) -> None:
        """delete removes one file and not its sibling with a longer name."""
        await self.driver.putContent("/t/a", b"x")
        await self.driver.putContent("/t/ab", b"y")
        await self.driver.delete("/t/a")
        assert await self.driver.list("/t") == ["/t/ab"]
        await self.driver.delete("/t")

    @pytest_twisted.ensureDeferred
    async def test_deleteTree(self) -> None:
        """delete of a directory removes everything below it, nothing beside it."""
        for path in ("/t/dir/a", "/t/dir/sub/b", "/t/dir2/c"):
            await self.driver.putContent(path, b"x")
        await self.driver.delete("/t/dir")
        assert await self.driver.list("/t") == ["/t/dir2"]
        with pytest.raises(PathNotFound):
            await self.driver.getContent("/t/dir/sub/b")
        await self.driver.delete("/t")

    @pytest_twisted.ensureDeferred
    async def test_deleteMissing(self) -> None:
        """delete of a missing path fails with PathNotFound."""
        with pytest.raises(PathNotFound):
            await self.driver.delete("/t/missing")

    @pytest_twisted.ensureDeferred
    async def test_stats(self) -> None:
        """stats answers as stat for each path, in order, None where nothing is stored."""
        await self.driver.putContent("/t/dir/file", b"12345")
        infos = await self.driver.stats(["/t/dir/file", "/t/missing", "/t/dir",
                                         "/t/dir/file/below", "/"])
        assert infos[:4] == [await self.driver.stat("/t/dir/file"), None,
                             await self.driver.stat("/t/dir"), None]
        assert infos[4] is not None and infos[4].isDir
        assert await self.driver.stats([]) == []
        with pytest.raises(InvalidPath):
            await self.driver.stats(["/t/dir", "/t/../dir"])
        await self.driver.delete("/t")

    @pytest_twisted.ensureDeferred
    async def test_lists(self) -> None:
        """lists answers as list for each directory, in order, None for a missing one."""
        for path in ("/t/c/d/e", "/t/a", "/t/b/x", "/t/b/y"):
            await self.driver.putContent(path, b"x")
        assert await self.driver.lists(["/t", "/t/missing", "/t/b", "/"]) == [
            ["/t/a", "/t/b", "/t/c"], None, ["/t/b/x", "/t/b/y"], ["/t"]]
        assert await self.driver.lists([]) == []
        with pytest.raises(InvalidPath):
            await self.driver.lists(["/t", "/t//b"])
        await self.driver.delete("/t")

    @pytest_twisted.ensureDeferred
    async def test_deleteAll(self) -> None:
        """deleteAll removes files and whole trees, telling which paths held something."""
        for path in ("/t/file", "/t/link/link", "/t/tree/a", "/t/tree/sub/b", "/t/kept/c",
                     "/t/blob/data", "/t/blob/link", "/t/blob/more/data"):
            await self.driver.putContent(path, b"x")
        assert await self.driver.deleteAll(
            ["/t/file", "/t/missing", "/t/link", "/t/tree", "/t/file", "/t/blob",
             "/t/kept/c/below", "/t/missing/below"]) == [
            True, False, True, True, False, True, False, False]
        assert await self.driver.list("/t") == ["/t/kept"]
        assert await self.driver.getContents(["/t/link/link", "/t/tree/sub/b",
                                              "/t/blob/more/data"]) == [None, None, None]
        assert await self.driver.deleteAll([]) == []
        with pytest.raises(InvalidPath):
            await self.driver.deleteAll(["/t/kept", "/"])
        assert await self.driver.list("/t") == ["/t/kept"]
        await self.driver.delete("/t")

    @pytest_twisted.ensureDeferred
    async def test_walk(self) -> None:
        """walk gives every file and directory below a path, sorted by path."""
        for path in ("/t/b/c", "/t/a", "/t/b/d/e"):
            await self.driver.putContent(path, b"xy")
        infos = await self.driver.walk("/t")
        assert all(isinstance(info, FileInfo) for info in infos)
        assert [(i.path, i.isDir, i.size) for i in infos] == [
            ("/t/a", False, 2), ("/t/b", True, 0), ("/t/b/c", False, 2),
            ("/t/b/d", True, 0), ("/t/b/d/e", False, 2),
        ]
        assert [info.path for info in await self.driver.walk("/")][:2] == [
            "/t", "/t/a"]
        await self.driver.delete("/t")

    @pytest_twisted.ensureDeferred
    async def test_walkMissing(self) -> None:
        """walk of a missing directory fails with PathNotFound."""
        with pytest.raises(PathNotFound):
            await self.driver.walk("/t/missing")

    @pytest.mark.parametrize("path", INVALID_PATHS + ["/"])
    @pytest_twisted.ensureDeferred
    async def test_invalidPath(self, path: str) -> None:
        """Every method refuses an invalid path with InvalidPath."""
        d = self.driver
        calls: list[Deferred[Any]] = [
            d.getContent(path), d.putContent(path, b"x"), d.reader(path),
            d.writer(path), d.writer(path, True), d.move(path, "/t/x"),
            d.move("/t/x", path), d.delete(path), d.redirectURL(path, "GET"),
        ]
        calls += [d.deleteAll([path])]
        if path != "/":
            calls += [d.stat(path), d.list(path), d.walk(path), d.stats([path]),
                      d.lists([path])]
        for call in calls:
            with pytest.raises(InvalidPath):
                await call
