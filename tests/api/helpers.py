"""
Helpers shared by the API tests: reading the in-memory driver directly.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from txregistry.digest import Digest
from txregistry.storage import paths
from txregistry.storage.driver.errors import PathNotFound

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"


def result(d: Deferred[Any]) -> Any:
    """
    @return: the result of a L{Deferred} that has already fired (the
        in-memory driver's fire at once); a failure is raised.
    """
    results: list[Any] = []
    d.addBoth(results.append)
    assert results, "the Deferred has not fired"
    if isinstance(results[0], Failure):
        results[0].raiseException()
    return results[0]


def content(driver: Any, path: str) -> bytes | None:
    """
    @return: the content of the file at C{path}, or L{None} if there is none.
    """
    try:
        return result(driver.getContent(path))
    except PathNotFound:
        return None


def snapshot(driver: Any) -> dict[str, bytes]:
    """
    @return: every file the driver holds, by path, with its content.
    """
    files = {}
    for info in result(driver.walk("/")):
        if not info.isDir:
            files[info.path] = result(driver.getContent(info.path))
    return files


def uploadsOf(driver: Any, name: str) -> list[str]:
    """
    @return: the paths below the repository's C{_uploads} directory.
    """
    try:
        return result(driver.list(f"{paths.repository(name)}/_uploads"))
    except PathNotFound:
        return []


def blobStored(driver: Any, digest: Digest) -> bool:
    """
    @return: whether the global blob store holds C{digest}'s data.
    """
    return content(driver, paths.blobData(digest)) is not None


def rawExchange(registry: Any, method: str, path: str,
                headers: dict[str, str] | None = None, body: bytes = b"",
                chunked: bool = False,
                host: str = "registry.test") -> tuple[int, dict[str, list[str]], bytes]:
    """
    Send one request to the registry's site as bytes on a fake connection,
    and parse the bytes it answers.  Unlike the agent of
    L{InMemoryRegistry.request}, this sends the path verbatim and sees
    connection headers such as C{Content-Length} as sent.

    @param chunked: send the body with chunked transfer encoding (in 64 KiB
        chunks) rather than with a C{Content-Length}.
    @param host: the C{Host} header's value.
    @return: the status, the headers (lowercased names) and the body.
    """
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Connection: close"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if chunked:
        lines.append("Transfer-Encoding: chunked")
        encoded = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 65536]), body[i:i + 65536])
                           for i in range(0, len(body), 65536)) + b"0\r\n\r\n"
    else:
        if body or method in ("PUT", "POST", "PATCH"):
            lines.append(f"Content-Length: {len(body)}")
        encoded = body
    site = registry.stub._agent._serverFactory
    protocol = site.buildProtocol(None)
    transport = StringTransport()
    protocol.makeConnection(transport)
    protocol.dataReceived("\r\n".join(lines).encode("latin-1") + b"\r\n\r\n" + encoded)
    raw = transport.value()
    head, _, rest = raw.partition(b"\r\n\r\n")
    statusLine, *headerLines = head.decode("latin-1").split("\r\n")
    parsed: dict[str, list[str]] = {}
    for line in headerLines:
        name, _, value = line.partition(":")
        parsed.setdefault(name.strip().lower(), []).append(value.strip())
    if parsed.get("transfer-encoding") == ["chunked"]:
        rest = _dechunk(rest)
    return int(statusLine.split(" ")[1]), parsed, rest


def _dechunk(data: bytes) -> bytes:
    body = b""
    while data:
        size, _, data = data.partition(b"\r\n")
        length = int(size.split(b";")[0], 16)
        if length == 0:
            break
        body, data = body + data[:length], data[length + 2:]
    return body
