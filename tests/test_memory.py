"""
Tests for L{txregistry.memory}.
"""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest
from twisted.internet.defer import Deferred, fail, succeed
from twisted.logger import LogLevel, capturedLogs

from tests.runners import HeldRunner
from txregistry.memory import FreeMemoryReleaser, tuneAllocator


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


#: Frees 64 MiB of 64 KiB buffers below one still in use (so glibc cannot
#: give them back by shrinking its heap), then releases; prints what the
#: release said and how many bytes of resident memory it gave back.  Run in
#: a process of its own: the allocator is one per process.
_TRIM = """
import os
from txregistry.memory import mallocTrim

def resident():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

blocks = [b"x" * 65536 for _ in range(1024)]
last = blocks.pop()
del blocks
release = mallocTrim()
before = resident()
said = release()
print(said, before - resident())
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_mallocTrimGivesFreeMemoryBack() -> None:
    """
    On glibc, the release gives back the free memory glibc kept (64 MiB
    freed below a buffer in use), and says it released some.
    """
    result = subprocess.run([sys.executable, "-c", _TRIM],
                            capture_output=True, text=True, check=True)
    said, released = map(int, result.stdout.split())
    assert said == 1
    assert released > 48 * 1024 * 1024


#: Allocates 1 GiB in bursts of four 1 MiB buffers, each burst freed at once
#: (as a transfer's buffers in flight are), and prints the page faults that
#: cost.  Run in a process of its own: the allocator is one per process.
_BURSTS = """
import resource, sys
from txregistry.memory import tuneAllocator
if sys.argv[1] == "tuned":
    assert tuneAllocator()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
burst = []
for _ in range(1024):
    burst.append(b"x" * 1024 * 1024)
    if len(burst) == 4:
        burst.clear()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _burstFaults(mode: str) -> int:
    result = subprocess.run([sys.executable, "-c", _BURSTS, mode],
                            capture_output=True, text=True, check=True)
    return int(result.stdout)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_tunedAllocatorKeepsFreedBuffers() -> None:
    """
    With the allocator tuned, buffers freed in bursts are reused without
    being faulted in again: a handful of faults for 1 GiB, where glibc on
    its own gives the pages back and faults in nearly every one of the
    262,144 again.
    """
    assert _burstFaults("default") > 100_000
    assert _burstFaults("tuned") < 10_000


def test_tuneAllocatorSaysWhetherItCould() -> None:
    """L{tuneAllocator} sets glibc's thresholds, or says it could not."""
    assert tuneAllocator() is (platform.libc_ver()[0] == "glibc")
