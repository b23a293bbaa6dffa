"""
Tests for L{txregistry.reuseport} and L{txregistry.workers}: shared
listening sockets, the supervisor (with a fake process spawner), the log
relay, the worker specification, and the gathering of the workers' metrics.
"""

from __future__ import annotations

import json
import os
import socket
from typing import Any

import pytest
from twisted.internet.error import ProcessDone, ProcessTerminated
from twisted.internet.protocol import Factory, ProcessProtocol, Protocol
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactor, MemoryReactorClock
from twisted.logger import LogLevel
from twisted.python.failure import Failure
from twisted.test.iosim import FakeTransport, IOPump, connect

from txregistry.config import load_config
from txregistry.logging import makeObserver, runWithFields
from txregistry.metrics import Figures, Metrics
from txregistry.reuseport import (
    ReusePortReactor,
    SharedListeners,
    checkShareable,
    reusePortSocket,
)
from txregistry.service import makeApp, makeService, makeWorkerService, withSecret
from txregistry.storage.driver.inmemory import InMemoryDriver
from txregistry.workers import WorkerSpec, WorkerSupervisor, decodeSpec, encodeSpec
from txregistry.workers.figures import (
    ANSWER_TIMEOUT,
    FiguresClient,
    FiguresServer,
    WorkerFigures,
)
from txregistry.workers.logrelay import LineRelay, RelayObserver
from txregistry.workers.process import EndOfFileWatcher
from txregistry.workers.spec import readSpec
from txregistry.workers.supervisor import STOP_TIMEOUT

MINIMAL = "version: 0.1\nstorage:\n  inmemory:\n"


def _connectAndAccept(port: int, listeners: list[socket.socket]) -> int:
    """
    Connect to C{port} and find which of C{listeners} accepts.

    @return: the index of the accepting socket.
    """
    client = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        for _ in range(200):
            for index, listener in enumerate(listeners):
                try:
                    accepted, _ = listener.accept()
                except BlockingIOError:
                    continue
                accepted.close()
                return index
            os.sched_yield()
        raise AssertionError("no socket accepted the connection")
    finally:
        client.close()


def test_two_sockets_share_a_port() -> None:
    """Two SO_REUSEPORT sockets bind one port, and connections reach both."""
    first = reusePortSocket("127.0.0.1", 0)
    second = reusePortSocket("127.0.0.1", first.getsockname()[1])
    try:
        port = first.getsockname()[1]
        assert second.getsockname()[1] == port
        seen = {_connectAndAccept(port, [first, second]) for _ in range(64)}
        assert seen == {0, 1}
    finally:
        first.close()
        second.close()


def test_port_zero_gets_a_port() -> None:
    """Port 0 binds a kernel-chosen port that a plain socket cannot take."""
    sock = reusePortSocket("127.0.0.1", 0)
    try:
        port = sock.getsockname()[1]
        assert port != 0
        plain = socket.socket()
        with pytest.raises(OSError):
            plain.bind(("127.0.0.1", port))
        plain.close()
    finally:
        sock.close()


def test_ipv6_socket() -> None:
    """An IPv6 interface gets an AF_INET6 socket."""
    try:
        sock = reusePortSocket("::1", 0)
    except OSError:
        pytest.skip("no IPv6 loopback here")
    try:
        assert sock.family == socket.AF_INET6
    finally:
        sock.close()


class _AdoptedPort:
    """The listening port of a socket adopted by L{_Reactor}."""

    def __init__(self, sock: socket.socket) -> None:
        self.socket = sock

    def getHost(self) -> Any:
        return type("Host", (), {"port": self.socket.getsockname()[1]})()


class _Reactor(MemoryReactor):
    """A memory reactor keeping (a duplicate of) each adopted socket."""

    def adoptStreamPort(self, fileno: int, family: Any, factory: Any) -> _AdoptedPort:
        sock = socket.socket(fileno=os.dup(fileno))
        self.adoptedPorts.append((sock, family, factory))
        return _AdoptedPort(sock)


@pytest.fixture
def reactor() -> Any:
    """A L{_Reactor}, its adopted sockets closed after the test."""
    r = _Reactor()
    yield r
    for sock, _, _ in r.adoptedPorts:
        sock.close()


def test_shared_listeners_record_ports(reactor: Any) -> None:
    """The first process's endpoints bind port 0 and report the ports bound."""
    shared = SharedListeners()
    endpoint = shared(reactor, "tcp:0:interface=127.0.0.1")
    endpoint.listen(Factory.forProtocol(Protocol))
    [(sock, family, _)] = reactor.adoptedPorts
    assert family == socket.AF_INET
    assert shared.ports() == [sock.getsockname()[1]]
    assert shared.ports()[0] != 0


def test_shared_listeners_join_given_ports(reactor: Any) -> None:
    """A worker's endpoints bind the ports the supervisor got."""
    first = reusePortSocket("127.0.0.1", 0)
    try:
        port = first.getsockname()[1]
        shared = SharedListeners([port])
        shared(reactor, "tcp:0:interface=127.0.0.1").listen(Factory.forProtocol(Protocol))
        assert shared.ports() == [port]
        assert reactor.adoptedPorts[0][0].getsockname()[1] == port
    finally:
        first.close()


def test_ssl_wraps_in_tls(reactor: Any) -> None:
    """listenSSL serves TLS in memory over a shared socket."""
    from twisted.internet.ssl import CertificateOptions
    from twisted.protocols.tls import TLSMemoryBIOFactory

    shared = ReusePortReactor(reactor)
    shared.listenSSL(0, Factory.forProtocol(Protocol), CertificateOptions(),
                     interface="127.0.0.1")
    [(_, _, factory)] = reactor.adoptedPorts
    assert isinstance(factory, TLSMemoryBIOFactory)


def test_unix_refused() -> None:
    """A unix: listener cannot be shared by several workers."""
    with pytest.raises(ValueError, match="SO_REUSEPORT"):
        checkShareable("unix:/tmp/registry.sock")
    with pytest.raises(ValueError, match="unix"):
        SharedListeners()(MemoryReactor(), "unix:/tmp/registry.sock")


class _FakeTransport:
    """A process transport recording the signals it is sent."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.signals: list[str] = []
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def signalProcess(self, name: str) -> None:
        self.signals.append(name)


class _FakeSpawner:
    """Records every worker spawned."""

    def __init__(self) -> None:
        self.spawned: list[tuple[ProcessProtocol, _FakeTransport, int]] = []

    def __call__(self, protocol: ProcessProtocol, index: int) -> None:
        transport = _FakeTransport(1000 + len(self.spawned))
        protocol.makeConnection(transport)  # type: ignore[arg-type]
        self.spawned.append((protocol, transport, index))


def _supervisor(count: int = 3) -> tuple[WorkerSupervisor, _FakeSpawner, Clock, list]:
    spawner = _FakeSpawner()
    clock = Clock()
    events: list[Any] = []
    supervisor = WorkerSupervisor(
        count, lambda index: b"spec %d" % index, spawner, clock,
        observer=events.append, stopTimeout=5, restartDelay=1, maxRestartDelay=4,
        stableAfter=60,
    )
    return supervisor, spawner, clock, events


def _die(protocol: ProcessProtocol, signal: str | None = None) -> None:
    if signal is None:
        protocol.processEnded(Failure(ProcessDone(0)))
    else:
        protocol.processEnded(Failure(ProcessTerminated(signal=9)))


def test_supervisor_spawns_the_others() -> None:
    """N workers: the supervisor spawns workers 2..N, each sent its spec."""
    supervisor, spawner, _, _ = _supervisor(3)
    supervisor.startService()
    assert [index for _, _, index in spawner.spawned] == [2, 3]
    assert [t.written for _, t, _ in spawner.spawned] == [[b"spec 2"], [b"spec 3"]]
    assert sorted(supervisor.workers) == [2, 3]


def test_supervisor_restarts_with_backoff() -> None:
    """A dead worker is spawned again after a delay that doubles."""
    supervisor, spawner, clock, _ = _supervisor(2)
    supervisor.startService()
    _die(spawner.spawned[0][0], "KILL")
    assert supervisor.workers == {}
    clock.advance(0.9)
    assert len(spawner.spawned) == 1
    clock.advance(0.1)
    assert len(spawner.spawned) == 2
    assert spawner.spawned[1][2] == 2
    _die(spawner.spawned[1][0])
    clock.advance(1)
    assert len(spawner.spawned) == 2
    clock.advance(1)
    assert len(spawner.spawned) == 3


def test_supervisor_backoff_resets_after_stable_run() -> None:
    """A worker that ran long enough is restarted after the first delay."""
    supervisor, spawner, clock, _ = _supervisor(2)
    supervisor.startService()
    _die(spawner.spawned[0][0])
    clock.advance(1)
    clock.advance(120)
    _die(spawner.spawned[1][0])
    clock.advance(1)
    assert len(spawner.spawned) == 3


def test_supervisor_stop_terminates_all() -> None:
    """Stopping sends SIGTERM to every worker and fires once all ended."""
    supervisor, spawner, clock, _ = _supervisor(3)
    supervisor.startService()
    stopped = supervisor.stopService()
    assert [t.signals for _, t, _ in spawner.spawned] == [["TERM"], ["TERM"]]
    results: list[object] = []
    stopped.addCallback(results.append)
    _die(spawner.spawned[0][0])
    assert results == []
    _die(spawner.spawned[1][0])
    assert results == [None]
    clock.advance(10)
    assert [t.signals for _, t, _ in spawner.spawned] == [["TERM"], ["TERM"]]
    assert len(spawner.spawned) == 2


def test_supervisor_kills_stragglers() -> None:
    """A worker still running after the stop timeout gets SIGKILL."""
    supervisor, spawner, clock, _ = _supervisor(2)
    supervisor.startService()
    stopped = supervisor.stopService()
    clock.advance(5)
    assert spawner.spawned[0][1].signals == ["TERM", "KILL"]
    results: list[object] = []
    stopped.addCallback(results.append)
    _die(spawner.spawned[0][0], "KILL")
    assert results == [None]


def test_supervisor_stop_cancels_pending_restart() -> None:
    """A restart scheduled before the stop never happens."""
    supervisor, spawner, clock, _ = _supervisor(2)
    supervisor.startService()
    _die(spawner.spawned[0][0])
    results: list[object] = []
    supervisor.stopService().addCallback(results.append)
    assert results == [None]
    clock.advance(60)
    assert len(spawner.spawned) == 1


def test_supervisor_forwards_signals() -> None:
    """signalAll reaches every running worker."""
    supervisor, spawner, _, _ = _supervisor(3)
    supervisor.startService()
    supervisor.signalAll("HUP")
    assert [t.signals for _, t, _ in spawner.spawned] == [["HUP"], ["HUP"]]


def test_supervisor_relays_worker_logs() -> None:
    """A worker's JSON log line becomes an event tagged with its number."""
    supervisor, spawner, _, events = _supervisor(2)
    supervisor.startService()
    protocol = spawner.spawned[0][0]
    line = {"time": 12.0, "level": "warn", "namespace": "x.y", "system": None,
            "text": "hello"}
    protocol.childDataReceived(1, json.dumps(line).encode()[:10])
    assert events == []
    protocol.childDataReceived(1, json.dumps(line).encode()[10:] + b"\n")
    [event] = events
    assert event["log_system"] == "worker 2, x.y#warn"
    assert event["log_level"] == LogLevel.warn
    assert event["log_time"] == 12.0
    assert event["worker_text"] == "hello"


def test_relay_plain_stderr_lines() -> None:
    """A line that is not JSON from standard error is logged as an error."""
    events: list[Any] = []
    relay = LineRelay(3, events.append, Clock())
    relay.dataReceived(2, b"Traceback (most recent call last):")
    relay.flush()
    [event] = events
    assert event["log_level"] == LogLevel.error
    assert event["worker_text"] == "Traceback (most recent call last):"
    assert event["log_system"].startswith("worker 3, ")


def test_relay_observer_round_trip() -> None:
    """RelayObserver's lines parse back into the same text and level."""
    import io

    stream = io.StringIO()
    RelayObserver(stream)({"log_format": "a {b}", "b": 1, "log_level": LogLevel.debug,
                           "log_namespace": "n", "log_time": 3.0})
    events: list[Any] = []
    LineRelay(2, events.append, Clock()).dataReceived(1, stream.getvalue().encode())
    assert [(e["worker_text"], e["log_level"]) for e in events] == [("a 1", LogLevel.debug)]


def test_relay_keeps_request_fields() -> None:
    """A worker's line keeps the fields of the request it was logged for, and its own, in the supervisor's JSON line."""
    import io

    stream = io.StringIO()
    observer = RelayObserver(stream)
    runWithFields(lambda: {"http.request.id": "r1", "vars.name": "a/b"},
                  lambda: observer({"log_format": "access", "log_level": LogLevel.info,
                                    "fields": {"http.response.status": "200"}}))
    observer({"log_format": "elsewhere", "log_level": LogLevel.info})
    out = io.StringIO()
    LineRelay(2, makeObserver(out, "info", "json", {"service": "s"}),
              Clock()).dataReceived(1, stream.getvalue().encode())
    access, elsewhere = (json.loads(line) for line in out.getvalue().splitlines())
    assert access["http.request.id"] == "r1" and access["vars.name"] == "a/b"
    assert access["http.response.status"] == "200" and access["service"] == "s"
    assert access["msg"] == "access" and "http.request.id" not in elsewhere
    assert access["worker"] == elsewhere["worker"] == "2"


def test_relay_ignores_malformed_fields() -> None:
    """A relayed line whose fields are not an object is logged without them, naming its worker."""
    events: list[Any] = []
    LineRelay(1, events.append, Clock()).dataReceived(
        1, b'{"level": "info", "text": "t", "fields": [1]}\n')
    [event] = events
    assert event["worker_text"] == "t" and event["fields"] == {"worker": "1"}


def test_spec_round_trip(tmp_path: Any) -> None:
    """A spec written to a pipe is read back whole, and nothing more is read."""
    config = load_config(None, {}, cwd=str(tmp_path))
    spec = WorkerSpec(2, 3, config, makeWorkerService, ["tcp:0"], [5000])
    data = encodeSpec(spec)
    assert decodeSpec(data) == spec
    r, w = os.pipe()
    try:
        os.write(w, data + b"extra")
        assert readSpec(r) == spec
        assert os.read(r, 5) == b"extra"
    finally:
        os.close(r)
        os.close(w)


def test_spec_truncated() -> None:
    """A truncated spec is refused."""
    data = encodeSpec(WorkerSpec(2, 2, None, makeWorkerService))
    with pytest.raises(ValueError):
        decodeSpec(data[:-1])
    r, w = os.pipe()
    os.write(w, data[:-1])
    os.close(w)
    try:
        with pytest.raises(EOFError):
            readSpec(r)
    finally:
        os.close(r)


def test_watcher_reads_until_end() -> None:
    """The stdin watcher reports the end of the pipe, and calls back when lost."""
    r, w = os.pipe()
    ended: list[bool] = []
    watcher = EndOfFileWatcher(r, lambda: ended.append(True))
    try:
        os.write(w, b"x")
        assert watcher.doRead() is None
        os.close(w)
        w = -1
        assert watcher.doRead() is not None
        assert ended == []
        watcher.connectionLost(Failure(Exception("pipe closed")))
        assert ended == [True]
    finally:
        os.close(r)
        if w != -1:
            os.close(w)


def _config(tmp_path: Any, text: str) -> Any:
    path = tmp_path / "config.yml"
    path.write_text(text)
    return load_config(str(path), {}, cwd=str(tmp_path))


def test_secret_drawn_once(tmp_path: Any) -> None:
    """Without http.secret one is drawn; a given one is kept."""
    config = _config(tmp_path, MINIMAL)
    shared = withSecret(config)
    assert shared.http.secret and len(shared.http.secret) >= 32
    assert withSecret(shared) is shared


def test_app_needs_secret(tmp_path: Any) -> None:
    """makeApp refuses a configuration without http.secret: the random one is
    drawn by withSecret alone, before any worker starts."""
    config = _config(tmp_path, MINIMAL)
    with pytest.raises(ValueError, match="http.secret"):
        makeApp(config, InMemoryDriver(), MemoryReactor())
    assert makeApp(withSecret(config), InMemoryDriver(), MemoryReactor())


def test_service_with_workers(tmp_path: Any) -> None:
    """http.workers: 2 gives a supervisor and workers sharing one secret."""
    config = _config(tmp_path, MINIMAL + "http:\n  addr: 127.0.0.1:0\n  workers: 2\n")
    spawner = _FakeSpawner()
    top = makeService(config, None, MemoryReactor(), spawn=spawner)
    supervisors = [s for s in top if isinstance(s, WorkerSupervisor)]
    assert len(supervisors) == 1
    assert list(top)[-1] is supervisors[0]


def test_worker_service_has_no_purger(tmp_path: Any) -> None:
    """A spawned worker's tree has listeners but no upload purger."""
    from twisted.application.internet import StreamServerEndpointService

    from txregistry.storage.purge import UploadPurgerService

    config = _config(tmp_path, MINIMAL + "http:\n  addr: 127.0.0.1:0\n  workers: 2\n")
    supervisor = makeService(config, None, MemoryReactor(), spawn=_FakeSpawner())
    assert any(isinstance(s, UploadPurgerService) for s in supervisor)
    worker = makeWorkerService(
        WorkerSpec(2, 2, withSecret(config), makeWorkerService, config.listen_endpoints(),
                   [5000]),
        MemoryReactor())
    assert not any(isinstance(s, UploadPurgerService) for s in worker)
    assert any(isinstance(s, StreamServerEndpointService) for s in worker)
    assert not any(isinstance(s, WorkerSupervisor) for s in worker)


def test_listen_unix_refused_with_workers(tmp_path: Any) -> None:
    """A --listen unix: override is refused when several workers serve."""
    config = _config(tmp_path, MINIMAL + "http:\n  addr: 127.0.0.1:0\n  workers: 2\n")
    with pytest.raises(ValueError, match="SO_REUSEPORT"):
        makeService(config, ["unix:" + str(tmp_path / "s")], MemoryReactor(),
                    spawn=_FakeSpawner())


def test_supervisor_waits_for_the_drain(tmp_path: Any) -> None:
    """With http.draintimeout, workers get SIGTERM as this process starts draining, and SIGKILL only after the timeout plus a margin."""
    config = _config(tmp_path, MINIMAL + "http:\n  addr: 127.0.0.1:0\n  workers: 2\n"
                     "  draintimeout: 30s\n")
    spawner = _FakeSpawner()
    reactor = MemoryReactorClock()
    top = makeService(config, None, reactor, spawn=spawner)
    top.privilegedStartService()
    top.startService()
    top.stopService()
    [(_, transport, _)] = spawner.spawned
    assert transport.signals == ["TERM"]
    reactor.advance(30 + STOP_TIMEOUT - 1)
    assert transport.signals == ["TERM"]
    reactor.advance(1)
    assert transport.signals == ["TERM", "KILL"]


def test_debug_listener_in_worker_1_only(tmp_path: Any) -> None:
    """With http.workers, every worker runs the health checks, and worker 1
    alone serves the debug listener."""
    from txregistry.health.registry import PeriodicCheck

    config = _config(tmp_path, MINIMAL + "http:\n  addr: 127.0.0.1:0\n  workers: 2\n"
                     "  debug:\n    addr: 127.0.0.1:5001\n"
                     "health:\n  storagedriver:\n    enabled: true\n")
    supervisor = makeService(config, None, MemoryReactor(), spawn=_FakeSpawner())
    worker = makeWorkerService(
        WorkerSpec(2, 2, withSecret(config), makeWorkerService, config.listen_endpoints(),
                   [5000]),
        MemoryReactor())
    for tree in (supervisor, worker):
        assert [s.name for s in tree if isinstance(s, PeriodicCheck)] == [
            "storagedriver_inmemory"]
    descriptions = [getattr(s, "description", None) for s in supervisor]
    assert "tcp:5001:interface=127.0.0.1" in descriptions
    assert "tcp:5001:interface=127.0.0.1" not in [
        getattr(s, "description", None) for s in worker]


def _figures(requests: int, uploading: int = 0) -> Metrics:
    """
    @return: metrics that counted C{requests} storage calls and have
        C{uploading} uploads in progress.
    """
    metrics = Metrics()
    for _ in range(requests):
        metrics.storageCallEnded("stat", 0.001, None)
    metrics._uploading = uploading
    return metrics


def _worker(figures: WorkerFigures, metrics: Metrics) -> tuple[FiguresClient, IOPump]:
    """
    @return: a client of C{figures} connected in memory to a worker serving
        C{metrics}, and the pump moving their bytes.
    """
    client = figures.buildProtocol(None)
    server = FiguresServer(metrics.snapshot)
    pump = connect(server, FakeTransport(server, isServer=True),
                   client, FakeTransport(client, isServer=False))
    return client, pump


def _statCalls(snapshots: list[dict[str, Any]]) -> tuple[int, int]:
    """
    @return: the storage calls and uploads in progress the snapshots add up to.
    """
    total = Figures()
    for snapshot in snapshots:
        total.add(snapshot)
    figures = total.snapshot()
    return (sum(sum(counts) for _, counts, _ in figures["storageCalls"]),
            figures["uploading"])


def test_figures_gathered() -> None:
    """The supervisor asks every connected worker for its figures at each gathering."""
    figures = WorkerFigures(Clock())
    workers = [_figures(2, 1), _figures(3, 1)]
    pumps = [_worker(figures, metrics)[1] for metrics in workers]
    gathered = figures.gather()
    for pump in pumps:
        pump.flush()
    assert _statCalls(gathered.result) == (5, 2)
    workers[0].storageCallEnded("stat", 0.001, None)
    gathered = figures.gather()
    for pump in pumps:
        pump.flush()
    assert _statCalls(gathered.result) == (6, 2)


def test_figures_of_silent_worker() -> None:
    """A worker that does not answer in time is counted by the last figures it
    sent, a late answer included (by none before its first)."""
    clock = Clock()
    figures = WorkerFigures(clock)
    _, pump = _worker(figures, _figures(4))
    gathered = figures.gather()
    clock.advance(ANSWER_TIMEOUT)
    assert _statCalls(gathered.result) == (0, 0)
    pump.flush()
    gathered = figures.gather()
    clock.advance(ANSWER_TIMEOUT)
    assert _statCalls(gathered.result) == (4, 0)


def test_figures_of_worker_gone() -> None:
    """The counters of a worker whose socket closed stay in the sum, its gauge
    does not."""
    figures = WorkerFigures(Clock())
    client, pump = _worker(figures, _figures(3, 1))
    gathered = figures.gather()
    pump.flush()
    assert _statCalls(gathered.result) == (3, 1)
    client.transport.loseConnection()  # type: ignore[union-attr]
    pump.flush()
    assert not figures.clients
    gathered = figures.gather()
    assert _statCalls(gathered.result) == (3, 0)
