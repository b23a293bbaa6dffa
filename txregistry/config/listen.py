"""
Translate distribution's C{http.addr}/C{http.net} into a Twisted server
endpoint description.

  - C{:5000} becomes C{tcp:5000} (every IPv4 interface; Go would also
    listen on IPv6 — use C{http.endpoints} with C{tcp6:5000} for that);
  - C{127.0.0.1:5000} becomes C{tcp:5000:interface=127.0.0.1};
  - C{[::1]:5000} becomes C{tcp6:5000:interface=\\:\\:1};
  - C{localhost:5000} becomes C{tcp:5000:interface=localhost}: Twisted
    hands a host name to C{bind()}, which resolves it to an IPv4 address
    when the port is opened;
  - with C{net: unix}, C{/run/registry.sock} becomes
    C{unix:/run/registry.sock}.
"""

from __future__ import annotations

import ipaddress
import re

from txregistry.config.errors import ConfigError

_ADDR_KEYS = ("http", "addr")
_HOSTNAME_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def escape(text: str) -> str:
    """
    Escape a value for Twisted's endpoint description syntax, where C{:}
    separates arguments, C{=} separates a keyword from its value, and C{\\}
    escapes.

    @param text: the raw value.
    @return: the escaped value.
    """
    return re.sub(r"([\\:=])", r"\\\1", text)


def listen_endpoint(net: str, addr: str) -> str:
    """
    Translate one listening address.

    @param net: C{tcp} or C{unix}.
    @param addr: C{HOST:PORT} (C{HOST} may be empty, an IPv4 address, a
        bracketed IPv6 address or a host name) for C{tcp}; a socket path for
        C{unix}.
    @return: a server endpoint description.
    @raise ConfigError: at C{http.addr} if C{addr} is not a valid address for
        C{net}.
    """
    if net == "unix":
        if not addr:
            raise ConfigError(_ADDR_KEYS, "must be a socket path when http.net is unix")
        if "\x00" in addr:
            raise ConfigError(_ADDR_KEYS, f"must be a socket path, got {addr!r}")
        return f"unix:{escape(addr)}"
    if net != "tcp":
        raise ConfigError(("http", "net"), f"must be one of tcp, unix, got {net!r}")
    host, port = _split_host_port(addr)
    if host == "":
        return f"tcp:{port}"
    if host.startswith("["):
        literal = host[1:-1]
        try:
            ipaddress.IPv6Address(literal.split("%", 1)[0])
        except ValueError:
            raise ConfigError(
                _ADDR_KEYS, f"{literal!r} is not an IPv6 address, in {addr!r}"
            ) from None
        return f"tcp6:{port}:interface={escape(literal)}"
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        if not _is_hostname(host):
            raise ConfigError(
                _ADDR_KEYS,
                f"{host!r} is neither an IPv4 address nor a host name, in {addr!r} "
                "(write IPv6 addresses in brackets: [::1]:5000)",
            ) from None
    return f"tcp:{port}:interface={escape(host)}"


def _split_host_port(addr: str) -> tuple[str, int]:
    """
    Split C{HOST:PORT} the way Go's C{net.SplitHostPort} does.

    @return: the host (brackets kept for IPv6) and the port number.
    @raise ConfigError: at C{http.addr} if C{addr} has no valid port.
    """
    host, sep, port = addr.rpartition(":")
    if not sep:
        raise ConfigError(_ADDR_KEYS, f"must be HOST:PORT or :PORT, got {addr!r}")
    if host.startswith("[") != host.endswith("]") or (
        ":" in host and not host.startswith("[")
    ):
        raise ConfigError(
            _ADDR_KEYS,
            f"must be HOST:PORT, with an IPv6 HOST in brackets ([::1]:5000), got {addr!r}",
        )
    if not port.isascii() or not port.isdigit() or int(port) > 65535:
        raise ConfigError(
            _ADDR_KEYS,
            f"port must be a number from 0 to 65535, got {port!r} in {addr!r}",
        )
    return host, int(port)


def _is_hostname(host: str) -> bool:
    """
    @return: whether C{host} is a syntactically valid DNS host name.
    """
    labels = host.rstrip(".").split(".")
    return (
        len(host) <= 253
        and all(_HOSTNAME_LABEL.fullmatch(label) for label in labels)
        and not labels[-1].isdigit()
    )
