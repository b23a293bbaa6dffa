"""
Tests for L{txregistry.storage.driver.direct}.
"""

from __future__ import annotations

import errno
import mmap
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from txregistry.storage.driver import direct
from txregistry.storage.driver.direct import ALIGN, DirectAppender, openDirect


class Recorder:
    """
    L{os.pwrite} that records the offset and length of every write.
    """

    def __init__(self) -> None:
        self.writes: list[tuple[int, int]] = []

    def __call__(self, fd: int, data: Any, offset: int) -> int:
        self.writes.append((offset, len(data)))
        return os.pwrite(fd, data, offset)


def append(path: Path, chunks: list[bytes], bufferSize: int, mode: str = "r+b",
           finish: bool = True) -> Recorder:
    """
    Append C{chunks} to the file at C{path} through a L{DirectAppender}.
    """
    recorder = Recorder()
    # Where the test directory's filesystem has no O_DIRECT, the logic is
    # tested on an ordinary descriptor (the recorder checks the alignment).
    fd = openDirect(str(path)) or os.open(path, os.O_WRONLY)
    with open(path, mode) as f:
        appender = DirectAppender(f, fd, path.stat().st_size, bufferSize, recorder)
        appender.write(chunks)
        if finish:
            appender.finish()
        else:
            appender.close()
    return recorder


@settings(max_examples=60, deadline=None)
@given(existing=st.integers(0, 3 * ALIGN),
       sizes=st.lists(st.integers(0, 5 * ALIGN), max_size=8),
       blocks=st.integers(1, 4),
       mode=st.sampled_from(["r+b", "ab"]),
       kind=st.sampled_from([bytes, bytearray, memoryview]))
def test_appendsExactly(tmp_path_factory: pytest.TempPathFactory, existing: int,
                        sizes: list[int], blocks: int, mode: str, kind: Any) -> None:
    """
    Whatever the file's size and the chunks (bytes, copied without the GIL,
    or other buffers), the file ends up holding its old bytes then the
    chunks; direct writes are whole aligned blocks past the old end, and an
    append smaller than the buffer makes none.
    """
    path = tmp_path_factory.mktemp("direct") / "file"
    old = os.urandom(existing)
    path.write_bytes(old)
    chunks = [os.urandom(size) for size in sizes]
    recorder = append(path, [kind(chunk) for chunk in chunks], blocks * ALIGN, mode)
    assert path.read_bytes() == old + b"".join(chunks)
    for offset, length in recorder.writes:
        assert offset % ALIGN == 0 and length % ALIGN == 0 and length > 0
        assert offset >= existing
    if existing % ALIGN + sum(sizes) < blocks * ALIGN:
        assert recorder.writes == []


@settings(max_examples=60, deadline=None)
@given(existing=st.integers(0, 3 * ALIGN),
       steps=st.lists(st.tuples(st.sampled_from(["buffer", "detach", "through"]),
                                st.integers(0, 5 * ALIGN)), max_size=10))
def test_detachAndWriteThrough(tmp_path_factory: pytest.TempPathFactory, existing: int,
                               steps: list[tuple[str, int]]) -> None:
    """However appends through a lent buffer, detaches and appends through the page cache alternate, the file holds the old bytes then every chunk, and direct writes stay whole aligned blocks past the old end."""
    path = tmp_path_factory.mktemp("direct") / "file"
    old = os.urandom(existing)
    path.write_bytes(old)
    recorder = Recorder()
    fd = openDirect(str(path)) or os.open(path, os.O_WRONLY)
    written = []
    with open(path, "r+b") as f:
        appender = DirectAppender(f, fd, existing, 2 * ALIGN, recorder)
        for step, size in steps:
            chunk = os.urandom(size)
            if step == "detach":
                appender.detach()
                assert not appender.buffered
                assert path.read_bytes() == old + b"".join(written)
                continue
            written.append(chunk)
            if step == "through" and not appender.buffered:
                appender.writeThrough([chunk])
            else:
                if not appender.buffered:
                    appender.attach(mmap.mmap(-1, 2 * ALIGN))
                appender.write([chunk])
        appender.finish()
    assert path.read_bytes() == old + b"".join(written)
    for offset, length in recorder.writes:
        assert offset % ALIGN == 0 and length % ALIGN == 0 and length > 0
        assert offset >= existing


def test_attachRefusesAWrongBuffer(tmp_path: Path) -> None:
    """A lent buffer of another size, or a second one, is refused."""
    path = tmp_path / "file"
    path.write_bytes(b"")
    with open(path, "r+b") as f:
        appender = DirectAppender(f, -1, 0, 2 * ALIGN)
        with pytest.raises(ValueError):
            appender.attach(mmap.mmap(-1, ALIGN))
        appender.attach(mmap.mmap(-1, 2 * ALIGN))
        with pytest.raises(ValueError):
            appender.attach(mmap.mmap(-1, 2 * ALIGN))
        with pytest.raises(ValueError):
            appender.writeThrough([b"x"])


def test_largeAppendGoesDirect(tmp_path: Path) -> None:
    """A large append is written almost entirely by direct writes of the buffer's size."""
    path = tmp_path / "file"
    path.write_bytes(b"x" * 100)
    data = os.urandom(64 * ALIGN + 7)
    recorder = append(path, [data[:5000], data[5000:]], 8 * ALIGN)
    assert path.read_bytes() == b"x" * 100 + data
    assert sum(length for _, length in recorder.writes) >= len(data) - 2 * ALIGN
    assert {length for _, length in recorder.writes} <= {7 * ALIGN, 8 * ALIGN}


def test_closeDropsBuffer(tmp_path: Path) -> None:
    """close() releases the appender without writing what its buffer holds."""
    path = tmp_path / "file"
    path.write_bytes(b"")
    append(path, [b"y" * (3 * ALIGN + 1)], 2 * ALIGN, finish=False)
    assert path.read_bytes() == b"y" * (2 * ALIGN)


def test_bufferMustBeAligned(tmp_path: Path) -> None:
    """A buffer that is not a multiple of the block size is refused."""
    path = tmp_path / "file"
    path.write_bytes(b"")
    with open(path, "r+b") as f, pytest.raises(ValueError):
        DirectAppender(f, -1, 0, ALIGN + 1)


def test_openDirectWithout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """openDirect answers None where the filesystem refuses O_DIRECT, and raises other errors."""
    def refuse(path: str, flags: int) -> int:
        raise OSError(errno.EINVAL, "Invalid argument")
    monkeypatch.setattr(direct.os, "open", refuse)
    assert openDirect(str(tmp_path / "file")) is None
    monkeypatch.undo()
    with pytest.raises(FileNotFoundError):
        openDirect(str(tmp_path / "missing"))
