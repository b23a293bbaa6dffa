"""
Tests for L{txregistry.auth.token} and L{txregistry.auth.keys}: token
verification, trusted keys and the Bearer challenges.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from twisted.web.test.requesthelper import DummyRequest

from tests.tokenserver import TestPKI
from txregistry.auth.access import CATALOG, Access
from txregistry.auth.interfaces import Grant
from txregistry.auth.keys import KeyFileError, TrustedKeys, loadJWKS, thumbprint
from txregistry.auth.token import (
    InvalidToken,
    TokenAccessController,
    TokenVerifier,
    bearerToken,
)

NOW = 1_800_000_000.0
PULL = [{"type": "repository", "name": "foo", "actions": ["pull"]}]


@pytest.fixture
def clock() -> Clock:
    clock = Clock()
    clock.advance(NOW)
    return clock


@pytest.fixture
def verifier(pki: TestPKI, tmp_path: Path, clock: Clock) -> TokenVerifier:
    keys = TrustedKeys.load(str(pki.writeBundle(tmp_path / "root.pem")))
    return TokenVerifier(keys, "test-issuer", "test-registry", clock)


def test_valid_chain(pki: TestPKI, verifier: TokenVerifier) -> None:
    """A token whose x5c chain leads to the root is accepted."""
    claims = verifier.verify(pki.token(PULL, now=NOW))
    assert claims["access"] == PULL and claims["sub"] == "alice"


def test_audience_list(pki: TestPKI, verifier: TokenVerifier) -> None:
    """An aud list holding the service is accepted."""
    assert verifier.verify(pki.token(PULL, now=NOW, audience=["x", "test-registry"]))


def test_other_ca_refused(verifier: TokenVerifier) -> None:
    """A chain to another root is refused."""
    other = TestPKI.create("other")
    with pytest.raises(InvalidToken, match="certificate chain"):
        verifier.verify(other.token(PULL, now=NOW))


def test_chain_without_intermediate_refused(pki: TestPKI, verifier: TokenVerifier) -> None:
    """A leaf alone, whose issuer is not a root, is refused."""
    token = pki.token(PULL, now=NOW, headers={"x5c": pki.x5c()[:1]})
    with pytest.raises(InvalidToken):
        verifier.verify(token)


def test_root_signed_token(pki: TestPKI, verifier: TokenVerifier) -> None:
    """A token signed by a root's own key, with the root as x5c, is accepted."""
    root = base64.b64encode(pki.root.public_bytes(serialization.Encoding.DER)).decode()
    token = pki.token(PULL, now=NOW, key=pki.rootKey, headers={"x5c": [root]})
    assert verifier.verify(token)["access"] == PULL


def test_kid_thumbprint(pki: TestPKI, verifier: TokenVerifier) -> None:
    """A kid naming a root certificate's key by thumbprint is trusted."""
    kid = thumbprint(pki.root.public_key())
    token = pki.token(PULL, now=NOW, key=pki.rootKey, headers={"kid": kid})
    assert verifier.verify(token)["sub"] == "alice"


def test_unknown_kid(pki: TestPKI, verifier: TokenVerifier) -> None:
    """A kid naming no trusted key is refused."""
    with pytest.raises(InvalidToken, match="untrusted key"):
        verifier.verify(pki.token(PULL, now=NOW, headers={"kid": "nope"}))


def test_no_key_named(pki: TestPKI, verifier: TokenVerifier) -> None:
    """A token naming no key at all is refused."""
    with pytest.raises(InvalidToken, match="names no signing key"):
        verifier.verify(pki.token(PULL, now=NOW, headers={}))


def test_wrong_key_for_chain(pki: TestPKI, verifier: TokenVerifier) -> None:
    """A token signed by another key than its x5c leaf's is refused."""
    with pytest.raises(InvalidToken, match="Signature"):
        verifier.verify(pki.token(PULL, now=NOW, key=pki.intermediateKey))


@pytest.mark.parametrize("offset, valid", [(299, True), (300 + 59, True), (300 + 61, False)])
def test_expiry_leeway(pki: TestPKI, verifier: TokenVerifier, clock: Clock,
                       offset: int, valid: bool) -> None:
    """A token is accepted up to 60 s after it expires, not later."""
    token = pki.token(PULL, now=NOW, lifetime=300)
    clock.advance(offset)
    if valid:
        assert verifier.verify(token)
    else:
        with pytest.raises(InvalidToken, match="expired"):
            verifier.verify(token)


def test_not_before(pki: TestPKI, verifier: TokenVerifier) -> None:
    """A token not valid for more than the leeway yet is refused."""
    with pytest.raises(InvalidToken, match="not valid yet"):
        verifier.verify(pki.token(PULL, now=NOW, claims={"nbf": NOW + 120}))


@pytest.mark.parametrize("kwargs, match", [
    ({"issuer": "someone-else"}, "Issuer"),
    ({"audience": "another-registry"}, "Audience"),
    ({"claims": {"exp": "soon"}}, "Expiration|exp"),
])
def test_bad_claims(pki: TestPKI, verifier: TokenVerifier, kwargs: dict[str, Any],
                    match: str) -> None:
    """A wrong issuer, audience or expiry is refused."""
    with pytest.raises(InvalidToken, match=match):
        verifier.verify(pki.token(PULL, now=NOW, **kwargs))


def test_missing_exp(pki: TestPKI, verifier: TokenVerifier) -> None:
    """A token without exp is refused (distribution reads it as expired)."""
    token = jwt.encode({"iss": "test-issuer", "aud": "test-registry"}, pki.signingKey,
                       algorithm="RS256", headers={"x5c": pki.x5c()})
    with pytest.raises(InvalidToken):
        verifier.verify(token)


@pytest.mark.parametrize("token", ["", "a.b", "not a token", "a.b.c", "eyJhbGciOi.x.y"])
def test_malformed(verifier: TokenVerifier, token: str) -> None:
    """Malformed tokens are invalid, and the error never echoes them."""
    with pytest.raises(InvalidToken) as info:
        verifier.verify(token)
    assert token not in str(info.value) or not token


def deepToken(pki: TestPKI, header: bytes, claims: bytes) -> str:
    """
    @return: a token of these raw JSON segments, signed by the PKI's leaf.
    """
    signed = b".".join(base64.urlsafe_b64encode(s).rstrip(b"=") for s in (header, claims))
    signature = jwt.get_algorithm_by_name("RS256").sign(signed, pki.signingKey)
    return (signed + b"." + base64.urlsafe_b64encode(signature).rstrip(b"=")).decode()


@pytest.mark.parametrize("levels", [500, 10**5])
def test_deeply_nested_token(pki: TestPKI, verifier: TokenVerifier, levels: int) -> None:
    """A token whose header or claims nest hundreds of thousands of levels deep is invalid, never a RecursionError."""
    header = json.dumps({"alg": "RS256", "x5c": pki.x5c()}).encode()
    claims = json.dumps({"iss": "test-issuer", "aud": "test-registry",
                         "exp": int(NOW) + 300, "access": PULL}).encode()
    deep = b"[" * levels + b"]" * levels
    for segments in ((header[:-1] + b', "x": ' + deep + b"}", claims),
                     (header, claims[:-1] + b', "x": ' + deep + b"}")):
        with pytest.raises(InvalidToken, match="malformed token"):
            verifier.verify(deepToken(pki, *segments))
    assert verifier.verify(deepToken(pki, header, claims))["access"] == PULL


def test_symmetric_algorithm_refused(pki: TestPKI, verifier: TokenVerifier) -> None:
    """HS256 and none are not accepted."""
    for algorithm, key in (("HS256", "s" * 32), ("none", None)):
        token = jwt.encode({"iss": "test-issuer"}, key, algorithm=algorithm,
                           headers={"x5c": pki.x5c()})
        with pytest.raises(InvalidToken, match="not accepted"):
            verifier.verify(token)


def writeJWKS(path: Path, keys: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"keys": keys}))
    return path


def test_jwks_ec_and_eddsa(tmp_path: Path, clock: Clock) -> None:
    """ES256 and EdDSA tokens verify against a JWKS, by kid."""
    ecKey = ec.generate_private_key(ec.SECP256R1())
    edKey = ed25519.Ed25519PrivateKey.generate()
    ecJWK = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ecKey.public_key()))
    edJWK = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(edKey.public_key()))
    path = writeJWKS(tmp_path / "jwks.json", [{**ecJWK, "kid": "ec"}, {**edJWK, "kid": "ed"}])
    verifier = TokenVerifier(TrustedKeys.load(jwks=str(path)), "i", "s", clock)
    claims = {"iss": "i", "aud": "s", "exp": NOW + 60, "access": PULL}
    for key, kid, algorithm in ((ecKey, "ec", "ES256"), (edKey, "ed", "EdDSA")):
        token = jwt.encode(claims, key, algorithm=algorithm, headers={"kid": kid})
        assert verifier.verify(token)["access"] == PULL
    forged = jwt.encode(claims, ec.generate_private_key(ec.SECP256R1()),
                        algorithm="ES256", headers={"kid": "ec"})
    with pytest.raises(InvalidToken):
        verifier.verify(forged)


def test_jwk_header_trusted_only(tmp_path: Path, clock: Clock) -> None:
    """A jwk header is used only if it is a trusted key."""
    key = ec.generate_private_key(ec.SECP256R1())
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    verifier = TokenVerifier(TrustedKeys.load(jwks=str(writeJWKS(
        tmp_path / "jwks.json", [public]))), "i", "s", clock)
    claims = {"iss": "i", "aud": "s", "exp": NOW + 60}
    assert verifier.verify(jwt.encode(claims, key, algorithm="ES256",
                                      headers={"jwk": public}))["iss"] == "i"
    stranger = ec.generate_private_key(ec.SECP256R1())
    strangerJWK = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(stranger.public_key()))
    with pytest.raises(InvalidToken, match="untrusted jwk"):
        verifier.verify(jwt.encode(claims, stranger, algorithm="ES256",
                                   headers={"jwk": strangerJWK}))


def test_jwks_without_kid_keyed_by_thumbprint(tmp_path: Path) -> None:
    """A JWKS key without kid is known by its thumbprint."""
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    path = writeJWKS(tmp_path / "j.json", [json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key))])
    assert list(loadJWKS(str(path))) == [thumbprint(key)]


@pytest.mark.parametrize("content, match", [
    ("not json", "not JSON"),
    ('{"keys": ' + "[" * 10**5 + "]" * 10**5 + "}", "not JSON: nested more than"),
    ('{"nokeys": []}', "not a JWKS"),
    ('{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}', "not an asymmetric public key"),
    ('{"keys": [{"kty": "RSA"}]}', "key 0 cannot be used"),
])
def test_bad_jwks(tmp_path: Path, content: str, match: str) -> None:
    """A bad JWKS file is refused, saying why."""
    path = tmp_path / "jwks.json"
    path.write_text(content)
    with pytest.raises(KeyFileError, match=match):
        loadJWKS(str(path))


def test_bad_bundle(tmp_path: Path) -> None:
    """A bundle without certificates is refused."""
    path = tmp_path / "bundle.pem"
    path.write_text("nothing here\n")
    with pytest.raises(KeyFileError, match="no PEM certificate"):
        TrustedKeys.load(str(path))


def test_no_keys(tmp_path: Path) -> None:
    """An empty JWKS and no bundle leaves no signing key: refused."""
    with pytest.raises(KeyFileError, match="at least one token signing key"):
        TrustedKeys.load(jwks=str(writeJWKS(tmp_path / "j.json", [])))


def requestWith(authorization: bytes | None, **headers: bytes) -> DummyRequest:
    request = DummyRequest([b""])
    if authorization is not None:
        request.requestHeaders.setRawHeaders(b"authorization", [authorization])
    for name, value in headers.items():
        request.requestHeaders.setRawHeaders(name.replace("_", "-"), [value])
    return request


def outcome(controller: TokenAccessController, request: DummyRequest,
            accesses: list[Access]) -> Any:
    results: list[Any] = []
    controller.authorize(request, accesses).addBoth(results.append)
    return results[0]


PUSH = [Access("repository", "foo", "pull"), Access("repository", "foo", "push")]
CHALLENGE = 'Bearer realm="https://auth.test/token",service="test-registry"'


@pytest.fixture
def controller(verifier: TokenVerifier) -> TokenAccessController:
    return TokenAccessController("https://auth.test/token", "test-registry", verifier)


def test_no_token(controller: TokenAccessController) -> None:
    """Without a token: a challenge with the scope needed, no error."""
    result = outcome(controller, requestWith(None), PUSH)
    assert isinstance(result, Failure) and result.value.attempted is False
    assert result.value.headers[b"WWW-Authenticate"].decode() == (
        CHALLENGE + ',scope="repository:foo:pull,push"')


def test_base_without_scope(controller: TokenAccessController) -> None:
    """A request needing nothing particular gets no scope."""
    result = outcome(controller, requestWith(None), [])
    assert result.value.headers[b"WWW-Authenticate"].decode() == CHALLENGE


def test_invalid_token(controller: TokenAccessController) -> None:
    """A bad token: error="invalid_token"."""
    result = outcome(controller, requestWith(b"Bearer abc.def.ghi"), PUSH)
    assert result.value.headers[b"WWW-Authenticate"].decode() == (
        CHALLENGE + ',scope="repository:foo:pull,push",error="invalid_token"')


def test_insufficient_scope(pki: TestPKI, controller: TokenAccessController) -> None:
    """A valid token lacking push: error="insufficient_scope"."""
    token = pki.token(PULL, now=NOW)
    result = outcome(controller, requestWith(b"Bearer " + token.encode()), PUSH)
    assert result.value.headers[b"WWW-Authenticate"].decode() == (
        CHALLENGE + ',scope="repository:foo:pull,push",error="insufficient_scope"')
    assert result.value.user == "alice"


def test_enough_scope(pki: TestPKI, controller: TokenAccessController) -> None:
    """A token with pull and push may push; its subject is the user."""
    token = pki.token([{"type": "repository", "name": "foo", "actions": ["push", "pull"]}],
                      now=NOW, subject="bob")
    assert outcome(controller, requestWith(b"bearer " + token.encode()), PUSH) == Grant("bob")


def test_wildcard_actions(pki: TestPKI, controller: TokenAccessController) -> None:
    """A * action grants every action on the resource, such as the catalog's."""
    token = pki.token([{"type": "registry", "name": "catalog", "actions": ["*"]},
                       {"type": "repository", "name": "foo", "actions": ["*"]}], now=NOW)
    request = requestWith(b"Bearer " + token.encode())
    assert outcome(controller, request, [CATALOG] + PUSH) == Grant("alice")


def test_malformed_access_claim(pki: TestPKI, controller: TokenAccessController) -> None:
    """A malformed access claim makes the token invalid."""
    token = pki.token([], now=NOW, claims={"access": "everything"})
    result = outcome(controller, requestWith(b"Bearer " + token.encode()), PUSH)
    assert b'error="invalid_token"' in result.value.headers[b"WWW-Authenticate"]


def test_basic_credentials_challenged(controller: TokenAccessController) -> None:
    """Basic credentials are not a token: challenged, as an attempt."""
    result = outcome(controller, requestWith(b"Basic YTpi"), PUSH)
    assert result.value.attempted is True
    assert b"error=" not in result.value.headers[b"WWW-Authenticate"]


@pytest.mark.parametrize("proto, realm", [
    (b"http", "http://registry.example:5000/auth/tok"),
    (b'x",a="b', "https://registry.example:5000/auth/tok"),
])
def test_autoredirect(verifier: TokenVerifier, proto: bytes, realm: str) -> None:
    """With autoredirect, the realm is on the host the client used (https unless forwarded http)."""
    controller = TokenAccessController("https://ignored", "svc", verifier,
                                       autoredirect=True, autoredirectpath="/auth/tok")
    request = requestWith(None, host=b"registry.example:5000", x_forwarded_proto=proto)
    header = outcome(controller, request, []).value.headers[b"WWW-Authenticate"]
    assert header == f'Bearer realm="{realm}",service="svc"'.encode()


@pytest.mark.parametrize("header, expected", [
    (b"Bearer abc", "abc"), (b"BEARER  abc ", "abc"), (b"Bearer ", None),
    (b"Basic abc", None), (None, None)])
def test_bearer_token(header: bytes | None, expected: str | None) -> None:
    """The token is read from a Bearer header only."""
    assert bearerToken(requestWith(header)) == expected


def test_verified_token_remembered(pki: TestPKI, verifier: TokenVerifier, clock: Clock) -> None:
    """A token verified once is not verified again, but its expiry is still checked at every use."""
    token = pki.token(PULL, now=clock.seconds(), lifetime=300)
    assert verifier.verify(token)["access"] == PULL
    chains: list[object] = []
    verify = verifier._verifyChain
    verifier._verifyChain = lambda x5c: (chains.append(x5c), verify(x5c))[1]  # type: ignore[method-assign]
    for _ in range(3):
        assert verifier.verify(token)["access"] == PULL
    assert chains == []
    clock.advance(300 + 61)
    with pytest.raises(InvalidToken, match="expired"):
        verifier.verify(token)


def test_cached_token_chain_expiry(pki: TestPKI, verifier: TokenVerifier, clock: Clock) -> None:
    """A remembered token is refused once its certificate chain has expired, as a fresh check would refuse it."""
    token = pki.token(PULL, now=clock.seconds(), lifetime=10**9)
    verifier.verify(token)
    ends = min(c.not_valid_after_utc.timestamp() for c in (pki.root, pki.intermediate, pki.signing))
    clock.advance(ends - clock.seconds() + 1)
    with pytest.raises(InvalidToken, match="certificate chain"):
        verifier.verify(token)
