"""
Tests that the C{auth} section parses, each provider's keys checked, and that
its files are loaded at start (see also C{tests/auth/test_factory.py}).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import bcrypt
import pytest
from twisted.internet.task import Clock

from tests.tokenserver import TestPKI
from txregistry.auth.factory import makeAccessController
from txregistry.auth.htpasswd import HtpasswdAccessController
from txregistry.auth.silly import SillyAccessController
from txregistry.auth.token import DEFAULT_ALGORITHMS, TokenAccessController
from txregistry.config import ConfigError, Configuration, load_config
from txregistry.configuration import checkConfiguration

MINIMAL = "version: 0.1\nstorage:\n  inmemory:\n"

Loader = Callable[..., Configuration]


@pytest.fixture(scope="module")
def pki() -> TestPKI:
    return TestPKI.create()


@pytest.fixture
def htpasswd(tmp_path: Path) -> Path:
    path = tmp_path / "htpasswd"
    path.write_bytes(b"alice:" + bcrypt.hashpw(b"pw", bcrypt.gensalt(4)) + b"\n")
    return path


def test_htpasswd(load: Loader, htpasswd: Path) -> None:
    """htpasswd parses; a relative path is resolved against the working directory."""
    config = load(MINIMAL + "auth:\n  htpasswd:\n    realm: R\n    path: htpasswd\n")
    assert config.auth is not None
    assert config.auth.provider == "htpasswd"
    assert config.auth.parameters == {"realm": "R", "path": str(htpasswd)}
    controller = makeAccessController(config.auth, Clock())
    assert isinstance(controller, HtpasswdAccessController)


@pytest.mark.parametrize("section, message", [
    ("auth:\n  htpasswd:\n    path: htpasswd\n", "auth.htpasswd.realm: is required"),
    ("auth:\n  htpasswd:\n    realm: R\n", "auth.htpasswd.path: is required"),
    ("auth:\n  htpasswd:\n    realm: R\n    path: [x]\n", "auth.htpasswd.path: must be a string"),
    ("auth: htpasswd\n", "auth.htpasswd.realm: is required"),
    ("auth:\n  silly:\n    realm: R\n", "auth.silly.service: is required"),
    ("auth:\n  token:\n    realm: R\n    service: S\n", "auth.token.issuer: is required"),
    ("auth:\n  token:\n    realm: R\n    service: S\n    issuer: I\n",
     "auth.token.rootcertbundle: is required unless jwks is given"),
])
def test_auth_errors(load: Loader, htpasswd: Path, section: str, message: str) -> None:
    """Missing, mistyped or unloadable settings fail at their key."""
    with pytest.raises(ConfigError) as info:
        load(MINIMAL + section)
    assert str(info.value).startswith(message)


def tokenSection(extra: str = "") -> str:
    return (MINIMAL + "auth:\n  token:\n    realm: https://auth/token\n    service: S\n"
            "    issuer: I\n" + extra)


def test_token(load: Loader, tmp_path: Path, pki: TestPKI) -> None:
    """token parses with every key, and builds its controller."""
    pki.writeBundle(tmp_path / "root.pem")
    config = load(tokenSection(
        "    rootcertbundle: root.pem\n    autoredirect: true\n"
        "    autoredirectpath: /tok\n    signingalgorithms: [RS256, ES256]\n"))
    assert config.auth is not None
    assert config.auth.parameters == {
        "realm": "https://auth/token", "service": "S", "issuer": "I",
        "rootcertbundle": str(tmp_path / "root.pem"), "jwks": "",
        "autoredirect": True, "autoredirectpath": "/tok",
        "signingalgorithms": ["RS256", "ES256"]}
    controller = makeAccessController(config.auth, Clock())
    assert isinstance(controller, TokenAccessController)
    assert controller.verifier.algorithms == ("RS256", "ES256")
    assert controller.autoredirect and controller.autoredirectpath == "/tok"


def test_token_default_algorithms(load: Loader, tmp_path: Path, pki: TestPKI) -> None:
    """Without signingalgorithms, every asymmetric algorithm is accepted."""
    pki.writeBundle(tmp_path / "root.pem")
    config = load(tokenSection("    rootcertbundle: root.pem\n"))
    controller = makeAccessController(config.auth, Clock())
    assert isinstance(controller, TokenAccessController)
    assert controller.verifier.algorithms == DEFAULT_ALGORITHMS


@pytest.mark.parametrize("extra, message", [
    ("    rootcertbundle: root.pem\n    autoredirect: yes please\n",
     "auth.token.autoredirect: must be true or false"),
    ("    rootcertbundle: root.pem\n    jwt: x\n", "auth.token.jwt: unknown key"),
])
def test_token_errors(load: Loader, tmp_path: Path, pki: TestPKI, extra: str,
                      message: str) -> None:
    """Bad token settings are refused at their key."""
    pki.writeBundle(tmp_path / "root.pem")
    with pytest.raises(ConfigError, match="^" + message):
        load(tokenSection(extra))


def test_silly(load: Loader) -> None:
    """silly parses and builds its controller."""
    config = load(MINIMAL + "auth:\n  silly:\n    realm: R\n    service: S\n")
    assert isinstance(makeAccessController(config.auth, Clock()), SillyAccessController)


def test_none(load: Loader) -> None:
    """auth: none parses to no access controller, as distribution."""
    config = load(MINIMAL + "auth: none\n")
    assert config.auth is not None and config.auth.provider == "none"
    assert makeAccessController(config.auth, Clock()) is None


def test_from_environment(htpasswd: Path) -> None:
    """The htpasswd provider can be configured by REGISTRY_AUTH_* variables."""
    config = load_config(None, {"REGISTRY_STORAGE": "inmemory",
                                "REGISTRY_AUTH_HTPASSWD_REALM": "R",
                                "REGISTRY_AUTH_HTPASSWD_PATH": str(htpasswd)})
    assert config.auth is not None
    assert config.auth.parameters["path"] == str(htpasswd)


def test_bad_file_at_start(start: Loader) -> None:
    """A file that does not load fails the start at its key."""
    with pytest.raises(ConfigError, match=r"^auth.htpasswd.path: cannot read "):
        start(MINIMAL + "auth:\n  htpasswd:\n    realm: R\n    path: missing\n")


def test_bad_file_from_environment() -> None:
    """A missing file set from the environment names the variable at start."""
    with pytest.raises(ConfigError, match=(
            r"^auth.htpasswd.path: cannot read /nonexistent/p.*"
            r"set by environment variable REGISTRY_AUTH_HTPASSWD_PATH")):
        load_config(None, {"REGISTRY_AUTH_HTPASSWD_REALM": "r",
                           "REGISTRY_AUTH_HTPASSWD_PATH": "/nonexistent/p"},
                    check=checkConfiguration)
