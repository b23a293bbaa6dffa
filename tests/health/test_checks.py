"""
Tests for each kind of check against the real thing: files, TCP ports on
127.0.0.1 that listen or do not, and a real local HTTP server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from treq.client import HTTPClient
from twisted.internet import reactor
from twisted.internet.protocol import Factory, Protocol
from twisted.web.client import Agent
from twisted.web.iweb import IRequest
from twisted.web.resource import Resource
from twisted.web.server import Site

from txregistry.health.checks import CheckFailed, fileCheck, httpCheck, tcpCheck


class StatusResource(Resource):
    """
    Answers every request with C{code}, recording the requests' headers.
    """

    isLeaf = True

    def __init__(self, code: int) -> None:
        super().__init__()
        self.code = code
        self.requests: list[tuple[bytes, Any]] = []

    def render(self, request: IRequest) -> bytes:
        self.requests.append((request.method, request.requestHeaders))
        request.setResponseCode(self.code)
        return b"body"


def listen(factory: Any) -> Any:
    """
    @return: a port listening on 127.0.0.1 with C{factory}.
    """
    return reactor.listenTCP(0, factory, interface="127.0.0.1")  # type: ignore[attr-defined]


def closedPort() -> int:
    """
    @return: a port of 127.0.0.1 that nothing listens on.
    """
    port = listen(Factory.forProtocol(Protocol))
    number: int = port.getHost().port
    port.stopListening()
    return number


@pytest_twisted.ensureDeferred
async def test_fileCheck(tmp_path: Path) -> None:
    """The file check fails with "file exists" while the file exists, and passes
    when it does not."""
    down = tmp_path / "down"
    check = fileCheck(str(down))
    await check()
    down.write_text("")
    with pytest.raises(CheckFailed, match="^file exists$"):
        await check()
    down.unlink()
    await check()


@pytest_twisted.ensureDeferred
async def test_tcpCheckListening() -> None:
    """The tcp check passes against a port listening on 127.0.0.1, and closes
    its connection."""
    connected: list[Protocol] = []

    class Recording(Protocol):
        def connectionMade(self) -> None:
            connected.append(self)

    port = listen(Factory.forProtocol(Recording))
    try:
        await tcpCheck(reactor, f"127.0.0.1:{port.getHost().port}", 5)()
        assert len(connected) == 1
    finally:
        await port.stopListening()


@pytest_twisted.ensureDeferred
async def test_tcpCheckNotListening() -> None:
    """The tcp check fails, naming the address, against a port nothing listens on."""
    addr = f"127.0.0.1:{closedPort()}"
    with pytest.raises(CheckFailed, match=f"^connection to {addr} failed"):
        await tcpCheck(reactor, addr, 5)()


@pytest_twisted.ensureDeferred
async def test_httpCheck() -> None:
    """The http check sends a HEAD with the configured headers, passes on the
    expected status and fails on another, naming it."""
    resource = StatusResource(204)
    port = listen(Site(resource))
    uri = f"http://127.0.0.1:{port.getHost().port}/health"
    client = HTTPClient(Agent(reactor))
    try:
        await httpCheck(client, uri, 204, {"X-Probe": ["yes"]}, 5)()
        method, headers = resource.requests[0]
        assert method == b"HEAD"
        assert headers.getRawHeaders("X-Probe") == ["yes"]
        resource.code = 500
        with pytest.raises(CheckFailed,
                           match="^downstream service returned unexpected status: 500$"):
            await httpCheck(client, uri, 204, {}, 5)()
    finally:
        await port.stopListening()


@pytest_twisted.ensureDeferred
async def test_httpCheckRefused() -> None:
    """The http check fails when nothing answers at the URI."""
    uri = f"http://127.0.0.1:{closedPort()}/"
    with pytest.raises(Exception, match="refused"):
        await httpCheck(HTTPClient(Agent(reactor)), uri, 200, {}, 5)()
