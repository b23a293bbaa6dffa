"""
Tests for L{txregistry.storage.uploads.HashingWriter}.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest_twisted
from twisted.internet import reactor
from twisted.internet.task import Clock
from twisted.internet.threads import deferToThread
from twisted.python.threadpool import ThreadPool

from tests.runners import HeldRunner
from tests.storage.driver.test_uploadmemory import BUFFER, makeDriver, until
from txregistry.interfaces import ICountedWriter
from txregistry.storage.driver.base import CheckedDriver
from txregistry.storage.driver.inmemory import InMemoryDriver
from txregistry.storage.driver.testsuite import RecordingProducer, someBytes
from txregistry.storage.driver.uploadmemory import UploadMemory
from txregistry.storage.uploads import INLINE_HASH, HashingWriter

KiB = 1024


async def hashingWriter(runner: Any, **marks: int) -> tuple[HashingWriter, Any]:
    driver = CheckedDriver(InMemoryDriver())
    writer = await driver.writer("/upload/data")
    return HashingWriter(writer, hashlib.sha256(), runner, **marks), driver


@pytest_twisted.ensureDeferred
async def test_smallBodyHashedInline() -> None:
    """The first INLINE_HASH bytes are hashed at once, without the runner."""
    runner = HeldRunner()
    writer, driver = await hashingWriter(runner)
    writer.write(b"a" * (INLINE_HASH - 1))
    writer.write(b"b")
    assert runner.pending == []
    await writer.close()
    expected = hashlib.sha256(b"a" * (INLINE_HASH - 1) + b"b").hexdigest()
    assert writer.hasher.hexdigest() == expected
    assert await driver.getContent("/upload/data") == b"a" * (INLINE_HASH - 1) + b"b"


@pytest_twisted.ensureDeferred
async def test_largeBodyHashedInOrderByRunner() -> None:
    """Past INLINE_HASH, writes are hashed by the runner, one batch at a time, in order."""
    runner = HeldRunner()
    writer, _ = await hashingWriter(runner)
    pieces = [os.urandom(40 * KiB) for _ in range(6)]
    for piece in pieces:
        writer.write(piece)
    assert len(runner.pending) == 1, "one batch at a time"
    closed = writer.close()
    while runner.pending:
        assert not closed.called
        runner.runOne()
    await closed
    assert writer.hasher.hexdigest() == hashlib.sha256(b"".join(pieces)).hexdigest()
    assert writer.size() == 240 * KiB


@pytest_twisted.ensureDeferred
async def test_pausedWhileHashingBehind() -> None:
    """The producer is paused above the high-water mark of unhashed bytes, resumed below the low."""
    runner = HeldRunner()
    writer, _ = await hashingWriter(runner, highWater=100 * KiB, lowWater=50 * KiB)
    producer = RecordingProducer()
    writer.registerProducer(producer, True)
    writer.write(os.urandom(INLINE_HASH))       # inline
    writer.write(os.urandom(60 * KiB))          # first batch, being hashed
    writer.write(os.urandom(60 * KiB))          # waiting: 120 KiB behind
    assert producer.events == ["pause"]
    runner.runOne()                             # 60 KiB behind: still paused
    assert producer.events == ["pause"]
    runner.runOne()
    assert producer.events == ["pause", "resume"]
    writer.unregisterProducer()
    await writer.close()


@pytest_twisted.ensureDeferred
async def test_inThreads() -> None:
    """With a real thread runner, a large body streamed in pieces hashes right."""
    assert reactor.running
    writer, driver = await hashingWriter(deferToThread)
    data = os.urandom(3 * 1024 * KiB + 17)
    for start in range(0, len(data), 64 * KiB):
        writer.write(data[start:start + 64 * KiB])
    await writer.commit()
    assert writer.hasher.hexdigest() == hashlib.sha256(data).hexdigest()
    assert await driver.getContent("/upload/data") == data


def heldTogether(hashing: list[HashingWriter]) -> int:
    """
    @return: the bytes the writers of C{hashing} and their hash queues
        hold together, each byte once: both queues hold an upload's latest
        bytes, so the longer holds all; and the buffers lent to writers.
    """
    held = 0
    for writer in hashing:
        held += max(files(writer)._queued + files(writer)._writing, writer._backlog)
        held += BUFFER if files(writer)._lease is not None else 0
    return held


def files(writer: HashingWriter) -> Any:
    """
    @return: the filesystem driver's writer under C{writer}.
    """
    return writer.writer


@pytest_twisted.ensureDeferred
async def test_hashQueuesWithinTheUploadMemory(tmp_path: Path, pool: ThreadPool) -> None:
    """With hashing held back, what ten uploads' writers and hash queues hold together is counted once and stays within the upload memory (plus one read and a buffer): every producer ends paused; once hashing catches up, they resume and every digest is right."""
    runner = HeldRunner()
    memory = UploadMemory(8 * BUFFER, BUFFER)
    driver = makeDriver(tmp_path, pool, memory, Clock())
    hashing = [HashingWriter(await driver.writer(f"/u{n}"), hashlib.sha256(), runner)
               for n in range(10)]
    producers = [RecordingProducer() for _ in hashing]
    for writer, producer in zip(hashing, producers, strict=True):
        writer.registerProducer(producer, True)
    chunks = [[someBytes(BUFFER + 100 * n, 30 * n + i) for i in range(30)]
              for n in range(len(hashing))]
    sent = [0] * len(hashing)
    peak = 0

    def flows(n: int) -> bool:
        events = producers[n].events
        return events.count("pause") == events.count("resume")

    async def feed() -> None:
        nonlocal peak
        while True:
            await until(lambda: not any(files(w)._inThread for w in hashing))
            ready = [n for n in range(len(hashing)) if flows(n) and sent[n] < len(chunks[n])]
            if not ready:
                return
            for n in ready:
                if flows(n):
                    hashing[n].write(chunks[n][sent[n]])
                    sent[n] += 1
                    grants = sum(files(w)._grant for w in hashing)
                    assert memory.held == heldTogether(hashing) + grants
                    peak = max(peak, memory.held, heldTogether(hashing))

    await feed()
    assert all(producer.events[-1] == "pause" for producer in producers)
    assert sum(sent) < sum(map(len, chunks))
    assert peak <= memory.limit + 2 * BUFFER + 1000
    while runner.pending or sum(sent) < sum(map(len, chunks)):
        while runner.pending:
            runner.runOne()
        await feed()
    for writer, pieces in zip(hashing, chunks, strict=True):
        writer.unregisterProducer()
        await writer.commit()
        assert writer.hasher.hexdigest() == hashlib.sha256(b"".join(pieces)).hexdigest()
    for n, pieces in enumerate(chunks):
        assert (tmp_path / f"u{n}").read_bytes() == b"".join(pieces)
    assert peak <= memory.limit + 2 * BUFFER + 1000
    assert memory.held == 0


@pytest_twisted.ensureDeferred
async def test_checkedWriterCountedAsItsDriversWriter(tmp_path: Path, pool: ThreadPool) -> None:
    """A checked writer is an ICountedWriter, forwarding to it, exactly when the driver's writer is one."""
    memory = UploadMemory(8 * BUFFER, BUFFER)
    counted: Any = await CheckedDriver(makeDriver(tmp_path, pool, memory, Clock())).writer("/a")
    assert ICountedWriter.providedBy(counted)
    counted.countAlso(BUFFER)
    assert memory.held == BUFFER
    counted.countAlso(-BUFFER)
    assert memory.held == 0 and counted.unwritten() == 0
    await counted.close()
    _, driver = await hashingWriter(HeldRunner())
    assert not ICountedWriter.providedBy(await driver.writer("/b"))
