"""
The memory uploads share, against a real C{twistd -n registry}: a stalled
upload's data is written out, and uploads beyond the memory's limit are
slowed down, never refused.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml
from harness import RegistryProcess, http_request, make_txregistry
from test_streaming_uploads import finishUpload, startUpload

MiB = 1024 * 1024


def startWith(tmp_path: Path, uploadmemory: str) -> RegistryProcess:
    """
    @return: a started txregistry whose uploads share C{uploadmemory}.
    """
    server = make_txregistry(tmp_path / "txregistry", tmp_path / "root")
    config = server.cwd / "config.yml"
    settings = yaml.safe_load(config.read_text())
    settings["storage"]["filesystem"]["uploadmemory"] = uploadmemory
    config.write_text(yaml.safe_dump(settings))
    return server.start()


def uploadData(root: Path) -> dict[str, int]:
    """
    @return: the size of each upload's data file under a storage root.
    """
    uploads = root / "docker/registry/v2/repositories/demo/app/_uploads"
    return {p.parent.name: p.stat().st_size for p in uploads.glob("*/data")}


def test_stalledUploadIsWrittenOut(tmp_path: Path) -> None:
    """A PATCH that stalls after 1.1 MiB has all of it stored within a few seconds (nothing kept in a buffer), so a kill -9 loses none of it and the upload completes after a restart."""
    server = startWith(tmp_path, "8MiB")
    try:
        data = os.urandom(3 * MiB)
        sent = MiB + MiB // 10 + 123
        location = startUpload(server)
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
            s.sendall(f"PATCH {location} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(data)}\r\n"
                      f"Content-Range: 0-{len(data) - 1}\r\n\r\n".encode() + data[:sent])
            deadline = time.monotonic() + 10
            while list(uploadData(server.root).values()) != [sent] and time.monotonic() < deadline:
                time.sleep(0.1)
            assert list(uploadData(server.root).values()) == [sent]
            assert server.process is not None
            server.process.kill()
            server.process.wait()
    finally:
        server.stop()
    restarted = make_txregistry(tmp_path / "restarted", server.root).start()
    try:
        status, headers, _ = http_request(restarted.base_url, "GET", location)
        assert (status, headers["Range"]) == (204, f"0-{sent - 1}")
        finishUpload(restarted, location, data, sent)
    finally:
        restarted.stop()


def test_uploadsBeyondTheLimitAllSucceed(tmp_path: Path) -> None:
    """Eight concurrent 8 MiB pushes through 2 MiB of upload memory all answer 201, and every blob reads back intact."""
    server = startWith(tmp_path, "2MiB")
    try:
        blobs = [os.urandom(8 * MiB) for _ in range(8)]

        def push(data: bytes) -> tuple[int, str]:
            digest = "sha256:" + hashlib.sha256(data).hexdigest()
            status, _, _ = http_request(server.base_url, "POST",
                                        f"/v2/demo/app/blobs/uploads/?digest={digest}", data)
            return status, digest

        with ThreadPoolExecutor(len(blobs)) as executor:
            results = list(executor.map(push, blobs))
        assert [status for status, _ in results] == [201] * len(blobs)
        for data, (_, digest) in zip(blobs, results, strict=True):
            status, _, body = http_request(server.base_url, "GET", f"/v2/demo/app/blobs/{digest}")
            assert (status, body == data) == (200, True)
    finally:
        server.stop()
