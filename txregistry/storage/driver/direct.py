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

    def write(self, chunks: list[bytes]) -> None:
        """
        Append C{chunks}, in order.
        """
        for chunk in chunks:
            data = memoryview(chunk)
            source = _address(chunk)
            copied = 0
            while copied < len(data):
                if self._buffer is None:
                    self._buffer = mmap.mmap(-1, self._size)
                    self._view = memoryview(self._buffer)
                    self._address = ctypes.addressof(ctypes.c_char.from_buffer(self._buffer))
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

    def finish(self) -> None:
        """
        Write every byte still in the buffer, then L{close}.
        """
        try:
            if self._direct:
                self._flush()
            else:
                self._writeBuffered(self._skip, self._filled)
        finally:
            self.close()

    def close(self) -> None:
        """
        Release the buffer and the direct descriptor, dropping what the
        buffer holds.
        """
        # Dropped, not closed: a failed write's traceback may still hold a
        # slice of it.  Freed (unmapped) with its last reference.
        self._buffer, self._view = None, memoryview(b"")
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

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
