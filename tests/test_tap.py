"""
Tests for L{txregistry.tap} and L{txregistry.service}: the options of
C{twistd registry} and the service tree they build.
"""

from __future__ import annotations

import io
import json
import socket
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
import treq
import yaml
from twisted.application.internet import StreamServerEndpointService
from twisted.application.service import MultiService
from twisted.internet import defer, reactor
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import Logger
from twisted.scripts.twistd import ServerOptions

from txregistry import logging as registry_logging
from txregistry import service as service_module
from txregistry.http.site import RegistrySite
from txregistry.startup import StartupError
from txregistry.storage.driver.factory import ThreadPoolService
from txregistry.tap import Options, makeService

LOOPBACK_ANY_PORT = "tcp:0:interface=127.0.0.1"


def writeConfig(tmp_path: Path, **http: Any) -> Path:
    """
    Write a small distribution-format configuration with its storage under
    C{tmp_path}.

    @param http: the C{http} section (C{addr="127.0.0.1:5000"} if empty).
    @return: the file's path.
    """
    document = {
        "version": 0.1,
        "storage": {"filesystem": {"rootdirectory": str(tmp_path / "storage")}},
        "http": http or {"addr": "127.0.0.1:5000"},
    }
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(document))
    return path


def listeners(top: MultiService) -> list[StreamServerEndpointService]:
    """
    @return: the listening services among C{top}'s children.
    """
    return [s for s in top if isinstance(s, StreamServerEndpointService)]


async def serveAndGetBase(top: MultiService) -> tuple[int, Any, bytes]:
    """
    Start C{top}, GET C{/v2/} from its first listener, and stop it.

    @return: the status, the headers and the body.
    """
    top.startService()
    try:
        port = await listeners(top)[0]._waitingForPort
        address = port.getHost()
        assert address.host == "127.0.0.1"
        response = await treq.get(
            f"http://127.0.0.1:{address.port}/v2/", persistent=False
        )
        body = await treq.content(response)
        return response.code, response.headers, body
    finally:
        await defer.maybeDeferred(top.stopService)


def test_optionsConfig(tmp_path: Path) -> None:
    """--config names the file and loads it into options["configuration"]."""
    path = writeConfig(tmp_path, addr="127.0.0.1:5123")
    options = Options()
    options.parseOptions(["--config", str(path)])
    assert options["config"] == str(path)
    assert options["configuration"].listen_endpoints() == [
        "tcp:5123:interface=127.0.0.1"
    ]


def test_optionsShortConfig(tmp_path: Path) -> None:
    """-c is short for --config."""
    path = writeConfig(tmp_path)
    options = Options()
    options.parseOptions(["-c", str(path)])
    assert options["config"] == str(path)


def test_optionsListenRepeated(tmp_path: Path) -> None:
    """--listen may be given several times; each endpoint is kept in order."""
    options = Options()
    options.parseOptions(
        [
            "-c",
            str(writeConfig(tmp_path)),
            "--listen",
            "tcp:5001:interface=127.0.0.1",
            "--listen",
            "unix:/tmp/registry.sock",
        ]
    )
    assert options["listen"] == [
        "tcp:5001:interface=127.0.0.1",
        "unix:/tmp/registry.sock",
    ]


def test_optionsDefaults() -> None:
    """Without options, the embedded default listens on 127.0.0.1:5000."""
    options = Options()
    options.parseOptions([])
    assert options["config"] is None
    assert options["listen"] == []
    assert options["configuration"].listen_endpoints() == [
        "tcp:5000:interface=127.0.0.1"
    ]


def test_configErrorIsStartupError(tmp_path: Path) -> None:
    """An invalid key fails option parsing with a StartupError (one line, no
    usage text) naming the file and the key's path."""
    path = tmp_path / "config.yml"
    path.write_text(
        yaml.safe_dump(
            {
                "version": 0.1,
                "storage": {
                    "filesystem": {
                        "rootdirectory": str(tmp_path),
                        "bogus": True,
                    }
                },
            }
        )
    )
    options = Options()
    with pytest.raises(StartupError, match=r"config\.yml: storage\.filesystem\.bogus"):
        options.parseOptions(["-c", str(path)])


def test_startCheckIsStartupError(tmp_path: Path) -> None:
    """A file the configuration names that does not load fails option
    parsing with a StartupError naming its key: the subsystems check the
    configuration as it is loaded."""
    document = yaml.safe_load(writeConfig(tmp_path).read_text())
    document["auth"] = {"htpasswd": {"realm": "R", "path": str(tmp_path / "missing")}}
    path = tmp_path / "auth.yml"
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(StartupError, match=r"auth\.htpasswd\.path: cannot read .*missing"):
        Options().parseOptions(["-c", str(path)])


def test_missingConfigIsStartupError(tmp_path: Path) -> None:
    """A configuration file that cannot be read is a StartupError naming it."""
    missing = tmp_path / "missing.yml"
    with pytest.raises(StartupError, match="missing.yml"):
        Options().parseOptions(["-c", str(missing)])


def test_yamlErrorNamesFileInOneLine(tmp_path: Path) -> None:
    """A YAML syntax error names the file, the line and the column, in one
    line, not PyYAML's "<unicode string>"."""
    path = tmp_path / "broken.yml"
    path.write_text("version: 0.1\nhttp: [\n")
    with pytest.raises(StartupError) as caught:
        Options().parseOptions(["-c", str(path)])
    message = str(caught.value)
    assert message.startswith(f"{path} is not valid YAML: line 3, column 1: "), message
    assert "\n" not in message and "<unicode string>" not in message


def test_uncreatableRootIsStartupError(tmp_path: Path) -> None:
    """A storage root that cannot be created stops the start with a
    StartupError naming the key, the directory and the reason."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump({
        "version": 0.1,
        "storage": {"filesystem": {"rootdirectory": str(blocker / "root")}},
    }))
    options = Options()
    options.parseOptions(["-c", str(path), "--listen", LOOPBACK_ANY_PORT])
    with pytest.raises(StartupError, match=(
            rf"^storage\.filesystem\.rootdirectory: cannot create {blocker}/root: "
            "Not a directory")):
        makeService(options, reactor=MemoryReactorClock())


@pytest.mark.parametrize("description", ["tcp:abc", "tcp:5000:bogus=1", "nope:1"])
def test_badListenIsStartupError(tmp_path: Path, description: str) -> None:
    """A --listen description Twisted cannot parse is a StartupError naming it."""
    options = Options()
    options.parseOptions(["-c", str(writeConfig(tmp_path)), "--listen", description])
    with pytest.raises(StartupError, match=f"^cannot listen on '{description}': "):
        makeService(options, reactor=MemoryReactorClock())


def test_portInUseIsStartupError(tmp_path: Path) -> None:
    """A port another socket holds fails the listener's start with a
    StartupError naming the listener and the reason."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        description = f"tcp:{taken.getsockname()[1]}:interface=127.0.0.1"
        options = Options()
        options.parseOptions(["-c", str(writeConfig(tmp_path)), "--listen", description])
        listener = listeners(makeService(options, reactor=reactor))[0]
        with pytest.raises(StartupError, match=(
                f"^cannot listen on {description}: Address already in use$")):
            listener.privilegedStartService()


def test_makeServiceTree(tmp_path: Path) -> None:
    """makeService builds a MultiService with the driver's services and one
    listener per --listen, all serving one site; starting it starts them."""
    memory = MemoryReactorClock()
    options = Options()
    options.parseOptions(
        [
            "-c",
            str(writeConfig(tmp_path)),
            "--listen",
            LOOPBACK_ANY_PORT,
            "--listen",
            LOOPBACK_ANY_PORT,
        ]
    )
    top = makeService(options, reactor=memory)
    assert isinstance(top, MultiService)
    found = listeners(top)
    assert len(found) == 2
    assert isinstance(found[0].factory, RegistrySite)
    assert found[0].factory is found[1].factory
    # The filesystem driver's thread pools: its file I/O and its metadata.
    pools = [s.pool for s in top if isinstance(s, ThreadPoolService)]
    assert sorted(pool.name for pool in pools) == ["txregistry-metadata", "txregistry-storage"]
    top.startService()
    try:
        assert all(pool.started for pool in pools)
        assert len(memory.tcpServers) == 2
    finally:
        top.stopService()
    assert not any(pool.started for pool in pools)


def test_listenReplacesConfigAddress(tmp_path: Path) -> None:
    """--listen replaces the configuration's http.addr."""
    options = Options()
    options.parseOptions(
        ["-c", str(writeConfig(tmp_path)), "--listen", LOOPBACK_ANY_PORT]
    )
    top = makeService(options)
    assert len(listeners(top)) == 1


def test_listenersUseInjectedReactor(tmp_path: Path) -> None:
    """Each --listen endpoint is opened, when the service starts, on the
    reactor given to makeService, with its port and interface."""
    memory = MemoryReactorClock()
    options = Options()
    options.parseOptions(
        [
            "-c",
            str(writeConfig(tmp_path)),
            "--listen",
            "tcp:5123:interface=127.0.0.1",
            "--listen",
            "tcp:5124:interface=127.0.0.2",
        ]
    )
    top = makeService(options, reactor=memory)
    assert memory.tcpServers == []
    top.startService()
    try:
        assert [(port, interface) for port, _, _, interface in memory.tcpServers] == [
            (5123, "127.0.0.1"),
            (5124, "127.0.0.2"),
        ]
        factories = {factory for _, factory, _, _ in memory.tcpServers}
        assert len(factories) == 1
    finally:
        top.stopService()


@pytest_twisted.ensureDeferred
async def test_makeServiceServes(tmp_path: Path) -> None:
    """The service from makeService, started for real on a loopback port,
    answers GET /v2/ as a registry."""
    options = Options()
    options.parseOptions(
        ["-c", str(writeConfig(tmp_path)), "--listen", LOOPBACK_ANY_PORT]
    )
    code, headers, body = await serveAndGetBase(makeService(options))
    assert code == 200
    assert headers.getRawHeaders("Docker-Distribution-API-Version") == ["registry/2.0"]
    assert json.loads(body) == {}
    assert (tmp_path / "storage").is_dir()


@pytest_twisted.ensureDeferred
async def test_serviceUsesConfigEndpoints(tmp_path: Path) -> None:
    """Without --listen, the service listens on the configuration's
    endpoints."""
    options = Options()
    options.parseOptions(
        ["-c", str(writeConfig(tmp_path, endpoints=[LOOPBACK_ANY_PORT]))]
    )
    config = options["configuration"]
    assert config.listen_endpoints() == [LOOPBACK_ANY_PORT]
    top = service_module.makeService(config, None, reactor)
    code, _, _ = await serveAndGetBase(top)
    assert code == 200


def test_jsonLogLevelFilter() -> None:
    """A json observer at level warn drops info events and writes warnings as
    one JSON line with time, level, msg and the static fields."""
    stream = io.StringIO()
    observer = registry_logging.makeObserver(
        stream, "warn", "json", {"service": "registry"}
    )
    log = Logger(namespace="test", observer=observer)
    log.info("hidden {x}", x=1)
    log.warn("shown {x}", x=2)
    [line] = stream.getvalue().splitlines()
    record = json.loads(line)
    assert record["msg"] == "shown 2"
    assert record["level"] == "warning"
    assert record["service"] == "registry"
    assert record["namespace"] == "test"
    assert record["time"]


def test_twistdLoggerInstalledOnlyWhenNeeded(tmp_path: Path) -> None:
    """Under twistd, a json log section replaces twistd's logger by name; the
    default log section, or an explicit --logger, leaves it alone."""
    document = yaml.safe_load(writeConfig(tmp_path).read_text())
    document["log"] = {"level": "debug", "formatter": "json"}
    path = tmp_path / "json.yml"
    path.write_text(yaml.safe_dump(document))

    twistd = ServerOptions()
    twistd.parseOptions(["-n", "registry", "-c", str(path)])
    assert twistd["logger"] is registry_logging.twistdLogger

    plain = ServerOptions()
    plain.parseOptions(["-n", "registry", "-c", str(writeConfig(tmp_path))])
    assert plain["logger"] is None

    explicit = ServerOptions()
    explicit.parseOptions(
        [
            "-n",
            "--logger",
            "twisted.logger.globalLogPublisher",
            "registry",
            "-c",
            str(path),
        ]
    )
    assert explicit["logger"] is not registry_logging.twistdLogger
