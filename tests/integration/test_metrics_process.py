"""
Prometheus metrics against a real C{twistd -n registry}: the debug
listener's C{/metrics} (C{http.debug.prometheus}), scraped over HTTP and
parsed with C{prometheus_client.parser}.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import yaml
from harness import (
    Registries,
    free_port,
    http_request,
    make_txregistry,
    txregistry_config,
)
from prometheus_client.parser import text_string_to_metric_families

REPOSITORY = "secretrepo/app"


def scrape(debug: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """
    @return: every sample of C{GET /metrics} on the debug listener, by name
        and sorted labels.
    """
    code, _, body = http_request(debug, "GET", "/metrics")
    assert code == 200
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(body.decode("utf-8"))
            for sample in family.samples}


def requests(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float],
             method: str, route: str, code: str) -> float:
    """
    @return: the count of requests with C{method}, C{route} and C{code}.
    """
    key = ("registry_http_requests_total",
           (("code", code), ("method", method), ("route", route)))
    return samples.get(key, 0)


def storageCalls(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> float:
    """
    @return: the storage driver calls counted, of every operation.
    """
    return sum(value for (name, _), value in samples.items()
               if name == "registry_storage_call_duration_seconds_count")


def test_scrape(registries: Registries, tmp_path: Path) -> None:
    """Requests to the main listener raise the request counter of their
    method, route and status by their number, a pushed and pulled blob adds
    its bytes to those received and sent, no upload is left in progress,
    the storage driver's calls are counted, and no label names the
    repository."""
    root = tmp_path / "root"
    process = make_txregistry(registries.tmp_path / "metrics", root)
    config = txregistry_config(root, process.port)
    debugPort = free_port()
    config["http"]["debug"] = {"addr": f"127.0.0.1:{debugPort}",
                               "prometheus": {"enabled": True}}
    (process.cwd / "config.yml").write_text(yaml.safe_dump(config))
    registries.processes.append(process)
    server = process.start()
    debug = f"http://127.0.0.1:{debugPort}"

    before = scrape(debug)
    for _ in range(3):
        assert http_request(server.base_url, "GET", "/v2/")[0] == 200
    for _ in range(2):
        assert http_request(server.base_url, "GET",
                            f"/v2/{REPOSITORY}/manifests/latest")[0] == 404
    blob = b"metrics" * 1000
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    assert http_request(server.base_url, "POST",
                        f"/v2/{REPOSITORY}/blobs/uploads/?digest={digest}", blob,
                        {"Content-Type": "application/octet-stream"})[0] == 201
    code, _, pulled = http_request(server.base_url, "GET", f"/v2/{REPOSITORY}/blobs/{digest}")
    assert (code, pulled) == (200, blob)
    after = scrape(debug)

    assert requests(after, "GET", "base", "200") - requests(before, "GET", "base", "200") == 3
    assert (requests(after, "GET", "manifest", "404")
            - requests(before, "GET", "manifest", "404")) == 2
    assert requests(after, "POST", "upload", "201") - requests(before, "POST", "upload", "201") == 1
    assert requests(after, "GET", "blob", "200") - requests(before, "GET", "blob", "200") == 1
    assert after[("registry_http_request_duration_seconds_count",
                  (("method", "GET"), ("route", "base")))] >= 3
    received = ("registry_http_received_bytes_total", ())
    sent = ("registry_http_sent_bytes_total", ())
    assert after[received] - before.get(received, 0) >= len(blob)
    assert after[sent] - before.get(sent, 0) >= len(blob)
    assert after[("registry_http_uploads_in_progress", ())] == 0
    assert storageCalls(after) > storageCalls(before)
    for _, labels in after:
        for _, value in labels:
            assert "secretrepo" not in value
