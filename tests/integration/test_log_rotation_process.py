"""
Log rotation on SIGUSR1 under a real C{twistd -n --logfile registry}, for
every formatter: the file is renamed with a C{.1} suffix and later lines go
to a new file.
"""

from __future__ import annotations

import json
import os
import signal
import time
from typing import Any

import pytest
import yaml
from harness import Registries, http_request, make_txregistry


def waitFor(predicate: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.mark.parametrize(("formatter", "fields"), [
    ("text", {}), ("text", {"service": "registry"}),
    ("json", {"service": "registry"}), ("logstash", {"service": "registry"}),
])
def test_rotateOnSIGUSR1(registries: Registries, formatter: str,
                         fields: dict[str, str]) -> None:
    """SIGUSR1 rotates --logfile whatever the formatter; new lines keep its shape and fields."""
    process = make_txregistry(registries._workdir("txregistry"), registries._root(None))
    config = process.cwd / "config.yml"
    tree = yaml.safe_load(config.read_text())
    tree["log"] = {"formatter": formatter, "fields": fields}
    config.write_text(yaml.safe_dump(tree))
    logfile = process.cwd / "registry.log"
    process.argv.insert(process.argv.index("-n") + 1, f"--logfile={logfile}")
    registries.processes.append(process)
    process.start()
    waitFor(lambda: "GET /v2/" in logfile.read_text())
    os.kill(process.pid, signal.SIGUSR1)
    rotated = logfile.with_name("registry.log.1")
    waitFor(rotated.exists)
    assert "GET /v2/" in rotated.read_text()
    http_request(process.base_url, "GET", "/v2/_catalog")
    waitFor(lambda: logfile.exists() and "_catalog" in logfile.read_text())
    [line] = [line for line in logfile.read_text().splitlines() if "_catalog" in line]
    if formatter == "text":
        assert line.endswith(" service=registry" if fields else '"-"')
    else:
        assert json.loads(line)["service"] == "registry"
