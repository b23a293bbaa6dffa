"""
Use a real C{twistd -n registry} as a blob store through C{python-dxf}:
blobs pushed from files and from chunked streams, pulled whole and by
range, named by aliases (tags of manifests dxf writes), listed, mounted
and deleted, with deletes enabled and disabled.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
import requests
import yaml
from dxf import DXF, DXFBase
from harness import Registries, RegistryProcess, http_request, make_txregistry

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


def start_txregistry(registries: Registries, delete_enabled: bool) -> RegistryProcess:
    """
    Start C{twistd -n registry} with C{storage.delete.enabled} set as
    asked; it is stopped with the test's other registries.
    """
    process = make_txregistry(registries._workdir("txregistry"), registries._root(None))
    config_path = process.cwd / "config.yml"
    config = yaml.safe_load(config_path.read_text())
    config["storage"]["delete"] = {"enabled": delete_enabled}
    config_path.write_text(yaml.safe_dump(config))
    registries.processes.append(process)
    return process.start()


@pytest.fixture
def deleting_server(registries: Registries) -> RegistryProcess:
    """
    A running txregistry with C{storage.delete.enabled: true}.
    """
    return start_txregistry(registries, delete_enabled=True)


@pytest.fixture
def keeping_server(registries: Registries) -> RegistryProcess:
    """
    A running txregistry with C{storage.delete.enabled: false}.
    """
    return start_txregistry(registries, delete_enabled=False)


def dxf(server: RegistryProcess, repo: str) -> DXF:
    """
    @return: a dxf client of C{repo} speaking plain HTTP.
    """
    return DXF(server.host, repo, insecure=True, tlsverify=False, timeout=60)


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def pulled(client: DXF, digest: str) -> bytes:
    """
    @return: a blob read whole through C{pull_blob} (which checks its digest).
    """
    return b"".join(client.pull_blob(digest))


def status_of(error: pytest.ExceptionInfo[requests.HTTPError]) -> int:
    assert error.value.response is not None
    return error.value.response.status_code


def error_codes(error: pytest.ExceptionInfo[requests.HTTPError]) -> list[str]:
    assert error.value.response is not None
    return [e["code"] for e in error.value.response.json()["errors"]]


def test_push_pull_file(txregistry_server: RegistryProcess, tmp_path: Path) -> None:
    """A blob pushed from a file pulls back exactly, with its size from HEAD and GET."""
    data = os.urandom(2 * 1024 * 1024 + 3)
    path = tmp_path / "blob"
    path.write_bytes(data)
    client = dxf(txregistry_server, "demo/store")
    digest = client.push_blob(str(path))
    assert digest == digest_of(data)
    assert pulled(client, digest) == data
    chunks, size = client.pull_blob(digest, size=True, chunk_size=65536)
    assert size == len(data)
    assert b"".join(chunks) == data
    assert client.blob_size(digest) == len(data)


def test_push_streamed(txregistry_server: RegistryProcess) -> None:
    """A blob pushed as a chunked stream of uneven pieces pulls back exactly."""
    pieces = [os.urandom(n) for n in (1, 70_000, 0, 3, 1_000_000, 12_345)]
    data = b"".join(pieces)
    progress: list[int] = []
    client = dxf(txregistry_server, "demo/store")
    digest = client.push_blob(
        data=iter(pieces),
        digest=digest_of(data),
        progress=lambda _digest, chunk: progress.append(len(chunk)),
    )
    assert digest == digest_of(data)
    assert sum(progress) == len(data)
    assert pulled(client, digest) == data
    assert client.blob_size(digest) == len(data)


def test_push_existing_skipped(
    txregistry_server: RegistryProcess, tmp_path: Path
) -> None:
    """Pushing a blob already there is answered from HEAD without a new upload."""
    path = tmp_path / "blob"
    path.write_bytes(os.urandom(1000))
    client = dxf(txregistry_server, "demo/store")
    digest = client.push_blob(str(path))
    before = txregistry_server.log().count("POST /v2/demo/store/blobs/uploads/")
    assert client.push_blob(str(path)) == digest
    assert txregistry_server.log().count("POST /v2/demo/store/blobs/uploads/") == before


def test_pull_range(txregistry_server: RegistryProcess) -> None:
    """A blob pushed by dxf is served by byte range (dxf has no range call: raw HTTP)."""
    data = os.urandom(100_000)
    client = dxf(txregistry_server, "demo/store")
    digest = client.push_blob(data=iter([data]), digest=digest_of(data))
    status, headers, body = http_request(
        txregistry_server.base_url,
        "GET",
        f"/v2/demo/store/blobs/{digest}",
        headers={"Range": "bytes=1000-1999"},
    )
    assert status == 206
    assert headers["Content-Range"] == f"bytes 1000-1999/{len(data)}"
    assert body == data[1000:2000]
    status, _, body = http_request(
        txregistry_server.base_url,
        "GET",
        f"/v2/demo/store/blobs/{digest}",
        headers={"Range": "bytes=-10"},
    )
    assert (status, body) == (206, data[-10:])


def test_unknown_blob(txregistry_server: RegistryProcess) -> None:
    """Pulling or sizing a blob never pushed fails with 404."""
    client = dxf(txregistry_server, "demo/store")
    missing = digest_of(b"never pushed")
    with pytest.raises(requests.HTTPError) as error:
        client.blob_size(missing)
    assert status_of(error) == 404
    with pytest.raises(requests.HTTPError) as error:
        client.pull_blob(missing)
    assert status_of(error) == 404
    assert error_codes(error) == ["BLOB_UNKNOWN"]


def test_aliases(txregistry_server: RegistryProcess) -> None:
    """set_alias names blobs; get_alias, get_digest and get_manifest read them back."""
    client = dxf(txregistry_server, "demo/store")
    blobs = [os.urandom(n) for n in (10, 20_000, 300)]
    digests = [client.push_blob(data=iter([b]), digest=digest_of(b)) for b in blobs]
    manifest = client.set_alias("v1", *digests)
    assert json.loads(manifest)["mediaType"] == DOCKER_MANIFEST

    assert client.get_alias("v1") == digests
    assert client.get_alias("v1", sizes=True) == [
        (d, len(b)) for d, b in zip(digests, blobs, strict=True)
    ]
    assert client.get_digest("v1") == digests[0]
    assert client.get_manifest("v1") == manifest
    digest, response = client.head_manifest_and_response("v1")
    assert digest == digest_of(manifest.encode())
    assert response.headers["Content-Type"] == DOCKER_MANIFEST
    # By digest too, as dxf itself does before deleting.
    assert client.get_alias(digest) == digests


def test_alias_moved(txregistry_server: RegistryProcess) -> None:
    """Setting an existing alias again points it at the new blobs."""
    client = dxf(txregistry_server, "demo/store")
    first = client.push_blob(data=iter([b"first"]), digest=digest_of(b"first"))
    second = client.push_blob(data=iter([b"second"]), digest=digest_of(b"second"))
    client.set_alias("latest", first)
    client.set_alias("latest", second, first)
    assert client.get_alias("latest") == [second, first]


def test_list_aliases_and_repos(txregistry_server: RegistryProcess) -> None:
    """list_aliases and list_repos see every alias and repository, whole and paginated."""
    repos = ["demo/a", "demo/b", "other"]
    aliases = ["v1", "v2", "v10", "latest", "x-y_z.1"]
    for repo in repos:
        client = dxf(txregistry_server, repo)
        blob = repo.encode()
        digest = client.push_blob(data=iter([blob]), digest=digest_of(blob))
        for alias in aliases:
            client.set_alias(alias, digest)

    client = dxf(txregistry_server, "demo/a")
    assert sorted(client.list_aliases()) == sorted(aliases)
    # Through the Link header, one name a page.
    assert list(client.list_aliases(batch_size=1, iterate=True)) == sorted(aliases)
    assert list(client.list_aliases(batch_size=2)) == sorted(aliases)

    base = DXFBase(txregistry_server.host, insecure=True, tlsverify=False, timeout=60)
    assert base.list_repos() == sorted(repos)
    assert base.list_repos(batch_size=1) == sorted(repos)


def test_mount_blob(txregistry_server: RegistryProcess) -> None:
    """mount_blob links a blob of one repository into another."""
    data = os.urandom(5000)
    source = dxf(txregistry_server, "demo/source")
    digest = source.push_blob(data=iter([data]), digest=digest_of(data))
    target = dxf(txregistry_server, "demo/target")
    with pytest.raises(requests.HTTPError):
        target.blob_size(digest)
    assert target.mount_blob("demo/source", digest) == digest
    assert pulled(target, digest) == data


def test_delete_alias_and_blob(deleting_server: RegistryProcess) -> None:
    """With deletes enabled, del_alias removes the alias and del_blob the blob."""
    client = dxf(deleting_server, "demo/store")
    blobs = [os.urandom(n) for n in (100, 200)]
    digests = [client.push_blob(data=iter([b]), digest=digest_of(b)) for b in blobs]
    client.set_alias("keep", digests[0])
    client.set_alias("drop", *digests)

    assert client.del_alias("drop") == digests
    with pytest.raises(requests.HTTPError) as error:
        client.get_alias("drop")
    assert status_of(error) == 404
    assert error_codes(error) == ["MANIFEST_UNKNOWN"]
    assert client.list_aliases() == ["keep"]
    assert client.get_alias("keep") == [digests[0]]

    client.del_blob(digests[1])
    with pytest.raises(requests.HTTPError) as error:
        client.blob_size(digests[1])
    assert status_of(error) == 404
    with pytest.raises(requests.HTTPError) as error:
        client.del_blob(digests[1])
    assert status_of(error) == 404
    assert error_codes(error) == ["BLOB_UNKNOWN"]
    # The other blob, still named by "keep", is untouched.
    assert pulled(client, digests[0]) == blobs[0]


def test_deletes_refused_when_disabled(keeping_server: RegistryProcess) -> None:
    """With deletes disabled, del_alias and del_blob get 405 UNSUPPORTED and nothing is lost."""
    client = dxf(keeping_server, "demo/store")
    data = os.urandom(1000)
    digest = client.push_blob(data=iter([data]), digest=digest_of(data))
    client.set_alias("v1", digest)

    with pytest.raises(requests.HTTPError) as error:
        client.del_alias("v1")
    assert status_of(error) == 405
    assert error_codes(error) == ["UNSUPPORTED"]
    with pytest.raises(requests.HTTPError) as error:
        client.del_blob(digest)
    assert status_of(error) == 405
    assert error_codes(error) == ["UNSUPPORTED"]

    assert client.list_aliases() == ["v1"]
    assert client.get_alias("v1") == [digest]
    assert pulled(client, digest) == data
