"""
Tests for L{txregistry.storage.uploads.HashingWriter}.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

import pytest_twisted
from twisted.internet import reactor
from twisted.internet.threads import deferToThread

from tests.runners import HeldRunner
from txregistry.storage.driver.base import CheckedDriver
from txregistry.storage.driver.inmemory import InMemoryDriver
from txregistry.storage.driver.testsuite import RecordingProducer
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
