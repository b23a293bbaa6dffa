"""
Giving back to the system the memory a long transfer leaves free.

CPython hands every block above 512 bytes to the C allocator, and glibc's
keeps what is freed in heaps that shrink only from the top.  A transfer's
megabyte buffers, allocated and freed thousands of times among longer-lived
objects, leave holes behind, so the resident size crept up with the length
of a transfer rather than its width: 63 to 87 MiB between the PATCHes of one
8 GiB upload.  C{malloc_trim(3)} gives every free page back; calling it once
per L{RELEASE_EVERY} bytes moved keeps the resident size flat.

Between those releases glibc should keep what is freed: left to itself, it
gave the top of its heap back whenever a burst of buffers in flight was
freed, and faulted the pages in again for the next burst, at about 4 µs a
page (115,000 faults per GiB pushed over TLS).  L{tuneAllocator} stops that.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThread
from twisted.logger import Logger
from twisted.python.failure import Failure

from txregistry.libc import libcFunction

#: Bytes moved (received or sent) between two releases.
RELEASE_EVERY = 256 * 1024 * 1024

# mallopt(3) parameters.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: Blocks from this size get a mapping of their own, faulted in page by
#: page; the transfers' 1 MiB buffers stay below it, in the heap.
MMAP_THRESHOLD = 4 * 1024 * 1024
#: Free memory at the top of the heap that glibc keeps for the next
#: buffers: more than the transfers' water marks hold in flight.
TRIM_THRESHOLD = 32 * 1024 * 1024


def tuneAllocator() -> bool:
    """
    Set glibc's thresholds to L{MMAP_THRESHOLD} and L{TRIM_THRESHOLD}.
    Both are set, as setting either one stops glibc from adjusting the
    other (and the mapping threshold would stay at 128 KiB).

    @return: whether they were set (glibc has C{mallopt}).
    """
    mallopt = libcFunction("mallopt", ctypes.c_int, ctypes.c_int)
    return mallopt is not None and bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                                        and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))


def mallocTrim() -> Callable[[], object] | None:
    """
    @return: a callable running C{malloc_trim(0)}, or L{None} where the C
        library has none (it is glibc's).
    """
    trim = libcFunction("malloc_trim", ctypes.c_size_t)
    return None if trim is None else lambda: trim(0)


class FreeMemoryReleaser:
    """
    Runs C{release} in a thread once for every C{every} bytes moved, one run
    at a time.
    """

    log = Logger()

    def __init__(self, release: Callable[[], object] | None,
                 runInThread: Callable[[Callable[[], object]], Deferred[Any]],
                 every: int = RELEASE_EVERY) -> None:
        """
        @param release: gives the free memory back (L{mallocTrim}); L{None}
            to do nothing.
        @param runInThread: runs a callable in a thread, returning a
            L{Deferred} of its result.
        """
        self._release = release
        self._runInThread = runInThread
        self._every = every
        self._moved = 0
        self._releasing = False

    def moved(self, count: int) -> None:
        """
        Count C{count} more bytes moved, releasing memory if they make
        C{every}.
        """
        self._moved += count
        if self._moved < self._every or self._releasing or self._release is None:
            return
        self._moved = 0
        self._releasing = True
        self._runInThread(self._release).addBoth(self._released)

    def _released(self, result: object) -> None:
        self._releasing = False
        if isinstance(result, Failure):
            self.log.failure("releasing free memory", result)


#: The process's releaser (the C allocator is one per process).
releaser = FreeMemoryReleaser(mallocTrim(), deferToThread)
