"""
Tests for L{txregistry.auth.factory.checkAuth}: the files of the C{auth}
section are loaded as the registry starts, and a bad one is refused at its
key.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.tokenserver import TestPKI
from txregistry.auth.factory import checkAuth
from txregistry.config import AuthConfig, ConfigError


def token(tmp_path: Path, **parameters: object) -> AuthConfig:
    """
    @return: a C{token} section with the given files (relative to
        C{tmp_path}) and settings.
    """
    options: dict[str, object] = {
        "realm": "https://auth/token", "service": "S", "issuer": "I",
        "rootcertbundle": "", "jwks": "", "autoredirect": False,
        "autoredirectpath": "", "signingalgorithms": []}
    for key, value in parameters.items():
        options[key] = str(tmp_path / value) if key in ("rootcertbundle", "jwks") else value
    return AuthConfig("token", options)


@pytest.fixture
def files(tmp_path: Path, pki: TestPKI) -> Path:
    """
    C{tmp_path} holding root.pem (the test PKI's root), junk, and
    empty.json (a JWKS without keys).
    """
    pki.writeBundle(tmp_path / "root.pem")
    (tmp_path / "junk").write_text("junk")
    (tmp_path / "empty.json").write_text(json.dumps({"keys": []}))
    return tmp_path


def test_loadable(files: Path, htpasswdPath: Path) -> None:
    """Sections whose files load, and sections without files, pass."""
    checkAuth(None)
    checkAuth(AuthConfig("none"))
    checkAuth(AuthConfig("silly", {"realm": "R", "service": "S"}))
    checkAuth(AuthConfig("htpasswd", {"realm": "R", "path": str(htpasswdPath)}))
    checkAuth(token(files, rootcertbundle="root.pem", signingalgorithms=["RS256", "ES256"]))


@pytest.mark.parametrize("content, message", [
    (None, r"^auth.htpasswd.path: cannot read "),
    ("no colon here\n", r"^auth.htpasswd.path: line 1 "),
])
def test_badHtpasswd(tmp_path: Path, content: str | None, message: str) -> None:
    """A missing or malformed htpasswd file is refused at auth.htpasswd.path."""
    path = tmp_path / "htpasswd"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        checkAuth(AuthConfig("htpasswd", {"realm": "R", "path": str(path)}))


@pytest.mark.parametrize("parameters, message", [
    ({"rootcertbundle": "missing.pem"}, "auth.token.rootcertbundle: cannot read"),
    ({"rootcertbundle": "junk"}, "auth.token.rootcertbundle: .* holds no PEM"),
    ({"jwks": "junk"}, "auth.token.jwks: .* is not JSON"),
    ({"jwks": "empty.json"}, "auth.token: token auth requires at least one"),
    ({"jwks": "empty.json", "signingalgorithms": ["HS256"]},
     "auth.token: token auth requires"),
    ({"rootcertbundle": "root.pem", "signingalgorithms": ["RS256", "HS256"]},
     r"auth.token.signingalgorithms\[1\]: unsupported signing algorithm 'HS256'"),
])
def test_badToken(files: Path, parameters: dict[str, object], message: str) -> None:
    """Bad token files, files without a key, and symmetric algorithms are
    refused at their key."""
    with pytest.raises(ConfigError, match="^" + message):
        checkAuth(token(files, **parameters))
