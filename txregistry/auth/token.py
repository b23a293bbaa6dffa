"""
The C{token} provider: the Docker token scheme, as distribution's
C{registry/auth/token}.

A client without a token is sent to the token server (C{realm}) with a
C{Bearer} challenge naming the C{service} and the C{scope} the request
needs; it comes back with a JWT signed by the token server, whose C{access}
claim lists what it may do.  The signing key is trusted if the token's
C{x5c} chain leads to a certificate of C{rootcertbundle}, or its C{kid}
names a root certificate's key (by RFC 7638 thumbprint) or a key of
C{jwks}.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import math
from collections.abc import Sequence
from typing import Any

import jwt
from cryptography import x509
from OpenSSL import crypto
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.web.iweb import IRequest
from zope.interface import implementer

from txregistry.auth.access import Access, quoted, scopeParam
from txregistry.auth.interfaces import Challenge, Grant, IAccessController
from txregistry.auth.keys import PublicKey, TrustedKeys, thumbprint
from txregistry.baseurl import forwardedProto, requestHost
from txregistry.cache import LRUCache
from txregistry.jsonparse import parseJSON

#: The signing algorithms accepted by default: distribution's defaults less
#: the symmetric C{HS*} ones (a registry holds no shared secret).
DEFAULT_ALGORITHMS = ("EdDSA", "RS256", "RS384", "RS512", "ES256", "ES384",
                      "ES512", "PS256", "PS384", "PS512")

#: How far C{exp} and C{nbf} may be off, in seconds (distribution's leeway).
LEEWAY = 60

#: Where C{autoredirect} sends clients unless C{autoredirectpath} is set.
DEFAULT_AUTOREDIRECT_PATH = "/auth/token"


class InvalidToken(Exception):
    """
    A token is malformed, badly signed, expired, or not meant for us.
    """


def _unverifiedHeader(token: str) -> dict[str, Any]:
    """
    @return: the header of a token, whose header and claims are JSON
        objects read by L{parseJSON} (PyJWT before 2.15 lets a deeply nested
        one raise C{RecursionError}).
    @raise InvalidToken: if it is not such a token.
    """
    segments = token.split(".")
    try:
        if len(segments) != 3:
            raise ValueError("a token has three segments")
        header, claims = (parseJSON(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))
                          for s in segments[:2])
    except (ValueError, binascii.Error):
        raise InvalidToken("malformed token") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise InvalidToken("malformed token")
    return header


#: How many verified tokens are remembered.
VERIFIED_TOKENS = 4096


class TokenVerifier:
    """
    Checks a token's signature and claims, and reads its access claim.
    """

    def __init__(self, keys: TrustedKeys, issuer: str, service: str,
                 clock: IReactorTime,
                 algorithms: Sequence[str] = DEFAULT_ALGORITHMS) -> None:
        """
        @param keys: what signing keys are trusted.
        @param issuer: the only accepted C{iss}.
        @param service: the C{aud} a token must have.
        @param clock: tells the time for C{exp}, C{nbf} and certificates.
        @param algorithms: the accepted C{alg}s.
        """
        self.keys = keys
        self.issuer = issuer
        self.service = service
        self.clock = clock
        self.algorithms = tuple(algorithms)
        # Verified tokens, with the time their certificate chain expires: a
        # client sends one token with many requests, and verifying its
        # signature and chain costs ~650 us of the reactor.
        self._verified: LRUCache[str, tuple[dict[str, Any], float]] = LRUCache(VERIFIED_TOKENS)

    def verify(self, token: str) -> dict[str, Any]:
        """
        @return: the token's claims.
        @raise InvalidToken: if it is not valid; the message never holds
            the token.
        """
        cached = self._verified.get(token)
        if cached is not None:
            claims, chainExpires = cached
            if self.clock.seconds() > chainExpires:
                raise InvalidToken("the token's certificate chain has expired")
            self._checkTimes(claims)
            return claims
        header = _unverifiedHeader(token)
        algorithm = header.get("alg")
        if algorithm not in self.algorithms:
            raise InvalidToken(f"signing algorithm {algorithm!r} not accepted")
        key, chainExpires = self._signingKey(header)
        try:
            claims = jwt.decode(
                token, key, algorithms=[algorithm], audience=self.service,
                issuer=self.issuer,
                options={"verify_exp": False, "verify_nbf": False,
                         "verify_iat": False, "require": ["iss", "aud", "exp"]})
        except (jwt.PyJWTError, TypeError, ValueError) as e:
            raise InvalidToken(f"{type(e).__name__}: {e}") from None
        self._checkTimes(claims)
        self._verified.put(token, (claims, chainExpires), 1)
        return claims

    def _checkTimes(self, claims: dict[str, Any]) -> None:
        now = self.clock.seconds()
        expires, notBefore = claims.get("exp"), claims.get("nbf", 0)
        for name, value in (("exp", expires), ("nbf", notBefore)):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidToken(f"{name} is not a number")
        assert expires is not None and notBefore is not None
        if now > expires + LEEWAY:
            raise InvalidToken("token expired")
        if now < notBefore - LEEWAY:
            raise InvalidToken("token not valid yet")

    def _signingKey(self, header: dict[str, Any]) -> tuple[Any, float]:
        """
        @return: the trusted key that signed a token with C{header} (the
            leaf of its C{x5c} chain, its C{jwk} if trusted, or the key its
            C{kid} names), and when that trust expires (the earliest end of
            validity in an C{x5c} chain; never for a configured key).
        @raise InvalidToken: if there is none.
        """
        if header.get("x5c"):
            return self._verifyChain(header["x5c"])
        return self._configuredKey(header), math.inf

    def _configuredKey(self, header: dict[str, Any]) -> Any:
        if isinstance(header.get("jwk"), dict):
            try:
                key = jwt.PyJWK(header["jwk"]).key
                trusted = self.keys.byID.get(thumbprint(key))
            except (jwt.PyJWTError, TypeError, ValueError, KeyError):
                raise InvalidToken("malformed jwk header") from None
            if trusted is None:
                raise InvalidToken("untrusted jwk with no certificate chain")
            return trusted
        kid = header.get("kid")
        if isinstance(kid, str) and kid:
            found: PublicKey | None = self.keys.byID.get(kid)
            if found is None:
                raise InvalidToken(f"token signed by untrusted key with ID {kid!r}")
            return found
        raise InvalidToken("token names no signing key (x5c, jwk or kid)")

    def _verifyChain(self, x5c: Any) -> tuple[Any, float]:
        if not isinstance(x5c, list) or not all(isinstance(c, str) for c in x5c):
            raise InvalidToken("malformed x5c header")
        try:
            chain = [x509.load_der_x509_certificate(base64.b64decode(c, validate=True))
                     for c in x5c]
        except (binascii.Error, ValueError):
            raise InvalidToken("malformed certificate in x5c") from None
        leaf = chain[0]
        if leaf not in self.keys.roots:
            store = crypto.X509Store()
            for root in self.keys.roots:
                store.add_cert(crypto.X509.from_cryptography(root))
            store.set_time(datetime.datetime.fromtimestamp(
                self.clock.seconds(), datetime.UTC).replace(tzinfo=None))
            context = crypto.X509StoreContext(
                store, crypto.X509.from_cryptography(leaf),
                [crypto.X509.from_cryptography(c) for c in chain[1:]])
            try:
                context.verify_certificate()
            except crypto.X509StoreContextError as e:
                raise InvalidToken(f"unable to verify certificate chain: {e}") from None
        expires = min(c.not_valid_after_utc.timestamp() for c in chain)
        return leaf.public_key(), expires


def grantedAccess(claims: dict[str, Any]) -> dict[tuple[str, str], set[str]]:
    """
    @return: the actions the token's C{access} claim grants, by resource
        C{(type, name)}.
    @raise InvalidToken: if the claim is malformed.
    """
    entries = claims.get("access") or []
    if not isinstance(entries, list):
        raise InvalidToken("malformed access claim")
    granted: dict[tuple[str, str], set[str]] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            raise InvalidToken("malformed access claim")
        kind, name, actions = entry.get("type"), entry.get("name"), entry.get("actions") or []
        if not isinstance(kind, str) or not isinstance(name, str) \
                or not isinstance(actions, list):
            raise InvalidToken("malformed access claim")
        granted.setdefault((kind, name), set()).update(
            action for action in actions if isinstance(action, str))
    return granted


def allows(granted: dict[tuple[str, str], set[str]], access: Access) -> bool:
    """
    @return: whether C{granted} holds C{access} (C{*} grants every action).
    """
    actions = granted.get((access.type, access.name), set())
    return "*" in actions or access.action in actions


def bearerToken(request: IRequest) -> str | None:
    """
    @return: the token of the request's C{Authorization: Bearer} header.
    """
    header = request.getHeader(b"authorization")
    if header is None:
        return None
    scheme, _, token = header.strip().partition(b" ")
    token = token.strip()
    if scheme.lower() != b"bearer" or not token:
        return None
    return token.decode("latin-1")


@implementer(IAccessController)
class TokenAccessController:
    """
    The Docker token scheme.
    """

    def __init__(self, realm: str, service: str, verifier: TokenVerifier,
                 autoredirect: bool = False,
                 autoredirectpath: str = DEFAULT_AUTOREDIRECT_PATH) -> None:
        """
        @param realm: the token server's URL, given in challenges.
        @param service: this registry's name at the token server.
        @param verifier: checks the tokens.
        @param autoredirect: give, instead of C{realm}, the URL of
            C{autoredirectpath} on the host the request was sent to
            (C{https}, or the scheme of C{X-Forwarded-Proto}), as
            distribution does.
        """
        self.realm = realm
        self.service = service
        self.verifier = verifier
        self.autoredirect = autoredirect
        self.autoredirectpath = autoredirectpath or DEFAULT_AUTOREDIRECT_PATH

    def challengeHeader(self, request: IRequest, accesses: Sequence[Access],
                        error: str | None = None) -> bytes:
        """
        @return: the C{WWW-Authenticate} value of a refusal: C{Bearer
            realm="…",service="…"}, then C{scope="…"} if the request needs
            some, then C{error="…"} if a token was refused.
        """
        realm = self.realm
        if self.autoredirect:
            realm = (f"{forwardedProto(request) or 'https'}://{requestHost(request)}"
                     f"{self.autoredirectpath}")
        value = f"Bearer realm={quoted(realm)},service={quoted(self.service)}"
        scope = scopeParam(accesses)
        if scope:
            value += f",scope={quoted(scope)}"
        if error is not None:
            value += f",error={quoted(error)}"
        return value.encode("utf-8")

    def authorize(self, request: IRequest, accesses: Sequence[Access]) -> Deferred[Grant]:
        token = bearerToken(request)
        if token is None:
            attempted = request.getHeader(b"authorization") is not None
            return fail(Challenge(
                {b"WWW-Authenticate": self.challengeHeader(request, accesses)},
                "authorization token required" if not attempted
                else "credentials are not a Bearer token", attempted))
        try:
            claims = self.verifier.verify(token)
            granted = grantedAccess(claims)
        except InvalidToken as e:
            return fail(Challenge(
                {b"WWW-Authenticate": self.challengeHeader(request, accesses,
                                                           "invalid_token")},
                f"invalid token: {e}"))
        subject = claims.get("sub") if isinstance(claims.get("sub"), str) else None
        missing = [access for access in accesses if not allows(granted, access)]
        if missing:
            return fail(Challenge(
                {b"WWW-Authenticate": self.challengeHeader(request, accesses,
                                                           "insufficient_scope")},
                f"insufficient scope: lacks {scopeParam(missing)}", user=subject))
        return succeed(Grant(subject))
