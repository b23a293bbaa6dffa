"""
Concurrent clients against a real C{twistd -n registry}: one blob uploaded
by many clients at once, many tags pushed at once, a tag moved while it is
read, and many cross-repository mounts of one blob at once.

Every client is a thread making its own HTTP connections; every loop is
bounded in count and time, and every thread is joined (by leaving its
executor) before the test checks what it saw.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from harness import (
    OCI_CONFIG,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
    RegistryProcess,
    canonical_json,
    http_request,
    sha256,
    with_digest,
)

T = TypeVar("T")

#: How long a test waits for all its threads to reach the starting line.
BARRIER_TIMEOUT = 30


def run_at_once(count: int, work: Callable[[int, threading.Barrier], T]) -> list[T]:
    """
    Run C{work(i, barrier)} for C{i} in C{range(count)}, each in its own
    thread, and wait for all of them.

    @param work: called with its index and a barrier of C{count} parties
        to wait on just before its first request, so that they start
        together.
    @return: the results, in index order.
    @raise Exception: the first exception a thread raised, once all have
        ended.
    """
    barrier = threading.Barrier(count, timeout=BARRIER_TIMEOUT)
    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(work, i, barrier) for i in range(count)]
    return [f.result() for f in futures]


def path_of(location: str) -> str:
    """
    @return: the path and query of a C{Location} (an absolute URL or a path).
    """
    parts = urlsplit(location)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def blob_files(root: Path) -> list[str]:
    """
    @return: every file under a storage root's C{blobs/} directory.
    """
    blobs = root / "docker/registry/v2/blobs"
    return sorted(str(p.relative_to(blobs)) for p in blobs.rglob("*") if p.is_file())


def upload_leftovers(root: Path) -> list[str]:
    """
    @return: whatever is left inside any repository's C{_uploads/}.
    """
    repositories = root / "docker/registry/v2/repositories"
    return sorted(
        str(p.relative_to(repositories)) for p in repositories.rglob("_uploads/*")
    )


def upload_blob(
    server: RegistryProcess, name: str, data: bytes, chunk: int | None
) -> str:
    """
    Upload C{data}: in one monolithic C{POST ?digest=} if C{chunk} is
    L{None}, else C{POST}, C{PATCH}es of C{chunk} bytes and a closing
    C{PUT ?digest=} (which carries the body itself when C{chunk} is 0).

    @return: the digest the registry answered.
    """
    digest = sha256(data)
    base = server.base_url
    if chunk is None:
        status, headers, body = http_request(
            base,
            "POST",
            f"/v2/{name}/blobs/uploads/?digest={digest}",
            body=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        assert status == 201, (status, body)
        return str(headers["Docker-Content-Digest"])
    status, headers, body = http_request(base, "POST", f"/v2/{name}/blobs/uploads/")
    assert status == 202, (status, body)
    location = path_of(headers["Location"])
    final = data
    if chunk:
        final = b""
        for start in range(0, len(data), chunk):
            piece = data[start : start + chunk]
            status, headers, body = http_request(
                base,
                "PATCH",
                location,
                body=piece,
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Range": f"{start}-{start + len(piece) - 1}",
                },
            )
            assert status == 202, (status, body)
            assert headers["Range"] == f"0-{start + len(piece) - 1}"
            location = path_of(headers["Location"])
    status, headers, body = http_request(
        base,
        "PUT",
        with_digest(location, digest),
        body=final,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert status == 201, (status, body)
    return str(headers["Docker-Content-Digest"])


def get_blob(server: RegistryProcess, name: str, digest: str) -> bytes:
    status, _, body = http_request(server.base_url, "GET", f"/v2/{name}/blobs/{digest}")
    assert status == 200, (name, digest, status)
    return body


def make_manifest(config: bytes, layer: bytes) -> bytes:
    """
    @return: the bytes of an OCI image manifest of one config and one layer.
    """
    return canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": OCI_CONFIG,
                "digest": sha256(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": OCI_LAYER_GZIP,
                    "digest": sha256(layer),
                    "size": len(layer),
                }
            ],
        }
    )


def put_manifest(
    server: RegistryProcess, name: str, reference: str, manifest: bytes
) -> Any:
    status, headers, body = http_request(
        server.base_url,
        "PUT",
        f"/v2/{name}/manifests/{reference}",
        body=manifest,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert status == 201, (reference, status, body)
    assert headers["Docker-Content-Digest"] == sha256(manifest)
    return headers


def test_same_blob_uploaded_at_once(txregistry_server: RegistryProcess) -> None:
    """One blob uploaded by 8 clients at once, chunked differently, is stored once and exactly."""
    data = os.urandom(3 * 1024 * 1024 + 101)
    digest = sha256(data)
    # None: monolithic POST; 0: POST then PUT with the body; else PATCHes.
    chunks = [None, 0, 1 << 20, 65_536, 333_333, 1_000_003, None, 7 * 1024 * 1024]
    names = ["demo/race" if i % 2 else f"demo/race{i}" for i in range(len(chunks))]

    def push(i: int, barrier: threading.Barrier) -> str:
        barrier.wait()
        return upload_blob(txregistry_server, names[i], data, chunks[i])

    assert run_at_once(len(chunks), push) == [digest] * len(chunks)

    for name in set(names):
        assert get_blob(txregistry_server, name, digest) == data, name
    hexdigest = digest.split(":", 1)[1]
    assert blob_files(txregistry_server.root) == [
        f"sha256/{hexdigest[:2]}/{hexdigest}/data"
    ]
    assert upload_leftovers(txregistry_server.root) == []


def test_tags_pushed_at_once(txregistry_server: RegistryProcess) -> None:
    """8 tags of one repository pushed at once are all listed and each names its own manifest."""
    layer = os.urandom(200_000)
    count = 8

    def push(i: int, barrier: threading.Barrier) -> bytes:
        config = canonical_json({"architecture": "amd64", "os": "linux", "nonce": i})
        barrier.wait()
        # Every client uploads the shared layer too, racing the others.
        upload_blob(txregistry_server, "demo/tags", layer, 50_000 * (i % 3))
        upload_blob(txregistry_server, "demo/tags", config, None)
        manifest = make_manifest(config, layer)
        put_manifest(txregistry_server, "demo/tags", f"t{i}", manifest)
        return manifest

    manifests = run_at_once(count, push)

    status, _, body = http_request(
        txregistry_server.base_url, "GET", "/v2/demo/tags/tags/list"
    )
    assert status == 200
    assert json.loads(body) == {
        "name": "demo/tags",
        "tags": sorted(f"t{i}" for i in range(count)),
    }
    for i, manifest in enumerate(manifests):
        status, headers, body = http_request(
            txregistry_server.base_url,
            "GET",
            f"/v2/demo/tags/manifests/t{i}",
            headers={"Accept": OCI_MANIFEST},
        )
        assert (status, body) == (200, manifest), i
        assert headers["Docker-Content-Digest"] == sha256(manifest)
    assert upload_leftovers(txregistry_server.root) == []


def test_tag_moved_while_read(txregistry_server: RegistryProcess) -> None:
    """Readers of a tag being moved between two manifests always get one of them whole."""
    layer = os.urandom(10_000)
    upload_blob(txregistry_server, "demo/moving", layer, None)
    manifests = []
    for nonce in ("a", "b"):
        config = canonical_json(
            {"architecture": "amd64", "os": "linux", "nonce": nonce}
        )
        upload_blob(txregistry_server, "demo/moving", config, None)
        manifest = make_manifest(config, layer)
        put_manifest(txregistry_server, "demo/moving", nonce, manifest)
        manifests.append(manifest)
    put_manifest(txregistry_server, "demo/moving", "latest", manifests[0])
    by_digest = {sha256(m): m for m in manifests}

    moves, deadline = 300, time.monotonic() + 10
    moving = threading.Event()
    readers = 4

    def work(i: int, barrier: threading.Barrier) -> tuple[int, list[str]]:
        barrier.wait()
        if i == readers:
            written = 0
            try:
                while written < moves and time.monotonic() < deadline:
                    # Alternately b, a, b, ...: "latest" starts as a.
                    next_manifest = manifests[(written + 1) % 2]
                    put_manifest(
                        txregistry_server, "demo/moving", "latest", next_manifest
                    )
                    written += 1
                return written, []
            finally:
                moving.set()
        reads, problems = 0, []
        while not moving.is_set() and reads < 5000 and time.monotonic() < deadline + 5:
            reads += 1
            try:
                status, headers, body = http_request(
                    txregistry_server.base_url,
                    "GET",
                    "/v2/demo/moving/manifests/latest",
                    headers={"Accept": OCI_MANIFEST},
                )
            except Exception as e:
                problems.append(f"read {reads}: {e!r}")
                continue
            digest = headers.get("Docker-Content-Digest")
            if status != 200 or by_digest.get(digest) != body:
                problems.append(f"read {reads}: {status} {digest} {body[:200]!r}")
            elif headers.get("Content-Length") != str(len(body)):
                problems.append(
                    f"read {reads}: Content-Length {headers.get('Content-Length')}"
                )
        return reads, problems

    results = run_at_once(readers + 1, work)
    writes = results[readers][0]
    print(f"moves: {writes}; reads: {[reads for reads, _ in results[:readers]]}")
    assert writes > 10, f"only {writes} moves made"
    problems = [p for _, found in results for p in found]
    assert problems == [], problems[:20]
    assert all(reads > 0 for reads, _ in results[:readers])
    status, _, body = http_request(
        txregistry_server.base_url,
        "GET",
        "/v2/demo/moving/manifests/latest",
        headers={"Accept": OCI_MANIFEST},
    )
    assert (status, body) == (200, manifests[writes % 2])


def test_mounts_at_once(txregistry_server: RegistryProcess) -> None:
    """16 cross-repository mounts of one blob at once, two per target, all succeed."""
    data = os.urandom(500_000)
    digest = upload_blob(txregistry_server, "demo/origin", data, None)
    count = 16
    targets = [f"demo/mounted{i % 8}" for i in range(count)]

    def mount(i: int, barrier: threading.Barrier) -> tuple[int, str, str]:
        barrier.wait()
        status, headers, body = http_request(
            txregistry_server.base_url,
            "POST",
            f"/v2/{targets[i]}/blobs/uploads/?mount={digest}&from=demo/origin",
        )
        return (
            status,
            headers.get("Docker-Content-Digest", ""),
            path_of(headers.get("Location", "")),
        )

    results = run_at_once(count, mount)
    assert results == [(201, digest, f"/v2/{name}/blobs/{digest}") for name in targets]
    for name in set(targets):
        assert get_blob(txregistry_server, name, digest) == data, name
    assert get_blob(txregistry_server, "demo/origin", digest) == data
    hexdigest = digest.split(":", 1)[1]
    assert blob_files(txregistry_server.root) == [
        f"sha256/{hexdigest[:2]}/{hexdigest}/data"
    ]
    assert upload_leftovers(txregistry_server.root) == []
