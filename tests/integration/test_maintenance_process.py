"""
Maintenance against real C{twistd -n registry} processes: read-only mode
(C{storage.maintenance.readonly}) and upload purging
(C{storage.maintenance.uploadpurging}).
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from harness import (
    OCILayout,
    Registries,
    RegistryProcess,
    assert_same_image,
    http_request,
    make_txregistry,
    skopeo,
    txregistry_config,
)

#: Purge uploads older than 2s, every second (so the first purge is within
#: a second of the start).
FAST_PURGING = {"enabled": True, "age": "2s", "interval": "1s", "dryrun": False}


def startTxregistry(registries: Registries, root: Path, name: str,
                    maintenance: dict[str, Any]) -> RegistryProcess:
    """
    Start C{twistd -n registry} on C{root} with a C{storage.maintenance}
    section, stopped with the test's other processes.

    @param name: a name for its working directory, unique in the test.
    """
    process = make_txregistry(registries.tmp_path / name, root)
    config = txregistry_config(root, process.port)
    config["storage"]["maintenance"] = maintenance
    (process.cwd / "config.yml").write_text(yaml.safe_dump(config))
    registries.processes.append(process)
    return process.start()


def startUpload(server: RegistryProcess, name: str = "demo/app") -> tuple[str, str]:
    """
    Start an upload and send it a few bytes.

    @return: the path of its C{Location} and its id.
    """
    status, headers, _ = http_request(server.base_url, "POST", f"/v2/{name}/blobs/uploads/")
    assert status == 202
    location = "/" + headers["Location"].split("://", 1)[-1].split("/", 1)[-1]
    status, _, _ = http_request(server.base_url, "PATCH", location, b"abandoned bytes",
                                {"Content-Type": "application/octet-stream"})
    assert status == 202
    return location, headers["Docker-Upload-UUID"]


def uploadDirectory(root: Path, uploadID: str, name: str = "demo/app") -> Path:
    return root / "docker/registry/v2/repositories" / name / "_uploads" / uploadID


def waitUntil(condition: Any, timeout: float = 20) -> bool:
    """
    @return: whether C{condition()} became true within C{timeout} seconds.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return bool(condition())


def test_readOnlyServesPullsRefusesPushes(
    registries: Registries, single_image: OCILayout, tmp_path: Path
) -> None:
    """A read-only daemon on a pushed root serves the pull, refuses the push and purges nothing."""
    writer = registries.txregistry()
    skopeo("copy", "--dest-tls-verify=false", f"oci:{single_image.path}:v1",
           f"docker://{writer.host}/demo/app:v1")
    _, abandoned = startUpload(writer)
    writer.stop()

    reader = startTxregistry(registries, writer.root, "read-only",
                             {"readonly": {"enabled": True}, "uploadpurging": FAST_PURGING})
    back = tmp_path / "back"
    skopeo("copy", "--src-tls-verify=false", f"docker://{reader.host}/demo/app:v1",
           f"oci:{back}:v1")
    assert_same_image(single_image.path, "v1", back, "v1")

    with pytest.raises(AssertionError):
        skopeo("copy", "--dest-tls-verify=false", f"oci:{single_image.path}:v1",
               f"docker://{reader.host}/demo/other:v1")
    status, headers, body = http_request(reader.base_url, "POST", "/v2/demo/other/blobs/uploads/")
    assert status == 405
    assert b'"UNSUPPORTED"' in body
    assert headers["Allow"] == "GET, HEAD"
    status, _, _ = http_request(reader.base_url, "DELETE", "/v2/demo/app/manifests/v1")
    assert status == 405
    assert not (writer.root / "docker/registry/v2/repositories/demo/other").exists()

    # The old upload outlives several purge intervals: read-only mode purges nothing.
    time.sleep(3)
    assert uploadDirectory(writer.root, abandoned).is_dir()


def test_readOnlyRefusesUploadBeforeBody(registries: Registries) -> None:
    """A read-only daemon answers an upload announcing 1 GiB on its headers, without 100 Continue."""
    root = registries.tmp_path / "storage"
    server = startTxregistry(registries, root, "read-only", {"readonly": {"enabled": True}})
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(b"PATCH /v2/demo/app/blobs/uploads/11111111-1111-4111-8111-111111111111"
                  b" HTTP/1.1\r\nHost: x\r\nContent-Length: 1073741824\r\n"
                  b"Expect: 100-continue\r\n\r\n")
        started = time.monotonic()
        s.settimeout(5)
        response = b""
        try:
            while chunk := s.recv(65536):
                response += chunk
        except TimeoutError:
            pass
        elapsed = time.monotonic() - started
    assert response.startswith(b"HTTP/1.1 405 "), response[:200]
    assert b"100 Continue" not in response
    assert b"Connection: close" in response
    assert b"UNSUPPORTED" in response
    # The server closed the connection rather than waiting for the body.
    assert elapsed < 5


def test_purgesAbandonedUpload(registries: Registries) -> None:
    """A daemon with a 2s purge age deletes an abandoned upload, keeping one of unknown age."""
    root = registries.tmp_path / "storage"
    server = startTxregistry(registries, root, "purging", {"uploadpurging": FAST_PURGING})
    _, abandoned = startUpload(server)
    _, undated = startUpload(server)
    (uploadDirectory(root, undated) / "startedat").unlink()
    assert uploadDirectory(root, abandoned).is_dir()

    assert waitUntil(lambda: not uploadDirectory(root, abandoned).exists()), server.log()
    # Logged once the deletion (in a thread) is back in the reactor.
    assert waitUntil(lambda: "deleted upload" in server.log()), server.log()
    assert uploadDirectory(root, undated).is_dir()


def test_dryRunKeepsAbandonedUpload(registries: Registries) -> None:
    """A dry-run purger logs the abandoned upload and leaves it in place."""
    root = registries.tmp_path / "storage"
    server = startTxregistry(registries, root, "dry-run",
                             {"uploadpurging": dict(FAST_PURGING, dryrun=True)})
    _, abandoned = startUpload(server)

    def reported() -> bool:
        return any("would delete upload" in line and abandoned in line
                   for line in server.log().splitlines())

    assert waitUntil(reported), server.log()
    # Several purges later, it is still there.
    time.sleep(2)
    assert uploadDirectory(root, abandoned).is_dir()


def test_startRemovesTemporariesOfInterruptedWrites(registries: Registries) -> None:
    """A temporary file left by a write killed (kill -9) while storing a small
    blob is removed soon after the next start, once an hour old; a younger
    one (another process may be writing it) is kept."""
    root = registries.tmp_path / "storage"
    blob = root / "docker/registry/v2/blobs/sha256/ab" / ("ab" + "0" * 62)
    blob.mkdir(parents=True)
    left, fresh = blob / "data~0123456789abcdef", blob / "data~fedcba9876543210"
    for path in (left, fresh):
        path.write_bytes(b"half a blob")
    twoHoursAgo = time.time() - 7200
    os.utime(left, (twoHoursAgo, twoHoursAgo))
    server = startTxregistry(registries, root, "sweep", {})
    deadline = time.monotonic() + 20
    while left.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left.exists(), server.log()
    assert fresh.exists()
    assert (f"removed temporary file /docker/registry/v2/blobs/sha256/ab/ab{'0' * 62}/"
            "data~0123456789abcdef") in server.log()
