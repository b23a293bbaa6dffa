"""
A TLS transport that moves data in larger pieces, with fewer copies, than
Twisted's.

Twisted's L{TLSMemoryBIOProtocol} hands OpenSSL 16 KiB at a time (copying a
slice of the data for each), reads back at most 32 KiB of ciphertext per
piece, and delivers every decrypted record (16 KiB) to the protocol on its
own: for a 1 GiB blob, 65,536 trips through the HTTP parser and the upload's
writer, each record copied three times on the way.  This one encrypts 1 MiB
per call from a view of the data and has OpenSSL write its output, and the
records it decrypts, straight into one buffer, which is copied once into the
bytes that are sent or delivered (up to 1 MiB at a time); and it reads the
socket into one buffer too.
"""

from __future__ import annotations

from typing import Any

# pyOpenSSL's own binding of OpenSSL: called directly, OpenSSL writes into a
# buffer of ours, where pyOpenSSL allocates one per call and copies out of it.
from OpenSSL.SSL import Error, WantReadError, ZeroReturnError, _ffi, _lib  # type: ignore[attr-defined]
from twisted.internet import main, tcp
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import (
    IListeningPort,
    IProtocolFactory,
    IStreamServerEndpoint,
)
from twisted.protocols.policies import ProtocolWrapper
from twisted.protocols.tls import BufferingTLSTransport, TLSMemoryBIOFactory
from twisted.python.failure import Failure
from zope.interface import implementer

#: Plaintext given to OpenSSL per call: a pull's whole chunk.
SEND_PIECE = 1024 * 1024
#: The most plaintext one record holds.
RECORD = 16 * 1024
#: Room for the ciphertext of a piece: each record adds at most 5 bytes of
#: header and a MAC and padding that fit in 1 KiB.
_CIPHERTEXT_ROOM = SEND_PIECE + (SEND_PIECE // RECORD + 1) * 1024
#: Decrypted bytes gathered before they are delivered.
_PLAINTEXT_ROOM = 1024 * 1024
#: Ciphertext read from the socket at once.
_CIPHERTEXT_READ = 1024 * 1024
#: The starts of plain HTTP requests that Go's server recognises in place of
#: a TLS record's 5-byte header, and its answer to them.
_HTTP_STARTS = frozenset([b"GET /", b"HEAD ", b"POST ", b"PUT /", b"OPTIO"])
_HTTP_ON_TLS_PORT = (b"HTTP/1.0 400 Bad Request\r\n\r\n"
                     b"Client sent an HTTP request to an HTTPS server.\n")


def _readInto(connection: tcp.Connection) -> object:
    """
    C{doRead} for the TCP connection under a L{RegistryTLSProtocol}.
    Twisted's allocates a new bytes object for every read (1 MiB each while
    a body streams in) only for OpenSSL to copy it; this one reads into a
    L{_Scratch} buffer, which OpenSSL copies out of before C{dataReceived}
    does anything else.
    """
    buffer = memoryview(_ffi.buffer(_Scratch.get("received", _CIPHERTEXT_READ)))
    try:
        count = connection.socket.recv_into(buffer)
    except BlockingIOError:
        return None
    except OSError:
        return main.CONNECTION_LOST
    if not count:
        return main.CONNECTION_DONE
    protocol: Any = connection.protocol     # a RegistryTLSProtocol: any buffer will do
    protocol.dataReceived(buffer[:count])
    return None


class _Scratch:
    """
    The buffers OpenSSL and the socket write into.  There is one of each per
    process: only the reactor thread uses them, and their content is always
    copied out before anything else can run.
    """

    _buffers: dict[str, Any] = {}

    @classmethod
    def get(cls, name: str, size: int) -> Any:
        buffer = cls._buffers.get(name)
        if buffer is None:
            buffer = cls._buffers[name] = _ffi.new("char[]", size)
        return buffer


class RegistryTLSProtocol(BufferingTLSTransport):
    """
    L{BufferingTLSTransport} with larger pieces and fewer copies (see the
    module).  A plain HTTP request in place of a TLS handshake is answered
    400 as Go's server answers it, so that the client learns why it fails.
    """

    _firstBytes = b""

    def makeConnection(self, transport: Any) -> None:
        # Only over a plain TCP connection: others (UNIX sockets) read more
        # than data.
        if type(transport).doRead is tcp.Connection.doRead:
            transport.doRead = lambda: _readInto(transport)
        # Until the first record's header is in; then the class's own.
        self.dataReceived = self._firstDataReceived  # type: ignore[method-assign]
        super().makeConnection(transport)

    def _firstDataReceived(self, data: Any) -> None:
        self._firstBytes += bytes(data)
        if len(self._firstBytes) < 5:
            return
        first, self._firstBytes = self._firstBytes, b""
        if first[:5] not in _HTTP_STARTS:
            del self.dataReceived
            self.dataReceived(first)
            return
        self.dataReceived = lambda data: None  # type: ignore[method-assign]
        transport: Any = self.transport
        transport.write(_HTTP_ON_TLS_PORT)
        transport.loseConnection()

    def _write(self, bytes: Any) -> None:
        if self._lostTLSConnection:
            return
        data = memoryview(bytes)
        sent = 0
        while sent < len(data):
            try:
                sent += self._tlsConnection.send(data[sent:sent + SEND_PIECE])
            except WantReadError:
                self._bufferedWrite(data[sent:].tobytes())
                break
            except Error:
                self._tlsShutdownFinished(Failure())
                break
            self._flushSendBIO()

    def _flushSendBIO(self) -> None:
        transport: Any = self.transport
        source = self._tlsConnection._from_ssl
        buffer = _Scratch.get("ciphertext", _CIPHERTEXT_ROOM)
        while True:
            filled = 0
            while filled < _CIPHERTEXT_ROOM:
                count = _lib.BIO_read(source, buffer + filled, _CIPHERTEXT_ROOM - filled)
                if count <= 0:  # empty: a memory BIO has no errors to report
                    break
                filled += count
            if filled:
                transport.write(_ffi.buffer(buffer, filled)[:])
            if filled < _CIPHERTEXT_ROOM:
                return

    def _flushReceiveBIO(self) -> None:
        while not self._lostTLSConnection:
            data = self._decrypt()
            if not data:
                # Nothing more, or an error or the end to report: OpenSSL
                # says which through pyOpenSSL's exceptions.
                try:
                    data = self._tlsConnection.recv(RECORD)
                except WantReadError:
                    break
                except ZeroReturnError:
                    self._shutdownTLS()
                    self._tlsShutdownFinished(None)
                    break
                except Error:
                    self._tlsShutdownFinished(Failure())
                    break
            if not self._aborted:
                ProtocolWrapper.dataReceived(self, data)
        # Reading may have produced something to send (a handshake message).
        self._flushSendBIO()

    def _decrypt(self) -> bytes:
        """
        @return: the records the receive BIO holds, decrypted, up to about
            L{_PLAINTEXT_ROOM} bytes; empty once OpenSSL needs more data, or
            has something else to report.
        """
        ssl = self._tlsConnection._ssl
        buffer = _Scratch.get("plaintext", _PLAINTEXT_ROOM + RECORD)
        filled = 0
        while filled < _PLAINTEXT_ROOM:
            count = _lib.SSL_read(ssl, buffer + filled, RECORD)
            if count <= 0:
                break
            filled += count
        return _ffi.buffer(buffer, filled)[:]


class RegistryTLSFactory(TLSMemoryBIOFactory):
    """
    Wraps a factory's connections in L{RegistryTLSProtocol}.
    """

    protocol = RegistryTLSProtocol


@implementer(IStreamServerEndpoint)
class RegistryTLSEndpoint:
    """
    An endpoint running L{RegistryTLSProtocol} over another one, as
    L{twisted.internet.endpoints.wrapServerTLS} runs Twisted's.
    """

    def __init__(self, endpoint: IStreamServerEndpoint, connectionCreator: Any,
                 clock: Any = None) -> None:
        """
        @param endpoint: the endpoint to run over (TCP).
        @param connectionCreator: makes the OpenSSL connections.
        @param clock: schedules the flushes of small writes.
        """
        self.endpoint = endpoint
        self.connectionCreator = connectionCreator
        self.clock = clock

    def listen(self, factory: IProtocolFactory) -> Deferred[IListeningPort]:
        return self.endpoint.listen(
            RegistryTLSFactory(self.connectionCreator, False, factory, clock=self.clock))
