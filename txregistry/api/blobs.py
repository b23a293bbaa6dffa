"""
Blob pulls and deletes: C{/v2/<name>/blobs/<digest>}.
"""

from __future__ import annotations

from twisted.web.iweb import IRequest

from txregistry.api.requests import checkName, header, parseDigest
from txregistry.config.model import StorageConfig
from txregistry.errors import RegistryError, Unsupported
from txregistry.http.producer import sendFile
from txregistry.http.ranges import UnsatisfiableRange, parseRange
from txregistry.http.responses import respond
from txregistry.storage.blobs import LinkedBlobs
from txregistry.storage.registry import Registry

#: Blobs up to this size are read in the same round trip as their links and
#: sent at once, once their size is known.
SMALL_BLOB = 256 * 1024


class RangeNotSatisfiable(RegistryError):
    """
    A C{Range} that no byte of the blob satisfies (416): the spec has no code
    for it, and C{SIZE_INVALID} is the nearest (the range does not fit the
    blob's size).
    """

    code = "SIZE_INVALID"
    status = 416
    message = "requested range not satisfiable"


class BlobHandlers:
    """
    Serving and deleting the blobs of a repository.
    """

    def __init__(self, registry: Registry, storage: StorageConfig) -> None:
        """
        @param storage: the C{storage} section (whether deletes are enabled).
        """
        self.registry = registry
        self.storage = storage

    async def get(self, request: IRequest, name: str, digest: str) -> bytes | None:
        """
        Answer C{GET} and C{HEAD}: the blob, or the C{Range} asked for.
        """
        blob = parseDigest(digest)
        whole = request.method == b"GET" and header(request, "range") is None
        size, content = await LinkedBlobs(self.registry.blobs, checkName(request, name)).describe(
            blob, SMALL_BLOB if whole else 0)
        etag = f'"{blob}"'
        headers = {
            "Docker-Content-Digest": str(blob),
            "ETag": etag,
            "Accept-Ranges": "bytes",
            "Cache-Control": "max-age=31536000",
            "Content-Type": "application/octet-stream",
        }
        if header(request, "if-none-match") == etag:
            return respond(request, 304, headers)
        try:
            wanted = parseRange(header(request, "range"), size)
        except UnsatisfiableRange:
            raise RangeNotSatisfiable(
                headers={b"Content-Range": b"bytes */%d" % (size,)}) from None
        start, length, status = 0, size, 200
        if wanted is not None:
            start, length = wanted
            status = 206
            headers["Content-Range"] = f"bytes {start}-{start + length - 1}/{size}"
        request.setResponseCode(status)
        for name_, value in headers.items():
            request.setHeader(name_, value)
        request.setHeader(b"Content-Length", b"%d" % (length,))
        if request.method == b"HEAD" or length == 0:
            return b""
        if content is not None:
            return content
        await sendFile(request, await self.registry.blobs.reader(blob, start), length)
        return None

    async def delete(self, request: IRequest, name: str, digest: str) -> bytes:
        """
        Unlink a blob from the repository.
        """
        blob = parseDigest(digest)
        checkName(request, name)
        if not self.storage.delete_enabled:
            raise Unsupported(message="deletes are disabled (storage.delete.enabled)")
        await LinkedBlobs(self.registry.blobs, name).unlink(blob)
        return respond(request, 202, {"Docker-Content-Digest": str(blob)})
