"""
Tests for translating C{http.addr}/C{http.net} into Twisted endpoints.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from twisted.internet.endpoints import (
    TCP4ServerEndpoint,
    TCP6ServerEndpoint,
    UNIXServerEndpoint,
    serverFromString,
)
from twisted.internet.testing import MemoryReactor

from txregistry.config import ConfigError, Configuration, HTTPConfig
from txregistry.config.listen import escape, listen_endpoint

#: The smallest valid configuration; tests append sections to it.
MINIMAL = "version: 0.1\nstorage:\n  inmemory:\n"

#: The type of the C{load} fixture (see C{conftest.py}).
Loader = Callable[..., Configuration]

TCP = [
    (":5000", "tcp:5000", TCP4ServerEndpoint, ""),
    ("127.0.0.1:5000", "tcp:5000:interface=127.0.0.1", TCP4ServerEndpoint, "127.0.0.1"),
    ("0.0.0.0:0", "tcp:0:interface=0.0.0.0", TCP4ServerEndpoint, "0.0.0.0"),
    ("[::1]:5000", r"tcp6:5000:interface=\:\:1", TCP6ServerEndpoint, "::1"),
    ("[::]:443", r"tcp6:443:interface=\:\:", TCP6ServerEndpoint, "::"),
    (
        "[fe80::1%eth0]:5000",
        r"tcp6:5000:interface=fe80\:\:1%eth0",
        TCP6ServerEndpoint,
        "fe80::1%eth0",
    ),
    ("localhost:5000", "tcp:5000:interface=localhost", TCP4ServerEndpoint, "localhost"),
    (
        "registry.example.com:80",
        "tcp:80:interface=registry.example.com",
        TCP4ServerEndpoint,
        "registry.example.com",
    ),
]


@pytest.mark.parametrize("addr, description, kind, interface", TCP)
def test_tcp(addr: str, description: str, kind: type, interface: str) -> None:
    """A TCP addr becomes a description Twisted parses to the same port and interface."""
    assert listen_endpoint("tcp", addr) == description
    endpoint = serverFromString(MemoryReactor(), description)
    assert isinstance(endpoint, kind)
    assert endpoint._interface == interface  # type: ignore[attr-defined]
    assert endpoint._port == int(addr.rpartition(":")[2])  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "path", ["/run/registry.sock", "/tmp/a:b=c\\d.sock", "rel.sock"]
)
def test_unix(path: str) -> None:
    """A unix addr becomes an escaped unix: description for the same path."""
    description = listen_endpoint("unix", path)
    assert description == "unix:" + escape(path)
    endpoint = serverFromString(MemoryReactor(), description)
    assert isinstance(endpoint, UNIXServerEndpoint)
    assert endpoint._address == path  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "net, addr, message",
    [
        ("tcp", "5000", "must be HOST:PORT or :PORT"),
        ("tcp", "", "must be HOST:PORT or :PORT"),
        ("tcp", ":http", "port must be a number"),
        ("tcp", ":65536", "port must be a number"),
        ("tcp", ":-1", "port must be a number"),
        ("tcp", "::1:5000", "IPv6 HOST in brackets"),
        ("tcp", "[::1:5000", "IPv6 HOST in brackets"),
        ("tcp", "[1.2.3.4]:5000", "is not an IPv6 address"),
        ("tcp", "bad_host:5000", "neither an IPv4 address nor a host name"),
        ("tcp", "999.1.1.1:5000", "neither an IPv4 address nor a host name"),
        ("unix", "", "must be a socket path"),
    ],
)
def test_bad_addr(net: str, addr: str, message: str) -> None:
    """An address that cannot be translated is a ConfigError at http.addr."""
    with pytest.raises(ConfigError, match=f"^http.addr: .*{message}"):
        listen_endpoint(net, addr)


def test_bad_addr_at_load(load: Loader) -> None:
    """A bad http.addr is refused when the configuration is loaded."""
    with pytest.raises(ConfigError, match="^http.addr: "):
        load(MINIMAL + "http:\n  addr: 'nope'\n")


def test_unix_from_file(load: Loader) -> None:
    """net: unix with a socket path is translated by listen_endpoints."""
    config = load(MINIMAL + "http:\n  net: unix\n  addr: /run/txregistry.sock\n")
    assert config.listen_endpoints() == ["unix:/run/txregistry.sock"]


def test_endpoints_win(load: Loader) -> None:
    """http.endpoints replaces addr/net, in order, as given."""
    config = load(
        MINIMAL + "http:\n  addr: :5000\n  endpoints: ['tcp6:5000', 'tcp:6000']\n"
    )
    assert config.listen_endpoints() == ["tcp6:5000", "tcp:6000"]


def test_listen_endpoints_copy() -> None:
    """listen_endpoints returns a new list each time, leaving the config as it was."""
    config = Configuration(http=HTTPConfig(endpoints=["tcp:1"]))
    config.listen_endpoints().append("tcp:2")
    assert config.http.endpoints == ["tcp:1"]
