"""
Tests for L{txregistry.tls.transport}: TLS over real loopback TCP, against
Python's C{ssl} client.
"""

from __future__ import annotations

import hashlib
import os
import socket
import ssl
import time
from collections.abc import Callable
from itertools import cycle
from typing import Any

import pytest
import pytest_twisted
from OpenSSL import SSL
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.internet.error import ConnectionDone, ConnectionLost
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.internet.ssl import PrivateCertificate
from twisted.internet.threads import deferToThread
from twisted.python.failure import Failure

from tests.certs import CertificateAuthority
from txregistry.tls.transport import RegistryTLSEndpoint

SIZE = 8 * 1024 * 1024 + 7


class Digester(Protocol):
    """
    Hashes what it receives, recording each piece's size; once it has
    L{SIZE} bytes, answers with their digest and then L{SIZE} bytes of its
    own.
    """

    def __init__(self, reply: bytes) -> None:
        self.reply = reply
        self.hasher = hashlib.sha256()
        self.pieces: list[int] = []

    def dataReceived(self, data: bytes) -> None:
        self.hasher.update(data)
        self.pieces.append(len(data))
        if sum(self.pieces) == SIZE:
            self.transport.write(self.hasher.digest())  # type: ignore[union-attr]
            self.transport.write(self.reply)  # type: ignore[union-attr]


def localCertificate(directory: Any) -> tuple[PrivateCertificate, str]:
    """
    @return: a server certificate for localhost, and the file of the CA
        that issued it, written in C{directory}.
    """
    ca = CertificateAuthority()
    issued = ca.issue()
    certificate = PrivateCertificate.loadPEM(issued.keyPEM + issued.certificatePEM)
    return certificate, str(ca.write(directory / "ca.pem"))


def exchange(port: int, cafile: str, data: bytes) -> tuple[bytes, bytes]:
    """
    Send C{data} over TLS, then read the 32-byte digest and L{SIZE} bytes.
    """
    context = ssl.create_default_context(cafile=cafile)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as raw, \
            context.wrap_socket(raw, server_hostname="localhost") as s:
        s.sendall(data)
        received = bytearray()
        while len(received) < 32 + SIZE:
            chunk = s.recv(1024 * 1024)
            assert chunk, "the connection closed early"
            received += chunk
    return bytes(received[:32]), bytes(received[32:])


@pytest_twisted.ensureDeferred
async def test_largeTransfersBothWays(tmp_path: Any) -> None:
    """Megabytes go both ways intact, and what one network read decrypts arrives in one piece."""
    certificate, cafile = localCertificate(tmp_path)
    reply = os.urandom(SIZE)
    protocols: list[Digester] = []

    class Digesters(Factory):
        def buildProtocol(self, addr: Any) -> Digester:
            protocols.append(Digester(reply))
            return protocols[-1]
    endpoint = RegistryTLSEndpoint(TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1"),
                                   certificate.options(), clock=reactor)
    port = await endpoint.listen(Digesters())
    try:
        data = os.urandom(SIZE)
        digest, echoed = await deferToThread(exchange, port.getHost().port, cafile, data)
    finally:
        await port.stopListening()
    assert digest == hashlib.sha256(data).digest()
    assert echoed == reply
    # Twisted's transport hands over at most 32 KiB (one recv(2**15)) at once.
    assert max(protocols[0].pieces) > 32 * 1024, "records were delivered piecemeal"


class Recorder(Protocol):
    """
    Records what it receives and how its connection ended.
    """

    def __init__(self) -> None:
        self.received = bytearray()
        self.reason: Failure | None = None
        self.ended: Deferred[None] = Deferred()

    def dataReceived(self, data: bytes) -> None:
        self.received += data

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.reason = reason
        self.ended.callback(None)


async def recordOne(tmp_path: Any, client: Callable[[int, str], None]) -> Recorder:
    """
    Serve one connection with a L{Recorder}, run C{client(port, cafile)} in
    a thread, and wait for the connection to end.
    """
    certificate, cafile = localCertificate(tmp_path)
    recorder = Recorder()
    endpoint = RegistryTLSEndpoint(TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1"),
                                   certificate.options(), clock=reactor)
    port = await endpoint.listen(Factory.forProtocol(lambda: recorder))
    try:
        await deferToThread(client, port.getHost().port, cafile)
        await recorder.ended
    finally:
        await port.stopListening()
    return recorder


def handshake(raw: socket.socket, cafile: str,
              trickle: int = 0) -> tuple[ssl.SSLObject, ssl.MemoryBIO]:
    """
    Complete a TLS 1.2 handshake over C{raw} with memory BIOs, so that the
    caller sends every byte itself (TLS 1.2: records of known framing).

    @param trickle: how many of the first bytes to send one at a time.
    @return: the TLS object, and the BIO its output goes to.
    """
    context = ssl.create_default_context(cafile=cafile)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            data = outgoing.read()
            for byte in data[:trickle]:
                raw.sendall(bytes([byte]))
                time.sleep(0.01)            # most likely, a read each
            raw.sendall(data[trickle:])
            trickle = 0
            incoming.write(raw.recv(65536))
    raw.sendall(outgoing.read())
    return tls, outgoing


@pytest_twisted.ensureDeferred
async def test_closeNotifyEndsCleanly(tmp_path: Any) -> None:
    """A client's close_notify after its data ends the connection without an error."""
    data = os.urandom(3 * 1024 * 1024 + 1)

    def client(port: int, cafile: str) -> None:
        context = ssl.create_default_context(cafile=cafile)
        with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:
            s = context.wrap_socket(raw, server_hostname="localhost")
            s.sendall(data)
            s.unwrap()

    recorder = await recordOne(tmp_path, client)
    assert bytes(recorder.received) == data
    assert recorder.reason is not None and recorder.reason.check(ConnectionDone)


def flipLastByte(record: bytes) -> bytes:
    """The record with its MAC broken."""
    return record[:-1] + bytes([record[-1] ^ 1])


def firstHalf(record: bytes) -> bytes:
    """The record cut short."""
    return record[:len(record) // 2]


@pytest.mark.parametrize(("spoil", "error"), [(flipLastByte, SSL.Error),
                                              (firstHalf, ConnectionLost)])
@pytest_twisted.ensureDeferred
async def test_spoiledLastRecordEndsWithAnError(tmp_path: Any, spoil: Callable[[bytes], bytes],
                                               error: type[Exception]) -> None:
    """
    A last record that fails to decrypt, or that the client's end of the
    connection cuts short (no close_notify), ends the connection with an
    error, after the whole records before it were delivered, and nothing
    of it is.
    """
    good = os.urandom(200_000)

    def client(port: int, cafile: str) -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:
            tls, outgoing = handshake(raw, cafile)
            tls.write(good)
            raw.sendall(outgoing.read())
            tls.write(b"x" * 1000)
            raw.sendall(spoil(outgoing.read()))
            raw.shutdown(socket.SHUT_WR)
            while raw.recv(65536):               # until the server closes
                pass

    recorder = await recordOne(tmp_path, client)
    assert bytes(recorder.received) == good
    assert recorder.reason is not None and recorder.reason.check(error)


@pytest_twisted.ensureDeferred
async def test_recordsCutAcrossReads(tmp_path: Any) -> None:
    """
    Records cut anywhere between the socket's reads, down to single bytes
    and inside their headers, are put together and decrypted whole.
    """
    data = os.urandom(100_000)

    def client(port: int, cafile: str) -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            tls, outgoing = handshake(raw, cafile)
            tls.write(data)
            ciphertext = outgoing.read()
            for size in cycle([1, 4, 5, 6, 1000, 16389]):
                if not ciphertext:
                    break
                raw.sendall(ciphertext[:size])
                ciphertext = ciphertext[size:]
                time.sleep(0.001)           # most likely, a read each
            raw.shutdown(socket.SHUT_WR)
            while raw.recv(65536):
                pass

    recorder = await recordOne(tmp_path, client)
    assert bytes(recorder.received) == data


def readAll(raw: socket.socket) -> bytes:
    """
    @return: what the server sends until it closes.
    """
    received = b""
    while chunk := raw.recv(65536):
        received += chunk
    return received


@pytest_twisted.ensureDeferred
async def test_plainHTTPAnswered(tmp_path: Any) -> None:
    """A plain HTTP request, even cut inside its first bytes, gets Go's 400 and the connection closes."""
    answers: list[bytes] = []

    def client(port: int, cafile: str) -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            raw.sendall(b"GE")
            time.sleep(0.05)
            raw.sendall(b"T /v2/ HTTP/1.1\r\nHost: localhost\r\n\r\n")
            answers.append(readAll(raw))

    recorder = await recordOne(tmp_path, client)
    assert answers == [b"HTTP/1.0 400 Bad Request\r\n\r\n"
                       b"Client sent an HTTP request to an HTTPS server.\n"]
    assert bytes(recorder.received) == b""


@pytest_twisted.ensureDeferred
async def test_otherBytesNotAnswered(tmp_path: Any) -> None:
    """Bytes that are neither TLS nor a request Go recognises close the connection without an HTTP answer."""
    answers: list[bytes] = []

    def client(port: int, cafile: str) -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:
            raw.sendall(b"BREW /pot HTTP/1.1\r\n\r\n")
            answers.append(readAll(raw))

    recorder = await recordOne(tmp_path, client)
    assert not answers[0].startswith(b"HTTP")
    assert bytes(recorder.received) == b""


@pytest_twisted.ensureDeferred
async def test_handshakeCutInItsFirstBytes(tmp_path: Any) -> None:
    """A ClientHello sent a byte at a time, its record header cut, still completes the handshake."""
    data = b"after the handshake"

    def client(port: int, cafile: str) -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            tls, outgoing = handshake(raw, cafile, trickle=6)
            tls.write(data)
            raw.sendall(outgoing.read())
            raw.shutdown(socket.SHUT_WR)
            readAll(raw)

    recorder = await recordOne(tmp_path, client)
    assert bytes(recorder.received) == data
