"""
Pulls of manifests and blobs bypass Klein's routing (L{_PullResource}): they
must reach the handlers Klein would pick, with the same arguments, and be
cancelled the same way when the client goes away.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from werkzeug.exceptions import HTTPException

from tests.api.support import InMemoryRegistry
from txregistry.api.app import _PULL, RegistryApp
from txregistry.storage.driver.base import CheckedDriver
from txregistry.storage.driver.inmemory import InMemoryDriver

DIGEST = "sha256:" + "ab" * 32
SEGMENTS = ["a", "b0", "x.y", "-z", "_", "", "manifests", "blobs", "uploads", "tags",
            "list", "referrers", "latest", DIGEST, "sha256:", "A", "v2", "%2F", "é"]
ENDPOINTS = {"getManifest": "reference", "getBlob": "digest"}


def kleinRoute(path: str, method: str) -> tuple[str, dict[str, str]] | None:
    """
    @return: the endpoint and arguments Klein's routing gives C{path}, or
        L{None} if it gives none or another than a pull.
    """
    try:
        rule, arguments = RegistryApp.app.url_map.bind("registry.test").match(
            path, method=method, return_rule=True)
    except HTTPException:
        return None
    return (rule.endpoint, arguments) if rule.endpoint in ENDPOINTS else None


@given(st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=6),
       st.sampled_from(["GET", "HEAD"]))
def test_sameRoutesAsKlein(segments: list[str], method: str) -> None:
    """Every path the pull route takes, Klein routes to the same handler with the same arguments."""
    path = "/v2/" + "/".join(segments)
    match = _PULL.fullmatch(path.encode())
    if match is None:
        return
    name, reference, digest = (g and g.decode() for g in match.groups())
    expected = ("getManifest", {"name": name, "reference": reference}) if reference else (
        "getBlob", {"name": name, "digest": digest})
    assert kleinRoute(path, method) == expected


def test_pullsTaken() -> None:
    """Plain pulls of manifests and blobs take the pull route; uploads and listings do not."""
    for path in ["/v2/a/b/manifests/latest", f"/v2/a/manifests/{DIGEST}", f"/v2/a/blobs/{DIGEST}"]:
        assert _PULL.fullmatch(path.encode()), path
    for path in ["/v2/a/blobs/uploads", "/v2/a/blobs/uploads/x", "/v2/a/tags/list",
                 "/v2/a/manifests/latest/", "/v2/a%2Fb/manifests/latest", "/v2//a/manifests/x"]:
        assert not _PULL.fullmatch(path.encode()), path


class StalledDriver(CheckedDriver):
    """
    An in-memory driver whose reads never finish; it records their
    cancellation.
    """

    def __init__(self) -> None:
        super().__init__(InMemoryDriver())
        self.cancelled = 0

    def getContents(self, paths: list[str]) -> Any:
        def cancel(d: Deferred[Any]) -> None:
            self.cancelled += 1
        return Deferred(cancel)


def test_cancelledWhenClientGoes() -> None:
    """A pull waiting for the storage is cancelled when its client goes away, and nothing is written."""
    driver = StalledDriver()
    registry = InMemoryRegistry(driver=driver)
    site = registry.stub._agent._serverFactory
    for path in ["/v2/a/manifests/latest", f"/v2/a/blobs/{DIGEST}"]:
        protocol = site.buildProtocol(None)
        transport = StringTransport()
        protocol.makeConnection(transport)
        protocol.dataReceived(f"GET {path} HTTP/1.1\r\nHost: registry.test\r\n\r\n".encode())
        assert transport.value() == b""
        cancelled = driver.cancelled
        protocol.connectionLost(Failure(ConnectionDone()))
        assert driver.cancelled == cancelled + 1
        assert transport.value() == b""
