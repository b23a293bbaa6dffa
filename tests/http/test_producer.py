"""
Files are sent to requests through a producer, in chunks, on connections
allowed to send large pieces at once.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest_twisted
from twisted.internet.abstract import FileDescriptor
from twisted.internet.testing import MemoryReactor

from txregistry.http.producer import PULL_SEND_LIMIT, sendFile
from txregistry.storage.driver.base import CheckedDriver
from txregistry.storage.driver.inmemory import InMemoryDriver


class Request:
    """
    The part of a request that sendFile uses.
    """

    def __init__(self) -> None:
        # A TCP transport under a wrapper (TLS), as a channel has it.
        self.socket = FileDescriptor(MemoryReactor())
        self.channel = SimpleNamespace(transport=SimpleNamespace(transport=self.socket))
        self.written: list[bytes] = []
        self.producer: Any = None
        self.finished = False
        self._disconnected = False

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        assert streaming
        self.producer = producer

    def unregisterProducer(self) -> None:
        self.producer = None

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def finish(self) -> None:
        self.finished = True


@pytest_twisted.ensureDeferred
async def test_sendFile() -> None:
    """sendFile writes the file's bytes in 1 MiB chunks, finishes the request and raises the socket's send limit."""
    driver = CheckedDriver(InMemoryDriver())
    data = bytes(range(256)) * 8192  # 2 MiB: two chunks
    await driver.putContent("/blob", data)
    request = Request()
    await sendFile(request, await driver.reader("/blob", 0), len(data))
    assert b"".join(request.written) == data
    assert len(request.written) == 2
    assert request.finished and request.producer is None
    assert request.socket.SEND_LIMIT == PULL_SEND_LIMIT
