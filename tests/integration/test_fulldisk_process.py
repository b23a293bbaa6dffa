"""
A real C{twistd -n registry} whose storage root is a small C{tmpfs} that
fills up: pushes get 507 with the OCI error body, a failed whole-body upload
gives its space back at once, and pushes work again as soon as there is room.

Mounting needs root (or C{sudo -n}), as C{tests/install-system-deps} does;
without either the test fails, saying so.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from harness import Registries, RegistryProcess, http_request, with_digest

MiB = 1024 * 1024
#: The size of the filesystem the registry stores into.
FILESYSTEM = 8 * MiB
NAME = "demo/app"


def _privileged(*argv: str) -> list[str]:
    return list(argv) if os.geteuid() == 0 else ["sudo", "-n", *argv]


@pytest.fixture
def smallRoot(tmp_path: Path) -> Iterator[Path]:
    """
    A directory on an 8 MiB tmpfs of its own, unmounted after the test.
    """
    mountPoint = tmp_path / "small"
    mountPoint.mkdir()
    mounted = subprocess.run(
        _privileged("mount", "-t", "tmpfs", "-o", f"size={FILESYSTEM},mode=0777",
                    "tmpfs", str(mountPoint)),
        capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if mounted.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs (run the tests as root, or with sudo): "
                    f"{mounted.stderr.strip()}", pytrace=False)
    try:
        yield mountPoint
    finally:
        subprocess.run(_privileged("umount", "-l", str(mountPoint)), check=True)


def send(server: RegistryProcess, method: str, target: str,
         body: bytes) -> tuple[int, bytes]:
    """
    Send a request with a body while reading the answer, as Go clients
    (docker, skopeo) do: a registry may answer, and close, before the whole
    body is sent.

    @return: the status and the body of the answer.
    """
    connection = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    head = (f"{method} {target} HTTP/1.1\r\nHost: {server.host}\r\n"
            f"Content-Length: {len(body)}\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode()

    def sendAll() -> None:
        try:
            connection.sendall(head + body)
        except OSError:
            pass        # answered and closed before the body was all sent
    sender = threading.Thread(target=sendAll)
    sender.start()
    answer = b""
    try:
        while b"\r\n\r\n" not in answer or len(answer) < _expected(answer):
            data = connection.recv(65536)
            if not data:
                break
            answer += data
    finally:
        sender.join()
        connection.close()
    status, _, rest = answer.partition(b"\r\n\r\n")
    return int(status.split(b" ")[1]), rest


def _expected(answer: bytes) -> int:
    head, _, _ = answer.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(head) + 4 + int(value)
    return len(answer) + 1


def pushWhole(server: RegistryProcess, data: bytes) -> tuple[int, bytes]:
    """
    Push a blob with a POST and a PUT of its whole body.

    @return: the PUT's status and body.
    """
    status, headers, body = http_request(server.base_url, "POST",
                                         f"/v2/{NAME}/blobs/uploads/", b"")
    if status != 202:
        return status, body
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    return send(server, "PUT", with_digest(headers["Location"], digest), data)


def uploads(root: Path) -> list[str]:
    directory = root / "docker/registry/v2/repositories" / NAME / "_uploads"
    return sorted(os.listdir(directory)) if directory.exists() else []


def assertStorageFull(status: int, body: bytes) -> None:
    assert status == 507, (status, body)
    assert json.loads(body) == {"errors": [{"code": "UNAVAILABLE",
                                            "message": "storage is full"}]}


def test_fullDisk(registries: Registries, smallRoot: Path) -> None:
    """On a full disk a whole-body push gets 507 with the OCI body and its
    upload is removed at once, so a smaller push fits right after; a chunk
    gets 507 and its upload stays resumable; once room returns, the large
    push succeeds, with no restart; the log says so in one line, no
    traceback."""
    ballast = smallRoot / "ballast"
    ballast.write_bytes(b"\0" * (4 * MiB))
    server = registries.txregistry(smallRoot / "root")

    large = os.urandom(5 * MiB)
    assertStorageFull(*pushWhole(server, large))
    assert uploads(server.root) == []
    status, body = pushWhole(server, os.urandom(2 * MiB))
    assert status == 201, (status, body)

    status, headers, _ = http_request(server.base_url, "POST",
                                      f"/v2/{NAME}/blobs/uploads/", b"")
    assert status == 202
    parts = urlsplit(headers["Location"])
    location = f"{parts.path}?{parts.query}"
    assertStorageFull(*send(server, "PATCH", location, large))
    assert uploads(server.root) == [headers["Docker-Upload-UUID"]]
    status, answered, _ = http_request(server.base_url, "GET", location)
    assert status == 204 and answered["Range"].startswith("0-"), answered
    status, _, _ = http_request(server.base_url, "DELETE", location)
    assert status == 204

    ballast.unlink()
    status, body = pushWhole(server, large)
    assert status == 201, (status, body)

    log = server.log()
    assert "Traceback" not in log, log
    full = [line for line in log.splitlines() if "storage is full" in line]
    assert len(full) == 2, log
