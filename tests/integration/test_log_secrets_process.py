"""
No secret in any log line: a real C{twistd -n registry} configured with every
secret-bearing option (C{http.secret}, htpasswd, a TLS key) logs at debug
level, in each formatter, while clients log in (right and wrong passwords,
a bearer token) and push a blob through a signed upload state; its whole log
is then searched for each secret.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from urllib.parse import urlsplit

import bcrypt
import pytest
import yaml
from harness import (
    Registries,
    RegistryProcess,
    http_request,
    make_txregistry,
    sha256,
    with_digest,
)

from tests.certs import CertificateAuthority

SECRET = "http-secret-Zq81x"
PASSWORD = "pass-Wd7-secret"
WRONG = "wrong-Pw3-secret"
TOKEN = "bearer-Tk5-secret"


def basicHeader(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def startConfigured(
    registries: Registries, tmp_path: Path, formatter: str
) -> tuple[RegistryProcess, list[str]]:
    """
    Start a txregistry with every secret-bearing option, at debug level.

    @return: the process and the secrets its configuration holds.
    """
    htpasswd = tmp_path / "htpasswd"
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(5)).decode()
    htpasswd.write_text(f"alice:{hashed}\n")
    issued = CertificateAuthority().issue(["localhost"], ["127.0.0.1"])
    cert, key = issued.write(tmp_path / "tls", "server")
    process = make_txregistry(registries._workdir("txregistry"), registries._root(None))
    config = process.cwd / "config.yml"
    tree = yaml.safe_load(config.read_text())
    tree["http"]["secret"] = SECRET
    tree["http"]["tls"] = {"certificate": str(cert), "key": str(key)}
    tree["http"]["endpoints"] = [
        "tls+tcp:0:interface=127.0.0.1", f"tcp:{process.port}:interface=127.0.0.1",
    ]
    tree["auth"] = {"htpasswd": {"realm": "logs", "path": str(htpasswd)}}
    tree["log"] = {"level": "debug", "formatter": formatter, "fields": {"service": "registry"}}
    config.write_text(yaml.safe_dump(tree))
    registries.processes.append(process)
    process.start()
    keyLines = [
        line for line in issued.keyPEM.decode().splitlines() if not line.startswith("-----")
    ]
    secrets = [SECRET, PASSWORD, WRONG, TOKEN, hashed,
               basicHeader("alice", PASSWORD).split()[1],
               basicHeader("alice", WRONG).split()[1], *keyLines]
    return process, secrets


def target(location: str) -> str:
    """The request target of an upload's C{Location}, an absolute URL."""
    parts = urlsplit(location)
    return f"{parts.path}?{parts.query}"


def exercise(process: RegistryProcess) -> str:
    """
    Log in with a wrong password, a bearer token and the right password, and
    push a blob in two requests through the signed upload state.

    @return: the blob's digest.
    """
    url = process.base_url
    assert http_request(url, "GET", "/v2/", headers={
        "Authorization": basicHeader("alice", WRONG)})[0] == 401
    assert http_request(url, "GET", "/v2/", headers={
        "Authorization": f"Bearer {TOKEN}"})[0] == 401
    auth = {"Authorization": basicHeader("alice", PASSWORD)}
    assert http_request(url, "GET", "/v2/", headers=auth)[0] == 200
    blob = os.urandom(1000)
    status, headers, _ = http_request(url, "POST", "/v2/logs/blobs/uploads/", headers=auth)
    assert status == 202
    status, headers, _ = http_request(
        url, "PATCH", target(headers["Location"]), body=blob[:500],
        headers=auth | {"Content-Type": "application/octet-stream"})
    assert status == 202
    status, _, _ = http_request(
        url, "PUT", with_digest(headers["Location"], sha256(blob)), body=blob[500:],
        headers=auth | {"Content-Type": "application/octet-stream"})
    assert status == 201
    return sha256(blob)


@pytest.mark.parametrize("formatter", ["text", "json", "logstash"])
def test_no_secret_in_log(registries: Registries, tmp_path: Path, formatter: str) -> None:
    """At debug level, in every formatter, no configured or sent secret reaches the log."""
    process, secrets = startConfigured(registries, tmp_path, formatter)
    exercise(process)
    process.stop()
    lines = process.log().splitlines()
    assert any('" - alice [' in line for line in lines), "access lines should name the user"
    leaks = [(secret, line) for line in lines for secret in secrets if secret in line]
    assert not leaks, f"secrets in the log: {leaks}"


def test_requestFields(registries: Registries, tmp_path: Path) -> None:
    """JSON lines of a request carry its id, client, user, repository and digest as distribution names them."""
    process, _ = startConfigured(registries, tmp_path, "json")
    digest = exercise(process)
    process.stop()
    records = [json.loads(line) for line in process.log().splitlines()]
    assert all(record["service"] == "registry" for record in records)
    [failed] = [r for r in records if r["msg"].startswith("authentication failed")
                and r.get("auth.user.name") == "alice"]
    assert failed["http.request.remoteaddr"] == "127.0.0.1"
    [put] = [r for r in records if r.get("http.request.method") == "PUT"]
    assert put["vars.name"] == "logs" and put["vars.digest"] == digest
    assert put["http.response.status"] == "201" and "PUT /v2/logs/blobs/uploads/" in put["msg"]
    assert put["auth.user.name"] == "alice" and '" - alice [' in put["msg"]
    pushed = [r for r in records if r.get("vars.name") == "logs"]
    assert len({r["http.request.id"] for r in pushed}) == len(pushed) == 3
