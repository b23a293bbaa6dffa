"""
Health checks against a real C{twistd -n registry}: the debug listener's
C{/debug/health} and the main listener's 503 while a check fails.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import yaml
from harness import (
    Registries,
    RegistryProcess,
    free_port,
    http_request,
    make_txregistry,
    txregistry_config,
)


def startWithHealth(registries: Registries, root: Path,
                    health: dict[str, Any]) -> tuple[RegistryProcess, str]:
    """
    Start C{twistd -n registry} on C{root} with a debug listener on a free
    port and C{health}.

    @return: the process and the debug listener's base URL.
    """
    process = make_txregistry(registries.tmp_path / "health", root)
    config = txregistry_config(root, process.port)
    debugPort = free_port()
    config["http"]["debug"] = {"addr": f"127.0.0.1:{debugPort}"}
    config["health"] = health
    (process.cwd / "config.yml").write_text(yaml.safe_dump(config))
    registries.processes.append(process)
    return process.start(), f"http://127.0.0.1:{debugPort}"


def waitForStatus(base_url: str, path: str, status: int,
                  timeout: float = 20) -> tuple[int, bytes]:
    """
    @return: the status and body of C{GET path} once it answers C{status}
        (or the last answer after C{timeout} seconds).
    """
    deadline = time.monotonic() + timeout
    while True:
        code, _, body = http_request(base_url, "GET", path)
        if code == status or time.monotonic() > deadline:
            return code, body
        time.sleep(0.2)


def test_fileCheck(registries: Registries, tmp_path: Path) -> None:
    """A file check's file makes /debug/health 503 naming it and the main
    listener 503 UNAVAILABLE; removing it makes both 200 again."""
    down = tmp_path / "down"
    server, debug = startWithHealth(
        registries, tmp_path / "root",
        {"file": [{"file": str(down), "interval": "200ms"}]})
    assert waitForStatus(debug, "/debug/health", 200) == (200, b"{}")
    down.write_text("")
    code, body = waitForStatus(debug, "/debug/health", 503)
    assert (code, json.loads(body)) == (503, {str(down): "file exists"})
    code, _, body = http_request(server.base_url, "GET", "/v2/")
    assert code == 503
    assert json.loads(body)["errors"][0]["code"] == "UNAVAILABLE"
    down.unlink()
    assert waitForStatus(debug, "/debug/health", 200) == (200, b"{}")
    assert http_request(server.base_url, "GET", "/v2/")[0] == 200


def test_storageDriverCheck(registries: Registries, tmp_path: Path) -> None:
    """A storage root that cannot be read (replaced by a symlink to itself)
    makes the storagedriver check fail: the main listener's GET /v2/ answers
    503 UNAVAILABLE, /debug/health names storagedriver_filesystem; restored,
    both answer 200."""
    root = tmp_path / "root"
    server, debug = startWithHealth(
        registries, root,
        {"storagedriver": {"enabled": True, "interval": "200ms", "threshold": 2}})
    assert waitForStatus(debug, "/debug/health", 200) == (200, b"{}")
    shutil.rmtree(root)
    root.symlink_to(root)
    code, body = waitForStatus(server.base_url, "/v2/", 503)
    assert code == 503, body
    assert json.loads(body)["errors"][0]["detail"] == (
        "health check failed: please see /debug/health")
    code, body = http_request(debug, "GET", "/debug/health")[::2]
    assert code == 503
    assert list(json.loads(body)) == ["storagedriver_filesystem"]
    root.unlink()
    root.mkdir()
    assert waitForStatus(server.base_url, "/v2/", 200)[0] == 200
    assert waitForStatus(debug, "/debug/health", 200) == (200, b"{}")
