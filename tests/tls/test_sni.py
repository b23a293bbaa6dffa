"""
Tests for L{txregistry.tls.sni}: a certificate per server name, and
certificates replaced without disturbing connections already made.
"""

from __future__ import annotations

from pathlib import Path

from cryptography import x509

from tests.certs import CertificateAuthority
from tests.tls.memory import clientContext, handshake, serverPair
from txregistry.config.model import TLSCertificateConfig, TLSConfig
from txregistry.tls.options import ServerTLSSettings, load_contexts
from txregistry.tls.sni import SNIConnectionCreator, lookup


def names(leaf: x509.Certificate) -> list[str]:
    """@return: the DNS names of C{leaf}'s subjectAltName."""
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    return list(san.value.get_values_for_type(x509.DNSName))


def sniConfig(ca: CertificateAuthority, certdir: Path) -> TLSConfig:
    """
    A default certificate for C{default.test}, and two more: C{a.test} and
    C{*.wild.test}.
    """
    cert, key = serverPair(certdir, ca.issue(["default.test"]), "default")
    extra = []
    for index, (stem, hostnames) in enumerate(
        [("a", ["a.test"]), ("wild", ["*.wild.test"])]
    ):
        c, k = serverPair(certdir, ca.issue(hostnames), stem)
        extra.append(TLSCertificateConfig(c, k, ("http", "tls", "certificates", index)))
    return TLSConfig(certificate=cert, key=key, certificates=extra)


def creatorFor(tls: TLSConfig) -> SNIConnectionCreator:
    settings = ServerTLSSettings.fromConfig(tls, http2_disabled=False)
    return SNIConnectionCreator(load_contexts(tls, settings))


def test_exactName(ca: CertificateAuthority, certdir: Path) -> None:
    """A client asking for a.test gets a.test's certificate."""
    creator = creatorFor(sniConfig(ca, certdir))
    result = handshake(creator.serverConnectionForTLS(None), clientContext(ca), b"a.test")
    assert names(result.leaf) == ["a.test"]


def test_wildcardName(ca: CertificateAuthority, certdir: Path) -> None:
    """A name one label under a wildcard gets the wildcard certificate."""
    creator = creatorFor(sniConfig(ca, certdir))
    result = handshake(
        creator.serverConnectionForTLS(None), clientContext(ca), b"Registry.Wild.Test"
    )
    assert names(result.leaf) == ["*.wild.test"]


def test_unknownNameGetsDefault(ca: CertificateAuthority, certdir: Path) -> None:
    """A name no certificate has gets the default certificate."""
    creator = creatorFor(sniConfig(ca, certdir))
    result = handshake(creator.serverConnectionForTLS(None), clientContext(ca), b"b.test")
    assert names(result.leaf) == ["default.test"]


def test_noNameGetsDefault(ca: CertificateAuthority, certdir: Path) -> None:
    """A client sending no name gets the default certificate."""
    creator = creatorFor(sniConfig(ca, certdir))
    result = handshake(creator.serverConnectionForTLS(None), clientContext(ca))
    assert names(result.leaf) == ["default.test"]


def test_lookupWildcardOneLabelOnly(ca: CertificateAuthority, certdir: Path) -> None:
    """A wildcard covers one label only: x.y.wild.test gets the default."""
    tls = sniConfig(ca, certdir)
    contexts = load_contexts(tls, ServerTLSSettings.fromConfig(tls, False))
    assert lookup(contexts, b"x.wild.test") is contexts.byName["*.wild.test"]
    assert lookup(contexts, b"x.y.wild.test") is contexts.default


def test_firstCertificateWinsAName(ca: CertificateAuthority, certdir: Path) -> None:
    """When two certificates name a host, the first configured serves it."""
    cert, key = serverPair(certdir, ca.issue(["same.test", "first.test"]), "first")
    c2, k2 = serverPair(certdir, ca.issue(["same.test"]), "second")
    tls = TLSConfig(certificate=cert, key=key, certificates=[TLSCertificateConfig(c2, k2)])
    creator = creatorFor(tls)
    result = handshake(creator.serverConnectionForTLS(None), clientContext(ca), b"same.test")
    assert names(result.leaf) == ["same.test", "first.test"]


def test_certificatesOnlyFirstIsDefault(ca: CertificateAuthority, certdir: Path) -> None:
    """Without http.tls.certificate, the first of certificates is the default."""
    c1, k1 = serverPair(certdir, ca.issue(["one.test"]), "one")
    c2, k2 = serverPair(certdir, ca.issue(["two.test"]), "two")
    tls = TLSConfig(certificates=[TLSCertificateConfig(c1, k1), TLSCertificateConfig(c2, k2)])
    creator = creatorFor(tls)
    result = handshake(creator.serverConnectionForTLS(None), clientContext(ca), b"other.test")
    assert names(result.leaf) == ["one.test"]


def test_replaceServesNewToNewConnections(ca: CertificateAuthority, certdir: Path) -> None:
    """After replace, a new connection gets the new certificate while one
    made before finishes its handshake with the old."""
    tls = sniConfig(ca, certdir)
    creator = creatorFor(tls)
    before = creator.serverConnectionForTLS(None)
    serverPair(certdir, ca.issue(["a.test", "renewed.test"]), "a")
    creator.replace(load_contexts(tls, ServerTLSSettings.fromConfig(tls, False)))
    old = handshake(before, clientContext(ca), b"a.test")
    new = handshake(creator.serverConnectionForTLS(None), clientContext(ca), b"a.test")
    assert names(old.leaf) == ["a.test"]
    assert names(new.leaf) == ["a.test", "renewed.test"]
