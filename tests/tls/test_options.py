"""
Tests for L{txregistry.tls.options}: server contexts built from C{http.tls},
checked by handshakes in memory.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from OpenSSL import SSL

from tests.certs import CertificateAuthority
from tests.tls.memory import clientContext, handshake, serverPair
from txregistry.config.errors import ConfigError
from txregistry.config.model import TLSCertificateConfig, TLSConfig
from txregistry.tls.options import (
    ServerTLSSettings,
    alpn_protocols,
    load_contexts,
    load_identity,
)


def serve(tls: TLSConfig, **settings: object) -> SSL.Connection:
    """
    @return: a server connection on the default context built from C{tls}.
    """
    built = ServerTLSSettings.fromConfig(tls, http2_disabled=False, **settings)  # type: ignore[arg-type]
    return SSL.Connection(load_contexts(tls, built).default, None)


def simpleConfig(ca: CertificateAuthority, certdir: Path, **kwargs: object) -> TLSConfig:
    cert, key = serverPair(certdir, ca.issue())
    return TLSConfig(certificate=cert, key=key, **kwargs)  # type: ignore[arg-type]


def test_servesCertificateVerifiedByCA(ca: CertificateAuthority, certdir: Path) -> None:
    """A client trusting the CA completes the handshake and sees the certificate."""
    result = handshake(serve(simpleConfig(ca, certdir)), clientContext(ca))
    assert result.leaf.issuer == ca.certificate.subject
    assert result.leaf.subject.rfc4514_string() == "CN=localhost"


def test_chainSent(ca: CertificateAuthority, certdir: Path) -> None:
    """The intermediates after the certificate in its file are sent after it."""
    intermediate = ca.intermediate()
    cert, key = serverPair(certdir, intermediate.issue(["chained.test"]))
    result = handshake(serve(TLSConfig(certificate=cert, key=key)), clientContext(ca))
    assert [c.subject for c in result.chain] == [
        result.leaf.subject,
        intermediate.certificate.subject,
    ]


def test_minimumDefaultRefusesTLS11(ca: CertificateAuthority, certdir: Path) -> None:
    """By default a client offering at most TLS 1.1 is refused."""
    client = clientContext(ca, maximum=SSL.TLS1_1_VERSION, ciphers=b"DEFAULT:@SECLEVEL=0")
    client.set_min_proto_version(SSL.TLS1_VERSION)
    with pytest.raises(SSL.Error, match="unsupported protocol"):
        handshake(serve(simpleConfig(ca, certdir)), client)


def test_minimumTLS12AcceptsTLS12(ca: CertificateAuthority, certdir: Path) -> None:
    """A TLS 1.2-only client is served by default."""
    client = clientContext(ca, maximum=SSL.TLS1_2_VERSION)
    assert handshake(serve(simpleConfig(ca, certdir)), client).version == "TLSv1.2"


def test_minimumTLS13RefusesTLS12(ca: CertificateAuthority, certdir: Path) -> None:
    """With minimumtls tls1.3 a TLS 1.2-only client is refused."""
    client = clientContext(ca, maximum=SSL.TLS1_2_VERSION)
    with pytest.raises(SSL.Error, match="unsupported protocol"):
        handshake(serve(simpleConfig(ca, certdir, minimumtls="tls1.3")), client)


def test_minimumTLS10ServesTLS12Floor(ca: CertificateAuthority, certdir: Path) -> None:
    """minimumtls tls1.0 is accepted but still refuses a TLS 1.0 client."""
    client = clientContext(ca, maximum=SSL.TLS1_VERSION, ciphers=b"DEFAULT:@SECLEVEL=0")
    client.set_min_proto_version(SSL.TLS1_VERSION)
    with pytest.raises(SSL.Error, match="unsupported protocol"):
        handshake(serve(simpleConfig(ca, certdir, minimumtls="tls1.0")), client)


def test_cipherSuitesRestrictTLS12(ca: CertificateAuthority, certdir: Path) -> None:
    """With one TLS 1.2 suite configured, a TLS 1.2 handshake uses it."""
    cert, key = serverPair(certdir, ca.issue(keyType="rsa"))
    tls = TLSConfig(
        certificate=cert, key=key, ciphersuites=["TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"]
    )
    result = handshake(serve(tls), clientContext(ca, maximum=SSL.TLS1_2_VERSION))
    assert result.cipher == "ECDHE-RSA-AES256-GCM-SHA384"


def test_cipherSuitesRefuseOthers(ca: CertificateAuthority, certdir: Path) -> None:
    """A client offering only suites not configured is refused."""
    cert, key = serverPair(certdir, ca.issue(keyType="rsa"))
    tls = TLSConfig(
        certificate=cert, key=key, ciphersuites=["TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"]
    )
    client = clientContext(
        ca, maximum=SSL.TLS1_2_VERSION, ciphers=b"ECDHE-RSA-AES128-GCM-SHA256"
    )
    with pytest.raises(SSL.Error):
        handshake(serve(tls), client)


def test_tls13SuiteRestricted(ca: CertificateAuthority, certdir: Path) -> None:
    """A TLS 1.3 name listed restricts TLS 1.3 to it."""
    tls = simpleConfig(ca, certdir, ciphersuites=["TLS_CHACHA20_POLY1305_SHA256"])
    assert handshake(serve(tls), clientContext(ca)).cipher == "TLS_CHACHA20_POLY1305_SHA256"


@pytest.mark.parametrize(("tls13", "expected"), [
    # OpenSSL's clients list AES-256-GCM first.
    (None, "TLS_AES_128_GCM_SHA256"),
    (b"TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256", "TLS_CHACHA20_POLY1305_SHA256"),
])
def test_tls13SuiteAsGoChooses(
    ca: CertificateAuthority, certdir: Path, tls13: bytes | None, expected: str
) -> None:
    """
    TLS 1.3 gets AES-128-GCM whatever the client prefers, unless it prefers
    ChaCha20-Poly1305: the suite a Go server (distribution) chooses.
    """
    result = handshake(serve(simpleConfig(ca, certdir)), clientContext(ca, tls13=tls13))
    assert result.cipher == expected


@pytest.mark.parametrize(("ciphers", "expected"), [
    (None, "ECDHE-RSA-AES128-GCM-SHA256"),
    (b"ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256",
     "ECDHE-RSA-AES128-GCM-SHA256"),
    (b"ECDHE-RSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256",
     "ECDHE-RSA-CHACHA20-POLY1305"),
])
def test_tls12SuiteAsGoChooses(
    ca: CertificateAuthority, certdir: Path, ciphers: bytes | None, expected: str
) -> None:
    """TLS 1.2 suites are chosen in Go's order too, ChaCha20 first only for clients preferring it."""
    cert, key = serverPair(certdir, ca.issue(keyType="rsa"))
    client = clientContext(ca, maximum=SSL.TLS1_2_VERSION, ciphers=ciphers)
    result = handshake(serve(TLSConfig(certificate=cert, key=key)), client)
    assert result.cipher == expected


def test_onlyUnofferedSuitesRefused(ca: CertificateAuthority, certdir: Path) -> None:
    """A list of only suites this OpenSSL lacks (RC4, 3DES) fails at ciphersuites."""
    tls = simpleConfig(
        ca, certdir, ciphersuites=["TLS_RSA_WITH_RC4_128_SHA", "TLS_RSA_WITH_3DES_EDE_CBC_SHA"]
    )
    with pytest.raises(ConfigError) as info:
        ServerTLSSettings.fromConfig(tls, http2_disabled=False)
    assert info.value.path == "http.tls.ciphersuites"


def test_alpnOffersH2(ca: CertificateAuthority, certdir: Path) -> None:
    """A client offering h2 and http/1.1 gets h2 when HTTP/2 is available."""
    result = handshake(
        serve(simpleConfig(ca, certdir), h2_available=True),
        clientContext(ca, alpn=(b"http/1.1", b"h2")),
    )
    assert result.alpn == b"h2"


def test_alpnWithoutH2(ca: CertificateAuthority, certdir: Path) -> None:
    """Without HTTP/2, a client offering both gets http/1.1."""
    result = handshake(
        serve(simpleConfig(ca, certdir), h2_available=False),
        clientContext(ca, alpn=(b"h2", b"http/1.1")),
    )
    assert result.alpn == b"http/1.1"


def test_alpnNoOverlapStillServes(ca: CertificateAuthority, certdir: Path) -> None:
    """A client offering only unknown protocols is served without ALPN."""
    result = handshake(serve(simpleConfig(ca, certdir)), clientContext(ca, alpn=(b"spdy/3",)))
    assert result.alpn == b""


def test_alpnProtocols() -> None:
    """http.http2.disabled or a missing h2 package leaves only http/1.1."""
    assert alpn_protocols(False, True) == (b"h2", b"http/1.1")
    assert alpn_protocols(True, True) == (b"http/1.1",)
    assert alpn_protocols(False, False) == (b"http/1.1",)


def mutual(ca: CertificateAuthority, certdir: Path, clientauth: str) -> TLSConfig:
    return simpleConfig(
        ca, certdir, clientcas=[str(ca.write(certdir / "ca.pem"))], clientauth=clientauth
    )


def test_requireAndVerifyRefusesNoCert(ca: CertificateAuthority, certdir: Path) -> None:
    """require-and-verify-client-cert refuses a client without a certificate."""
    with pytest.raises(SSL.Error):
        handshake(serve(mutual(ca, certdir, "require-and-verify-client-cert")), clientContext(ca))


def test_requireAndVerifyAcceptsCert(ca: CertificateAuthority, certdir: Path) -> None:
    """require-and-verify-client-cert serves a client with a certificate of the CA."""
    server = serve(mutual(ca, certdir, "require-and-verify-client-cert"))
    handshake(server, clientContext(ca, identity=ca.issue(["client"], client=True)))
    assert server.get_peer_certificate() is not None


def test_requireAndVerifyRefusesOtherCA(ca: CertificateAuthority, certdir: Path) -> None:
    """require-and-verify-client-cert refuses a certificate of another CA."""
    stranger = CertificateAuthority("stranger")
    with pytest.raises(SSL.Error):
        handshake(
            serve(mutual(ca, certdir, "require-and-verify-client-cert")),
            clientContext(ca, identity=stranger.issue(["client"], client=True)),
        )


def test_verifyIfGivenAcceptsNoCert(ca: CertificateAuthority, certdir: Path) -> None:
    """verify-client-cert-if-given serves a client without a certificate."""
    server = serve(mutual(ca, certdir, "verify-client-cert-if-given"))
    handshake(server, clientContext(ca))
    assert server.get_peer_certificate() is None


def test_verifyIfGivenRefusesOtherCA(ca: CertificateAuthority, certdir: Path) -> None:
    """verify-client-cert-if-given still refuses a certificate it cannot verify."""
    stranger = CertificateAuthority("stranger")
    with pytest.raises(SSL.Error):
        handshake(
            serve(mutual(ca, certdir, "verify-client-cert-if-given")),
            clientContext(ca, identity=stranger.issue(["client"], client=True)),
        )


def test_requireAnyAcceptsUnverified(ca: CertificateAuthority, certdir: Path) -> None:
    """require-any-client-cert takes a certificate of any CA, but requires one."""
    stranger = CertificateAuthority("stranger")
    config = mutual(ca, certdir, "require-any-client-cert")
    handshake(serve(config), clientContext(ca, identity=stranger.issue(["c"], client=True)))
    with pytest.raises(SSL.Error):
        handshake(serve(config), clientContext(ca))


def test_missingCertificateFile(certdir: Path) -> None:
    """A certificate file that cannot be read fails at http.tls.certificate."""
    with pytest.raises(ConfigError) as info:
        load_identity(TLSCertificateConfig(str(certdir / "none.crt"), str(certdir / "k")))
    assert info.value.path == "http.tls.certificate"
    assert "none.crt" in info.value.reason


def test_garbageKey(ca: CertificateAuthority, certdir: Path) -> None:
    """A key file holding no key fails at http.tls.key."""
    cert, key = serverPair(certdir, ca.issue())
    Path(key).write_text("not a key\n")
    with pytest.raises(ConfigError) as info:
        load_identity(TLSCertificateConfig(cert, key))
    assert info.value.path == "http.tls.key"


def test_mismatchedKey(ca: CertificateAuthority, certdir: Path) -> None:
    """The key of another certificate fails at the entry's key, naming both files."""
    cert, _ = serverPair(certdir, ca.issue(), "one")
    _, key = serverPair(certdir, ca.issue(), "two")
    with pytest.raises(ConfigError) as info:
        load_identity(TLSCertificateConfig(cert, key, ("http", "tls", "certificates", 1)))
    assert info.value.path == "http.tls.certificates[1].key"
    assert "one.crt" in info.value.reason


def test_badClientCA(ca: CertificateAuthority, certdir: Path) -> None:
    """A clientcas file holding no certificate fails at its index."""
    bad = certdir / "bad.pem"
    bad.write_text("nothing\n")
    tls = simpleConfig(
        ca, certdir, clientcas=[str(ca.write(certdir / "ca.pem")), str(bad)],
        clientauth="require-and-verify-client-cert",
    )
    with pytest.raises(ConfigError) as info:
        load_contexts(tls, ServerTLSSettings.fromConfig(tls, False))
    assert info.value.path == "http.tls.clientcas[1]"


def test_expiredCertificateServed(ca: CertificateAuthority, certdir: Path) -> None:
    """An expired certificate is still served (as Go does); the client sees it expired."""
    cert, key = serverPair(certdir, ca.expired())
    identity = load_identity(TLSCertificateConfig(cert, key), warn=False)
    assert identity.chain[0].not_valid_after_utc < datetime.now(UTC)
    with pytest.raises(SSL.Error, match="certificate verify failed"):
        handshake(serve(TLSConfig(certificate=cert, key=key)), clientContext(ca))


def test_namesFromSubjectAltName(ca: CertificateAuthority, certdir: Path) -> None:
    """The identity's names are the DNS names of its subjectAltName, lower-cased."""
    cert, key = serverPair(certdir, ca.issue(["Registry.Example", "*.mirror.test"]))
    identity = load_identity(
        TLSCertificateConfig(cert, key), now=datetime.now(UTC) + timedelta(days=1)
    )
    assert identity.names == ("registry.example", "*.mirror.test")
