"""
A full disk: pushes are refused with 507 and the OCI error body, a failed
whole-body upload gives its space back at once, a failed chunk leaves its
upload resumable, and everything works again once there is room.

The disk is the in-memory driver behind L{FullDisk}, which fails as the
filesystem driver does on C{ENOSPC}; tests/integration/test_fulldisk_process.py
fills a real filesystem.
"""

from __future__ import annotations

import errno
from typing import Any

import pytest
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IProducer, IPushProducer

from tests.api.helpers import blobStored, uploadsOf
from tests.api.support import InMemoryRegistry, Response
from tests.api.test_uploads import NAME, patch, pathOf, start, storedSize, withDigest
from txregistry.api.uploads import SMALL_PUSH
from txregistry.digest import Digest
from txregistry.storage.driver.base import CheckedDriver
from txregistry.storage.driver.inmemory import InMemoryDriver

LARGE = bytes(range(256)) * (SMALL_PUSH // 128)     # past the small-push path
SMALL = b"a small blob"


def noSpace() -> OSError:
    return OSError(errno.ENOSPC, "No space left on device")


class FullDisk:
    """
    An in-memory driver with little room, whose writes fail with C{ENOSPC}
    as the filesystem driver's do: C{putContent} at once; a writer's
    C{write} stores what fits, then stops its producer, and its C{close} or
    C{commit} raises.

    @ivar room: how many more bytes may be stored, or L{None} for no limit.
    """

    def __init__(self) -> None:
        self.room: int | None = None
        self._driver = InMemoryDriver()
        self.name = self._driver.name

    def __getattr__(self, name: str) -> Any:
        return getattr(self._driver, name)

    def take(self, size: int) -> int:
        """
        @return: how many of C{size} more bytes fit (all, or what is left).
        """
        if self.room is None:
            return size
        taken = min(size, self.room)
        self.room -= taken
        return taken

    def putContent(self, path: str, content: bytes, durable: bool = True) -> Deferred[None]:
        if self.room is not None and self.room <= len(content):
            return fail(noSpace())
        self.take(len(content))
        return self._driver.putContent(path, content, durable)

    def writer(self, path: str, append: bool = False) -> Deferred[Any]:
        return self._driver.writer(path, append).addCallback(_FullWriter, self)


class _FullWriter:
    def __init__(self, writer: Any, disk: FullDisk) -> None:
        self._writer = writer
        self._disk = disk
        self._producer: IPushProducer | None = None
        self._failed = False
        self.size = writer.size

    def registerProducer(self, producer: IProducer, streaming: bool) -> None:
        self._producer = producer  # type: ignore[assignment]
        self._writer.registerProducer(producer, streaming)

    def unregisterProducer(self) -> None:
        self._producer = None
        self._writer.unregisterProducer()

    def write(self, data: bytes) -> None:
        if self._failed:
            return
        fits = self._disk.take(len(data))
        self._writer.write(data[:fits])
        if fits < len(data):
            self._failed = True
            if self._producer is not None:
                self._producer.stopProducing()

    def _end(self, how: str) -> Deferred[None]:
        d = getattr(self._writer, how)()
        return d.addCallback(lambda _: fail(noSpace()) if self._failed else succeed(None))

    def close(self) -> Deferred[None]:
        return self._end("close")

    def commit(self) -> Deferred[None]:
        return self._end("commit")

    def cancel(self) -> Deferred[None]:
        return self._writer.cancel()


@pytest.fixture
def disk() -> FullDisk:
    return FullDisk()


@pytest.fixture
def registry(disk: FullDisk) -> InMemoryRegistry:
    return InMemoryRegistry(driver=CheckedDriver(disk))


def assertStorageFull(response: Response) -> None:
    """
    The response is a 507 with the OCI error body saying the storage is full.
    """
    assert response.code == 507, (response.code, response.body)
    assert response.json() == {"errors": [{"code": "UNAVAILABLE",
                                           "message": "storage is full"}]}


def putWhole(registry: InMemoryRegistry, data: bytes) -> tuple[str, Response]:
    """
    Push C{data} with a POST, then a PUT of the whole body.

    @return: the upload's location and the PUT's response.
    """
    location = start(registry)
    return location, registry.request("PUT", withDigest(location, Digest.of(data)), data)


@pytest.mark.parametrize("data", [LARGE, SMALL], ids=["streamed", "small"])
def test_wholePutDropsUpload(registry: InMemoryRegistry, disk: FullDisk,
                             data: bytes) -> None:
    """A whole-body PUT failing on a full disk (midway, or at once for a
    small one) answers 507 and removes its upload at once, so its space is
    free; once there is room again, the same push succeeds (nothing stays
    latched)."""
    location = start(registry)
    disk.room = len(data) // 2
    assertStorageFull(registry.request("PUT", withDigest(location, Digest.of(data)), data))
    assert uploadsOf(registry.driver, NAME) == []
    disk.room = None
    location, response = putWhole(registry, data)
    assert response.code == 201, response.body
    assert blobStored(registry.driver, Digest.of(data))
    assert uploadsOf(registry.driver, NAME) == []


def test_monolithicPostDropsUpload(registry: InMemoryRegistry, disk: FullDisk) -> None:
    """A POST ?digest= with the whole blob failing on a full disk answers 507
    and leaves no upload behind."""
    digest = Digest.of(LARGE)
    disk.room = len(LARGE) // 2
    response = registry.request("POST", f"/v2/{NAME}/blobs/uploads/?digest={digest}", LARGE)
    assertStorageFull(response)
    assert uploadsOf(registry.driver, NAME) == []
    assert not blobStored(registry.driver, digest)


def test_startOnFullDisk(registry: InMemoryRegistry, disk: FullDisk) -> None:
    """Starting an upload on a full disk answers 507 and leaves no upload."""
    disk.room = 0
    assertStorageFull(registry.request("POST", f"/v2/{NAME}/blobs/uploads/"))
    assert uploadsOf(registry.driver, NAME) == []


def test_failedChunkStaysResumable(registry: InMemoryRegistry, disk: FullDisk) -> None:
    """A chunk failing on a full disk answers 507 and keeps its upload, with
    what was stored of the chunk; once there is room, the client resumes from
    the Range the registry gives and finishes the blob."""
    location = start(registry)
    disk.room = len(LARGE) // 2
    assertStorageFull(patch(registry, location, LARGE))
    stored = storedSize(registry, location)
    assert stored == len(LARGE) // 2
    disk.room = None
    status = registry.request("GET", location)
    assert status.code == 204 and status.header("Range") == f"0-{stored - 1}"
    resumed = patch(registry, pathOf(status.header("Location")), LARGE[stored:],
                    f"{stored}-{len(LARGE) - 1}")
    assert resumed.code == 202, resumed.body
    done = registry.request("PUT", withDigest(pathOf(resumed.header("Location")),
                                              Digest.of(LARGE)))
    assert done.code == 201, done.body
    assert blobStored(registry.driver, Digest.of(LARGE))
