"""
Tests for L{txregistry.storage.pulls}: pulls noted in memory, written to
the storage coarsely, and the manifest handler noting pulls by tag.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactor

from tests.api.helpers import OCI_MANIFEST, result
from tests.api.support import InMemoryRegistry, imageManifest
from txregistry.config import load_config
from txregistry.service import makeService, makeWorkerService, withSecret
from txregistry.storage import paths
from txregistry.storage.driver.base import CheckedDriver
from txregistry.storage.driver.factory import ThreadPoolService
from txregistry.storage.driver.inmemory import InMemoryDriver
from txregistry.storage.pulls import (
    COARSENESS,
    FLUSH_INTERVAL,
    PullRecorder,
    PullRecorderService,
)
from txregistry.workers import WorkerSpec

NAME = "team/app"


def records(driver: Any, name: str = NAME) -> list[str]:
    """
    @return: the tags with a pull record in repository C{name}.
    """
    try:
        return [path.rsplit("/", 1)[1] for path in result(driver.list(paths.pulledRecords(name)))]
    except Exception:
        return []


def test_flush_writes_once() -> None:
    """
    Pulls noted before a flush are written then, once per tag, as empty
    files outside the tag's directory.
    """
    driver = CheckedDriver(InMemoryDriver())
    recorder = PullRecorder(driver, Clock())
    recorder.pulled(NAME, "v1")
    recorder.pulled(NAME, "v1")
    recorder.pulled(NAME, "latest")
    recorder.pulled("other", "v1")
    assert records(driver) == []
    assert result(recorder.flush()) == 3
    assert records(driver) == ["latest", "v1"]
    assert records(driver, "other") == ["v1"]
    assert result(driver.getContent(paths.pulledRecord(NAME, "v1"))) == b""
    assert result(recorder.flush()) == 0


def test_coarse() -> None:
    """
    A tag recorded less than COARSENESS ago is not written again; after
    that it is.
    """
    driver = CheckedDriver(InMemoryDriver())
    clock = Clock()
    recorder = PullRecorder(driver, clock)
    recorder.pulled(NAME, "v1")
    result(recorder.flush())
    result(driver.delete(paths.pulledRecord(NAME, "v1")))
    clock.advance(COARSENESS - 1)
    recorder.pulled(NAME, "v1")
    assert result(recorder.flush()) == 0
    assert records(driver) == []
    clock.advance(1)
    recorder.pulled(NAME, "v1")
    assert result(recorder.flush()) == 1
    assert records(driver) == ["v1"]


def test_failed_write_retried() -> None:
    """
    A record that cannot be written is tried again at the next flush,
    without another pull.
    """
    driver = CheckedDriver(InMemoryDriver())
    recorder = PullRecorder(driver, Clock())
    blocker = paths.pulledRecords(NAME)
    result(driver.putContent(blocker, b"a file where a directory goes"))
    recorder.pulled(NAME, "v1")
    assert result(recorder.flush()) == 0
    result(driver.delete(blocker))
    assert result(recorder.flush()) == 1
    assert records(driver) == ["v1"]


def test_service() -> None:
    """
    The service flushes every FLUSH_INTERVAL, and once more when it stops;
    its stop waits for that flush.
    """
    driver = CheckedDriver(InMemoryDriver())
    clock = Clock()
    recorder = PullRecorder(driver, clock)
    service = PullRecorderService(recorder, clock)
    service.startService()
    recorder.pulled(NAME, "v1")
    clock.advance(FLUSH_INTERVAL - 1)
    assert records(driver) == []
    clock.advance(1)
    assert records(driver) == ["v1"]
    recorder.pulled(NAME, "v2")
    result(service.stopService())
    assert records(driver) == ["v1", "v2"]
    assert clock.getDelayedCalls() == []


def test_handler_notes_get_by_tag() -> None:
    """
    The manifest handler reports a GET by tag that it answered; not a HEAD,
    a GET by digest, or a GET of an unknown tag.
    """
    registry = InMemoryRegistry()
    pulls: list[tuple[str, str]] = []
    registry.app.manifests.onPull = lambda name, tag: pulls.append((name, tag))
    config = registry.pushBlob(NAME, b"{}")
    manifest = imageManifest(config, 2, [])
    response = registry.pushManifest(NAME, "v1", manifest, OCI_MANIFEST)
    assert response.code == 201
    digest = response.header("Docker-Content-Digest")
    assert registry.request("HEAD", f"/v2/{NAME}/manifests/v1").code == 200
    assert registry.request("GET", f"/v2/{NAME}/manifests/{digest}").code == 200
    assert registry.request("GET", f"/v2/{NAME}/manifests/v2").code == 404
    assert pulls == []
    assert registry.request("GET", f"/v2/{NAME}/manifests/v1").code == 200
    assert pulls == [(NAME, "v1")]


def _tree(tmp_path: Path, maintenance: str, worker: int = 1) -> list[Any]:
    """
    @return: the services of process C{worker} of a registry with
        C{http.workers: 2} on filesystem storage, with C{maintenance}.
    """
    path = tmp_path / "config.yml"
    path.write_text(f"version: 0.1\nhttp:\n  addr: 127.0.0.1:0\n  workers: 2\n"
                    f"storage:\n  filesystem:\n    rootdirectory: {tmp_path}\n"
                    f"  maintenance:\n{maintenance}")
    config = withSecret(load_config(str(path), {}, cwd=str(tmp_path)))
    if worker == 1:
        return list(makeService(config, None, MemoryReactor(), spawn=lambda *_: None))
    return list(makeWorkerService(
        WorkerSpec(worker, 2, config, makeWorkerService, config.listen_endpoints(), [5000]),
        MemoryReactor()))


def test_every_process_records(tmp_path: Path) -> None:
    """
    With retention rules, every process records its own pulls, its
    recorder stopped before the storage driver's threads (services stop in
    reverse order); without rules, or read-only, no process does.
    """
    rules = "    retention: [{keeptags: [{pulledwithin: 24h}]}]\n"
    for worker in (1, 2):
        services = _tree(tmp_path, rules, worker)
        [recorder] = [s for s in services if isinstance(s, PullRecorderService)]
        pools = [s for s in services if isinstance(s, ThreadPoolService)]
        assert pools and all(services.index(pool) < services.index(recorder) for pool in pools)
    for maintenance in ("    uploadpurging: {enabled: false}\n",
                        rules + "    readonly: {enabled: true}\n"):
        assert not any(isinstance(s, PullRecorderService) for s in _tree(tmp_path, maintenance))
