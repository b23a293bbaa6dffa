"""
A storage driver keeping files in a dictionary, for tests and throwaway
registries.  Directories are implied by the paths of the files below them.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.internet.interfaces import IProducer
from zope.interface import implementer

from txregistry.interfaces import FileInfo, IFileReader, IFileWriter, IStorageDriver
from txregistry.storage.driver.base import Infos, Paths, checkNewProducer
from txregistry.storage.driver.errors import (
    InvalidOffset,
    PathBusy,
    PathNotFound,
    StorageDriverError,
)

_NAME = "inmemory"
P = ParamSpec("P")
R = TypeVar("R")


class _File:
    def __init__(self, data: bytes = b"") -> None:
        self.data = bytearray(data)
        self.modTime = time.time()


def _deferred(method: Callable[P, R]) -> Callable[P, Deferred[R]]:
    @wraps(method)
    def call(*args: P.args, **kwargs: P.kwargs) -> Deferred[R]:
        return maybeDeferred(method, *args, **kwargs)
    return call


@implementer(IStorageDriver)
class InMemoryDriver:
    """
    The C{inmemory} driver.  Nothing it holds survives the process.

    @ivar name: C{"inmemory"}.
    """

    name = _NAME

    def __init__(self) -> None:
        self._files: dict[str, _File] = {}
        self._writing: set[str] = set()

    def _file(self, path: str) -> _File:
        if path not in self._files:
            raise PathNotFound(_NAME, path)
        return self._files[path]

    def _below(self, path: str) -> list[str]:
        prefix = path.rstrip("/") + "/"
        return [p for p in self._files if p.startswith(prefix)]

    def _create(self, path: str, data: bytes = b"") -> _File:
        parts = path.split("/")
        for i in range(2, len(parts)):
            if "/".join(parts[:i]) in self._files:
                raise StorageDriverError(_NAME, f"not a directory: {path}")
        if self._below(path):
            raise StorageDriverError(_NAME, f"is a directory: {path}")
        self._files[path] = _File(data)
        return self._files[path]

    @_deferred
    def getContent(self, path: str) -> bytes:
        return bytes(self._file(path).data)

    @_deferred
    def getContents(self, paths: list[str]) -> list[bytes | None]:
        return [bytes(self._files[p].data) if p in self._files else None for p in paths]

    @_deferred
    def putContent(self, path: str, content: bytes, durable: bool = True) -> None:
        self._create(path, content)

    @_deferred
    def reader(self, path: str, offset: int = 0) -> IFileReader:
        f = self._file(path)
        if not 0 <= offset <= len(f.data):
            raise InvalidOffset(_NAME, path, offset)
        return _Reader(f, offset)

    @_deferred
    def writer(self, path: str, append: bool = False) -> IFileWriter:
        if path in self._writing:
            raise PathBusy(_NAME, path)
        f = self._file(path) if append else self._create(path)
        self._writing.add(path)
        return _Writer(self, path, f)

    def _stat(self, path: str) -> FileInfo:
        if path in self._files:
            f = self._files[path]
            return FileInfo(path, len(f.data), f.modTime, False)
        below = [self._files[p].modTime for p in self._below(path)]
        if not below and path != "/":
            raise PathNotFound(_NAME, path)
        return FileInfo(path, 0, max(below, default=0.0), True)

    def _descendants(self, path: str, deep: bool) -> list[str]:
        below = self._below(path)
        if not below and path != "/":
            raise PathNotFound(_NAME, path)
        start = len(path.rstrip("/").split("/")) + 1
        found: set[str] = set()
        for p in below:
            parts = p.split("/")
            end = len(parts) if deep else start
            found.update("/".join(parts[:i]) for i in range(start, end + 1))
        return sorted(found)

    stat = _deferred(_stat)

    @_deferred
    def list(self, path: str) -> Paths:
        return self._descendants(path, deep=False)

    @_deferred
    def stats(self, paths: builtins.list[str]) -> builtins.list[FileInfo | None]:
        return [self._orNone(self._stat, path) for path in paths]

    @_deferred
    def lists(self, paths: builtins.list[str]) -> builtins.list[Paths | None]:
        return [self._orNone(self._descendants, path, False) for path in paths]

    @staticmethod
    def _orNone(call: Callable[..., R], *args: object) -> R | None:
        try:
            return call(*args)
        except PathNotFound:
            return None

    @_deferred
    def move(self, source: str, dest: str) -> None:
        f = self._file(source)
        if dest != source:
            self._create(dest)
            self._files[dest] = self._files.pop(source)
        f.modTime = time.time()

    def _delete(self, path: str) -> bool:
        doomed = self._below(path) + ([path] if path in self._files else [])
        if not doomed:
            raise PathNotFound(_NAME, path)
        for p in doomed:
            del self._files[p]
        return True

    @_deferred
    def delete(self, path: str) -> None:
        self._delete(path)

    @_deferred
    def deleteAll(self, paths: builtins.list[str]) -> builtins.list[bool]:
        return [self._orNone(self._delete, path) is not None for path in paths]

    def redirectURL(self, path: str, method: str) -> Deferred[str | None]:
        return succeed(None)

    @_deferred
    def walk(self, path: str) -> Infos:
        return [self._stat(p) for p in self._descendants(path, deep=True)]


@implementer(IFileReader)
class _Reader:
    def __init__(self, f: _File, offset: int) -> None:
        self._file: _File | None = f
        self._offset = offset

    @_deferred
    def read(self, size: int) -> bytes:
        if self._file is None:
            raise ValueError("read of a closed reader")
        data = bytes(self._file.data[self._offset:self._offset + size])
        self._offset += len(data)
        return data

    def close(self) -> Deferred[None]:
        self._file = None
        return succeed(None)


@implementer(IFileWriter)
class _Writer:
    """
    Stores every write at once, so it never pauses its producer.
    """

    def __init__(self, driver: InMemoryDriver, path: str, f: _File) -> None:
        self._driver = driver
        self._path = path
        self._file = f
        self._producer: IProducer | None = None
        self._ended = False

    def registerProducer(self, producer: IProducer, streaming: bool) -> None:
        checkNewProducer(self._producer, streaming)
        self._producer = producer

    def unregisterProducer(self) -> None:
        self._producer = None

    def write(self, data: bytes) -> None:
        if self._ended:
            raise RuntimeError("write to an ended writer")
        self._file.data += data
        self._file.modTime = time.time()

    def size(self) -> int:
        return len(self._file.data)

    def _end(self) -> Deferred[None]:
        if self._ended:
            raise RuntimeError("writer already ended")
        self._ended = True
        self._driver._writing.discard(self._path)
        return succeed(None)

    def close(self) -> Deferred[None]:
        return self._end()

    commit = close

    def cancel(self) -> Deferred[None]:
        d = self._end()
        if self._driver._files.get(self._path) is self._file:
            del self._driver._files[self._path]
        return d
