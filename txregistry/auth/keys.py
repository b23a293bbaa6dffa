"""
The keys that token signatures are checked against: the certificates of
C{auth.token.rootcertbundle} and the keys of C{auth.token.jwks}, loaded
once at start.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from txregistry.jsonparse import InvalidJSON, parseJSON

#: A public key a token may be signed with.
PublicKey = (rsa.RSAPublicKey | ec.EllipticCurvePublicKey
             | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey)

_PUBLIC_KEY_TYPES = (rsa.RSAPublicKey, ec.EllipticCurvePublicKey,
                     ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)


class KeyFileError(ValueError):
    """
    A root certificate bundle or JWKS file cannot be read or holds no
    usable key.
    """


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise KeyFileError(f"cannot read {path}: {e.strerror}") from None


def _publicJWK(key: Any) -> dict[str, Any]:
    if isinstance(key, rsa.RSAPublicKey):
        return json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key))
    if isinstance(key, ec.EllipticCurvePublicKey):
        return json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key))
    return json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(key))


#: The members of each key type that its RFC 7638 thumbprint covers.
_THUMBPRINT_MEMBERS = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y"),
                       "OKP": ("crv", "kty", "x")}


def thumbprint(key: Any) -> str:
    """
    @return: the RFC 7638 thumbprint (SHA-256, base64url) of a public key:
        the C{kid} distribution gives the keys of its root certificates.
    """
    jwk = _publicJWK(key)
    members = {name: jwk[name] for name in _THUMBPRINT_MEMBERS[jwk["kty"]]}
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def loadRootCertBundle(path: str) -> list[x509.Certificate]:
    """
    @return: the certificates of a PEM bundle.
    @raise KeyFileError: if the file cannot be read or holds no certificate.
    """
    data = _read(path)
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError as e:
        raise KeyFileError(f"{path} holds no PEM certificate: {e}") from None
    for certificate in certificates:
        if not isinstance(certificate.public_key(), _PUBLIC_KEY_TYPES):
            raise KeyFileError(f"{path}: a certificate's key cannot sign tokens")
    return certificates


def loadJWKS(path: str) -> dict[str, PublicKey]:
    """
    @return: the public keys of a JWKS file (C{{"keys": [...]}}) by their
        C{kid} (their thumbprint if they have none).
    @raise KeyFileError: if the file cannot be read, is not a JWKS, or
        holds a key that is not an asymmetric public key.
    """
    data = _read(path)
    try:
        document = parseJSON(data)
    except InvalidJSON as e:
        raise KeyFileError(f"{path} is not JSON: {e}") from None
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise KeyFileError(f'{path} is not a JWKS: it needs a "keys" list')
    keys: dict[str, PublicKey] = {}
    for index, entry in enumerate(document["keys"]):
        try:
            key = jwt.PyJWK(entry).key
        except (jwt.PyJWTError, TypeError, ValueError, KeyError) as e:
            raise KeyFileError(f"{path}: key {index} cannot be used: {e}") from None
        if not isinstance(key, _PUBLIC_KEY_TYPES):
            raise KeyFileError(
                f"{path}: key {index} is not an asymmetric public key")
        kid = entry.get("kid")
        keys[kid if isinstance(kid, str) and kid else thumbprint(key)] = key
    return keys


@dataclass(frozen=True)
class TrustedKeys:
    """
    What a token's signing key is checked against.

    @ivar roots: the root certificates an C{x5c} chain must lead to.
    @ivar byID: trusted public keys by C{kid}: the root certificates' keys
        by thumbprint, and the JWKS keys.
    """

    roots: tuple[x509.Certificate, ...] = ()
    byID: dict[str, PublicKey] = field(default_factory=dict)

    @classmethod
    def load(cls, rootcertbundle: str = "", jwks: str = "") -> TrustedKeys:
        """
        Load the files the configuration names.

        @raise KeyFileError: if a file is bad, or together they hold no key
            (distribution: I{token auth requires at least one token
            signing key}).
        """
        return cls.combine(loadRootCertBundle(rootcertbundle) if rootcertbundle else [],
                           loadJWKS(jwks) if jwks else {})

    @classmethod
    def combine(cls, roots: list[x509.Certificate],
                jwks: dict[str, PublicKey]) -> TrustedKeys:
        """
        Trust the keys of loaded files (L{loadRootCertBundle},
        L{loadJWKS}).

        @raise KeyFileError: if together they hold no key.
        """
        byID: dict[str, PublicKey] = {
            thumbprint(root.public_key()): root.public_key()  # type: ignore[misc]
            for root in roots}
        byID.update(jwks)
        if not byID:
            raise KeyFileError("token auth requires at least one token signing key")
        return cls(tuple(roots), byID)
