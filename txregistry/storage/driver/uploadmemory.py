"""
The memory the filesystem driver's writers hold together, bounded.

A writer holds the bytes it was given until they are written, and, while
they flow, an aligned buffer for its direct writes (see
L{txregistry.storage.driver.direct}).  Both are counted against one limit:
a writer given bytes beyond it pauses its producer (the connection) until
the others' writes free memory, and a writer that finds no buffer left
writes through the page cache.  Nothing fails for lack of memory.
"""

from __future__ import annotations

import mmap
from collections import deque
from collections.abc import Callable

MiB = 1024 * 1024
#: The default of C{storage.filesystem.uploadmemory}.
DEFAULT_LIMIT = 128 * MiB
#: Free buffers kept for the next writers rather than unmapped: mapping a
#: new one faults in its pages again (about 1 ms per MiB).
SPARE_BUFFERS = 4


class UploadMemory:
    """
    Counts the bytes writers hold, lends aligned buffers within the same
    limit, and resumes the writers it paused as memory frees.  Used from the
    reactor thread only.

    @ivar limit: the bytes writers may hold together.
    @ivar bufferSize: the size of a lent buffer.
    @ivar held: the bytes held now: charged data and lent buffers.
    """

    def __init__(self, limit: int = DEFAULT_LIMIT, bufferSize: int = MiB,
                 spare: int = SPARE_BUFFERS) -> None:
        """
        @param limit: the bytes writers may hold together; at least two
            buffers.
        @param bufferSize: the size of the buffers, in bytes.
        @param spare: how many free buffers are kept mapped.
        """
        if limit < 2 * bufferSize:
            raise ValueError(f"the upload memory must be at least {2 * bufferSize} bytes")
        self.limit = limit
        self.bufferSize = bufferSize
        self.held = 0
        self._spare = spare
        self._free: list[mmap.mmap] = []
        self._waiting: deque[Callable[[int], None]] = deque()
        self._idle: dict[Callable[[], None], None] = {}     # in order
        self._flowing: dict[Callable[[], None], None] = {}

    @property
    def full(self) -> bool:
        """
        Whether the writers hold the limit or more.
        """
        return self.held >= self.limit

    @property
    def spare(self) -> int:
        """
        How many free buffers are kept mapped for the next writers.
        """
        return len(self._free)

    def charge(self, count: int) -> None:
        """
        Count C{count} bytes more held (even beyond the limit: they are
        already in memory).  At the limit, every writer that receives is
        told (L{flowing}), so that none reads more.
        """
        self.held += count
        if self.held >= self.limit and self._flowing:
            for check in list(self._flowing):
                check()

    def discharge(self, count: int) -> None:
        """
        Count C{count} bytes held no more, resuming paused writers if that
        leaves room.
        """
        self.held -= count
        self._resume()

    def lend(self) -> mmap.mmap | None:
        """
        @return: a buffer of L{bufferSize} bytes, aligned to the page size,
            or L{None} if lending it would pass the limit.
        """
        if self.held + self.bufferSize > self.limit:
            return None
        self.held += self.bufferSize
        return self._free.pop() if self._free else mmap.mmap(-1, self.bufferSize)

    def giveBack(self, buffer: mmap.mmap | None) -> None:
        """
        Take back a buffer L{lend} gave, or L{None} for one that was lost
        (a failed write may still refer to it), and resume paused writers if
        that leaves room.
        """
        if buffer is not None and len(self._free) < self._spare:
            self._free.append(buffer)
        self.discharge(self.bufferSize)

    def waitForRoom(self, resume: Callable[[int], None]) -> None:
        """
        Call C{resume} once the writers hold less than the limit, in turn
        with the other writers waiting, with the bytes set aside for it
        (already charged: one buffer's size, what one read of a connection
        may bring).
        """
        self._waiting.append(resume)
        self._resume()
        self._reclaim()

    def cancelWait(self, resume: Callable[[int], None]) -> None:
        """
        Forget C{resume}, if it waits.
        """
        try:
            self._waiting.remove(resume)
        except ValueError:
            pass

    def flowing(self, check: Callable[[], None], flows: bool) -> None:
        """
        Whether the producer of a writer receives (C{flows}): while it does,
        C{check} is called when the writers reach the limit.
        """
        if flows:
            self._flowing[check] = None
        else:
            self._flowing.pop(check, None)

    def idle(self, release: Callable[[], None]) -> None:
        """
        A writer holding memory (a buffer, a grant) has nothing to write:
        C{release} gives that memory back, and is called as soon as a writer
        waits for room (and not after L{busy}).
        """
        self._idle[release] = None
        self._reclaim()

    def busy(self, release: Callable[[], None]) -> None:
        """
        The writer of C{release} writes again.
        """
        self._idle.pop(release, None)

    def _reclaim(self) -> None:
        while self._waiting and self._idle:
            release = next(iter(self._idle))
            del self._idle[release]
            release()

    def _resume(self) -> None:
        while self._waiting and self.held + self.bufferSize <= self.limit:
            self.held += self.bufferSize
            self._waiting.popleft()(self.bufferSize)
