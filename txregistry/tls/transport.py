"""
A TLS transport that moves data in larger pieces than Twisted's.

Twisted's L{TLSMemoryBIOProtocol} hands OpenSSL 16 KiB at a time (copying a
slice of the data for each), reads back at most 32 KiB of ciphertext per
piece, and delivers every decrypted record (16 KiB) to the protocol on its
own: for a 1 GiB blob, 65,536 trips through the HTTP parser and the upload's
writer.  This one encrypts 256 KiB per call from a view of the data, sends
everything OpenSSL produced in one write, and delivers all the records one
network read decrypts in one piece.
"""

from __future__ import annotations

from typing import Any

from OpenSSL.SSL import Error, WantReadError, ZeroReturnError
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

#: Plaintext given to OpenSSL per call.
SEND_PIECE = 256 * 1024
#: Ciphertext read back per call: a piece and its records' overhead.
_SEND_READ = SEND_PIECE + 16 * 1024
#: Plaintext asked for per call (OpenSSL returns at most one record).
_RECEIVE_PIECE = 32 * 1024


class RegistryTLSProtocol(BufferingTLSTransport):
    """
    L{BufferingTLSTransport} with larger pieces (see the module).
    """

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
        pieces = []
        while True:
            try:
                pieces.append(self._tlsConnection.bio_read(_SEND_READ))
            except WantReadError:
                break
        if pieces:
            transport: Any = self.transport
            transport.write(pieces[0] if len(pieces) == 1 else b"".join(pieces))

    def _flushReceiveBIO(self) -> None:
        received: list[bytes] = []
        while not self._lostTLSConnection:
            try:
                received.append(self._tlsConnection.recv(_RECEIVE_PIECE))
            except WantReadError:
                break
            except ZeroReturnError:
                self._deliver(received)
                self._shutdownTLS()
                self._tlsShutdownFinished(None)
            except Error:
                self._deliver(received)
                self._tlsShutdownFinished(Failure())
        self._deliver(received)
        # Reading may have produced something to send (a handshake message).
        self._flushSendBIO()

    def _deliver(self, received: list[bytes]) -> None:
        if received:
            data = received[0] if len(received) == 1 else b"".join(received)
            received.clear()
            if not self._aborted:
                ProtocolWrapper.dataReceived(self, data)


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
