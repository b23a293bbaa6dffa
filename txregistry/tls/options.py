"""
Build pyOpenSSL server contexts from C{http.tls}.

Every context of a listener (one per certificate) gets the same settings:
the minimum TLS version, the cipher suites, client authentication and the
ALPN protocols, since an SNI switch (L{txregistry.tls.sni}) moves a
connection to another context mid-handshake and OpenSSL then reads those
settings from the new one.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from OpenSSL import SSL
from OpenSSL.crypto import X509
from twisted.logger import Logger
from twisted.web.http import H2_ENABLED

from txregistry.config.errors import ConfigError, PathStep
from txregistry.config.model import TLSCertificateConfig, TLSConfig
from txregistry.tls import ciphers

log = Logger()

_TLS_KEYS: tuple[PathStep, ...] = ("http", "tls")

#: The lowest version each C{minimumtls} value lets OpenSSL negotiate.
#: C{tls1.0} and C{tls1.1} are accepted, as distribution 2.x accepts them,
#: but serve TLS 1.2 and up: both are deprecated (RFC 8996), and an OpenSSL
#: at its default security level refuses them anyway.
MINIMUM_VERSIONS = {
    "tls1.0": SSL.TLS1_2_VERSION,
    "tls1.1": SSL.TLS1_2_VERSION,
    "tls1.2": SSL.TLS1_2_VERSION,
    "tls1.3": SSL.TLS1_3_VERSION,
}

#: The C{clientauth} modes: whether a client certificate is required, and
#: whether it is verified against C{clientcas}.
CLIENT_AUTH_MODES = {
    "request-client-cert": (False, False),
    "require-any-client-cert": (True, False),
    "verify-client-cert-if-given": (False, True),
    "require-and-verify-client-cert": (True, True),
}

#: The session ID context: OpenSSL refuses to resume a session of a server
#: that verifies client certificates without one.
_SESSION_ID = b"txregistry"

#: OpenSSL's C{SSL_OP_PRIORITIZE_CHACHA}, which pyOpenSSL does not name.
#: With the server's order of preference, it puts ChaCha20-Poly1305 first
#: for a client that lists it first (one without AES hardware), as Go does.
_OP_PRIORITIZE_CHACHA = 1 << 21


def alpn_protocols(http2_disabled: bool, h2_available: bool = H2_ENABLED) -> tuple[bytes, ...]:
    """
    The protocols offered by ALPN, best first.

    @param http2_disabled: C{http.http2.disabled}.
    @param h2_available: whether Twisted can serve HTTP/2 (the C{h2}
        package is importable).
    @return: C{h2} and C{http/1.1}, or only C{http/1.1}.
    """
    if h2_available and not http2_disabled:
        return (b"h2", b"http/1.1")
    return (b"http/1.1",)


@dataclass(frozen=True)
class ServerTLSSettings:
    """
    Everything but the certificates: the same for every context of a
    listener.

    @ivar minimum: the lowest protocol version (C{SSL.TLS1_2_VERSION}...).
    @ivar ciphers: the cipher suites.
    @ivar clientauth: a key of L{CLIENT_AUTH_MODES}, or empty for none.
    @ivar alpn: the ALPN protocols offered, best first.
    """

    minimum: int = SSL.TLS1_2_VERSION
    ciphers: ciphers.CipherSelection = field(
        default_factory=lambda: ciphers.select(())
    )
    clientauth: str = ""
    alpn: tuple[bytes, ...] = (b"http/1.1",)

    @classmethod
    def fromConfig(
        cls,
        tls: TLSConfig,
        http2_disabled: bool,
        h2_available: bool = H2_ENABLED,
        warn: bool = True,
    ) -> ServerTLSSettings:
        """
        @param tls: a parsed C{http.tls} (its cipher names are known).
        @param http2_disabled: C{http.http2.disabled}.
        @param h2_available: whether Twisted can serve HTTP/2.
        @param warn: whether to log a warning for a C{minimumtls} below
            C{tls1.2}, for TLS 1.2 suites listed with C{tls1.3}, and for
            each suite listed that this OpenSSL does not offer (RC4, 3DES).
        @return: the settings.
        @raise ConfigError: at C{http.tls.ciphersuites} if TLS 1.2 suites
            are listed but OpenSSL offers none of them.
        """
        if warn and tls.minimumtls in ("tls1.0", "tls1.1"):
            log.warn(
                "http.tls.minimumtls: {version} is deprecated and not served; "
                "clients need TLS 1.2 or later",
                version=tls.minimumtls,
            )
        minimum = MINIMUM_VERSIONS[tls.minimumtls]
        selection = ciphers.select(tls.ciphersuites)
        if minimum == SSL.TLS1_3_VERSION:
            if warn and tls.ciphersuites and selection.tls12:
                log.warn(
                    "http.tls.ciphersuites: the TLS 1.2 suites listed have no "
                    "effect with minimumtls tls1.3"
                )
        elif selection.tls12:
            _check_offered(tls.ciphersuites, warn)
        return cls(
            minimum=minimum,
            ciphers=selection,
            clientauth=tls.clientauth,
            alpn=alpn_protocols(http2_disabled, h2_available),
        )


@dataclass(frozen=True)
class Identity:
    """
    A certificate, its chain and its private key, loaded.

    @ivar source: where they were configured.
    @ivar chain: the certificate first, then the rest of its file.
    @ivar names: the DNS names of its subjectAltName, lower-cased
        (wildcards kept as C{*.example.com}).
    """

    source: TLSCertificateConfig
    chain: tuple[x509.Certificate, ...]
    key: PrivateKeyTypes
    names: tuple[str, ...]


def _read(keys: Sequence[PathStep], path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise ConfigError(keys, f"cannot read {path}: {e.strerror or e}") from None


def load_certificates(keys: Sequence[PathStep], path: str) -> list[x509.Certificate]:
    """
    Read a PEM file of certificates.

    @param keys: the configuration path naming the file, for errors.
    @param path: the file.
    @return: its certificates, in order (at least one).
    @raise ConfigError: at C{keys} if the file cannot be read or holds no
        valid certificate.
    """
    data = _read(keys, path)
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError as e:
        raise ConfigError(
            keys, f"{path} does not hold PEM certificates: {e}"
        ) from None
    return certificates


def load_identity(
    source: TLSCertificateConfig, now: datetime | None = None, warn: bool = True
) -> Identity:
    """
    Read a certificate (with its chain) and its private key.

    @param source: the files.
    @param now: the time the validity period is checked against (now by
        default); a certificate outside its period is served, with a
        warning, as Go serves it.
    @param warn: whether to log that warning.
    @return: the identity.
    @raise ConfigError: at C{.certificate} or C{.key} of C{source.keys} if
        a file cannot be read or parsed, or if the key does not belong to
        the certificate.
    """
    certKeys = source.keys + ("certificate",)
    keyKeys = source.keys + ("key",)
    if not source.key:
        raise ConfigError(keyKeys, "is required with a certificate")
    chain = load_certificates(certKeys, source.certificate)
    data = _read(keyKeys, source.key)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as e:
        raise ConfigError(
            keyKeys, f"{source.key} does not hold an unencrypted PEM private key: {e}"
        ) from None
    raw = serialization.PublicFormat.SubjectPublicKeyInfo
    pem = serialization.Encoding.PEM
    if key.public_key().public_bytes(pem, raw) != chain[0].public_key().public_bytes(
        pem, raw
    ):
        raise ConfigError(
            keyKeys,
            f"{source.key} is not the private key of the certificate "
            f"{source.certificate}",
        )
    leaf = chain[0]
    when = now if now is not None else datetime.now(UTC)
    if warn and not leaf.not_valid_before_utc <= when <= leaf.not_valid_after_utc:
        log.warn(
            "{path}: the certificate is valid from {start} to {end} only",
            path=source.certificate,
            start=leaf.not_valid_before_utc.isoformat(),
            end=leaf.not_valid_after_utc.isoformat(),
        )
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        names = tuple(name.lower() for name in san.value.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        names = ()
    return Identity(source=source, chain=tuple(chain), key=key, names=names)


def load_client_cas(tls: TLSConfig) -> list[x509.Certificate]:
    """
    Read C{http.tls.clientcas}.

    @return: every CA certificate of every file.
    @raise ConfigError: at C{http.tls.clientcas[i]} for a file that cannot
        be read or holds no certificate.
    """
    cas: list[x509.Certificate] = []
    for index, path in enumerate(tls.clientcas):
        cas.extend(load_certificates(_TLS_KEYS + ("clientcas", index), path))
    return cas


def offered(opensslName: str) -> bool:
    """
    @param opensslName: an OpenSSL TLS 1.2 cipher name.
    @return: whether this OpenSSL offers it at its security level.
    """
    try:
        SSL.Context(SSL.TLS_SERVER_METHOD).set_cipher_list(opensslName.encode("ascii"))
    except SSL.Error:
        return False
    return True


def _check_offered(names: Sequence[str], warn: bool) -> None:
    """
    Warn about the TLS 1.2 suites this OpenSSL does not offer, and refuse a
    list of which it offers none.
    """
    keys = _TLS_KEYS + ("ciphersuites",)
    listed = [
        (index, name) for index, name in enumerate(names) if name in ciphers.TLS12_SUITES
    ]
    missing = [
        (index, name)
        for index, name in listed
        if not offered(ciphers.TLS12_SUITES[name])
    ]
    if listed and len(missing) == len(listed):
        raise ConfigError(
            keys,
            "this OpenSSL offers none of the TLS 1.2 suites listed "
            f"({', '.join(name for _, name in missing)})",
        )
    if warn:
        for index, name in missing:
            log.warn(
                "http.tls.ciphersuites[{index}]: {name} is not offered by this "
                "OpenSSL; ignored",
                index=index,
                name=name,
            )


def _acceptAny(*args: object) -> bool:
    return True


def _acceptVerified(
    connection: SSL.Connection, certificate: X509, errno: int, depth: int, ok: int
) -> bool:
    return bool(ok)


def build_context(
    settings: ServerTLSSettings,
    identity: Identity,
    clientCAs: Sequence[x509.Certificate] = (),
) -> SSL.Context:
    """
    Build one server context.

    @param settings: the listener's settings.
    @param identity: the certificate it serves.
    @param clientCAs: the CAs client certificates are verified against
        (when C{settings.clientauth} verifies) and named to clients.
    @return: a new context.
    @raise SSL.Error: if OpenSSL refuses the settings (such as a cipher
        list of which it has no suite).
    """
    context = SSL.Context(SSL.TLS_SERVER_METHOD)
    context.set_min_proto_version(settings.minimum)
    context.set_options(
        SSL.OP_NO_COMPRESSION | SSL.OP_CIPHER_SERVER_PREFERENCE | _OP_PRIORITIZE_CHACHA
        | SSL.OP_NO_RENEGOTIATION
    )
    context.set_mode(SSL.MODE_RELEASE_BUFFERS)
    context.set_session_id(_SESSION_ID)
    if settings.ciphers.tls12:
        context.set_cipher_list(settings.ciphers.tls12.encode("ascii"))
    context.set_tls13_ciphersuites(settings.ciphers.tls13.encode("ascii"))

    context.use_certificate(identity.chain[0])
    for extra in identity.chain[1:]:
        context.add_extra_chain_cert(extra)
    context.use_privatekey(identity.key)  # type: ignore[arg-type]
    context.check_privatekey()

    if settings.clientauth:
        required, verified = CLIENT_AUTH_MODES[settings.clientauth]
        mode = SSL.VERIFY_PEER
        if required:
            mode |= SSL.VERIFY_FAIL_IF_NO_PEER_CERT
        callback: Callable[..., bool] = _acceptVerified if verified else _acceptAny
        context.set_verify(mode, callback)
        store = context.get_cert_store()
        assert store is not None
        for ca in clientCAs:
            store.add_cert(X509.from_cryptography(ca))
            context.add_client_ca(ca)

    protocols = settings.alpn

    def selectProtocol(connection: SSL.Connection, offered: list[bytes]) -> bytes:
        for protocol in protocols:
            if protocol in offered:
                return protocol
        return SSL.NO_OVERLAPPING_PROTOCOLS  # type: ignore[return-value]

    context.set_alpn_select_callback(selectProtocol)
    return context


@dataclass(frozen=True)
class ContextSet:
    """
    The contexts of one listener: the default and one per SNI name.

    @ivar default: the context of clients sending no name, or a name no
        certificate has.
    @ivar byName: a context per lower-cased DNS name (C{*.example.com} for
        wildcards); where several certificates have a name, the first
        configured wins.
    @ivar identities: what was loaded, the default first.
    """

    default: SSL.Context
    byName: dict[str, SSL.Context]
    identities: tuple[Identity, ...]


def load_contexts(
    tls: TLSConfig,
    settings: ServerTLSSettings,
    now: datetime | None = None,
    warn: bool = True,
) -> ContextSet:
    """
    Read every file of C{http.tls} and build the listener's contexts.

    @param tls: a parsed C{http.tls} with at least one certificate.
    @param settings: see L{ServerTLSSettings.fromConfig}.
    @param now: see L{load_identity}.
    @param warn: see L{load_identity}.
    @return: the contexts.
    @raise ConfigError: naming the key of the file that cannot be used.
    """
    identities = [load_identity(source, now, warn) for source in tls.identities()]
    if not identities:
        raise ConfigError(_TLS_KEYS + ("certificate",), "is required")
    cas = load_client_cas(tls)
    byName: dict[str, SSL.Context] = {}
    contexts = []
    for identity in identities:
        try:
            context = build_context(settings, identity, cas)
        except SSL.Error as e:
            raise ConfigError(
                identity.source.keys, f"OpenSSL refused the settings: {e}"
            ) from None
        contexts.append(context)
        for name in identity.names:
            byName.setdefault(name, context)
    return ContextSet(default=contexts[0], byName=byName, identities=tuple(identities))


def check_config(tls: TLSConfig, http2_disabled: bool) -> None:
    """
    Check, without logging, that C{http.tls} can be served: its names are
    known, its files are read and its contexts built, then dropped.  Run as
    the registry starts (L{txregistry.configuration.checkConfiguration}), so that
    a bad value or file fails the start with its key's path.

    @raise ConfigError: naming the key at fault.
    """
    _check_choice("minimumtls", tls.minimumtls, MINIMUM_VERSIONS)
    if tls.clientauth:
        _check_choice("clientauth", tls.clientauth, CLIENT_AUTH_MODES)
    for index, name in enumerate(tls.ciphersuites):
        if not ciphers.is_known(name):
            raise ConfigError(
                _TLS_KEYS + ("ciphersuites", index),
                f"unknown TLS cipher suite {name!r}; known suites are Go's names, "
                "such as TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            )
    settings = ServerTLSSettings.fromConfig(tls, http2_disabled, warn=False)
    load_contexts(tls, settings, warn=False)


def _check_choice(key: str, value: str, known: Collection[str]) -> None:
    """
    @raise ConfigError: at C{http.tls.<key>} unless C{value} is one of
        C{known}.
    """
    if value not in known:
        raise ConfigError(_TLS_KEYS + (key,),
                          f"must be one of {', '.join(known)}, got {value!r}")
