"""
Uploads against a real C{twistd -n registry} over raw sockets: chunked
bodies, ordering, refusals before the body is read, digest mismatches, and
crashes mid-upload.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
from pathlib import Path

from harness import Registries, RegistryProcess, http_request, with_digest


def raw(server: RegistryProcess, request: bytes, timeout: float = 10) -> bytes:
    """
    Send C{request} on a new connection and read until the server closes
    it or stays silent for a moment.
    """
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as s:
        s.sendall(request)
        return readAvailable(s)


def readAvailable(s: socket.socket, quiet: float = 0.5) -> bytes:
    """
    @return: what arrives on C{s} until it closes or is quiet for C{quiet}
        seconds.
    """
    s.settimeout(quiet)
    received = b""
    try:
        while chunk := s.recv(65536):
            received += chunk
    except TimeoutError:
        pass
    return received


def blobFiles(root: Path) -> list[str]:
    """
    @return: the blob data files under a storage root.
    """
    blobs = root / "docker/registry/v2/blobs"
    return sorted(str(p.relative_to(blobs)) for p in blobs.rglob("data")) if blobs.exists() else []


def startUpload(server: RegistryProcess, name: str = "demo/app") -> str:
    """
    @return: the path of a new upload's C{Location}.
    """
    status, headers, _ = http_request(server.base_url, "POST", f"/v2/{name}/blobs/uploads/")
    assert status == 202
    location = headers["Location"]
    return location.split("://", 1)[-1].split("/", 1)[-1].join(["/", ""])


def test_chunkedTransferPatches(txregistry_server: RegistryProcess) -> None:
    """PATCHes in chunked transfer encoding, then PUT ?digest=, store the exact blob."""
    data = os.urandom(300_000)
    location = startUpload(txregistry_server)
    for start in range(0, len(data), 100_000):
        chunk = data[start:start + 100_000]
        pieces = b"".join(b"%x\r\n%s\r\n" % (len(chunk[i:i + 7000]), chunk[i:i + 7000])
                          for i in range(0, len(chunk), 7000))
        response = raw(txregistry_server, (
            f"PATCH {location} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            f"Transfer-Encoding: chunked\r\n\r\n").encode() + pieces + b"0\r\n\r\n")
        assert response.startswith(b"HTTP/1.1 202 "), response[:200]
        assert f"Range: 0-{start + len(chunk) - 1}".encode() in response
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    status, _, _ = http_request(txregistry_server.base_url, "PUT", with_digest(location, digest))
    assert status == 201
    status, _, body = http_request(txregistry_server.base_url, "GET", f"/v2/demo/app/blobs/{digest}")
    assert (status, body) == (200, data)


def test_outOfOrderChunk(txregistry_server: RegistryProcess) -> None:
    """A chunk that does not start at the upload's end is 416 and appends nothing."""
    location = startUpload(txregistry_server)
    base = txregistry_server.base_url
    status, _, _ = http_request(base, "PATCH", location, b"a" * 10, {"Content-Range": "0-9"})
    assert status == 202
    status, headers, body = http_request(base, "PATCH", location, b"b" * 10,
                                         {"Content-Range": "20-29"})
    assert status == 416
    assert headers["Range"] == "0-9"
    assert b"BLOB_UPLOAD_INVALID" in body
    status, headers, _ = http_request(base, "GET", location)
    assert (status, headers["Range"]) == (204, "0-9")


def test_digestMismatchStoresNothing(txregistry_server: RegistryProcess) -> None:
    """A PUT whose digest does not match the data is 400 DIGEST_INVALID and leaves no blob or upload."""
    location = startUpload(txregistry_server)
    wrong = "sha256:" + hashlib.sha256(b"something else").hexdigest()
    status, _, body = http_request(txregistry_server.base_url, "PUT", with_digest(location, wrong),
                                   b"the real content")
    assert status == 400 and b"DIGEST_INVALID" in body
    assert blobFiles(txregistry_server.root) == []
    status, _, _ = http_request(txregistry_server.base_url, "GET", location)
    assert status == 404


def test_refusedBeforeBody(txregistry_server: RegistryProcess) -> None:
    """An upload to an unknown session announcing 1 GiB is refused on its headers, without 100 Continue."""
    with socket.create_connection(("127.0.0.1", txregistry_server.port), timeout=10) as s:
        s.sendall(b"PATCH /v2/demo/app/blobs/uploads/no-such-upload HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Length: 1073741824\r\nExpect: 100-continue\r\n\r\n")
        started = time.monotonic()
        response = readAvailable(s, quiet=5)
        elapsed = time.monotonic() - started
    assert response.startswith(b"HTTP/1.1 404 "), response[:200]
    assert b"100 Continue" not in response
    assert b"Connection: close" in response
    assert b"BLOB_UPLOAD_UNKNOWN" in response
    # The server closed the connection rather than waiting for the body.
    assert elapsed < 5


def test_killedMidUpload(registries: Registries, txregistry_server: RegistryProcess) -> None:
    """kill -9 in the middle of a monolithic push leaves no blob visible; the push then succeeds."""
    data = os.urandom(8 * 1024 * 1024)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    target = f"/v2/demo/app/blobs/uploads/?digest={digest}"
    with socket.create_connection(("127.0.0.1", txregistry_server.port), timeout=10) as s:
        s.sendall(f"POST {target} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(data)}\r\n\r\n"
                  .encode() + data[:len(data) // 2])
        time.sleep(0.5)
        txregistry_server.process.kill()
        txregistry_server.process.wait()
    assert blobFiles(txregistry_server.root) == []
    restarted = registries.txregistry(root=txregistry_server.root)
    status, _, _ = http_request(restarted.base_url, "HEAD", f"/v2/demo/app/blobs/{digest}")
    assert status == 404
    status, _, _ = http_request(restarted.base_url, "POST", target, data)
    assert status == 201
    status, _, body = http_request(restarted.base_url, "GET", f"/v2/demo/app/blobs/{digest}")
    assert (status, body) == (200, data)


def test_resumedInNewProcess(registries: Registries, txregistry_server: RegistryProcess) -> None:
    """An upload begun in one process is finished by another on the same root, its digest rebuilt from storage."""
    data = os.urandom(3 * 1024 * 1024 + 17)
    half = len(data) // 2
    location = startUpload(txregistry_server)
    status, _, _ = http_request(txregistry_server.base_url, "PATCH", location, data[:half],
                                {"Content-Range": f"0-{half - 1}"})
    assert status == 202
    txregistry_server.stop()
    restarted = registries.txregistry(root=txregistry_server.root)
    status, headers, _ = http_request(restarted.base_url, "GET", location)
    assert (status, headers["Range"]) == (204, f"0-{half - 1}")
    status, _, _ = http_request(restarted.base_url, "PATCH", location, data[half:],
                                {"Content-Range": f"{half}-{len(data) - 1}"})
    assert status == 202
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    status, _, _ = http_request(restarted.base_url, "PUT", with_digest(location, digest))
    assert status == 201
    status, headers, body = http_request(restarted.base_url, "GET", f"/v2/demo/app/blobs/{digest}",
                                         headers={"Range": "bytes=-100"})
    assert (status, body) == (206, data[-100:])
    assert headers["Content-Range"] == f"bytes {len(data) - 100}-{len(data) - 1}/{len(data)}"


def test_twoProcessesAlternate(registries: Registries, txregistry_server: RegistryProcess) -> None:
    """Two daemons sharing a root and a secret serve alternate requests of one chunked upload."""
    other = registries.txregistry(root=txregistry_server.root)
    servers = [txregistry_server, other]
    data = os.urandom(5 * 1024 * 1024 + 3)
    chunk = 1024 * 1024
    location = startUpload(txregistry_server)
    for n, start in enumerate(range(0, len(data), chunk)):
        piece = data[start:start + chunk]
        status, headers, body = http_request(
            servers[(n + 1) % 2].base_url, "PATCH", location, piece,
            {"Content-Range": f"{start}-{start + len(piece) - 1}"})
        assert status == 202, body
        location = headers["Location"].split("://", 1)[-1].split("/", 1)[-1].join(["/", ""])
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    status, _, _ = http_request(txregistry_server.base_url, "PUT", with_digest(location, digest))
    assert status == 201
    for server in servers:
        status, _, body = http_request(server.base_url, "GET", f"/v2/demo/app/blobs/{digest}")
        assert (status, body) == (200, data)


def test_killedMidChunkResumes(registries: Registries, txregistry_server: RegistryProcess) -> None:
    """After kill -9 in the middle of a chunk, the status reports the stored bytes and the upload completes from there."""
    data = os.urandom(16 * 1024 * 1024)
    location = startUpload(txregistry_server)
    with socket.create_connection(("127.0.0.1", txregistry_server.port), timeout=10) as s:
        s.sendall(f"PATCH {location} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(data)}\r\n"
                  f"Content-Range: 0-{len(data) - 1}\r\n\r\n".encode() + data[:len(data) // 2])
        time.sleep(0.5)
        txregistry_server.process.kill()
        txregistry_server.process.wait()
    restarted = registries.txregistry(root=txregistry_server.root)
    status, headers, _ = http_request(restarted.base_url, "GET", location)
    assert status == 204
    stored = int(headers["Range"].split("-")[1]) + 1
    assert 0 < stored <= len(data) // 2
    finishUpload(restarted, location, data, stored)


def finishUpload(server: RegistryProcess, location: str, data: bytes, stored: int) -> None:
    """
    Send the rest of C{data} to an upload holding its first C{stored}
    bytes, commit it, and check that the blob reads back as C{data}.
    """
    status, _, _ = http_request(server.base_url, "PATCH", location, data[stored:],
                                {"Content-Range": f"{stored}-{len(data) - 1}"})
    assert status == 202
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    status, _, body = http_request(server.base_url, "PUT", with_digest(location, digest))
    assert status == 201, body
    status, _, body = http_request(server.base_url, "GET", f"/v2/demo/app/blobs/{digest}")
    assert (status, body) == (200, data)


def test_concurrentChunkOnOtherProcess(registries: Registries, txregistry_server: RegistryProcess) -> None:
    """While one daemon receives a chunk, the same upload's chunk sent to another daemon is 416; nothing interleaves."""
    other = registries.txregistry(root=txregistry_server.root)
    first = os.urandom(2 * 1024 * 1024)
    location = startUpload(txregistry_server)
    with socket.create_connection(("127.0.0.1", txregistry_server.port), timeout=10) as s:
        s.sendall(f"PATCH {location} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(first)}\r\n"
                  f"Content-Range: 0-{len(first) - 1}\r\n\r\n".encode() + first[:1024 * 1024])
        time.sleep(0.5)
        status, headers, body = http_request(other.base_url, "PATCH", location, b"intruder",
                                             {"Content-Range": "0-7"})
        assert status == 416, body
        assert b"another request is writing" in body
        s.sendall(first[1024 * 1024:])
        response = readAvailable(s, quiet=2)
    assert response.startswith(b"HTTP/1.1 202 "), response[:200]
    digest = "sha256:" + hashlib.sha256(first).hexdigest()
    status, _, _ = http_request(other.base_url, "PUT", with_digest(location, digest))
    assert status == 201
