"""
HTTP/2 over TLS against a real C{twistd -n registry}, with curl (nghttp2)
as the client: uploads and pulls take the streaming path, and an upload
refused on its headers is answered without its body being read.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from harness import (
    Registries,
    RegistryProcess,
    clean_environ,
    free_port,
    twistd_command,
    txregistry_config,
)


@dataclass
class TLSRegistry:
    """
    A registry serving HTTPS (HTTP/2 by ALPN) beside plain HTTP.
    """

    process: RegistryProcess
    url: str
    ca: Path


@pytest.fixture
def tlsRegistry(tmp_path: Path, registries: Registries) -> TLSRegistry:
    """
    A twistd registry with an ssl: listener on a self-signed certificate.
    """
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True)
    root = tmp_path / "storage"
    root.mkdir()
    port, tlsPort = free_port(), free_port()
    config = tmp_path / "config.yml"
    config.write_text(yaml.safe_dump(txregistry_config(root, port)))
    process = RegistryProcess(
        kind="txregistry", cwd=tmp_path, port=port, root=root,
        log_path=tmp_path / "twistd.log", env=clean_environ(),
        argv=twistd_command() + [
            "-n", "--pidfile", str(tmp_path / "twistd.pid"), "registry", "-c", str(config),
            "--listen", f"tcp:{port}:interface=127.0.0.1",
            "--listen", f"ssl:{tlsPort}:interface=127.0.0.1:privateKey={key}:certKey={cert}"])
    registries.processes.append(process)
    process.start()
    return TLSRegistry(process, f"https://127.0.0.1:{tlsPort}", cert)


def curl(registry: TLSRegistry, method: str, path: str, *args: str,
         data: Path | None = None) -> dict[str, object]:
    """
    One request with curl over HTTP/2.

    @return: curl's figures (C{http_version}, C{http_code}, C{size_upload})
        and the C{body}.
    """
    command = ["curl", "-s", "--http2", "--cacert", str(registry.ca), "-X", method,
               "-o", "-", "-w", "\n%{json}", *args, registry.url + path]
    if data is not None:
        command[1:1] = ["--data-binary", f"@{data}", "-H",
                        "Content-Type: application/octet-stream"]
    output = subprocess.run(command, check=True, capture_output=True, timeout=60).stdout
    body, _, figures = output.rpartition(b"\n")
    result = json.loads(figures)
    result["body"] = body
    return result


def test_pushAndPullOverHTTP2(tlsRegistry: TLSRegistry, tmp_path: Path) -> None:
    """A chunked upload and a pull over HTTP/2 keep every byte; the protocol is HTTP/2."""
    data = os.urandom(6 * 1024 * 1024 + 5)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    halves = [tmp_path / "first", tmp_path / "second"]
    halves[0].write_bytes(data[:4 * 1024 * 1024])
    halves[1].write_bytes(data[4 * 1024 * 1024:])
    started = curl(tlsRegistry, "POST", "/v2/h2/app/blobs/uploads/", "-D", "-")
    assert (started["http_version"], started["http_code"]) == ("2", 202)
    location = next(line.split(b" ", 1)[1].strip().decode()
                    for line in started["body"].splitlines()  # type: ignore[union-attr]
                    if line.lower().startswith(b"location:"))
    path = location.split("://", 1)[1].split("/", 1)[1]
    offset = 0
    for half in halves:
        size = half.stat().st_size
        patched = curl(tlsRegistry, "PATCH", "/" + path, "-D", "-", "-H",
                       f"Content-Range: {offset}-{offset + size - 1}", data=half)
        assert patched["http_code"] == 202, patched["body"]
        offset += size
        location = next(line.split(b" ", 1)[1].strip().decode()
                        for line in patched["body"].splitlines()  # type: ignore[union-attr]
                        if line.lower().startswith(b"location:"))
        path = location.split("://", 1)[1].split("/", 1)[1]
    finished = curl(tlsRegistry, "PUT", f"/{path}&digest={digest}")
    assert finished["http_code"] == 201, finished["body"]
    pulled = curl(tlsRegistry, "GET", f"/v2/h2/app/blobs/{digest}")
    assert (pulled["http_version"], pulled["http_code"], pulled["body"]) == ("2", 200, data)
    ranged = curl(tlsRegistry, "GET", f"/v2/h2/app/blobs/{digest}", "-H", "Range: bytes=-1000")
    assert (ranged["http_code"], ranged["body"]) == (206, data[-1000:])


def test_refusedUploadOverHTTP2(tlsRegistry: TLSRegistry, tmp_path: Path) -> None:
    """An HTTP/2 upload refused on its headers gets its 404 after a small part of its body; the registry logs no error."""
    blob = tmp_path / "blob"
    blob.write_bytes(os.urandom(32 * 1024 * 1024))
    refused = curl(tlsRegistry, "PATCH", "/v2/h2/app/blobs/uploads/no-such-upload", data=blob)
    assert (refused["http_version"], refused["http_code"]) == ("2", 404)
    assert b"BLOB_UPLOAD_UNKNOWN" in refused["body"]  # type: ignore[operator]
    assert int(refused["size_upload"]) < 8 * 1024 * 1024  # type: ignore[call-overload]
    assert curl(tlsRegistry, "GET", "/v2/")["http_code"] == 200
    log = tlsRegistry.process.log()
    assert "Traceback" not in log and "Unhandled Error" not in log
