"""
The URLs a real registry process gives, over raw HTTP: a malformed C{Host}
is refused, the headers of a TLS-terminating proxy (C{X-Forwarded-*},
C{Forwarded}) are honoured, C{http.host} and C{http.relativeurls} win over
them.  Each test that can also runs against distribution, which proves the
expectation right.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from harness import (
    Registries,
    RegistryProcess,
    http_request,
    make_distribution,
    make_txregistry,
)

KINDS = ["txregistry", "distribution"]
UPLOADS = "/v2/demo/app/blobs/uploads/"


def startWithHTTP(registries: Registries, kind: str, **http: Any) -> RegistryProcess:
    """
    Start a registry of C{kind} whose C{http} section also has C{http}.
    """
    make = {"txregistry": make_txregistry, "distribution": make_distribution}[kind]
    process = make(registries._workdir(kind), registries._root(None))
    config = process.cwd / "config.yml"
    tree = yaml.safe_load(config.read_text())
    tree["http"].update(http)
    config.write_text(yaml.safe_dump(tree))
    registries.processes.append(process)
    return process.start()


@pytest.mark.parametrize("host", [
    "evil.test/path", "evil.test?q=1", "user@evil.test", "evil .test", "evil.test#x",
])
def test_malformedHost(registries: Registries, host: str) -> None:
    """A Host with a path, query, userinfo, space or fragment gets 400, never a Location."""
    for kind in KINDS:
        registry = registries.start(kind)
        for method, path in [("GET", "/v2/"), ("POST", UPLOADS)]:
            status, headers, body = http_request(
                registry.base_url, method, path, b"", {"Host": host})
            assert (kind, status) == (kind, 400)
            assert "Location" not in headers
            if kind == "txregistry":
                assert json.loads(body)["errors"][0]["code"] == "UNSUPPORTED"


#: (what the test proves, the http section's extra keys, the headers of the
#: request starting an upload, what its Location starts with)
LOCATIONS = [
    ("Behind a TLS-terminating proxy, the upload URL has the proxy's scheme and host.",
     {}, {"X-Forwarded-Proto": "https",
          "X-Forwarded-Host": "registry.example.com, proxy.internal"},
     "https://registry.example.com" + UPLOADS),
    ("RFC 7239's Forwarded is honoured, and wins over X-Forwarded-*.",
     {}, {"Forwarded": 'for=192.0.2.1;proto=https;host="registry.example.com:8443"',
          "X-Forwarded-Host": "ignored.example.com"},
     "https://registry.example.com:8443" + UPLOADS),
    ("http.host is the base of every URL, whatever the request and relativeurls say.",
     {"host": "https://registry.example.com:8443", "relativeurls": True},
     {"Host": "other.example.com", "X-Forwarded-Proto": "http",
      "X-Forwarded-Host": "proxy.example.com"},
     "https://registry.example.com:8443" + UPLOADS),
    ("http.relativeurls gives the path alone.",
     {"relativeurls": True}, {"X-Forwarded-Host": "x.example.com"}, UPLOADS),
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("proves", "http", "headers", "prefix"), LOCATIONS,
                         ids=["x-forwarded", "forwarded", "http.host", "relativeurls"])
def test_uploadLocation(registries: Registries, kind: str, proves: str, http: dict[str, Any],
                        headers: dict[str, str], prefix: str) -> None:
    """The upload's Location is built as each case of LOCATIONS says."""
    registry = startWithHTTP(registries, kind, **http)
    status, answer, _ = http_request(registry.base_url, "POST", UPLOADS, b"", headers)
    assert status == 202
    assert str(answer["Location"]).startswith(prefix), proves
