"""
Graceful shutdown of a real C{twistd}: SIGTERM during a slow upload, with
C{http.draintimeout}.
"""

from __future__ import annotations

import hashlib
import signal
import socket
import time
from urllib.parse import urlsplit

import pytest
from harness import CLEAN_EXITS, Registries, RegistryProcess, http_request, with_digest

BLOB = bytes(range(256)) * 64
HALF = len(BLOB) // 2


def startUpload(registry: RegistryProcess) -> str:
    """
    @return: the path and query of a new upload's location.
    """
    status, headers, _ = http_request(registry.base_url, "POST", "/v2/drain/app/blobs/uploads/")
    assert status == 202
    parts = urlsplit(headers["Location"])
    return f"{parts.path}?{parts.query}"


def slowPatch(registry: RegistryProcess, location: str) -> socket.socket:
    """
    Send a PATCH of the whole blob's headers and only its first half.

    @return: the connection, the rest of the body still to send.
    """
    connection = socket.create_connection(("127.0.0.1", registry.port), timeout=30)
    connection.sendall(
        f"PATCH {location} HTTP/1.1\r\nHost: {registry.host}\r\n"
        f"Content-Type: application/octet-stream\r\n"
        f"Content-Length: {len(BLOB)}\r\n\r\n".encode() + BLOB[:HALF])
    # Let the server read it and start writing it to the upload.
    time.sleep(0.5)
    return connection


def readAll(connection: socket.socket) -> bytes:
    """
    @return: what the server sends until it closes the connection.
    """
    received = b""
    try:
        while chunk := connection.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    return received


def test_drainLetsUploadFinish(registries: Registries) -> None:
    """After SIGTERM, new connections are refused and idle ones closed, the upload in flight completes, then the process exits."""
    registry = registries.txregistry(http={"draintimeout": "30s"})
    location = startUpload(registry)
    idle = socket.create_connection(("127.0.0.1", registry.port), timeout=30)
    idle.sendall(f"GET /v2/ HTTP/1.1\r\nHost: {registry.host}\r\n\r\n".encode())
    assert idle.recv(65536).startswith(b"HTTP/1.1 200")
    upload = slowPatch(registry, location)
    assert registry.process is not None
    registry.process.send_signal(signal.SIGTERM)
    time.sleep(1)
    assert readAll(idle) == b""
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", registry.port), timeout=5)
    assert registry.process.poll() is None
    upload.sendall(BLOB[HALF:])
    response = readAll(upload)
    assert response.startswith(b"HTTP/1.1 202 ")
    assert f"Range: 0-{len(BLOB) - 1}\r\n".encode() in response
    assert b"Connection: close\r\n" in response
    assert registry.process.wait(10) in CLEAN_EXITS
    assert '"PATCH /v2/drain/app/blobs/uploads/' in registry.log()


def test_drainTimeoutCutsUploadWhichResumes(registries: Registries) -> None:
    """With a short drain timeout the slow upload is cut and the process exits in time; after a restart the upload resumes and completes."""
    first = registries.txregistry(http={"draintimeout": "1s"})
    location = startUpload(first)
    upload = slowPatch(first, location)
    assert first.process is not None
    stopping = time.monotonic()
    first.process.send_signal(signal.SIGTERM)
    assert first.process.wait(10) in CLEAN_EXITS
    assert time.monotonic() - stopping < 1 + 4
    assert not readAll(upload).startswith(b"HTTP/")

    second = registries.txregistry(root=first.root, http={"draintimeout": "1s"})
    status, headers, _ = http_request(second.base_url, "GET", location)
    assert status == 204
    end = int(headers["Range"].split("-")[1])
    assert 0 <= end < len(BLOB)
    parts = urlsplit(headers["Location"])
    status, headers, _ = http_request(
        second.base_url, "PATCH", f"{parts.path}?{parts.query}", body=BLOB[end + 1:],
        headers={"Content-Type": "application/octet-stream",
                 "Content-Range": f"{end + 1}-{len(BLOB) - 1}"})
    assert status == 202
    digest = "sha256:" + hashlib.sha256(BLOB).hexdigest()
    status, _, _ = http_request(second.base_url, "PUT", with_digest(headers["Location"], digest))
    assert status == 201
    status, _, body = http_request(second.base_url, "GET", f"/v2/drain/app/blobs/{digest}")
    assert (status, body) == (200, BLOB)


def test_workersDrain(registries: Registries) -> None:
    """With http.workers: 2, SIGTERM lets the upload in flight finish, whichever process serves it, and every process exits."""
    registry = registries.txregistry(http={"draintimeout": "30s", "workers": 2})
    uploads = [slowPatch(registry, startUpload(registry)) for _ in range(4)]
    assert registry.process is not None
    registry.process.send_signal(signal.SIGTERM)
    time.sleep(1)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", registry.port), timeout=5)
    for upload in uploads:
        upload.sendall(BLOB[HALF:])
        assert readAll(upload).startswith(b"HTTP/1.1 202 ")
    assert registry.process.wait(10) in CLEAN_EXITS
    assert "did not stop" not in registry.log()
