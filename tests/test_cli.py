"""
Tests for the C{txregistry} command (L{txregistry.cli}), calling L{main}
with captured output on a filesystem storage root built by pushing through
the API.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
import yaml

from tests.api.support import InMemoryRegistry, imageManifest
from txregistry import cli
from txregistry.storage import paths

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OLD_UPLOAD = "0b1c9c36-8f9a-4c77-9a53-3c2d5d1d9a01"
NEW_UPLOAD = "5d7e0c1a-2b3c-4d5e-8f90-a1b2c3d4e5f6"


def runNow(job: Any) -> Any:
    """
    Run a storage command's job on the reactor the tests run (instead of
    L{cli.runUnderReactor}, which would stop it).
    """
    from twisted.internet import reactor

    return job(reactor)


class Captured:
    """
    A command's exit status and output.
    """

    def __init__(self, status: int, out: str, err: str) -> None:
        self.status = status
        self.out = out
        self.err = err


async def run(*argv: str, environ: dict[str, str] | None = None) -> Captured:
    """
    Run C{txregistry argv}, waiting for a storage command to finish.
    """
    out, err = io.StringIO(), io.StringIO()
    status = cli.main(list(argv), out, err, environ or {}, runNow)
    if not isinstance(status, int):
        status = await status
    return Captured(status, out.getvalue(), err.getvalue())


def writeConfig(tmp_path: Path, extra: str = "") -> str:
    """
    @return: the path of a configuration on filesystem storage under
        C{tmp_path/root}, with C{extra} appended.
    """
    config = tmp_path / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "http:\n  addr: 127.0.0.1:5000\n  secret: hunter2-secret\n"
        f"storage:\n  filesystem:\n    rootdirectory: {tmp_path / 'root'}\n" + extra)
    return str(config)


def copyToDisk(registry: InMemoryRegistry, root: Path) -> None:
    """
    Write every file of C{registry}'s in-memory storage under C{root}, as
    the filesystem driver lays them out.
    """
    walked: list[Any] = []
    registry.driver.walk("/").addCallback(walked.extend)
    for info in walked:
        if info.isDir:
            continue
        content: list[bytes] = []
        registry.driver.getContent(info.path).addCallback(content.append)
        target = root / info.path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content[0])


def pushImage(registry: InMemoryRegistry, name: str, tag: str,
              blobs: list[bytes]) -> int:
    """
    Push an image of config C{blobs[0]} and layers C{blobs[1:]}.

    @return: the size of its manifest.
    """
    digests = [registry.pushBlob(name, blob) for blob in blobs]
    manifest = imageManifest(digests[0], len(blobs[0]),
                             [(d, len(b)) for d, b in zip(digests[1:], blobs[1:], strict=True)])
    response = registry.pushManifest(name, tag, manifest, OCI_MANIFEST)
    assert response.code == 201, response.body
    return len(json.dumps(manifest).encode())


def test_version() -> None:
    """
    C{version} prints the installed package's version and exits 0.
    """
    out = io.StringIO()
    assert cli.main(["version"], out, io.StringIO(), {}) == 0
    assert out.getvalue() == f"txregistry {cli.packageVersion()}\n"
    assert cli.packageVersion() != "unknown"


@pytest_twisted.ensureDeferred
async def test_checkConfigMasksSecrets(tmp_path: Path) -> None:
    """
    C{check-config} prints the effective configuration as YAML, keys nested
    as in the file, environment overrides applied and every secret masked.
    """
    result = await run("check-config", writeConfig(tmp_path),
                       environ={"REGISTRY_HTTP_ADDR": "127.0.0.1:5123"})
    assert (result.status, result.err) == (0, "")
    effective = yaml.safe_load(result.out)
    assert effective["http"]["addr"] == "127.0.0.1:5123"
    assert effective["http"]["secret"] == "***"
    assert effective["storage"]["filesystem"]["rootdirectory"] == str(tmp_path / "root")
    assert effective["storage"]["maintenance"]["uploadpurging"]["age"] == "168h"
    assert effective["storage"]["delete"] == {"enabled": False}
    assert effective["log"]["accesslog"] == {"disabled": False}
    assert "hunter2-secret" not in result.out


def test_maskEveryKeyNamingASecret() -> None:
    """
    Values under keys naming secrets (storage keys, passwords, headers such
    as Authorization) are masked at any depth; other values and unset
    secrets are kept.
    """
    from txregistry.commands.checkconfig import plain

    tree = {"storage": {"s3": {"accesskey": "A", "secretkey": "S", "region": "eu"}},
            "azure": {"accountkey": "K"}, "proxy": {"password": None, "username": "u"},
            "endpoints": [{"headers": {"Authorization": ["Bearer t"], "X-Other": ["v"]}}]}
    assert plain(tree) == {
        "storage": {"s3": {"accesskey": "***", "secretkey": "***", "region": "eu"}},
        "azure": {"accountkey": "***"}, "proxy": {"password": None, "username": "u"},
        "endpoints": [{"headers": {"Authorization": "***", "X-Other": ["v"]}}]}


@pytest_twisted.ensureDeferred
async def test_checkConfigInvalid(tmp_path: Path) -> None:
    """
    An invalid configuration is reported in one line naming the key's path,
    as C{twistd registry} reports it, with exit status 1 and no output.
    """
    config = writeConfig(tmp_path, "catalog:\n  maxentries: lots\n")
    result = await run("check-config", config)
    assert result.status == 1
    assert result.out == ""
    assert result.err.startswith(f"txregistry: invalid configuration {config}: catalog.maxentries")
    assert result.err.count("\n") == 1
    assert "Traceback" not in result.err


@pytest_twisted.ensureDeferred
async def test_checkConfigMissingFile(tmp_path: Path) -> None:
    """
    A configuration file that cannot be read gives one line and status 1.
    """
    result = await run("check-config", str(tmp_path / "absent.yml"))
    assert result.status == 1
    assert result.err.startswith("txregistry: cannot read configuration file")
    assert result.err.count("\n") == 1


@pytest_twisted.ensureDeferred
async def test_du(tmp_path: Path) -> None:
    """
    C{du} counts, per repository, the blobs it links (layers, config and
    manifests), largest first; the total counts a blob shared by two
    repositories once.
    """
    registry = InMemoryRegistry()
    shared, config1, config2, own = b"s" * 1000, b"c1" * 10, b"c2" * 20, b"o" * 300
    m1 = pushImage(registry, "library/one", "v1", [config1, shared])
    m2 = pushImage(registry, "two", "v1", [config2, shared, own])
    copyToDisk(registry, tmp_path / "root")
    config = writeConfig(tmp_path)

    result = await run("du", "--json", config)
    assert (result.status, result.err) == (0, "")
    one = len(config1) + len(shared) + m1
    two = len(config2) + len(shared) + len(own) + m2
    assert json.loads(result.out) == {
        "repositories": [{"name": "two", "blobs": 4, "bytes": two},
                         {"name": "library/one", "blobs": 3, "bytes": one}],
        "total": {"blobs": 6, "bytes": one + two - len(shared)},
        "missing": 0,
    }

    result = await run("du", config)
    assert result.status == 0
    assert [line.split() for line in result.out.splitlines()] == [
        ["REPOSITORY", "BLOBS", "BYTES"],
        ["two", "4", str(two)],
        ["library/one", "3", str(one)],
        ["total", "(unique)", "6", str(one + two - len(shared))],
    ]


@pytest_twisted.ensureDeferred
async def test_duMissingBlob(tmp_path: Path) -> None:
    """
    A linked blob whose data is gone is counted as missing, not as bytes.
    """
    registry = InMemoryRegistry()
    digest = registry.pushBlob("app", b"x" * 50)
    registry.pushBlob("app", b"y" * 7)
    copyToDisk(registry, tmp_path / "root")
    (tmp_path / "root" / paths.blobData(digest).lstrip("/")).unlink()

    result = await run("du", "--json", writeConfig(tmp_path))
    assert json.loads(result.out) == {
        "repositories": [{"name": "app", "blobs": 1, "bytes": 7}],
        "total": {"blobs": 1, "bytes": 7}, "missing": 1}


def writeUpload(root: Path, name: str, uploadID: str, startedAt: str) -> Path:
    """
    @return: the directory of an upload started at C{startedAt}.
    """
    directory = root / paths.upload(name, uploadID).lstrip("/")
    directory.mkdir(parents=True)
    (directory / "startedat").write_text(startedAt)
    (directory / "data").write_bytes(b"partial")
    return directory


@pytest.mark.parametrize("dryRun", [False, True])
@pytest_twisted.ensureDeferred
async def test_purgeUploads(tmp_path: Path, dryRun: bool) -> None:
    """
    C{purge-uploads --older-than} deletes the uploads started longer ago
    (with C{--dry-run}: only lists them), keeps the others, and prints each
    and the counts.
    """
    root = tmp_path / "root"
    old = writeUpload(root, "app", OLD_UPLOAD, "2020-01-01T00:00:00Z")
    new = writeUpload(root, "app", NEW_UPLOAD, "2999-01-01T00:00:00Z")

    argv = ["purge-uploads", writeConfig(tmp_path), "--older-than", "1h30m"]
    result = await run(*argv, *(["--dry-run"] if dryRun else []))
    assert (result.status, result.err) == (0, "")
    verb = "would delete" if dryRun else "deleted"
    assert result.out.splitlines() == [
        f"{verb} {paths.upload('app', OLD_UPLOAD)}",
        f"1 uploads {verb}, 1 kept, 0 errors"]
    assert old.exists() == dryRun
    assert new.exists()


@pytest_twisted.ensureDeferred
async def test_purgeUploadsDefaultAge(tmp_path: Path) -> None:
    """
    Without C{--older-than}, the configured
    C{storage.maintenance.uploadpurging.age} applies.
    """
    root = tmp_path / "root"
    writeUpload(root, "app", OLD_UPLOAD, "2020-01-01T00:00:00Z")
    config = writeConfig(
        tmp_path, "  maintenance:\n    uploadpurging:\n      age: 1000000h\n")
    result = await run("purge-uploads", config)
    assert result.out.splitlines() == ["0 uploads deleted, 1 kept, 0 errors"]


def test_purgeUploadsBadDuration(tmp_path: Path, capsys: Any) -> None:
    """
    A C{--older-than} that is not a duration is refused with the usage
    error (status 2) before anything runs.
    """
    with pytest.raises(SystemExit) as exited:
        cli.main(["purge-uploads", writeConfig(tmp_path), "--older-than", "7"], environ={})
    assert exited.value.code == 2
    assert "argument --older-than: must be a duration" in capsys.readouterr().err


@pytest_twisted.ensureDeferred
async def test_storageThatCannotBeSetUp(tmp_path: Path) -> None:
    """
    A storage root that cannot be created is one line and status 1.
    """
    (tmp_path / "file").write_text("")
    config = tmp_path / "config.yml"
    config.write_text(f"version: 0.1\nstorage:\n  filesystem:\n"
                      f"    rootdirectory: {tmp_path / 'file' / 'root'}\n")
    result = await run("du", str(config))
    assert result.status == 1
    assert result.err.startswith("txregistry: storage.filesystem.rootdirectory: cannot create")
    assert result.err.count("\n") == 1
    assert os.path.exists(tmp_path / "file")
