"""
Clients for the conformance operations of L{tests.conformance.oci}: the
in-memory registry of C{tests/api/support.py}, and a real process over a
loopback socket.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tests.api.helpers import rawExchange
from tests.api.support import InMemoryRegistry


@dataclass
class Reply:
    """
    A response read off the wire: its status, headers and body.
    """

    code: int
    headers: Any
    body: bytes

    def header(self, name: str) -> str | None:
        values = self.headers.get_all(name)
        return None if not values else values[0]

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def errorCodes(self) -> list[str]:
        return [e["code"] for e in self.json()["errors"]]


class _RawHeaders:
    """
    The parsed headers of L{rawExchange}, read as L{http.client} headers.
    """

    def __init__(self, parsed: dict[str, list[str]]) -> None:
        self.parsed = parsed

    def get_all(self, name: str) -> list[str] | None:
        return self.parsed.get(name.lower())


class MemoryClient(InMemoryRegistry):
    """
    The in-memory registry, with deletes enabled, able to stream a body
    with chunked transfer encoding (no C{Content-Length}).
    """

    def __init__(self) -> None:
        super().__init__(delete_enabled=True)

    def request(self, method: str, path: str, body: bytes | None = None,  # type: ignore[override]
                headers: dict[str, Any] | None = None) -> Reply:
        """
        Make a request as bytes on a connection, so that the answer's
        connection headers (C{Content-Length}) are seen as sent; a list of
        header values is sent comma-joined.
        """
        flat = {k: ", ".join(v) if isinstance(v, list) else v
                for k, v in (headers or {}).items()}
        status, parsed, content = rawExchange(self, method, path, flat, body or b"")
        return Reply(status, _RawHeaders(parsed), content)

    def stream(self, method: str, path: str, body: bytes,
               headers: dict[str, str] | None = None) -> Reply:
        """
        Send C{body} with C{Transfer-Encoding: chunked}, as Go sends a body
        of unknown length.
        """
        status, parsed, content = rawExchange(self, method, path, headers, body, chunked=True)
        return Reply(status, _RawHeaders(parsed), content)


class ProcessClient:
    """
    Requests to a registry process at C{base_url}, one connection each.
    """

    def __init__(self, base_url: str) -> None:
        self.hostport = base_url.split("://", 1)[1]

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, Any] | None = None) -> Reply:
        """
        Make one request; a list of header values is sent comma-joined.
        """
        flat = {k: ", ".join(v) if isinstance(v, list) else v
                for k, v in (headers or {}).items()}
        if body is None and method in ("POST", "PUT", "PATCH"):
            body = b""
        return self._send(method, path, body, flat)

    def stream(self, method: str, path: str, body: bytes,
               headers: dict[str, str] | None = None) -> Reply:
        """
        Send C{body} with chunked transfer encoding (no C{Content-Length}).
        """
        def chunks() -> Iterator[bytes]:
            for i in range(0, len(body), 65536):
                yield body[i:i + 65536]
        return self._send(method, path, chunks(), dict(headers or {}))

    def _send(self, method: str, path: str, body: Any, headers: dict[str, str]) -> Reply:
        conn = http.client.HTTPConnection(self.hostport, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            return Reply(response.status, response.headers, response.read())
        finally:
            conn.close()
