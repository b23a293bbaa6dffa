"""
The fields of a request on its log lines, against a real C{twistd -n
registry} logging JSON (or logstash) lines, with htpasswd auth: every line
logged while a request is handled names its id, client, repository and
user; its access line names the user; with C{http.workers}, the lines the
supervisor relays keep them.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import yaml
from harness import Registries, RegistryProcess, http_request, make_txregistry

PASSWORD = "pw-Req-7"
AUTH = {"Authorization": "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode()}
#: The keys of the message in each formatter.
MESSAGE = {"json": "msg", "logstash": "message"}


def start(registries: Registries, tmp_path: Path, formatter: str,
          http: dict[str, Any] | None = None) -> RegistryProcess:
    """
    Start a txregistry logging C{formatter} lines, with htpasswd auth for
    alice.
    """
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(f"alice:{bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(5)).decode()}\n")
    process = make_txregistry(registries._workdir("txregistry"), registries._root(None), http)
    config = process.cwd / "config.yml"
    tree = yaml.safe_load(config.read_text())
    tree["auth"] = {"htpasswd": {"realm": "logs", "path": str(htpasswd)}}
    tree["log"] = {"formatter": formatter}
    config.write_text(yaml.safe_dump(tree))
    registries.processes.append(process)
    return process.start()


def records(process: RegistryProcess) -> list[dict[str, Any]]:
    """
    @return: the process's log lines, each parsed (every one must be JSON).
    """
    return [json.loads(line) for line in process.log().splitlines()]


def corruptTag(process: RegistryProcess, name: str, tag: str) -> None:
    """
    Make the tag's current link unreadable, which a pull of it logs as a
    warning from the storage.
    """
    link = (process.root / "docker/registry/v2/repositories" / name / "_manifests/tags"
            / tag / "current/link")
    link.parent.mkdir(parents=True)
    link.write_bytes(b"\xffcorrupt")


@pytest.mark.parametrize("formatter", ["json", "logstash"])
def test_linesOfARequestShareItsFields(registries: Registries, tmp_path: Path,
                                       formatter: str) -> None:
    """
    A storage warning and the access line of alice's pull carry the same
    uuid4 request id and distribution's request fields; another request
    gets another id; the access line names alice as its user.
    """
    process = start(registries, tmp_path, formatter)
    corruptTag(process, "logs/app", "v1")
    status, _, _ = http_request(process.base_url, "GET", "/v2/logs/app/manifests/v1",
                                headers=AUTH | {"User-Agent": "req-test/1"})
    assert status == 404
    assert http_request(process.base_url, "GET", "/v2/", headers=AUTH)[0] == 200
    process.stop()
    message = MESSAGE[formatter]
    lines = records(process)
    [warned] = [r for r in lines if "corrupt link" in r[message]]
    [pulled] = [r for r in lines if r.get("http.request.uri") == "/v2/logs/app/manifests/v1"
                and r is not warned]
    [base] = [r for r in lines if r.get("http.request.uri") == "/v2/"
              and r["http.response.status"] == "200"]
    assert uuid.UUID(pulled["http.request.id"]).version == 4
    assert base["http.request.id"] != pulled["http.request.id"]
    for record in (warned, pulled):
        assert record["level"] in ("warning", "info")
        assert record["http.request.id"] == pulled["http.request.id"]
        assert record["http.request.method"] == "GET"
        assert record["http.request.remoteaddr"] == "127.0.0.1"
        assert record["http.request.useragent"] == "req-test/1"
        assert (record["vars.name"], record["vars.reference"]) == ("logs/app", "v1")
        assert record["auth.user.name"] == "alice"
    assert warned["level"] == "warning"
    assert pulled["http.response.status"] == "404"
    assert '"127.0.0.1" - alice [' in pulled[message]


def test_proxyRequestId(registries: Registries, tmp_path: Path) -> None:
    """A proxy's X-Request-Id names the request in its lines; one that is too long or unsafe is replaced by a uuid4."""
    process = start(registries, tmp_path, "json")
    for incoming in ("nginx-5f2b9c0e8d1a4b7c", "x" * 129, "a b"):
        http_request(process.base_url, "GET", "/v2/", headers=AUTH | {"X-Request-Id": incoming})
    process.stop()
    ids = [r["http.request.id"] for r in records(process)
           if r.get("http.request.uri") == "/v2/" and r["http.response.status"] == "200"]
    assert ids[0] == "nginx-5f2b9c0e8d1a4b7c"
    assert [uuid.UUID(each).version for each in ids[1:]] == [4, 4]


def test_workersRelayRequestFields(registries: Registries, tmp_path: Path) -> None:
    """
    With http.workers: 2, the supervisor's JSON lines of the other worker's
    requests (its storage warning, its access line) keep their request
    fields, and name the worker.
    """
    process = start(registries, tmp_path, "json", {"workers": 2})
    corruptTag(process, "logs/w", "v1")

    def relayed() -> list[dict[str, Any]]:
        return [r for r in records(process) if r.get("worker") == "2"]

    deadline = time.monotonic() + 30
    while not any(r.get("http.response.status") == "404" for r in relayed()):
        assert time.monotonic() < deadline, "worker 2 served no pull"
        assert http_request(process.base_url, "GET", "/v2/logs/w/manifests/v1",
                            headers=AUTH)[0] == 404
    process.stop()
    lines = relayed()
    pulls = [r for r in lines if r.get("http.response.status") == "404"]
    warnings = [r for r in lines if "corrupt link" in r["msg"]]
    assert pulls and len(pulls) == len(warnings)
    assert {r["http.request.id"] for r in pulls} == {r["http.request.id"] for r in warnings}
    for record in pulls + warnings:
        assert uuid.UUID(record["http.request.id"]).version == 4
        assert record["vars.name"] == "logs/w" and record["auth.user.name"] == "alice"
        assert record["http.request.remoteaddr"] == "127.0.0.1"
    assert '"127.0.0.1" - alice [' in pulls[0]["msg"]
