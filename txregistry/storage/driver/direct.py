"""
Appending to a file with C{O_DIRECT}: the data goes from an aligned buffer
to the disk without passing through the page cache.

On the virtual disks this registry meets, buffered writes of a large upload
are limited by the page cache's writeback (and vary minute to minute), while
direct writes of a few MiB at a time run at the device's speed.  The price:
a pull right after the push reads from the device.
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
from collections.abc import Callable
from typing import IO

#: Direct I/O needs the file offset, the length and the memory address of
#: every write aligned to the device's logical block size (512 or 4096).
ALIGN = 4096


def openDirect(path: str) -> int | None:
    """
    Open an existing file for direct writes.

    @return: its file descriptor, or L{None} if its filesystem does not do
        direct I/O (C{EINVAL}), or the platform has no C{O_DIRECT}.
    """
    flag = getattr(os, "O_DIRECT", None)
    if flag is None:
        return None
    try:
        return os.open(path, os.O_WRONLY | flag)
    except OSError as e:
        if e.errno == errno.EINVAL:
            return None
        raise


def _address(chunk: object) -> int | None:
    """
    @return: where the bytes of C{chunk} are, if it is a C{bytes} (whose
        buffer does not move), else L{None}.
    """
    if type(chunk) is not bytes:
        return None
    return ctypes.cast(ctypes.c_char_p(chunk), ctypes.c_void_p).value


class DirectAppender:
    """
    Appends to the end of a file, in one thread at a time.

    Bytes are gathered in an aligned buffer whose index 0 is the file's
    block boundary at or before the end of the file, and written in whole
    blocks through the direct descriptor whenever the buffer is full.  The
    rest of the file's last block (before the first direct write) and the
    final partial block (on L{finish}) go through the file's ordinary
    descriptor, so no byte already stored is ever rewritten.  Appends that
    end before the buffer first fills never use direct I/O at all: small
    files are cheaper through the page cache.

    The buffer is mapped on the first write, or lent by the caller
    (L{attach}), who may take it back between bursts (L{detach}): the
    appender then writes out what the buffer holds, and the bytes of its
    last partial block are in the page cache, where the next bytes join
    them.  Without a buffer, L{writeThrough} appends through the page cache.
    """

    def __init__(self, file: IO[bytes], directFd: int, offset: int,
                 bufferSize: int,
                 pwrite: Callable[[int, memoryview, int], int] = os.pwrite) -> None:
        """
        @param file: the file, open for writing (with C{O_APPEND} or not),
            whose end is at C{offset}.
        @param directFd: the same file, opened with L{openDirect}; closed by
            L{finish}.
        @param bufferSize: the buffer's size, a multiple of L{ALIGN}.
        @param pwrite: L{os.pwrite}, which tests replace to see the direct
            writes.
        """
        if bufferSize <= 0 or bufferSize % ALIGN:
            raise ValueError(f"the direct buffer must be a positive multiple of {ALIGN}")
        self._file = file
        self._fd = directFd
        self._pwrite = pwrite
        self._size = bufferSize
        self._base = offset - offset % ALIGN    # the file offset of index 0
        self._skip = offset - self._base        # bytes of index 0's block already stored
        self._filled = self._skip
        self._buffer: mmap.mmap | None = None
        self._view = memoryview(b"")
        self._address = 0
        self._direct = False

    @property
    def buffered(self) -> bool:
        """
        Whether the appender has a buffer (its own or one L{attach} gave).
        """
        return self._buffer is not None

    def attach(self, buffer: mmap.mmap) -> None:
        """
        Gather bytes in C{buffer} from now on.

        @param buffer: page-aligned memory of the appender's buffer size
            (an anonymous L{mmap.mmap}); the appender must have none.
        """
        if self._buffer is not None or len(buffer) != self._size:
            raise ValueError(f"attach one buffer of {self._size} bytes to an appender without one")
        self._buffer = buffer
        self._view = memoryview(buffer)
        self._address = ctypes.addressof(ctypes.c_char.from_buffer(buffer))

    def detach(self) -> None:
        """
        Write every byte the buffer holds (its whole blocks directly once
        the appender writes directly, the rest through the page cache), then
        let the buffer go: an appender between bursts of data holds no more
        than its descriptors.
        """
        if self._buffer is None:
            return
        try:
            self._writeOut()
        finally:
            self._release()

    def write(self, chunks: list[bytes]) -> None:
        """
        Append C{chunks}, in order, gathering them in the buffer (mapped
        now if the appender has none).
        """
        for chunk in chunks:
            data = memoryview(chunk)
            source = _address(chunk)
            copied = 0
            while copied < len(data):
                if self._buffer is None:
                    self.attach(mmap.mmap(-1, self._size))
                n = min(len(data) - copied, self._size - self._filled)
                if source is None:
                    self._view[self._filled:self._filled + n] = data[copied:copied + n]
                else:
                    # Without the GIL: the reactor and the hashing go on.
                    ctypes.memmove(self._address + self._filled, source + copied, n)
                self._filled += n
                copied += n
                if self._filled == self._size:
                    self._flush()

    def writeThrough(self, chunks: list[bytes]) -> None:
        """
        Append C{chunks}, in order, through the page cache: for an appender
        without a buffer (none could be had).
        """
        if self._buffer is not None:
            raise ValueError("writeThrough on an appender with a buffer")
        data = b"".join(chunks)
        if data:
            end = self._base + self._filled
            self._file.seek(end)
            self._file.write(data)
            self._file.flush()
            self._restart(end + len(data))

    def finish(self) -> None:
        """
        Write every byte still in the buffer, then L{close}.
        """
        try:
            if self._buffer is not None:
                self._writeOut()
        finally:
            self.close()

    def close(self) -> None:
        """
        Release the buffer and the direct descriptor, dropping what the
        buffer holds.
        """
        self._release()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _release(self) -> None:
        # Dropped, not closed: a failed write's traceback may still hold a
        # slice of it, and a lent one goes back to its lender.  An own
        # buffer is freed (unmapped) with its last reference.
        self._buffer, self._view, self._address = None, memoryview(b""), 0

    def _writeOut(self) -> None:
        end = self._base + self._filled
        if self._direct:
            self._flush()
        else:
            # Before the buffer first filled: a small file, cheaper through
            # the page cache.
            self._writeBuffered(self._skip, self._filled)
        self._restart(end)

    def _restart(self, end: int) -> None:
        # Index 0 at the block boundary at or before the end of the file.
        self._base = end - end % ALIGN
        self._skip = self._filled = end - self._base

    def _flush(self) -> None:
        # Whole blocks go direct; the file's partial first block and (on
        # finish) the partial last one go through the page cache.
        begin = 0
        if self._skip:
            begin = min(ALIGN, self._filled)
            self._writeBuffered(self._skip, begin)
            self._skip = 0
        end = begin + (self._filled - begin) // ALIGN * ALIGN
        if end > begin:
            self._writeDirect(begin, end)
            self._direct = True
        self._writeBuffered(end, self._filled)
        self._base += self._filled
        self._filled = 0

    def _writeDirect(self, start: int, end: int) -> None:
        while start < end:
            start += self._pwrite(self._fd, self._view[start:end], self._base + start)

    def _writeBuffered(self, start: int, end: int) -> None:
        if start < end:
            self._file.seek(self._base + start)
            self._file.write(self._view[start:end])
            self._file.flush()
