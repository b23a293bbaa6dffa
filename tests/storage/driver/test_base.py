"""
Tests for L{txregistry.storage.driver.base}.
"""

from __future__ import annotations

import errno
from typing import Any

import pytest
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock
from zope.interface.verify import verifyObject

from txregistry.interfaces import IFileReader, IFileWriter, IStorageDriver
from txregistry.storage.driver.base import CheckedDriver, isValidPath
from txregistry.storage.driver.errors import (
    InvalidOffset,
    InvalidPath,
    PathNotFound,
    UnexpectedError,
)
from txregistry.storage.driver.inmemory import InMemoryDriver


def failure(d: Deferred[Any]) -> BaseException:
    """
    @return: the exception C{d} has already failed with.
    """
    caught: list[BaseException] = []
    d.addErrback(lambda f: caught.append(f.value))
    assert len(caught) == 1, "the Deferred did not fail"
    return caught[0]


class BrokenFile:
    """
    A reader and writer whose every I/O fails with EIO.
    """

    def write(self, data: bytes) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        return lambda *args: fail(OSError(errno.EIO, "I/O error"))


class FakeDriver:
    """
    A driver recording its calls and answering with C{self.answer}.
    """

    name = "fake"

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.calls: list[tuple[Any, ...]] = []

    def __getattr__(self, method: str) -> Any:
        def call(*args: Any) -> Any:
            self.calls.append((method, *args))
            if isinstance(self.answer, BaseException):
                raise self.answer
            return succeed(self.answer)
        return call


@pytest.mark.parametrize("path, allowRoot, valid", [
    ("/a", False, True), ("/a/b-c_d.e/F9", False, True), ("/a/..b", False, True),
    ("/", False, False), ("/", True, True), ("", True, False), ("a", False, False),
    ("/a/", True, False), ("//a", True, False), ("/a/./b", False, False),
    ("/a/../b", False, False), ("/\u00e9", False, False), ("/a\n", False, False),
    (b"/a", False, False), (None, True, False),
])
def test_isValidPath(path: Any, allowRoot: bool, valid: bool) -> None:
    """isValidPath accepts exactly the documented grammar."""
    assert isValidPath(path, allowRoot) is valid


def test_providesInterface() -> None:
    """A checked driver provides IStorageDriver and keeps the driver's name."""
    checked = CheckedDriver(InMemoryDriver())
    assert verifyObject(IStorageDriver, checked)
    assert checked.name == "inmemory"


def test_invalidPathNeverReachesDriver() -> None:
    """An invalid path fails with InvalidPath naming the driver, without a call."""
    fake = FakeDriver(None)
    error = failure(CheckedDriver(fake).move("/ok", "/a/../b"))
    assert isinstance(error, InvalidPath)
    assert (error.driver, error.path) == ("fake", "/a/../b")
    assert fake.calls == []


def test_negativeOffset() -> None:
    """A negative offset fails with InvalidOffset without a call."""
    fake = FakeDriver(None)
    assert isinstance(failure(CheckedDriver(fake).reader("/a", -1)), InvalidOffset)
    assert fake.calls == []


def test_validCallDelegated() -> None:
    """A valid call reaches the driver with its arguments."""
    fake = FakeDriver(b"content")
    results: list[Any] = []
    CheckedDriver(fake).putContent("/a/b", b"x").addCallback(results.append)
    assert results == [b"content"]
    assert fake.calls == [("putContent", "/a/b", b"x", True)]


def checkedAlike(driver: Any) -> tuple[list[CheckedDriver], list[type]]:
    """
    @return: C{driver} checked without an observer, and checked with one;
        and the types of the failures that observer is told of.
    """
    told: list[type] = []
    return [CheckedDriver(driver), CheckedDriver(driver, lambda op, seconds, f: told.append(
        type(None if f is None else f.value)), Clock())], told


def test_osErrorNormalised() -> None:
    """An OSError of the driver becomes an UnexpectedError enclosing it, for
    the caller and the observer alike."""
    drivers, told = checkedAlike(FakeDriver(PermissionError(13, "no")))
    for checked in drivers:
        error = failure(checked.stat("/a"))
        assert isinstance(error, UnexpectedError)
        assert isinstance(error.enclosed, PermissionError)
        assert error.driver == "fake"
    assert told == [UnexpectedError]


def test_driverErrorsKept() -> None:
    """A StorageDriverError, or a bug's exception, passes through unchanged,
    observed or not."""
    for exc in (PathNotFound("fake", "/a"), TypeError("bug")):
        drivers, told = checkedAlike(FakeDriver(exc))
        for checked in drivers:
            assert failure(checked.delete("/a")) is exc
        assert told == [type(exc)]


def test_writerAndReaderErrorsNormalised() -> None:
    """OSErrors of a writer's end and of a reader's read become UnexpectedErrors."""
    checked = CheckedDriver(FakeDriver(BrokenFile()))
    writers: list[Any] = []
    checked.writer("/a").addCallback(writers.append)
    assert verifyObject(IFileWriter, writers[0])
    for end in (writers[0].close, writers[0].commit, writers[0].cancel):
        assert isinstance(failure(end()), UnexpectedError)
    readers: list[Any] = []
    checked.reader("/a", 0).addCallback(readers.append)
    assert verifyObject(IFileReader, readers[0])
    assert isinstance(failure(readers[0].read(10)), UnexpectedError)


class HeldDriver(InMemoryDriver):
    """
    An in-memory driver whose C{getContent} answers when C{answer} fires.
    """

    def __init__(self) -> None:
        super().__init__()
        self.answer: Deferred[None] = Deferred()

    def getContent(self, path: str) -> Deferred[bytes]:
        return self.answer.addCallback(lambda _: super(HeldDriver, self).getContent(path))


def test_observer() -> None:
    """Each call to the wrapped driver is told to the observer once it ends,
    with its operation, its seconds by the clock and its failure (after
    normalising); a refused path is not a call."""
    clock = Clock()
    calls: list[tuple[str, float, type[BaseException] | None]] = []
    driver = HeldDriver()
    checked = CheckedDriver(
        driver, lambda op, seconds, f: calls.append(
            (op, seconds, None if f is None else type(f.value))), clock)
    checked.putContent("/a", b"x")
    d = checked.getContent("/missing")
    clock.advance(2)
    assert calls == [("putContent", 0, None)]
    driver.answer.callback(None)
    assert isinstance(failure(d), PathNotFound)
    assert calls[1] == ("getContent", 2, PathNotFound)
    assert isinstance(failure(checked.getContent("a")), InvalidPath)
    assert len(calls) == 2
