"""
What every handler needs from a request: validated path parts, bodies,
absolute URLs and header helpers (responses are written by
L{txregistry.http.responses}).
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IConsumer
from twisted.web.iweb import IRequest
from zope.interface import implementer

from txregistry import baseurl
from txregistry.digest import Digest, InvalidDigest
from txregistry.errors import DigestInvalid, NameInvalid, RegistryError
from txregistry.http.body import RequestBodyError
from txregistry.reference import isValidName

API_VERSION_HEADER = (b"Docker-Distribution-API-Version", b"registry/2.0")


class PayloadTooLarge(RegistryError):
    """
    A body larger than the registry accepts (413).
    """

    code = "SIZE_INVALID"
    status = 413
    message = "payload too large"


def checkName(request: IRequest, name: str) -> str:
    """
    @return: C{name}, if it is a valid repository name written plainly in
        the request's path (percent-encoding could smuggle a C{/} or a C{.}).
    @raise NameInvalid: otherwise.
    """
    if not isValidName(name) or b"%" in request.path:
        raise NameInvalid(name)
    return name


def parseDigest(text: str | None) -> Digest:
    """
    @raise DigestInvalid: if C{text} is not a supported digest.
    """
    if text is None:
        raise DigestInvalid(message="digest parameter missing")
    try:
        return Digest.parse(text)
    except InvalidDigest as e:
        raise DigestInvalid(text, message=str(e)) from None


def queryArg(request: IRequest, name: str) -> str | None:
    """
    @return: the first value of the query argument C{name}, or L{None}.
    """
    values = request.args.get(name.encode("ascii"))
    return values[0].decode("utf-8", "replace") if values else None


def header(request: IRequest, name: str) -> str | None:
    """
    @return: the request header C{name} as text, or L{None}.
    """
    value = request.getHeader(name.encode("ascii"))
    return None if value is None else value.decode("latin-1")


def absoluteURL(request: IRequest, config: Any, path: str) -> str:
    """
    @param config: the C{http} section.
    @return: the URL of C{path} on this registry, as distribution gives it
        (see L{txregistry.baseurl}).
    """
    return baseurl.absoluteURL(request, path, config.host, config.relativeurls)


def streamBody(request: IRequest, consumer: IConsumer) -> Deferred[int]:
    """
    Write the request's body to C{consumer}: as it arrives for a streamed
    request, else from the buffered content.

    @return: a L{Deferred} firing with the number of bytes written.
    """
    body = getattr(request, "body", None)
    if body is not None:
        return body.deliverTo(consumer)
    content = request.content
    content.seek(0)
    total = 0
    while data := content.read(1024 * 1024):
        consumer.write(data)
        total += len(data)
    return succeed(total)


@implementer(IConsumer)
class _Collector:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.chunks: list[bytes] = []
        self.size = 0
        self.producer: Any = None

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        self.producer = producer

    def unregisterProducer(self) -> None:
        self.producer = None

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size <= self.limit:
            self.chunks.append(data)
        elif self.producer is not None:
            self.producer.stopProducing()


async def readBody(request: IRequest, limit: int) -> bytes:
    """
    @return: the whole body of the request.
    @raise PayloadTooLarge: if it is longer than C{limit} bytes (found out
        from C{Content-Length} before reading it, where there is one).
    """
    length = request.getHeader(b"content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise PayloadTooLarge(f"the limit is {limit} bytes")
    collector = _Collector(limit)
    try:
        await streamBody(request, collector)
    except RequestBodyError:
        if collector.size <= limit:
            raise
    if collector.size > limit:
        raise PayloadTooLarge(f"the limit is {limit} bytes")
    return b"".join(collector.chunks)
