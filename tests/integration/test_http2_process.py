"""
HTTP/2 over TLS against a real C{twistd -n registry}, with curl (nghttp2)
as the client: uploads and pulls take the streaming path, and an upload
refused on its headers is answered without its body being read.  With h2
as the client: a graceful stop sends a C{GOAWAY} and lets the streams in
flight finish.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import h2.config
import h2.connection
import h2.errors
import h2.events
import pytest
import yaml
from harness import (
    CLEAN_EXITS,
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
    return startTLSRegistry(tmp_path, registries)


def startTLSRegistry(tmp_path: Path, registries: Registries,
                     http: dict[str, Any] | None = None) -> TLSRegistry:
    """
    Start a twistd registry with an ssl: listener on a self-signed
    certificate.

    @param http: more keys of the configuration's C{http} section.
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
    settings = txregistry_config(root, port)
    settings["http"].update(http or {})
    config.write_text(yaml.safe_dump(settings))
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


def tlsConnection(registry: TLSRegistry, protocol: str) -> ssl.SSLSocket:
    """
    @return: a TLS connection to the registry, which chose C{protocol} by
        ALPN.
    """
    context = ssl.create_default_context(cafile=str(registry.ca))
    context.set_alpn_protocols([protocol])
    parts = urlsplit(registry.url)
    raw = socket.create_connection((parts.hostname, parts.port), timeout=30)
    connection = context.wrap_socket(raw, server_hostname=parts.hostname)
    assert connection.selected_alpn_protocol() == protocol
    return connection


class H2Client:
    """
    An HTTP/2 client over TLS (ALPN C{h2}) on h2's state machine, reading
    only when told to.  h2 ends its connection on any C{GOAWAY}; on a
    graceful one (C{NO_ERROR}) this client lets its open streams go on, as
    nghttp2's and Go's do.
    """

    def __init__(self, registry: TLSRegistry) -> None:
        self.socket = tlsConnection(registry, "h2")
        self.conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.conn.initiate_connection()
        self.events: list[Any] = []
        self.closed = False
        self.send()

    def send(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self.socket.sendall(data)

    def receiveUntil(self, condition: Callable[[], object]) -> None:
        """
        Read until C{condition()} holds.

        @raise AssertionError: if the server closes the connection first.
        """
        while not condition():
            assert not self.closed, "the server closed the connection"
            data = self.socket.recv(65536)
            if not data:
                self.closed = True
                continue
            received = self.conn.receive_data(data)
            if any(isinstance(e, h2.events.ConnectionTerminated) and not e.error_code
                   for e in received):
                self.conn.state_machine.state = h2.connection.ConnectionState.CLIENT_OPEN
            self.events += received
            self.send()

    def request(self, method: str, path: str, *headers: tuple[str, str],
                body: bytes = b"", end: bool = True) -> int:
        """
        Open a stream and send a request's headers and C{body}.

        @param end: whether C{body} is the whole body.
        @return: the stream's id.
        """
        stream: int = self.conn.get_next_available_stream_id()
        self.conn.send_headers(stream, [
            (":method", method), (":path", path), (":scheme", "https"),
            (":authority", "127.0.0.1"), *headers], end_stream=not body and end)
        if body:
            self.conn.send_data(stream, body, end_stream=end)
        self.send()
        return stream

    def of(self, kind: type, stream: int) -> list[Any]:
        """
        @return: the events of C{kind} received for C{stream}.
        """
        return [e for e in self.events
                if isinstance(e, kind) and getattr(e, "stream_id", None) == stream]

    def response(self, stream: int) -> dict[str, str]:
        """
        Read until C{stream}'s response has ended.

        @return: its headers (C{:status} among them).
        """
        self.receiveUntil(lambda: self.of(h2.events.StreamEnded, stream))
        [response] = self.of(h2.events.ResponseReceived, stream)
        return dict(response.headers)

    def goAway(self) -> Any:
        """
        @return: the server's C{GOAWAY}, once read.
        """
        self.receiveUntil(lambda: [e for e in self.events
                                   if isinstance(e, h2.events.ConnectionTerminated)])
        [goAway] = [e for e in self.events if isinstance(e, h2.events.ConnectionTerminated)]
        return goAway


def test_drainSendsGoAway(tmp_path: Path, registries: Registries) -> None:
    """
    On SIGTERM with http.draintimeout, an HTTP/2 connection with an upload
    in flight gets a GOAWAY (NO_ERROR) naming that upload's stream as the
    last; a stream opened after it is refused (REFUSED_STREAM); the upload
    finishes (202, its whole range), the server closes the connection and
    the process exits.
    """
    registry = startTLSRegistry(tmp_path, registries, {"draintimeout": "30s"})
    blob = os.urandom(40000)
    client = H2Client(registry)
    started = client.response(client.request("POST", "/v2/h2drain/app/blobs/uploads/"))
    assert started[":status"] == "202"
    location = urlsplit(started["location"])
    upload = client.request(
        "PATCH", f"{location.path}?{location.query}", ("content-length", str(len(blob))),
        ("content-type", "application/octet-stream"), body=blob[:20000], end=False)
    # Let the server read it and start writing it to the upload.
    time.sleep(0.5)
    process = registry.process.process
    assert process is not None
    stopping = time.monotonic()
    process.send_signal(signal.SIGTERM)
    goAway = client.goAway()
    assert (goAway.error_code, goAway.last_stream_id) == (h2.errors.ErrorCodes.NO_ERROR, upload)
    late = client.request("GET", "/v2/")
    client.receiveUntil(lambda: client.of(h2.events.StreamReset, late))
    [refused] = client.of(h2.events.StreamReset, late)
    assert refused.error_code == h2.errors.ErrorCodes.REFUSED_STREAM
    assert process.poll() is None
    client.conn.send_data(upload, blob[20000:], end_stream=True)
    client.send()
    finished = client.response(upload)
    assert (finished[":status"], finished["range"]) == ("202", f"0-{len(blob) - 1}")
    client.receiveUntil(lambda: client.closed)
    # As clients do on the server's TLS close_notify, which Twisted's TLS
    # waits for before closing its side.
    client.socket.close()
    assert process.wait(10) in CLEAN_EXITS
    assert time.monotonic() - stopping < 10
    log = registry.process.log()
    assert '"PATCH /v2/h2drain/app/blobs/uploads/' in log and "HTTP/2" in log
    assert "Traceback" not in log and '"GET /v2/ HTTP/2"' not in log


def test_drainClosesIdleTLSConnections(tmp_path: Path, registries: Registries) -> None:
    """
    On SIGTERM with http.draintimeout, idle kept-alive TLS connections, an
    HTTP/1.1 one and an HTTP/2 one (after a GOAWAY naming its last stream),
    are closed at once, and the process exits long before the timeout.
    """
    registry = startTLSRegistry(tmp_path, registries, {"draintimeout": "30s"})
    client = H2Client(registry)
    served = client.request("GET", "/v2/")
    assert client.response(served)[":status"] == "200"
    http1 = tlsConnection(registry, "http/1.1")
    http1.sendall(b"GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert http1.recv(65536).startswith(b"HTTP/1.1 200 ")
    process = registry.process.process
    assert process is not None
    stopping = time.monotonic()
    process.send_signal(signal.SIGTERM)
    assert client.goAway().last_stream_id == served
    client.receiveUntil(lambda: client.closed)
    assert http1.recv(65536) == b""
    client.socket.close()
    http1.close()
    assert process.wait(10) in CLEAN_EXITS
    assert time.monotonic() - stopping < 5
