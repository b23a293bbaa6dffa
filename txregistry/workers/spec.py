"""
What a worker process is told by its supervisor, and how it is sent over
the worker's standard input.
"""

from __future__ import annotations

import os
import pickle
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from twisted.application.service import MultiService

_HEADER = struct.Struct("!Q")


@dataclass(frozen=True)
class WorkerSpec:
    """
    Everything a worker needs to serve like its supervisor.

    @ivar index: the worker's number, from 2 (the supervisor is worker 1).
    @ivar count: how many workers serve, the supervisor included.
    @ivar config: the supervisor's L{txregistry.config.Configuration}, with
        the C{http.secret} every process shares.
    @ivar makeService: builds the worker's service tree from this
        specification and a reactor (L{txregistry.service.makeWorkerService});
        a module-level function, which is pickled by its name.
    @ivar descriptions: the listeners' endpoint descriptions (some with the
        C{tls+} prefix), in order.
    @ivar ports: the port the supervisor bound for each description, in
        the same order.
    """

    index: int
    count: int
    config: Any
    makeService: Callable[[WorkerSpec, Any], MultiService]
    descriptions: list[str] = field(default_factory=list)
    ports: list[int] = field(default_factory=list)


def encodeSpec(spec: WorkerSpec) -> bytes:
    """
    @param spec: a worker's specification.
    @return: its length-prefixed serialisation, for L{decodeSpec}.
    """
    body = pickle.dumps(spec, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(body)) + body


def readSpec(fd: int) -> WorkerSpec:
    """
    Read one L{encodeSpec} serialisation from a file descriptor, reading
    no byte past it.

    @param fd: a blocking file descriptor (the worker's standard input).
    @return: the specification.
    @raise EOFError: if the descriptor ends before a whole specification.
    """
    header = _readExactly(fd, _HEADER.size)
    (length,) = _HEADER.unpack(header)
    return decodeSpec(header + _readExactly(fd, length))


def decodeSpec(data: bytes) -> WorkerSpec:
    """
    @param data: what L{encodeSpec} returned.
    @return: the specification.
    @raise ValueError: if C{data} is not one.
    """
    if len(data) < _HEADER.size:
        raise ValueError("truncated worker specification")
    (length,) = _HEADER.unpack_from(data)
    if len(data) != _HEADER.size + length:
        raise ValueError("truncated worker specification")
    # The supervisor wrote this on a pipe only it and this process hold.
    spec = pickle.loads(data[_HEADER.size:])  # noqa: S301
    if not isinstance(spec, WorkerSpec):
        raise ValueError(f"not a worker specification: {type(spec).__name__}")
    return spec


def _readExactly(fd: int, size: int) -> bytes:
    chunks = []
    while size:
        chunk = os.read(fd, size)
        if not chunk:
            raise EOFError("the supervisor closed the pipe")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)
