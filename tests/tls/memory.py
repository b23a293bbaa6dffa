"""
TLS handshakes between two pyOpenSSL connections in memory, for testing
server contexts without sockets.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from OpenSSL import SSL
from OpenSSL.crypto import X509

from tests.certs import CertificateAuthority, Issued


def clientContext(
    ca: CertificateAuthority | None = None,
    identity: Issued | None = None,
    alpn: tuple[bytes, ...] = (),
    maximum: int | None = None,
    minimum: int | None = None,
    ciphers: bytes | None = None,
    tls13: bytes | None = None,
) -> SSL.Context:
    """
    A client context.

    @param ca: the CA the client trusts (and verifies the server against);
        L{None} to verify nothing.
    @param identity: the client certificate to present, if any.
    @param alpn: the protocols to offer.
    @param maximum: the highest version to offer (C{SSL.TLS1_2_VERSION}...).
    @param minimum: the lowest.
    @param ciphers: a TLS 1.2 cipher list.
    @param tls13: a TLS 1.3 suite list.
    """
    context = SSL.Context(SSL.TLS_CLIENT_METHOD)
    if ca is not None:
        context.get_cert_store().add_cert(X509.from_cryptography(ca.certificate))  # type: ignore[union-attr]
        context.set_verify(SSL.VERIFY_PEER, lambda conn, cert, errno, depth, ok: bool(ok))
    if identity is not None:
        context.use_certificate(identity.certificate)
        for extra in identity.chain:
            context.add_extra_chain_cert(extra)
        context.use_privatekey(identity.key)  # type: ignore[arg-type]
    if alpn:
        context.set_alpn_protos(list(alpn))
    if maximum is not None:
        context.set_max_proto_version(maximum)
    if minimum is not None:
        context.set_min_proto_version(minimum)
    if ciphers is not None:
        context.set_cipher_list(ciphers)
    if tls13 is not None:
        context.set_tls13_ciphersuites(tls13)
    return context


@dataclass
class Result:
    """
    What a finished handshake negotiated, seen from the client.

    @ivar chain: the certificates the server sent, leaf first.
    """

    client: SSL.Connection
    server: SSL.Connection

    @property
    def chain(self) -> list[x509.Certificate]:
        return [c.to_cryptography() for c in self.client.get_peer_cert_chain() or []]

    @property
    def leaf(self) -> x509.Certificate:
        return self.chain[0]

    @property
    def version(self) -> str:
        return self.client.get_protocol_version_name()

    @property
    def alpn(self) -> bytes:
        return self.client.get_alpn_proto_negotiated()

    @property
    def cipher(self) -> str | None:
        return self.client.get_cipher_name()


def handshake(
    server: SSL.Connection, client: SSL.Context, serverName: bytes | None = None
) -> Result:
    """
    Run a handshake in memory.

    @param server: a new server connection (from a connection creator).
    @param client: the client's context.
    @param serverName: the SNI name the client sends.
    @return: the negotiated connection pair.
    @raise SSL.Error: if either side fails the handshake.
    """
    server.set_accept_state()
    clientConnection = SSL.Connection(client, None)
    clientConnection.set_connect_state()
    if serverName is not None:
        clientConnection.set_tlsext_host_name(serverName)
    done = {"client": False, "server": False}
    for _ in range(50):
        for name, side, other in (
            ("client", clientConnection, server),
            ("server", server, clientConnection),
        ):
            if not done[name]:
                try:
                    side.do_handshake()
                    done[name] = True
                except SSL.WantReadError:
                    pass
            pump(side, other)
        if all(done.values()):
            # TLS 1.3: the server's checks of the client certificate
            # arrive after the client thinks it is done; a round trip of
            # application data brings out a refusal.
            clientConnection.send(b"ping")
            pump(clientConnection, server)
            server.recv(4)
            return Result(clientConnection, server)
    raise AssertionError("handshake did not finish")


def pump(source: SSL.Connection, destination: SSL.Connection) -> None:
    """
    Move the bytes C{source} wrote to C{destination}.
    """
    while True:
        try:
            data = source.bio_read(65536)
        except SSL.WantReadError:
            return
        destination.bio_write(data)


def serverPair(directory: Path, issued: Issued, stem: str = "server") -> tuple[str, str]:
    """
    Write C{issued} under C{directory}.

    @return: the certificate and key paths, as strings.
    """
    cert, key = issued.write(directory, stem)
    return str(cert), str(key)
