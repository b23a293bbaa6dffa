"""
Tests for L{txregistry.tls.listeners} and the service tree built with
C{http.tls}.
"""

from __future__ import annotations

import signal
import ssl
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
import yaml
from twisted.application.internet import StreamServerEndpointService
from twisted.internet import reactor, threads
from twisted.internet.testing import MemoryReactor

from tests.certs import CertificateAuthority
from tests.tls.memory import serverPair
from txregistry.config import Configuration, HTTPConfig, TLSConfig, load_config
from txregistry.config.errors import ConfigError
from txregistry.service import makeService
from txregistry.tls.listeners import build_listeners, check_endpoints
from txregistry.tls.reload import SIGHUPReloadService
from txregistry.tls.transport import RegistryTLSFactory


def tlsConfiguration(ca: CertificateAuthority, certdir: Path) -> Configuration:
    cert, key = serverPair(certdir, ca.issue())
    return Configuration(http=HTTPConfig(tls=TLSConfig(certificate=cert, key=key)))


@pytest.mark.parametrize("http, path, message", [
    (HTTPConfig(endpoints=["tcp:5000", "bogus:1"]), "http.endpoints[1]",
     "is not a valid Twisted server endpoint description: 'bogus:1'"),
    (HTTPConfig(endpoints=["tls+nonsense:1"]), "http.endpoints[0]",
     "is not a valid Twisted server endpoint description: 'nonsense:1'"),
    (HTTPConfig(net="unix", addr="/tmp/r.sock", workers=2), "http.addr", "SO_REUSEPORT"),
    (HTTPConfig(endpoints=["tcp:5000", "unix:/tmp/r"], workers=2), "http.endpoints[1]",
     "'unix:/tmp/r' cannot be served by several workers"),
])
def test_checkEndpointsRefuses(http: HTTPConfig, path: str, message: str) -> None:
    """A description Twisted cannot parse (after any tls+ prefix), or one
    that several workers cannot share, is refused at its key."""
    with pytest.raises(ConfigError) as info:
        check_endpoints(http)
    assert info.value.path == path
    assert message in info.value.reason


@pytest.mark.parametrize("http", [
    HTTPConfig(),
    HTTPConfig(net="unix", addr="/tmp/r.sock"),
    HTTPConfig(endpoints=["tls+tcp:5443", "tcp6:5000"], workers=2),
])
def test_checkEndpointsAccepts(http: HTTPConfig) -> None:
    """Descriptions Twisted parses pass, and tcp: and tcp6: ones with
    several workers too."""
    check_endpoints(http)


def test_prefixWrapsInTLS(ca: CertificateAuthority, certdir: Path) -> None:
    """A tls+ description listens with TLS; a plain one does not; one reloader serves both kinds."""
    memory = MemoryReactor()
    built = build_listeners(
        tlsConfiguration(ca, certdir), ["tls+tcp:5443", "tcp:5000:interface=127.0.0.1"], memory
    )
    for endpoint in built.endpoints:
        endpoint.listen(object())  # type: ignore[arg-type]
    (port1, factory1, _, _), (port2, factory2, _, interface2) = memory.tcpServers
    assert (port1, port2, interface2) == (5443, 5000, "127.0.0.1")
    assert isinstance(factory1, RegistryTLSFactory)
    assert factory2 is not factory1 and type(factory2).__name__ == "object"
    assert built.reloader is not None


def test_noTLSNoReloader() -> None:
    """Plain descriptions need no reloader."""
    built = build_listeners(Configuration(), ["tcp:5000"], MemoryReactor())
    assert built.reloader is None


def test_prefixWithoutTLSRefused() -> None:
    """tls+ without http.tls is an error naming the description."""
    with pytest.raises(ValueError, match="tls\\+tcp:5443"):
        build_listeners(Configuration(), ["tls+tcp:5443"], MemoryReactor())


def test_addrWithTLSIsTLSEndpoint(ca: CertificateAuthority, certdir: Path) -> None:
    """http.addr with http.tls gives one tls+ description."""
    config = tlsConfiguration(ca, certdir)
    assert config.listen_endpoints() == ["tls+tcp:5000:interface=127.0.0.1"]


def test_serviceInstallsReloadService(ca: CertificateAuthority, certdir: Path, tmp_path: Path) -> None:
    """With a TLS listener, the service tree holds a SIGHUP reload service
    using the injected installer."""
    installed: list[int] = []
    config = tlsConfiguration(ca, certdir)
    top = makeService(
        config, ["tls+tcp:0:interface=127.0.0.1"], MemoryReactor(),
        installSignalHandler=lambda signum, handler: installed.append(signum),
    )
    reloaders = [s for s in top if isinstance(s, SIGHUPReloadService)]
    assert len(reloaders) == 1
    reloaders[0].startService()
    assert installed == [signal.SIGHUP]


@pytest_twisted.ensureDeferred
async def test_servesHTTPSInProcess(ca: CertificateAuthority, certdir: Path, tmp_path: Path) -> None:
    """A registry loaded from a file with http.tls answers GET /v2/ over
    verified TLS, in process."""
    cert, key = serverPair(certdir, ca.issue())
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump({
        "version": 0.1,
        "storage": {"inmemory": None},
        "http": {"addr": "127.0.0.1:0", "tls": {"certificate": cert, "key": key}},
    }))
    config = load_config(str(path), {})
    handlers: list[Any] = []
    top = makeService(config, None, reactor, installSignalHandler=lambda s, h: handlers.append(h))
    top.startService()
    try:
        listener = next(s for s in top if isinstance(s, StreamServerEndpointService))
        port = (await listener._waitingForPort).getHost().port  # type: ignore[attr-defined]
        context = ssl.create_default_context(cadata=ca.certificatePEM.decode())

        def get() -> tuple[int, str | None]:
            import http.client

            conn = http.client.HTTPSConnection("localhost", port, context=context, timeout=10)
            try:
                conn.request("GET", "/v2/")
                response = conn.getresponse()
                response.read()
                return response.status, response.getheader("Docker-Distribution-API-Version")
            finally:
                conn.close()

        status, version = await threads.deferToThread(get)
        assert (status, version) == (200, "registry/2.0")
    finally:
        await top.stopService()
