"""
txregistry run the ways an operator runs it: daemonised with a pid file and a
log file, in the foreground on the embedded default configuration, and with a
broken configuration.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from harness import (
    CLEAN_EXITS,
    RegistryProcess,
    clean_environ,
    free_port,
    http_request,
    make_txregistry,
    port_is_free,
    twistd_command,
    txregistry_config,
    wait_until_serving,
    with_digest,
)


def _alive(pid: int) -> bool:
    """
    @return: whether process C{pid} exists and is not a zombie (a daemon is
        reparented, and what adopts it may be slow to reap it).
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def _push_blob(base_url: str, data: bytes) -> str:
    """
    Upload C{data} as a blob of C{demo/app} (POST, then PUT ?digest=).

    @return: its digest.
    """
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    status, headers, body = http_request(
        base_url, "POST", "/v2/demo/app/blobs/uploads/", body=b""
    )
    assert status == 202, (status, body)
    status, _, body = http_request(
        base_url, "PUT", with_digest(headers["Location"], digest), body=data
    )
    assert status == 201, (status, body)
    return digest


def test_daemonised_pidfile_and_sigterm(tmp_path: Path) -> None:
    """Daemonised twistd writes its pid file, serves, and on SIGTERM stops
    cleanly and removes the pid file."""
    port = free_port()
    root = tmp_path / "storage"
    config = tmp_path / "config.yml"
    config.write_text(yaml.safe_dump(txregistry_config(root, port)))
    pidfile = tmp_path / "txregistry.pid"
    logfile = tmp_path / "txregistry.log"

    launcher = subprocess.run(
        twistd_command()
        + ["--pidfile", str(pidfile), "--logfile", str(logfile)]
        + ["registry", "-c", str(config)],
        cwd=tmp_path,
        env=clean_environ(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    pid = None
    try:
        assert launcher.returncode == 0, launcher.stdout + launcher.stderr
        _wait_for(pidfile.exists, 30, "the pid file")
        pid = int(pidfile.read_text().strip())
        wait_until_serving(f"http://127.0.0.1:{port}", None, timeout=30)
        assert _alive(pid)

        os.kill(pid, signal.SIGTERM)
        _wait_for(lambda: not _alive(pid), 30, f"pid {pid} to exit")
        assert not pidfile.exists()
        log = logfile.read_text()
        assert "Server Shut Down." in log, log
        assert "Traceback" not in log, log
        assert port_is_free(port)
    finally:
        if pid is not None and _alive(pid):
            os.kill(pid, signal.SIGKILL)
        if logfile.exists():
            print(logfile.read_text())


def test_default_configuration(tmp_path: Path) -> None:
    """twistd -n registry with no options serves 127.0.0.1:5000 and stores
    blobs under ./txregistry-data in distribution's layout."""
    if not port_is_free(5000):
        pytest.fail(
            "port 5000 on 127.0.0.1 is taken; this test runs the embedded "
            "default configuration, which listens there: free the port "
            "(e.g. stop a docker-registry service) and run again",
            pytrace=False,
        )
    log = tmp_path / "twistd.out"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            twistd_command() + ["-n", "registry"],
            cwd=tmp_path,
            env=clean_environ(),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        base_url = "http://127.0.0.1:5000"
        wait_until_serving(base_url, process, timeout=30)
        status, headers, _ = http_request(base_url, "GET", "/v2/")
        assert status == 200
        assert headers["Docker-Distribution-API-Version"] == "registry/2.0"

        data = os.urandom(4096)
        digest = _push_blob(base_url, data)
        hexdigest = digest.split(":", 1)[1]
        stored = (
            tmp_path
            / "txregistry-data/docker/registry/v2/blobs/sha256"
            / hexdigest[:2]
            / hexdigest
            / "data"
        )
        assert stored.read_bytes() == data
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        print(log.read_text(errors="replace"))
    assert process.returncode in CLEAN_EXITS
    assert "Server Shut Down." in log.read_text(errors="replace")


def test_no_server_header(txregistry_server: RegistryProcess) -> None:
    """The daemon's responses carry no Server header, so no Twisted version."""
    for method, path in [("GET", "/v2/"), ("HEAD", "/v2/no/such/manifests/latest"),
                         ("POST", "/v2/demo/app/blobs/uploads/")]:
        status, headers, _ = http_request(txregistry_server.base_url, method, path, body=b"")
        assert status in (200, 202, 404), (method, path, status)
        assert "Server" not in headers, (method, path, headers)


def test_unknown_environment_key_warns(tmp_path: Path) -> None:
    """REGISTRY_HTTP_ADRR (a typo in a known section) does not stop the
    daemon: it serves, and its log warns about the variable."""
    process = make_txregistry(tmp_path / "work", tmp_path / "storage")
    process.env["REGISTRY_HTTP_ADRR"] = "x"
    try:
        process.start()
        status, _, _ = http_request(process.base_url, "GET", "/v2/")
        assert status == 200
    finally:
        process.stop()
    log = process.log()
    assert ("ignoring http.adrr, set by environment variable REGISTRY_HTTP_ADRR: "
            "unknown key") in log, log


def refused_at_start(config: Path, cwd: Path, *extra: str) -> str:
    """
    Run C{twistd -n registry -c config [extra...]} and check it exits
    non-zero without a traceback or the usage text.

    @return: what it printed.
    """
    result = subprocess.run(
        twistd_command() + ["-n", "registry", "-c", str(config), *extra],
        cwd=cwd,
        env=clean_environ(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output, output
    assert "Usage:" not in output, output
    return output


def refused_in_one_line(config: Path, cwd: Path, *extra: str) -> str:
    """
    L{refused_at_start}, checking that twistd printed one line only.

    @return: that line, without the C{txregistry: } prefix.
    """
    output = refused_at_start(config, cwd, *extra)
    lines = output.splitlines()
    assert len(lines) == 1 and lines[0].startswith("txregistry: "), output
    return lines[0].removeprefix("txregistry: ")


def test_yaml_error_one_line_naming_file(tmp_path: Path) -> None:
    """A YAML syntax error stops twistd with one line naming the file, the
    line and the column."""
    config = tmp_path / "config.yml"
    config.write_text("version: 0.1\nhttp: [\n")
    line = refused_in_one_line(config, tmp_path)
    assert line.startswith(f"{config} is not valid YAML: line 3, column 1: "), line


def test_uncreatable_root_one_line(tmp_path: Path) -> None:
    """A storage root that cannot be created stops twistd with one line
    naming the key and the directory."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    document = txregistry_config(blocker / "root", free_port())
    config = tmp_path / "config.yml"
    config.write_text(yaml.safe_dump(document))
    line = refused_in_one_line(config, tmp_path)
    assert line == (f"storage.filesystem.rootdirectory: cannot create {blocker}/root: "
                    "Not a directory"), line


def test_bad_listen_one_line(tmp_path: Path) -> None:
    """A --listen description Twisted cannot parse stops twistd with one line
    naming it."""
    config = tmp_path / "config.yml"
    config.write_text(yaml.safe_dump(txregistry_config(tmp_path / "storage", free_port())))
    line = refused_in_one_line(config, tmp_path, "--listen", "tcp:abc")
    assert line.startswith("cannot listen on 'tcp:abc': "), line


def test_port_in_use_one_line(tmp_path: Path) -> None:
    """A port already in use stops twistd with one logged error line naming
    the listener, and no traceback."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = tmp_path / "config.yml"
        config.write_text(yaml.safe_dump(txregistry_config(tmp_path / "storage", port)))
        output = refused_at_start(config, tmp_path)
    errors = [line for line in output.splitlines() if "error]" in line or "critical]" in line]
    assert len(errors) == 1, output
    assert errors[0].endswith(
        f"txregistry: cannot listen on tcp:{port}:interface=127.0.0.1: "
        "Address already in use"), output


def test_bad_configuration_exits_with_key_path(tmp_path: Path) -> None:
    """A config with an unknown key makes twistd exit non-zero naming the
    key's path, without a traceback."""
    config = tmp_path / "config.yml"
    document = txregistry_config(tmp_path / "storage", free_port())
    document["storage"]["filesystem"]["bogus"] = 1
    config.write_text(yaml.safe_dump(document))
    output = refused_at_start(config, tmp_path)
    assert "storage.filesystem.bogus" in output, output


def test_missing_configuration_file(tmp_path: Path) -> None:
    """A config path that does not exist makes twistd exit non-zero naming
    the file, without a traceback."""
    missing = tmp_path / "nope.yml"
    output = refused_at_start(missing, tmp_path)
    assert str(missing) in output, output
