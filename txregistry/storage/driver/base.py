"""
The wrapper every storage driver goes through, as distribution's
C{driver/base/base.go}: it checks paths and offsets before a driver sees
them, and turns any L{OSError} of the backend into an L{UnexpectedError}, so
that callers only ever see L{StorageDriverError}s.

The paths accepted are absolute and C{/}-separated; each component matches
C{[A-Za-z0-9._-]+} and is neither C{.} nor C{..}.  Empty components (C{//}),
a trailing slash (C{/a/b/}) and the empty path are refused.  The root C{/} is
accepted by L{stat}, L{list} and L{walk} only: nothing can be written,
moved, deleted or read there.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar, cast

from twisted.internet.defer import Deferred, fail, maybeDeferred
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure
from zope.interface import alsoProvides, implementer

from txregistry.interfaces import (
    FileInfo,
    ICountedWriter,
    IFileReader,
    IFileWriter,
    IStorageDriver,
)
from txregistry.storage.driver.errors import InvalidOffset, InvalidPath, UnexpectedError

_NAME = re.compile(r"[A-Za-z0-9._-]+")
# One or more "/<name>", no name being "." or "..".
_PATH = re.compile(r"(?:/(?!\.\.?(?:/|\Z))[A-Za-z0-9._-]+)+")
Paths = list[str]
Infos = list[FileInfo]
T = TypeVar("T")

#: Told of each storage call once it ends: its operation's name, its
#: seconds, and the failure it ended with or L{None}.
CallObserver = Callable[[str, float, "Failure | None"], object]


def isValidName(name: str) -> bool:
    """
    @return: whether C{name} may be one component of a driver path.
    """
    return bool(_NAME.fullmatch(name)) and name not in (".", "..")


def isValidPath(path: object, allowRoot: bool = False) -> bool:
    """
    @param allowRoot: whether C{/} itself is acceptable.
    @return: whether C{path} is a driver path (see the module docstring).
    """
    if not isinstance(path, str):
        return False
    if path == "/":
        return allowRoot
    return bool(_PATH.fullmatch(path))


def _normalise(failure: Failure, name: str) -> Failure:
    failure.trap(OSError)
    return Failure(UnexpectedError(name, cast(BaseException, failure.value)))


def _guard(name: str, call: Callable[..., Deferred[T]], *args: Any) -> Deferred[T]:
    return maybeDeferred(call, *args).addErrback(_normalise, name)


def _ended(result: object, name: str, observer: CallObserver, clock: IReactorTime,
           operation: str, started: float) -> object:
    """
    What L{_normalise} does, and tell C{observer} of the call's end: one
    callback for both, so that observing costs a call no second pass
    through its L{Deferred}'s callbacks.
    """
    if not isinstance(result, Failure):
        observer(operation, clock.seconds() - started, None)
        return result
    if result.check(OSError) is not None:
        result = Failure(UnexpectedError(name, cast(BaseException, result.value)))
    observer(operation, clock.seconds() - started, result)
    return result


@implementer(IStorageDriver)
class CheckedDriver:
    """
    An L{IStorageDriver} that checks every path, then delegates to another.

    @ivar name: the wrapped driver's name.
    """

    def __init__(self, driver: IStorageDriver, observer: CallObserver | None = None,
                 clock: IReactorTime | None = None) -> None:
        """
        @param driver: the driver to check calls for.
        @param observer: told of each call to C{driver} once it ends (the
            calls of its readers and writers excepted); or L{None}.
        @param clock: times the calls for C{observer}.
        """
        self._driver = driver
        self.name: str = driver.name
        self._observer = observer
        self._clock = clock

    def _call(self, method: Callable[..., Deferred[T]], paths: tuple[str, ...], *args: Any,
              allowRoot: bool = False) -> Deferred[T]:
        for path in paths:
            if not isValidPath(path, allowRoot):
                return fail(InvalidPath(self.name, path))
        return self._observed(method, *paths, *args)

    def _observed(self, method: Callable[..., Deferred[T]], *args: Any) -> Deferred[T]:
        observer, clock = self._observer, self._clock
        if observer is None or clock is None:
            return _guard(self.name, method, *args)
        started = clock.seconds()
        return maybeDeferred(method, *args).addBoth(
            _ended, self.name, observer, clock, method.__name__, started)

    def getContent(self, path: str) -> Deferred[bytes]:
        return self._call(self._driver.getContent, (path,))

    def _batch(self, method: Callable[..., Deferred[T]], paths: list[str],
               allowRoot: bool = False) -> Deferred[T]:
        for path in paths:
            if not isValidPath(path, allowRoot):
                return fail(InvalidPath(self.name, path))
        return self._observed(method, list(paths))

    def getContents(self, paths: list[str]) -> Deferred[list[bytes | None]]:
        return self._batch(self._driver.getContents, paths)

    def stats(self, paths: list[str]) -> Deferred[list[FileInfo | None]]:
        return self._batch(self._driver.stats, paths, allowRoot=True)

    def lists(self, paths: list[str]) -> Deferred[list[Paths | None]]:
        return self._batch(self._driver.lists, paths, allowRoot=True)

    def deleteAll(self, paths: list[str]) -> Deferred[list[bool]]:
        return self._batch(self._driver.deleteAll, paths)

    def putContent(self, path: str, content: bytes, durable: bool = True) -> Deferred[None]:
        return self._call(self._driver.putContent, (path,), content, durable)

    def reader(self, path: str, offset: int = 0) -> Deferred[IFileReader]:
        if isValidPath(path) and offset < 0:
            return fail(InvalidOffset(self.name, path, offset))
        d = self._call(self._driver.reader, (path,), offset)
        return d.addCallback(_CheckedReader, self.name)

    def writer(self, path: str, append: bool = False) -> Deferred[IFileWriter]:
        d = self._call(self._driver.writer, (path,), append)
        return d.addCallback(_CheckedWriter, self.name)

    def stat(self, path: str) -> Deferred[FileInfo]:
        return self._call(self._driver.stat, (path,), allowRoot=True)

    def list(self, path: str) -> Deferred[Paths]:
        return self._call(self._driver.list, (path,), allowRoot=True)

    def move(self, source: str, dest: str) -> Deferred[None]:
        return self._call(self._driver.move, (source, dest))

    def delete(self, path: str) -> Deferred[None]:
        return self._call(self._driver.delete, (path,))

    def redirectURL(self, path: str, method: str) -> Deferred[str | None]:
        return self._call(self._driver.redirectURL, (path,), method)

    def walk(self, path: str) -> Deferred[Infos]:
        return self._call(self._driver.walk, (path,), allowRoot=True)


@implementer(IFileReader)
class _CheckedReader:
    def __init__(self, reader: IFileReader, name: str) -> None:
        self._reader = reader
        self._name = name

    def read(self, size: int) -> Deferred[bytes]:
        return _guard(self._name, self._reader.read, size)

    def close(self) -> Deferred[None]:
        return _guard(self._name, self._reader.close)


@implementer(IFileWriter)
class _CheckedWriter:
    def __init__(self, writer: IFileWriter, name: str) -> None:
        self._writer = writer
        self._name = name
        self.write = writer.write
        self.size = writer.size
        self.registerProducer = writer.registerProducer
        self.unregisterProducer = writer.unregisterProducer
        if ICountedWriter.providedBy(writer):
            alsoProvides(self, ICountedWriter)
            self.unwritten = writer.unwritten
            self.countAlso = writer.countAlso
            self.whenWritten = writer.whenWritten

    def close(self) -> Deferred[None]:
        return _guard(self._name, self._writer.close)

    def commit(self) -> Deferred[None]:
        return _guard(self._name, self._writer.commit)

    def cancel(self) -> Deferred[None]:
        return _guard(self._name, self._writer.cancel)


def checkNewProducer(current: object | None, streaming: bool) -> None:
    """
    The checks of an L{IFileWriter}'s C{registerProducer}: writers take one
    streaming (push) producer at a time.

    @raise RuntimeError: if a producer is registered already.
    @raise ValueError: if the new producer is not a streaming one.
    """
    if current is not None:
        raise RuntimeError("a producer is already registered")
    if not streaming:
        raise ValueError("only streaming producers are supported")
