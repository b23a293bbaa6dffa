"""
Authentication against a real C{twistd -n registry}: skopeo with htpasswd
credentials and with the token scheme (against the test token server), and
raw HTTP for refusals before the body is read, challenges, live htpasswd
changes and what the log says.
"""

from __future__ import annotations

import base64
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import yaml
from harness import (
    OCILayout,
    Registries,
    RegistryProcess,
    http_request,
    make_txregistry,
    skopeo,
)

from tests.tokenserver import TestPKI, TokenServer, User
from txregistry.auth.htpasswd import CHECK_INTERVAL

REALM = "txregistry test"


def htpasswdLine(user: str, password: str) -> str:
    return f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(5)).decode()}\n"


def startWithAuth(registries: Registries, auth: dict[str, Any]) -> RegistryProcess:
    """
    Start a txregistry whose configuration has the C{auth} section given.
    """
    process = make_txregistry(registries._workdir("txregistry"), registries._root(None))
    config = process.cwd / "config.yml"
    tree = yaml.safe_load(config.read_text())
    tree["auth"] = auth
    config.write_text(yaml.safe_dump(tree))
    registries.processes.append(process)
    return process.start()


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture
def htpasswdFile(tmp_path: Path) -> Path:
    path = tmp_path / "htpasswd"
    path.write_text(htpasswdLine("alice", "wonderland") + htpasswdLine("bob", "builder"))
    return path


@pytest.fixture
def htpasswdServer(registries: Registries, htpasswdFile: Path) -> RegistryProcess:
    return startWithAuth(registries, {"htpasswd": {"realm": REALM, "path": str(htpasswdFile)}})


@pytest.fixture(scope="module")
def pki() -> TestPKI:
    return TestPKI.create()


@pytest.fixture
def tokenServer(pki: TestPKI) -> Iterator[TokenServer]:
    server = TokenServer(pki, {
        "writer": User("w-pass", {"*": {"pull", "push"}}, catalog=True),
        "reader": User("r-pass", {"*": {"pull"}}),
    }).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def tokenRegistry(registries: Registries, tokenServer: TokenServer, pki: TestPKI,
                  tmp_path: Path) -> RegistryProcess:
    bundle = pki.writeBundle(tmp_path / "root.pem")
    return startWithAuth(registries, {"token": {
        "realm": tokenServer.realm, "service": tokenServer.service,
        "issuer": tokenServer.issuer, "rootcertbundle": str(bundle)}})


def test_skopeo_htpasswd(htpasswdServer: RegistryProcess, single_image: OCILayout,
                         tmp_path: Path) -> None:
    """skopeo pushes and pulls with --creds; without credentials it is refused."""
    ref = f"docker://{htpasswdServer.host}/auth/image:v1"
    skopeo("copy", "--dest-tls-verify=false", "--dest-creds", "alice:wonderland",
           f"oci:{single_image.path}:v1", ref)
    skopeo("copy", "--src-tls-verify=false", "--src-creds", "bob:builder",
           ref, f"oci:{tmp_path / 'back'}:v1")
    assert (tmp_path / "back" / "index.json").exists()
    with pytest.raises(AssertionError, match="(?i)unauthorized|authentication required"):
        skopeo("inspect", "--tls-verify=false", "--no-creds", ref)


def test_skopeo_token(tokenRegistry: RegistryProcess, tokenServer: TokenServer,
                      single_image: OCILayout, tmp_path: Path) -> None:
    """skopeo pushes and pulls through the token server; a reader cannot push."""
    ref = f"docker://{tokenRegistry.host}/tok/image:v1"
    skopeo("copy", "--dest-tls-verify=false", "--dest-creds", "writer:w-pass",
           f"oci:{single_image.path}:v1", ref)
    skopeo("copy", "--src-tls-verify=false", "--src-creds", "reader:r-pass",
           ref, f"oci:{tmp_path / 'back'}:v1")
    assert (tmp_path / "back" / "index.json").exists()
    assert any(user == "writer" and "repository:tok/image:pull,push" in scopes
               for user, scopes in tokenServer.requests)
    with pytest.raises(AssertionError, match="(?i)unauthorized|denied|authentication required"):
        skopeo("copy", "--dest-tls-verify=false", "--dest-creds", "reader:r-pass",
               f"oci:{single_image.path}:v1", f"docker://{tokenRegistry.host}/tok/other:v1")


def rawRequest(host: str, head: bytes, body: bytes, timeout: float = 10) -> tuple[bytes, float]:
    """
    Send C{head} and C{body} on a new connection and read until it closes.

    @return: everything received, and how long the answer took.
    """
    address, port = host.split(":")
    started = time.monotonic()
    with socket.create_connection((address, int(port)), timeout=timeout) as s:
        s.sendall(head)
        try:
            s.sendall(body)
        except OSError:
            pass
        received = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
    return received, time.monotonic() - started


def test_push_refused_before_body(tokenRegistry: RegistryProcess,
                                  tokenServer: TokenServer, pki: TestPKI) -> None:
    """A 1 GiB upload with a pull-only token is refused after a few KiB: no 100 Continue, closed."""
    token = pki.token([{"type": "repository", "name": "big", "actions": ["pull"]}],
                      issuer=tokenServer.issuer, audience=tokenServer.service)
    head = (f"POST /v2/big/blobs/uploads/?digest=sha256:{'0' * 64} HTTP/1.1\r\n"
            f"Host: {tokenRegistry.host}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {1 << 30}\r\n"
            "Expect: 100-continue\r\n\r\n").encode()
    received, took = rawRequest(tokenRegistry.host, head, b"x" * 8192)
    assert received.startswith(b"HTTP/1.1 401 "), received[:200]
    assert b"100 Continue" not in received
    assert b'error="insufficient_scope"' in received
    assert took < 5
    headers = received.split(b"\r\n\r\n", 1)[0].lower()
    assert b"connection: close" in headers


def test_bad_and_expired_credentials(htpasswdServer: RegistryProcess,
                                     tokenRegistry: RegistryProcess,
                                     tokenServer: TokenServer, pki: TestPKI) -> None:
    """Wrong passwords, garbage and expired tokens get 401 with the right challenge."""
    for headers in (basic("alice", "wrong"), {"Authorization": "Basic %%%"}, {}):
        status, answer, _ = http_request(htpasswdServer.base_url, "GET", "/v2/", headers=headers)
        assert status == 401
        assert answer["WWW-Authenticate"] == f'Basic realm="{REALM}"'
    expired = pki.token([], issuer=tokenServer.issuer, audience=tokenServer.service,
                        now=time.time() - 3600)
    for token in (expired, "garbage.garbage.garbage"):
        status, answer, _ = http_request(tokenRegistry.base_url, "GET", "/v2/foo/tags/list",
                                         headers={"Authorization": f"Bearer {token}"})
        assert status == 401
        assert answer["WWW-Authenticate"] == (
            f'Bearer realm="{tokenServer.realm}",service="{tokenServer.service}",'
            'scope="repository:foo:pull",error="invalid_token"')


def test_htpasswd_changed_while_running(htpasswdServer: RegistryProcess,
                                        htpasswdFile: Path) -> None:
    """A new password written to the file works within the check interval, without a restart."""
    assert http_request(htpasswdServer.base_url, "GET", "/v2/",
                        headers=basic("alice", "wonderland"))[0] == 200
    htpasswdFile.write_text(htpasswdLine("alice", "looking-glass") + "# changed\n")
    deadline = time.monotonic() + 5 * CHECK_INTERVAL
    while http_request(htpasswdServer.base_url, "GET", "/v2/",
                       headers=basic("alice", "looking-glass"))[0] != 200:
        assert time.monotonic() < deadline, "the new password never worked"
        time.sleep(0.1)
    assert http_request(htpasswdServer.base_url, "GET", "/v2/",
                        headers=basic("alice", "wonderland"))[0] == 401
    assert htpasswdServer.process is not None and htpasswdServer.process.poll() is None


def test_failures_logged_without_secrets(htpasswdServer: RegistryProcess,
                                         tokenRegistry: RegistryProcess) -> None:
    """The log names the client address and user of a failure, never the password or token."""
    http_request(htpasswdServer.base_url, "GET", "/v2/", headers=basic("mallory", "Pa55-word!"))
    http_request(tokenRegistry.base_url, "GET", "/v2/",
                 headers={"Authorization": "Bearer secret-token-value"})
    deadline = time.monotonic() + 5
    while "mallory" not in htpasswdServer.log() and time.monotonic() < deadline:
        time.sleep(0.1)
    log = htpasswdServer.log()
    line = next(line for line in log.splitlines() if "authentication failed" in line)
    assert "127.0.0.1" in line and "mallory" in line
    assert "Pa55-word!" not in log
    assert "authentication failed for 127.0.0.1" in tokenRegistry.log()
    assert "secret-token-value" not in tokenRegistry.log()


def test_forged_log_line(htpasswdServer: RegistryProcess) -> None:
    """A user name with CR/LF makes one failed-login line, escaped; so does a hostile User-Agent."""
    forged = "eve\r\n2026-01-01 [-] authenticated alice\x1b[2K"
    headers = basic(forged, "x") | {"User-Agent": "agent\x1b[2K\x85"}
    assert http_request(htpasswdServer.base_url, "GET", "/v2/", headers=headers)[0] == 401
    deadline = time.monotonic() + 5
    while '"agent' not in htpasswdServer.log() and time.monotonic() < deadline:
        time.sleep(0.1)
    lines = htpasswdServer.log().splitlines()
    [failed] = [line for line in lines if "authentication failed" in line]
    assert "(user eve\\r\\n2026-01-01 [-] authenticated alice\\x1b[2K)" in failed
    assert not any(line.startswith("2026-01-01") or "\x1b" in line for line in lines)
    [access] = [line for line in lines if '"agent' in line]
    assert '"GET /v2/ HTTP/1.1" 401' in access and '"agent\\x1b[2K\\x85"' in access
