"""
Tests for L{txregistry.tls.reload}: certificates reloaded on SIGHUP, all or
nothing.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from twisted.logger import LogLevel, capturedLogs

from tests.certs import CertificateAuthority
from tests.tls.memory import clientContext, handshake, serverPair
from txregistry.config.model import TLSConfig
from txregistry.tls.options import ServerTLSSettings, load_contexts
from txregistry.tls.reload import CertificateReloader, SIGHUPReloadService
from txregistry.tls.sni import SNIConnectionCreator


def setUp(ca: CertificateAuthority, certdir: Path) -> tuple[TLSConfig, SNIConnectionCreator, CertificateReloader]:
    cert, key = serverPair(certdir, ca.issue(["old.test"]))
    tls = TLSConfig(certificate=cert, key=key)
    settings = ServerTLSSettings.fromConfig(tls, False)
    creator = SNIConnectionCreator(load_contexts(tls, settings))
    return tls, creator, CertificateReloader(tls, settings, [creator])


def servedCommonName(ca: CertificateAuthority, creator: SNIConnectionCreator) -> str:
    result = handshake(creator.serverConnectionForTLS(None), clientContext(ca))
    return result.leaf.subject.rfc4514_string()


def test_reloadServesRenewedFiles(ca: CertificateAuthority, certdir: Path) -> None:
    """After the files are replaced, reload serves the new certificate."""
    _, creator, reloader = setUp(ca, certdir)
    serverPair(certdir, ca.issue(["new.test"]))
    assert reloader.reload() is True
    assert servedCommonName(ca, creator) == "CN=new.test"


def test_failedReloadKeepsOld(ca: CertificateAuthority, certdir: Path) -> None:
    """A reload with a bad key keeps serving the old certificate and logs an error."""
    tls, creator, reloader = setUp(ca, certdir)
    serverPair(certdir, ca.issue(["new.test"]))
    Path(tls.key).write_text("truncated\n")
    with capturedLogs() as events:
        assert reloader.reload() is False
    assert servedCommonName(ca, creator) == "CN=old.test"
    errors = [e for e in events if e["log_level"] == LogLevel.error]
    assert len(errors) == 1
    assert "http.tls.key" in errors[0]["error"]


def test_halfWrittenPairKeepsOld(ca: CertificateAuthority, certdir: Path) -> None:
    """A new certificate with the old key (a renewal caught midway) is refused whole."""
    tls, creator, reloader = setUp(ca, certdir)
    Path(tls.certificate).write_bytes(ca.issue(["new.test"]).chainPEM)
    assert reloader.reload() is False
    assert servedCommonName(ca, creator) == "CN=old.test"


class FakeReactor:
    """Records calls made with callFromThread."""

    def __init__(self) -> None:
        self.calls: list[Any] = []

    def callFromThread(self, f: Any, *args: Any) -> None:
        self.calls.append(f)


class FakeSignals:
    """A stand-in for signal.signal recording the installed handlers."""

    def __init__(self) -> None:
        self.handlers: dict[int, Any] = {signal.SIGHUP: "previous"}

    def __call__(self, signum: int, handler: Any) -> Any:
        previous = self.handlers.get(signum)
        self.handlers[signum] = handler
        return previous


def test_sighupSchedulesReload() -> None:
    """A SIGHUP while running schedules the reload in the reactor thread."""
    reloads: list[int] = []
    reactor, signals = FakeReactor(), FakeSignals()
    service = SIGHUPReloadService(lambda: reloads.append(1), reactor, signals)
    service.startService()
    signals.handlers[signal.SIGHUP](signal.SIGHUP, None)
    assert reloads == []
    for call in reactor.calls:
        call()
    assert reloads == [1]


def test_stopRestoresPreviousHandler() -> None:
    """Stopping the service puts the previous SIGHUP handler back."""
    signals = FakeSignals()
    service = SIGHUPReloadService(lambda: None, FakeReactor(), signals)
    service.startService()
    assert signals.handlers[signal.SIGHUP] != "previous"
    service.stopService()
    assert signals.handlers[signal.SIGHUP] == "previous"
