"""
Two C{twistd -n registry} processes on one storage root: each keeps the
links it reads in memory (watched with inotify), yet a tag moved, or a
manifest or blob deleted, through one is seen at once through the other.
"""

from __future__ import annotations

from pathlib import Path

from harness import OCI_MANIFEST, Registries, RegistryProcess, http_request, sha256
from test_concurrency import make_manifest, put_manifest, upload_blob

ROUNDS = 200


def get(server: RegistryProcess, path: str, method: str = "GET") -> tuple[int, str | None]:
    """
    @return: the status of a request, and its C{Docker-Content-Digest}.
    """
    status, headers, _ = http_request(server.base_url, method, path,
                                      headers={"Accept": OCI_MANIFEST})
    return status, headers["Docker-Content-Digest"]


def pair(registries: Registries, tmp_path: Path) -> tuple[RegistryProcess, RegistryProcess]:
    """
    @return: two registries serving one root.
    """
    root = tmp_path / "shared"
    return registries.txregistry(root), registries.txregistry(root)


def test_tag_moves_seen_at_once(registries: Registries, tmp_path: Path) -> None:
    """A tag moved through either process is read as moved by the other, every time."""
    servers = pair(registries, tmp_path)
    config = b'{"architecture": "amd64", "os": "linux"}'
    upload_blob(servers[0], "app", config, None)
    manifests = []
    for i in range(3):
        layer = b"layer %d" % i
        upload_blob(servers[0], "app", layer, None)
        manifests.append(make_manifest(config, layer))
    for i in range(ROUNDS):
        writer, reader = servers[i % 2], servers[1 - i % 2]
        manifest = manifests[i % len(manifests)]
        put_manifest(writer, "app", "latest", manifest)
        # Both read: the writer's cache then holds the tag when it reads next.
        for server in (reader, writer):
            for method in ("GET", "HEAD"):
                assert get(server, "/v2/app/manifests/latest", method) == (
                    200, sha256(manifest)), i


def test_deletes_seen_at_once(registries: Registries, tmp_path: Path) -> None:
    """A small blob or a manifest deleted through one process is gone at once from the other, whose cache held it."""
    writer, reader = pair(registries, tmp_path)
    config = b'{"architecture": "amd64", "os": "linux"}'
    layer = b"a small layer"
    upload_blob(writer, "app", config, None)
    manifest = make_manifest(config, layer)
    blob, digest = f"/v2/app/blobs/{sha256(layer)}", sha256(manifest)
    for i in range(ROUNDS // 2):
        upload_blob(writer, "app", layer, None)
        put_manifest(writer, "app", digest, manifest)
        for _ in range(3):  # size, then content, then all from memory
            assert get(reader, blob) == (200, sha256(layer)), i
            assert get(reader, f"/v2/app/manifests/{digest}") == (200, digest), i
        assert http_request(writer.base_url, "DELETE", blob)[0] == 202
        assert get(reader, blob)[0] == 404, i
        assert get(reader, blob, "HEAD")[0] == 404, i
        assert http_request(writer.base_url, "DELETE", f"/v2/app/manifests/{digest}")[0] == 202
        assert get(reader, f"/v2/app/manifests/{digest}")[0] == 404, i
        assert get(reader, f"/v2/app/manifests/{digest}", "HEAD")[0] == 404, i
