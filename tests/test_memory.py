"""
Tests for L{txregistry.memory}.
"""

from __future__ import annotations

import platform

import pytest
from twisted.internet.defer import Deferred, fail, succeed
from twisted.logger import LogLevel, capturedLogs

from tests.runners import HeldRunner
from txregistry.memory import FreeMemoryReleaser, mallocTrim


def test_releasesOncePerInterval() -> None:
    """Memory is released each time another C{every} bytes have moved."""
    released: list[None] = []
    threads = HeldRunner()
    releaser = FreeMemoryReleaser(lambda: released.append(None), threads, every=100)
    releaser.moved(60)
    assert threads.pending == []
    releaser.moved(40)
    threads.runOne()
    releaser.moved(99)
    assert threads.pending == []
    releaser.moved(1)
    threads.runOne()
    assert released == [None, None]


def test_oneReleaseAtATime() -> None:
    """Bytes moved while a release runs start no second one."""
    threads = HeldRunner()
    releaser = FreeMemoryReleaser(lambda: None, threads, every=10)
    releaser.moved(10)
    releaser.moved(500)
    assert len(threads.pending) == 1
    threads.runOne()
    releaser.moved(10)
    assert len(threads.pending) == 1


def test_nothingToRunWithoutRelease() -> None:
    """Without a release function (not glibc), nothing runs."""
    threads = HeldRunner()
    releaser = FreeMemoryReleaser(None, threads, every=10)
    releaser.moved(1000)
    assert threads.pending == []


def test_failedReleaseIsLoggedAndNextOneRuns() -> None:
    """A release that fails is logged, and does not stop the next."""
    runs: list[Deferred[object]] = [fail(OSError("no")), succeed(None)]
    releaser = FreeMemoryReleaser(lambda: None, lambda call: runs.pop(0), every=10)
    with capturedLogs() as events:
        releaser.moved(10)
        releaser.moved(10)
    assert runs == []
    [event] = [e for e in events if e["log_level"] == LogLevel.critical]
    assert event["log_failure"].check(OSError)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_mallocTrimRuns() -> None:
    """On glibc, the release is malloc_trim(0), which says 0 or 1."""
    trim = mallocTrim()
    assert trim is not None
    assert trim() in (0, 1)
