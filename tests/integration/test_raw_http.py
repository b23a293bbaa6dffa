"""
Raw HTTP exchanges over a real socket, checked against the Docker Registry
HTTP API V2 / OCI Distribution specification.  Each test also runs against
distribution, which proves the expectation right.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import select
import socket
import time
from urllib.parse import urlsplit

from harness import Registries, RegistryProcess, http_request, with_digest

UNKNOWN_DIGEST = "sha256:" + "0" * 64


def test_base_get(any_registry: RegistryProcess) -> None:
    """GET /v2/ answers 200 with the API version header and a JSON body."""
    status, headers, body = http_request(any_registry.base_url, "GET", "/v2/")
    assert status == 200
    assert headers["Docker-Distribution-API-Version"] == "registry/2.0"
    assert headers["Content-Type"].startswith("application/json")
    assert json.loads(body) == {}


def test_base_head(any_registry: RegistryProcess) -> None:
    """HEAD /v2/ answers 200 with the API version header and no body."""
    status, headers, body = http_request(any_registry.base_url, "HEAD", "/v2/")
    assert status == 200
    assert headers["Docker-Distribution-API-Version"] == "registry/2.0"
    assert body == b""


def test_unknown_blob_error_body(any_registry: RegistryProcess) -> None:
    """GET of an unknown blob answers 404 with a BLOB_UNKNOWN error list."""
    status, headers, body = http_request(
        any_registry.base_url, "GET", f"/v2/demo/app/blobs/{UNKNOWN_DIGEST}"
    )
    assert status == 404
    assert headers["Content-Type"].startswith("application/json")
    assert headers["Docker-Distribution-API-Version"] == "registry/2.0"
    errors = json.loads(body)["errors"]
    assert [e["code"] for e in errors] == ["BLOB_UNKNOWN"]
    assert isinstance(errors[0]["message"], str) and errors[0]["message"]


def test_unknown_blob_head(any_registry: RegistryProcess) -> None:
    """HEAD of an unknown blob answers 404 with no body."""
    status, _, body = http_request(
        any_registry.base_url, "HEAD", f"/v2/demo/app/blobs/{UNKNOWN_DIGEST}"
    )
    assert status == 404
    assert body == b""


def test_unknown_manifest_error_body(any_registry: RegistryProcess) -> None:
    """GET of an unknown tag answers 404 with MANIFEST_UNKNOWN."""
    status, _, body = http_request(
        any_registry.base_url, "GET", "/v2/demo/app/manifests/nope"
    )
    assert status == 404
    assert [e["code"] for e in json.loads(body)["errors"]] == ["MANIFEST_UNKNOWN"]


def test_redirect_keeps_query(any_registry: RegistryProcess) -> None:
    """A POST to the uploads path without its slash is redirected to the
    path with it, keeping the query (a mount's mount= and from=); the
    status is 301 in distribution, 308 (which keeps the method) here."""
    query = f"mount={UNKNOWN_DIGEST}&from=demo/other"
    status, headers, _ = http_request(
        any_registry.base_url, "POST", f"/v2/demo/app/blobs/uploads?{query}", body=b"")
    assert status in (301, 308)
    assert headers["Location"] == f"/v2/demo/app/blobs/uploads/?{query}"


def test_monolithic_blob_upload(any_registry: RegistryProcess) -> None:
    """POST then PUT ?digest= stores a blob that GET returns byte for byte."""
    data = b"hello, registry\n" * 1000
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    status, headers, _ = http_request(
        any_registry.base_url, "POST", "/v2/demo/app/blobs/uploads/", body=b""
    )
    assert status == 202
    assert headers["Docker-Upload-UUID"]
    status, headers, _ = http_request(
        any_registry.base_url,
        "PUT",
        with_digest(headers["Location"], digest),
        body=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert status == 201
    assert headers["Docker-Content-Digest"] == digest

    status, headers, body = http_request(
        any_registry.base_url, "GET", f"/v2/demo/app/blobs/{digest}"
    )
    assert status == 200
    assert body == data
    assert headers["Docker-Content-Digest"] == digest


def read_until_closed(raw: socket.socket) -> bytes:
    """
    @return: what the server sends on C{raw} until it closes it.
    """
    received = b""
    while chunk := raw.recv(65536):
        received += chunk
    return received


def test_http11_without_host(any_registry: RegistryProcess) -> None:
    """An HTTP/1.1 request without Host is answered 400 and the connection closes (RFC 9112, 3.2)."""
    with socket.create_connection(("127.0.0.1", any_registry.port), timeout=10) as raw:
        raw.sendall(b"GET /v2/ HTTP/1.1\r\n\r\n")
        answer = read_until_closed(raw)
    assert answer.startswith(b"HTTP/1.1 400 Bad Request: missing required Host header\r\n")


def test_chunk_size_too_large(txregistry_server: RegistryProcess) -> None:
    """A chunk size of 24 hex digits is answered 400 at once (distribution answers 500 UNKNOWN)."""
    status, headers, _ = http_request(
        txregistry_server.base_url, "POST", "/v2/demo/app/blobs/uploads/", body=b""
    )
    assert status == 202
    location = urlsplit(headers["Location"])
    target = f"{location.path}?{location.query}".encode()
    with socket.create_connection(("127.0.0.1", txregistry_server.port), timeout=10) as raw:
        started = time.monotonic()
        raw.sendall(b"PATCH " + target + b" HTTP/1.1\r\nHost: localhost\r\n"
                    b"Transfer-Encoding: chunked\r\n\r\n" + b"f" * 24 + b"\r\nabc")
        answer = read_until_closed(raw)
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert time.monotonic() - started < 5


def test_slow_headers_closed(registries: Registries) -> None:
    """Connections that trickle their headers, or send nothing, are closed after http.headertimeout; others are served."""
    server = registries.txregistry(http={"headertimeout": "1s"})
    slow = [socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(4)]
    started = time.monotonic()
    request = b"GET /v2/ HTTP/1.1\r\nHost: localhost\r\nX-Padding: " + b"x" * 1000
    closed: dict[int, float] = {}
    sent = 0
    while len(closed) < len(slow) and time.monotonic() - started < 10:
        for index, raw in enumerate(slow):
            if index in closed:
                continue
            try:
                if index:  # the first one sends nothing
                    raw.sendall(request[sent:sent + 1])
                readable, _, _ = select.select([raw], [], [], 0)
                if readable and not raw.recv(65536):
                    closed[index] = time.monotonic() - started
            except OSError:
                closed[index] = time.monotonic() - started
        sent += 1
        time.sleep(0.05)
    for raw in slow:
        raw.close()
    assert sorted(closed) == [0, 1, 2, 3]
    assert all(0.9 < after < 3 for after in closed.values()), closed
    assert http_request(server.base_url, "GET", "/v2/")[0] == 200


def test_connection_cap(registries: Registries) -> None:
    """At http.maxconnections a process stops accepting, and serves the waiting connection once one closes."""
    server = registries.txregistry(http={"maxconnections": 2})
    served = [http.client.HTTPConnection("127.0.0.1", server.port, timeout=10) for _ in range(2)]
    for connection in served:
        connection.request("GET", "/v2/")
        response = connection.getresponse()
        assert (response.status, response.read()) == (200, b"{}")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as waiting:
        waiting.sendall(b"GET /v2/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        assert select.select([waiting], [], [], 1)[0] == []
        served[0].close()
        answer = read_until_closed(waiting)
    served[1].close()
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert "the most http.maxconnections allows" in server.log()
