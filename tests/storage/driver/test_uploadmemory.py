"""
Tests for L{txregistry.storage.driver.uploadmemory}, and for how the
filesystem driver's writers share it.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.task import Clock, deferLater
from twisted.python.threadpool import ThreadPool

from txregistry.storage.driver.direct import ALIGN
from txregistry.storage.driver.filesystem import IDLE_RELEASE, FilesystemDriver
from txregistry.storage.driver.testsuite import RecordingProducer, someBytes
from txregistry.storage.driver.uploadmemory import UploadMemory

BUFFER = 4 * ALIGN


def test_lendsWithinTheLimit() -> None:
    """Buffers are lent while they and the charged bytes fit in the limit, then None."""
    memory = UploadMemory(4 * BUFFER, BUFFER)
    memory.charge(BUFFER + 1)
    lent = [memory.lend(), memory.lend()]
    assert all(b is not None and len(b) == BUFFER for b in lent)
    assert memory.lend() is None
    assert memory.held == 3 * BUFFER + 1
    memory.discharge(1)
    assert memory.lend() is not None
    assert memory.full


def test_keepsFewSpareBuffers() -> None:
    """Given-back buffers are reused, and no more than the spare count stay mapped."""
    memory = UploadMemory(8 * BUFFER, BUFFER, spare=2)
    lent = [memory.lend() for _ in range(4)]
    for buffer in lent:
        memory.giveBack(buffer)
    assert memory.held == 0
    assert memory.spare == 2
    again = memory.lend()
    assert any(again is buffer for buffer in lent)


def test_lostBufferIsUncounted() -> None:
    """A buffer given back as lost (None) frees its share of the limit without being reused."""
    memory = UploadMemory(2 * BUFFER, BUFFER)
    memory.lend()
    memory.giveBack(None)
    assert memory.held == 0 and memory.spare == 0


def test_resumesWaitersInTurnWithGrants() -> None:
    """Waiters are called in order as memory frees, each with a buffer's size set aside, never beyond the limit."""
    memory = UploadMemory(4 * BUFFER, BUFFER)
    memory.charge(4 * BUFFER)
    called: list[tuple[str, int]] = []
    memory.waitForRoom(lambda grant: called.append(("a", grant)))
    memory.waitForRoom(lambda grant: called.append(("b", grant)))

    def c(grant: int) -> None:
        called.append(("c", grant))
    memory.waitForRoom(c)
    assert called == []
    memory.discharge(BUFFER)
    assert called == [("a", BUFFER)] and memory.held == 4 * BUFFER
    memory.cancelWait(c)
    memory.discharge(3 * BUFFER)
    assert called == [("a", BUFFER), ("b", BUFFER)] and memory.held == 2 * BUFFER


def test_tooSmallLimit() -> None:
    """A limit below two buffers is refused."""
    with pytest.raises(ValueError):
        UploadMemory(BUFFER, BUFFER)


class Gate:
    """
    A C{startWriteback} that holds the writing thread until opened, so that
    a test sees writers with bytes in flight.
    """

    def __init__(self) -> None:
        self._open = threading.Event()
        self.opened = False

    def __call__(self, fd: int) -> None:
        self._open.wait(10)

    def open(self) -> None:
        self.opened = True
        self._open.set()


async def until(condition: Callable[[], bool]) -> None:
    """
    Wait (on the running reactor) until C{condition()} is true.
    """
    for _ in range(500):
        if condition():
            return
        await deferLater(reactor, 0.01, lambda: None)
    raise AssertionError("the condition never held")


def makeDriver(root: Path, pool: ThreadPool, memory: UploadMemory, clock: Clock,
               **kwargs: Any) -> FilesystemDriver:
    return FilesystemDriver(str(root), reactor, pool, directBuffer=BUFFER, memory=memory,
                            clock=clock, **kwargs)


@pytest_twisted.ensureDeferred
async def test_idleWriterGivesBufferBack(tmp_path: Path, pool: ThreadPool) -> None:
    """A writer sent nothing for IDLE_RELEASE seconds writes out what its buffer holds and gives the buffer back; the file then holds every byte, and writing goes on correctly."""
    memory, clock = UploadMemory(16 * BUFFER, BUFFER), Clock()
    driver = makeDriver(tmp_path, pool, memory, clock)
    data = someBytes(5 * BUFFER + 1234)
    writer: Any = await driver.writer("/upload")
    writer.write(data[:3 * BUFFER + 1000])
    await until(lambda: not writer._inThread)
    assert memory.held == BUFFER                # the lent buffer, holding 1000 bytes
    assert (tmp_path / "upload").stat().st_size == 3 * BUFFER
    clock.advance(IDLE_RELEASE - 0.1)
    assert memory.held == BUFFER
    clock.advance(0.1)
    await until(lambda: memory.held == 0)
    assert (tmp_path / "upload").read_bytes() == data[:3 * BUFFER + 1000]
    assert memory.spare == 1
    writer.write(data[3 * BUFFER + 1000:])
    await writer.commit()
    assert (tmp_path / "upload").read_bytes() == data
    assert memory.held == 0


@pytest_twisted.ensureDeferred
async def test_busyWriterKeepsItsBuffer(tmp_path: Path, pool: ThreadPool) -> None:
    """A writer given bytes within every IDLE_RELEASE seconds keeps its buffer."""
    memory, clock = UploadMemory(16 * BUFFER, BUFFER), Clock()
    driver = makeDriver(tmp_path, pool, memory, clock)
    writer: Any = await driver.writer("/upload")
    for n in range(4):
        writer.write(someBytes(1000, n))
        await until(lambda: not writer._inThread)
        clock.advance(IDLE_RELEASE * 0.6)
    assert writer._lease is not None and memory.held == BUFFER
    await writer.close()
    assert memory.held == 0 and memory.spare == 1


@pytest_twisted.ensureDeferred
async def test_withoutABufferThroughThePageCache(tmp_path: Path, pool: ThreadPool) -> None:
    """A writer that finds no buffer to borrow writes through the page cache, and its file is right."""
    memory, clock = UploadMemory(16 * BUFFER, BUFFER), Clock()
    memory.charge(13 * BUFFER + 1)
    driver = makeDriver(tmp_path, pool, memory, clock)
    data = someBytes(7 * BUFFER + 5)
    writer: Any = await driver.writer("/upload")
    writer.write(data[:3 * BUFFER])
    await until(lambda: not writer._inThread)
    assert writer._lease is None
    memory.discharge(13 * BUFFER + 1)
    writer.write(data[3 * BUFFER:])         # now with a buffer
    await until(lambda: not writer._inThread)
    assert writer._lease is not None
    await writer.commit()
    assert (tmp_path / "upload").read_bytes() == data
    assert memory.held == 0


@pytest_twisted.ensureDeferred
async def test_pausedAtTheLimitThenResumed(tmp_path: Path, pool: ThreadPool) -> None:
    """When writers together hold the limit, every writer's producer is paused (whatever its own water marks), and resumed once writes free memory; no error, and every file is right."""
    gate = Gate()
    memory, clock = UploadMemory(8 * BUFFER, BUFFER), Clock()
    driver = makeDriver(tmp_path, pool, memory, clock, highWater=64 * BUFFER,
                        lowWater=32 * BUFFER, syncEvery=1, startWriteback=gate)
    first: Any = await driver.writer("/first")
    second: Any = await driver.writer("/second")
    producers = [RecordingProducer(), RecordingProducer()]
    first.registerProducer(producers[0], True)
    data = [someBytes(9 * BUFFER, 1), someBytes(3 * BUFFER, 2)]
    first.write(data[0][:5 * BUFFER])           # in the (held) thread, with a buffer
    first.write(data[0][5 * BUFFER:])           # queued: past the limit
    assert memory.held == 10 * BUFFER and memory.full
    assert producers[0].events == ["pause"]
    second.registerProducer(producers[1], True)
    assert producers[1].events == ["pause"]
    second.write(data[1])                       # what a connection had already read
    gate.open()
    await until(lambda: producers[0].events == producers[1].events == ["pause", "resume"])
    assert memory.held <= memory.limit
    for writer in (first, second):
        writer.unregisterProducer()
        await writer.commit()
    assert (tmp_path / "first").read_bytes() == data[0]
    assert (tmp_path / "second").read_bytes() == data[1]
    assert memory.held == 0


@pytest_twisted.ensureDeferred
async def test_manyWritersBoundedAndCorrect(tmp_path: Path, pool: ThreadPool) -> None:
    """Twenty writers fed in turn through a memory of four buffers: each write waits for its writer's producer to be resumed, what they hold never passes the limit by more than one write each, and every file's digest is right."""
    memory, clock = UploadMemory(4 * BUFFER, BUFFER), Clock()
    driver = makeDriver(tmp_path, pool, memory, clock, highWater=2 * BUFFER,
                        lowWater=BUFFER)
    writers: list[Any] = [await driver.writer(f"/w{n}") for n in range(20)]
    producers = [RecordingProducer() for _ in writers]
    for writer, producer in zip(writers, producers, strict=True):
        writer.registerProducer(producer, True)
    chunks = [[someBytes(BUFFER + 100 * n + i, 20 * n + i) for i in range(6)]
              for n in range(len(writers))]
    peak = 0

    def flowing(producer: RecordingProducer) -> Callable[[], bool]:
        return lambda: producer.events.count("pause") == producer.events.count("resume")

    for i in range(6):
        for writer, producer, pieces in zip(writers, producers, chunks, strict=True):
            await until(flowing(producer))
            writer.write(pieces[i])
            peak = max(peak, memory.held)
    assert peak <= memory.limit + 2 * BUFFER + 600
    for writer in writers:
        writer.unregisterProducer()
        await writer.commit()
    for n, pieces in enumerate(chunks):
        stored = (tmp_path / f"w{n}").read_bytes()
        assert hashlib.sha256(stored).digest() == hashlib.sha256(b"".join(pieces)).digest()
    assert memory.held == 0
