"""
Certificates for the TLS tests, made with C{cryptography}: a CA (and an
intermediate CA, for chains), server certificates for chosen DNS names and
IP addresses, client certificates, and certificates outside their validity
period.

EC P-256 keys by default (fast to make); RSA on request, for RSA cipher
suites.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _newKey(kind: str) -> CertificateIssuerPrivateKeyTypes:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


@dataclass(frozen=True)
class Issued:
    """
    A certificate, its key, and the certificates between it and the root
    (not including the root).

    @ivar chain: the intermediate certificates, nearest first.
    """

    certificate: x509.Certificate
    key: CertificateIssuerPrivateKeyTypes
    chain: tuple[x509.Certificate, ...] = ()

    @property
    def certificatePEM(self) -> bytes:
        """The certificate alone, in PEM."""
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def chainPEM(self) -> bytes:
        """The certificate followed by its intermediates, in PEM."""
        return self.certificatePEM + b"".join(
            c.public_bytes(serialization.Encoding.PEM) for c in self.chain
        )

    @property
    def keyPEM(self) -> bytes:
        """The unencrypted private key, in PKCS#8 PEM."""
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def write(self, directory: Path, stem: str) -> tuple[Path, Path]:
        """
        Write C{STEM.crt} (the certificate and its chain) and C{STEM.key}.

        @return: their paths.
        """
        directory.mkdir(parents=True, exist_ok=True)
        cert, key = directory / f"{stem}.crt", directory / f"{stem}.key"
        cert.write_bytes(self.chainPEM)
        key.write_bytes(self.keyPEM)
        return cert, key


class CertificateAuthority:
    """
    A certificate authority issuing test certificates.
    """

    def __init__(
        self,
        name: str = "txregistry test CA",
        parent: CertificateAuthority | None = None,
    ) -> None:
        """
        @param name: its common name.
        @param parent: the CA signing this one (an intermediate), or
            L{None} for a self-signed root.
        """
        self.key = _newKey("ec")
        self.parent = parent
        now = datetime.now(UTC)
        issuerName = _name(name) if parent is None else parent.certificate.subject
        signer = self.key if parent is None else parent.key
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(issuerName)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, content_commitment=False,
                    key_encipherment=False, data_encipherment=False,
                    key_agreement=False, key_cert_sign=True, crl_sign=True,
                    encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()),
                critical=False,
            )
            .sign(signer, hashes.SHA256())
        )

    @property
    def certificatePEM(self) -> bytes:
        """The CA's certificate in PEM (for C{ca.crt}, C{clientcas})."""
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def _chain(self) -> tuple[x509.Certificate, ...]:
        if self.parent is None:
            return ()
        return (self.certificate, *self.parent._chain())

    def intermediate(self, name: str = "txregistry test intermediate CA") -> CertificateAuthority:
        """
        @return: a CA signed by this one.
        """
        return CertificateAuthority(name, parent=self)

    def issue(
        self,
        names: Sequence[str] = ("localhost",),
        ips: Sequence[str] = ("127.0.0.1",),
        *,
        client: bool = False,
        common: str | None = None,
        notBefore: datetime | None = None,
        notAfter: datetime | None = None,
        keyType: str = "ec",
    ) -> Issued:
        """
        Issue a leaf certificate.

        @param names: its DNS subjectAltNames.
        @param ips: its IP address subjectAltNames.
        @param client: a client certificate (clientAuth) rather than a
            server one (serverAuth).
        @param common: its common name (the first name by default).
        @param notBefore: the start of its validity (yesterday by default).
        @param notAfter: its end (in 30 days by default); give a past time
            for an expired certificate.
        @param keyType: C{"ec"} or C{"rsa"}.
        @return: the certificate, its key and its intermediates.
        """
        key = _newKey(keyType)
        now = datetime.now(UTC)
        alternatives: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
        alternatives += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
        usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common or (names[0] if names else "txregistry test")))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(notBefore or now - timedelta(days=1))
            .not_valid_after(notAfter or now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
        )
        if alternatives:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(alternatives), critical=False
            )
        return Issued(builder.sign(self.key, hashes.SHA256()), key, self._chain())

    def expired(self, names: Sequence[str] = ("localhost",)) -> Issued:
        """
        @return: a server certificate whose validity ended yesterday.
        """
        now = datetime.now(UTC)
        return self.issue(
            names, notBefore=now - timedelta(days=30), notAfter=now - timedelta(days=1)
        )

    def write(self, path: Path) -> Path:
        """
        Write the CA certificate (PEM) to C{path}.

        @return: C{path}.
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.certificatePEM)
        return path
