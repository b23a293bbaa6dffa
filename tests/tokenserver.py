"""
A test PKI and a small token server speaking the Docker token protocol, for
the tests of the C{token} auth provider.

L{TestPKI} makes a root CA, an intermediate CA and a signing certificate,
and signs RS256 tokens whose C{x5c} header carries the signing certificate
and the intermediate.  L{TokenServer} serves C{GET /token?service=…&scope=…}
with Basic credentials on a free 127.0.0.1 port (in a thread of the test
process), answering C{{"token": …, "access_token": …, "expires_in": …}}
with the part of the asked scope the user's grants allow.
"""

from __future__ import annotations

import base64
import datetime
import json
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _certificate(subject: str, key: rsa.RSAPrivateKey, issuer: str,
                 issuerKey: rsa.RSAPrivateKey, ca: bool,
                 notBefore: datetime.datetime,
                 notAfter: datetime.datetime) -> x509.Certificate:
    builder = (x509.CertificateBuilder()
               .subject_name(_name(subject)).issuer_name(_name(issuer))
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(notBefore).not_valid_after(notAfter)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None),
                              critical=True)
               .add_extension(x509.KeyUsage(
                   digital_signature=not ca, content_commitment=False,
                   key_encipherment=False, data_encipherment=False,
                   key_agreement=False, key_cert_sign=ca, crl_sign=ca,
                   encipher_only=False, decipher_only=False), critical=True))
    return builder.sign(issuerKey, hashes.SHA256())


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class TestPKI:
    """
    A root CA, an intermediate CA and a token signing certificate.
    """

    __test__ = False

    rootKey: rsa.RSAPrivateKey
    root: x509.Certificate
    intermediateKey: rsa.RSAPrivateKey
    intermediate: x509.Certificate
    signingKey: rsa.RSAPrivateKey
    signing: x509.Certificate

    @classmethod
    def create(cls, name: str = "test") -> TestPKI:
        """
        @return: a new PKI, valid from a day ago for a year.
        """
        now = datetime.datetime.now(datetime.UTC)
        start, end = now - datetime.timedelta(days=1), now + datetime.timedelta(days=365)
        rootKey, intermediateKey, signingKey = _key(), _key(), _key()
        root = _certificate(f"{name} root", rootKey, f"{name} root", rootKey,
                            True, start, end)
        intermediate = _certificate(f"{name} intermediate", intermediateKey,
                                    f"{name} root", rootKey, True, start, end)
        signing = _certificate(f"{name} token signer", signingKey,
                               f"{name} intermediate", intermediateKey, False,
                               start, end)
        return cls(rootKey, root, intermediateKey, intermediate, signingKey, signing)

    def writeBundle(self, path: Path) -> Path:
        """
        Write the root certificate as a PEM bundle.

        @return: C{path}.
        """
        path.write_bytes(self.root.public_bytes(serialization.Encoding.PEM))
        return path

    def x5c(self) -> list[str]:
        """
        @return: the C{x5c} header: the signing certificate, then the
            intermediate.
        """
        return [base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode()
                for c in (self.signing, self.intermediate)]

    def token(self, access: Sequence[Mapping[str, Any]], *, issuer: str = "test-issuer",
              audience: str | list[str] = "test-registry", subject: str = "alice",
              now: float | None = None, lifetime: float = 300,
              headers: Mapping[str, Any] | None = None,
              key: Any = None, algorithm: str = "RS256",
              claims: Mapping[str, Any] | None = None) -> str:
        """
        @return: a signed token granting C{access} (a list of C{{type, name,
            actions}}), with the C{x5c} chain unless C{headers} says
            otherwise.
        """
        issued = time.time() if now is None else now
        payload: dict[str, Any] = {
            "iss": issuer, "sub": subject, "aud": audience,
            "exp": int(issued + lifetime), "nbf": int(issued) - 1,
            "iat": int(issued), "jti": uuid.uuid4().hex, "access": list(access)}
        payload.update(claims or {})
        header = {"x5c": self.x5c()} if headers is None else dict(headers)
        return jwt.encode(payload, key if key is not None else self.signingKey,
                          algorithm=algorithm, headers=header)


def scopeAccess(scope: str) -> dict[str, Any] | None:
    """
    @return: the access entry C{{type, name, actions}} of a scope string
        C{type:name:actions}, or L{None} if it is malformed.
    """
    kind, _, rest = scope.partition(":")
    name, _, actions = rest.rpartition(":")
    if not kind or not name:
        return None
    return {"type": kind, "name": name, "actions": actions.split(",")}


@dataclass
class User:
    """
    A user of the token server.

    @ivar grants: the actions the user may have, by repository name (C{*}
        for every repository); C{catalog} lets them list the catalog.
    """

    password: str
    grants: dict[str, set[str]] = field(default_factory=dict)
    catalog: bool = False

    def allowed(self, entry: dict[str, Any]) -> list[str]:
        """
        @return: the actions of C{entry} the user may have.
        """
        if entry["type"] == "registry" and entry["name"] == "catalog":
            return ["*"] if self.catalog else []
        if entry["type"] != "repository":
            return []
        mine = self.grants.get(entry["name"], set()) | self.grants.get("*", set())
        return [action for action in entry["actions"] if action in mine]


class TokenServer:
    """
    The Docker token protocol on a free 127.0.0.1 port.

    @ivar requests: every C{(user, scopes)} it was asked, for tests to check.
    """

    def __init__(self, pki: TestPKI, users: dict[str, User], *,
                 issuer: str = "test-issuer", service: str = "test-registry",
                 lifetime: int = 300) -> None:
        self.pki = pki
        self.users = users
        self.issuer = issuer
        self.service = service
        self.lifetime = lifetime
        self.requests: list[tuple[str | None, list[str]]] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def realm(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/token"

    def start(self) -> TokenServer:
        """
        Listen and serve in a thread.
        """
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body = server.answer(self.path, self.headers.get("Authorization"))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if status == 401:
                    self.send_header("WWW-Authenticate", 'Basic realm="token"')
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """
        Stop serving; safe to call twice.
        """
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def answer(self, target: str, authorization: str | None) -> tuple[int, dict[str, Any]]:
        """
        @return: the status and JSON body answering a token request.
        """
        parts = urlsplit(target)
        query = parse_qs(parts.query)
        scopes = [s for value in query.get("scope", []) for s in value.split(" ")]
        user = None
        if authorization is not None:
            scheme, _, encoded = authorization.partition(" ")
            name, _, password = base64.b64decode(encoded).decode().partition(":")
            known = self.users.get(name)
            if scheme.lower() != "basic" or known is None or known.password != password:
                self.requests.append((name, scopes))
                return 401, {"details": "bad credentials"}
            user = known
            self.requests.append((name, scopes))
        else:
            self.requests.append((None, scopes))
        if parts.path != "/token" or query.get("service") != [self.service]:
            return 400, {"details": "unknown service"}
        access = []
        for scope in scopes:
            entry = scopeAccess(scope)
            if entry is not None and user is not None:
                entry["actions"] = user.allowed(entry)
                access.append(entry)
        token = self.pki.token(access, issuer=self.issuer, audience=self.service,
                               subject=authorization and name or "", lifetime=self.lifetime)
        return 200, {"token": token, "access_token": token,
                     "expires_in": self.lifetime,
                     "issued_at": datetime.datetime.now(datetime.UTC).isoformat()}
