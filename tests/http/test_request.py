"""
Tests for L{txregistry.http.request}'s connection tuning.
"""

from __future__ import annotations

from twisted.internet.abstract import FileDescriptor
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import MemoryReactor
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory

from txregistry.http.request import READ_SIZE, _readInLargePieces


def test_streamedBodyReadInLargePieces() -> None:
    """A streamed body makes the socket's transport read 1 MiB at once, through a TLS-like wrapper."""
    descriptor = FileDescriptor(MemoryReactor())
    assert descriptor.bufferSize < READ_SIZE
    wrapper = ProtocolWrapper(WrappingFactory(Factory()), Protocol())
    wrapper.transport = descriptor
    _readInLargePieces(wrapper)
    assert descriptor.bufferSize == READ_SIZE
    assert "bufferSize" not in vars(wrapper)
