"""
C{twistd -n registry} with C{http.workers: 2}, as real processes: requests
spread over both, uploads continue across them, and the supervisor stops,
restarts and outlives its worker as it should.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import signal
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from harness import (
    RegistryProcess,
    clean_environ,
    free_port,
    http_request,
    twistd_command,
    with_digest,
)
from test_metrics_process import requests, scrape

#: What a spawned worker logs once it serves (relayed by the supervisor).
_SERVING = re.compile(r"worker (\d+) of \d+ \(pid (\d+)\) serving on ports \[([\d, ]+)\]")


def _children(pid: int) -> set[int]:
    """
    @return: the process ids whose parent is C{pid}, from C{/proc}.
    """
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(entry))
    return found


def _alive(pid: int) -> bool:
    """
    @return: whether C{pid} is a process that is not a zombie.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def _wait(condition: Callable[[], object], what: str, timeout: float = 30) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Workers:
    """
    A C{twistd -n registry} supervisor with two workers, listening on port 0
    (the port is read from the log).
    """

    def __init__(self, tmp_path: Path, httpKeys: dict[str, Any] | None = None) -> None:
        """
        @param httpKeys: keys added to the C{http} section.
        """
        tmp_path.mkdir(parents=True, exist_ok=True)
        root = tmp_path / "storage"
        root.mkdir()
        config = tmp_path / "config.yml"
        config.write_text(yaml.safe_dump({
            "version": 0.1,
            "storage": {"filesystem": {"rootdirectory": str(root)}},
            # No http.secret: the supervisor draws one for both workers.
            "http": {"addr": "127.0.0.1:0", "workers": 2, **(httpKeys or {})},
        }))
        self.process = RegistryProcess(
            kind="txregistry",
            argv=twistd_command() + ["-n", "--pidfile=", "registry", "-c", str(config)],
            cwd=tmp_path, port=0, root=root, log_path=tmp_path / "twistd.log",
            env=clean_environ(),
        )

    def start(self) -> Workers:
        process = self.process
        process._log = open(process.log_path, "ab")
        process.process = subprocess.Popen(
            process.argv, cwd=process.cwd, env=process.env,
            stdin=subprocess.DEVNULL, stdout=process._log, stderr=subprocess.STDOUT,
        )
        [(_, _, ports)] = _wait(lambda: self.serving(), "worker 2 to serve")  # type: ignore[misc]
        self.ports = ports
        process.port = ports[0]
        return self

    def serving(self, after: int = 0) -> list[tuple[int, int, list[int]]]:
        """
        @return: (worker, pid, ports) of each "serving" line of the log
            past the first C{after}.
        """
        found = [
            (int(index), int(pid), [int(p) for p in ports.split(",")])
            for index, pid, ports in _SERVING.findall(self.process.log())
        ]
        return found[after:]

    def accessLines(self, marker: str) -> dict[int, int]:
        """
        @return: how many access log lines holding C{marker} each worker
            wrote (worker 1's carry no worker tag).
        """
        counts = {1: 0, 2: 0}
        for line in self.process.log().splitlines():
            if marker in line:
                tagged = re.search(r"\[worker (\d+),", line)
                counts[int(tagged.group(1)) if tagged else 1] += 1
        return counts


@pytest.fixture
def workers(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Workers]:
    """
    A started L{Workers}, stopped after the test.
    """
    started = Workers(tmp_path / "workers")
    request.node.registry_processes = [started.process]
    try:
        yield started.start()
    finally:
        started.process.stop()


def _target(location: str) -> str:
    """
    @return: the request target (path and query) of a C{Location}.
    """
    parts = urlsplit(location)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def _spread(workers: Workers, marker: str, count: int) -> dict[int, int]:
    """
    Wait until C{count} access lines with C{marker} are logged.
    """
    def counted() -> dict[int, int] | None:
        counts = workers.accessLines(marker)
        return counts if sum(counts.values()) >= count else None

    return _wait(counted, f"{count} access lines")  # type: ignore[return-value]


def test_requests_spread(workers: Workers) -> None:
    """Requests on new connections are served by both processes."""
    for _ in range(100):
        status, _, _ = http_request(workers.process.base_url, "GET", "/v2/?spread")
        assert status == 200
    counts = _spread(workers, "/v2/?spread", 100)
    assert counts[1] > 0 and counts[2] > 0, counts


def test_upload_across_workers(workers: Workers) -> None:
    """An upload whose PATCHes land on both workers completes with its digest."""
    base = workers.process.base_url
    status, headers, _ = http_request(base, "POST", "/v2/spread/blobs/uploads/")
    assert status == 202
    location = _target(headers["Location"])
    chunks = [os.urandom(32 * 1024) for _ in range(24)]
    offset = 0
    for chunk in chunks:
        status, headers, body = http_request(base, "PATCH", location, chunk, {
            "Content-Type": "application/octet-stream",
            "Content-Range": f"{offset}-{offset + len(chunk) - 1}",
        })
        assert status == 202, body
        location = _target(headers["Location"])
        offset += len(chunk)
    data = b"".join(chunks)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    status, _, body = http_request(base, "PUT", with_digest(location, digest))
    assert status == 201, body
    status, _, pulled = http_request(base, "GET", f"/v2/spread/blobs/{digest}")
    assert status == 200
    assert hashlib.sha256(pulled).hexdigest() == digest.split(":")[1]
    counts = _spread(workers, '"PATCH /v2/spread/blobs/uploads/', len(chunks))
    assert counts[1] > 0 and counts[2] > 0, counts


def test_sigterm_stops_every_worker(workers: Workers) -> None:
    """SIGTERM to the supervisor stops it and its worker: no process is left."""
    supervisor = workers.process.pid
    children = _children(supervisor)
    assert len(children) == 1
    assert workers.process.stop() in (0, -signal.SIGTERM)
    _wait(lambda: not any(_alive(pid) for pid in children), "the worker to exit", 15)
    assert not _alive(supervisor)


def test_killed_worker_restarted(workers: Workers) -> None:
    """A worker killed with SIGKILL is replaced by a new one that serves."""
    [(_, pid, ports)] = workers.serving()
    os.kill(pid, signal.SIGKILL)
    _wait(lambda: workers.serving(after=1), "a new worker 2")
    [(index, newPid, newPorts)] = workers.serving(after=1)
    assert (index, newPorts) == (2, ports)
    assert newPid != pid and _alive(newPid)
    assert _children(workers.process.pid) == {newPid}
    for _ in range(60):
        http_request(workers.process.base_url, "GET", "/v2/?after-restart")
    counts = _spread(workers, "/v2/?after-restart", 60)
    assert counts[2] > 0, counts


def test_metrics_of_every_worker(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """One scrape of the debug listener (worker 1's) counts the requests and
    cache lookups of both workers; a worker killed and started again takes
    back none of what was counted before."""
    debugPort = free_port()
    workers = Workers(tmp_path / "workers", {
        "debug": {"addr": f"127.0.0.1:{debugPort}", "prometheus": {"enabled": True}}})
    request.node.registry_processes = [workers.process]
    workers.start()
    debug = f"http://127.0.0.1:{debugPort}"
    base = workers.process.base_url
    try:
        for _ in range(60):
            assert http_request(base, "GET", "/v2/?metrics")[0] == 200
            assert http_request(base, "GET", "/v2/metrics/app/manifests/latest")[0] == 404
        counts = _spread(workers, "/v2/?metrics", 60)
        assert counts[1] > 0 and counts[2] > 0, counts
        samples = scrape(debug)
        assert requests(samples, "GET", "base", "200") == 60
        assert requests(samples, "GET", "manifest", "404") == 60
        assert samples[("registry_cache_misses_total", (("cache", "tag_guesses"),))] == 60

        [(_, pid, _)] = workers.serving()
        os.kill(pid, signal.SIGKILL)
        _wait(lambda: workers.serving(after=1), "a new worker 2")
        for _ in range(10):
            assert http_request(base, "GET", "/v2/?metrics")[0] == 200
        samples = scrape(debug)
        assert requests(samples, "GET", "base", "200") == 70
        assert requests(samples, "GET", "manifest", "404") == 60
    finally:
        workers.process.stop()


def test_worker_exits_with_its_supervisor(workers: Workers) -> None:
    """A worker whose supervisor is killed (SIGKILL) exits on its own."""
    [child] = _children(workers.process.pid)
    workers.process.process.kill()  # type: ignore[union-attr]
    workers.process.process.wait()  # type: ignore[union-attr]
    _wait(lambda: not _alive(child), "the orphaned worker to exit", 15)


def test_tls_listeners_shared(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """tls+ and ssl: listeners on port 0 are served over TLS by both workers."""
    from tests.certs import CertificateAuthority

    ca = CertificateAuthority()
    cert, key = ca.issue(["localhost"], ["127.0.0.1"]).write(tmp_path, "server")
    caFile = ca.write(tmp_path / "ca.pem")
    started = Workers(tmp_path / "workers", {
        "tls": {"certificate": str(cert), "key": str(key)},
        "endpoints": [
            "tls+tcp:0:interface=127.0.0.1",
            f"ssl:0:interface=127.0.0.1:privateKey={key}:certKey={cert}",
        ],
    })
    request.node.registry_processes = [started.process]
    try:
        started.start()
        context = ssl.create_default_context(cafile=str(caFile))
        assert len(started.ports) == 2
        for port in started.ports:
            for _ in range(40):
                conn = http.client.HTTPSConnection(
                    "127.0.0.1", port, context=context, timeout=10)
                try:
                    conn.request("GET", f"/v2/?tls-{port}")
                    assert conn.getresponse().status == 200
                finally:
                    conn.close()
            counts = _spread(started, f"/v2/?tls-{port}", 40)
            assert counts[1] > 0 and counts[2] > 0, counts
    finally:
        started.process.stop()
