"""
Tests for C{etc/txregistry.service}, the systemd unit.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from txregistry.workers.supervisor import STOP_TIMEOUT

ROOT = Path(__file__).parent.parent
UNIT = ROOT / "etc" / "txregistry.service"


def settings() -> dict[str, dict[str, str]]:
    """
    @return: the unit's keys and values by section (the last value of a
        key set twice).
    """
    sections: dict[str, dict[str, str]] = {}
    section: dict[str, str] = {}
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        section[key] = value
    return sections


def test_reloadSendsSIGHUP() -> None:
    """systemctl reload sends SIGHUP to the main process, which re-reads the certificates."""
    assert settings()["Service"]["ExecReload"] == "/bin/kill -HUP $MAINPID"


def test_stopWaitsForTheDrain() -> None:
    """systemd waits longer than etc/config.yml's draintimeout plus the workers' margin before SIGKILL."""
    example = yaml.safe_load(
        (ROOT / "etc" / "config.yml").read_text().replace("# draintimeout:", "draintimeout:"))
    drain = example["http"]["draintimeout"]
    assert drain.endswith("s")
    stop = settings()["Service"]["TimeoutStopSec"]
    assert int(stop) > int(drain[:-1]) + STOP_TIMEOUT


def test_sandbox() -> None:
    """The service runs sandboxed, writing only its storage root, without capabilities."""
    service = settings()["Service"]
    expected = {
        "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
        "PrivateTmp": "yes", "PrivateDevices": "yes",
        "ReadWritePaths": "/var/lib/txregistry", "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes", "ProtectKernelLogs": "yes",
        "ProtectControlGroups": "yes", "ProtectClock": "yes", "ProtectHostname": "yes",
        "RestrictNamespaces": "yes", "RestrictRealtime": "yes", "RestrictSUIDSGID": "yes",
        "LockPersonality": "yes", "SystemCallArchitectures": "native",
        "SystemCallFilter": "@system-service", "CapabilityBoundingSet": "",
        "AmbientCapabilities": "", "UMask": "0027",
    }
    assert {key: service.get(key) for key in expected} == expected
    assert service["WorkingDirectory"] == service["ReadWritePaths"]


def test_systemdAccepts(tmp_path: Path) -> None:
    """The unit's keys and values are valid: checked by systemd-analyze verify when it is installed, else its ExecStart at least runs twistd's registry plugin."""
    unit = tmp_path / "txregistry.service"
    twistd = Path(sys.executable).parent / "twistd"
    text = UNIT.read_text()
    assert "ExecStart=/opt/txregistry/bin/twistd " in text
    unit.write_text(text.replace("/opt/txregistry/bin/twistd", str(twistd)))
    start = settings()["Service"]["ExecStart"].split()
    assert start[1:5] == ["--nodaemon", "--pidfile=", "--logfile=-", "registry"]
    usage = subprocess.run([str(twistd), "registry", "--help"], capture_output=True,
                           text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert usage.returncode == 0 and "--config" in usage.stdout
    analyze = shutil.which("systemd-analyze")
    if analyze is not None:
        result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True)
        assert (result.returncode, result.stderr) == (0, "")
