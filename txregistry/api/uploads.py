"""
Blob uploads: C{/v2/<name>/blobs/uploads/[<id>]}, and cross-repository
mounts.
"""

from __future__ import annotations

import re
from typing import Any

from twisted.web.iweb import IRequest

from txregistry.api.requests import (
    absoluteURL,
    checkName,
    header,
    parseDigest,
    queryArg,
    respond,
    streamBody,
)
from txregistry.digest import Digest
from txregistry.errors import BlobUploadInvalid, BlobUploadUnknown, RegistryError
from txregistry.reference import isValidName
from txregistry.storage.blobs import LinkedBlobs
from txregistry.storage.registry import Registry
from txregistry.storage.uploads import HashingWriter

_UPLOAD_ID = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._=-]{0,127}")
_CONTENT_RANGE = re.compile(r"^(?:bytes[ =])?(\d+)-(\d+)(?:/(?:\d+|\*))?$")


class RangeInvalid(RegistryError):
    """
    A chunk that does not start where the upload ends (416).
    """

    code = "RANGE_INVALID"
    status = 416
    message = "invalid content range"


def _rangeHeader(size: int) -> str:
    # distribution answers "0-0" for an empty upload, not "0--1".
    return f"0-{max(size - 1, 0)}"


class UploadHandlers:
    """
    Starting, feeding, finishing and cancelling blob uploads.
    """

    def __init__(self, registry: Registry, config: Any) -> None:
        self.registry = registry
        self.uploads = registry.uploads
        self.config = config
        self._busy: set[str] = set()

    def _uploadURL(self, request: IRequest, name: str, uploadID: str) -> str:
        return absoluteURL(request, self.config.http, f"/v2/{name}/blobs/uploads/{uploadID}")

    def _blobCreated(self, request: IRequest, name: str, digest: Digest) -> bytes:
        return respond(request, 201, {
            "Location": absoluteURL(request, self.config.http, f"/v2/{name}/blobs/{digest}"),
            "Docker-Content-Digest": str(digest),
        })

    def _uploadAccepted(self, request: IRequest, name: str, uploadID: str,
                        size: int, status: int = 202) -> bytes:
        return respond(request, status, {
            "Location": self._uploadURL(request, name, uploadID),
            "Range": _rangeHeader(size),
            "Docker-Upload-UUID": uploadID,
        })

    async def start(self, request: IRequest, name: str) -> bytes:
        """
        C{POST}: mount a blob from another repository, take a whole blob in
        one request (C{?digest=}), or start an upload.
        """
        checkName(request, name)
        mount = queryArg(request, "mount")
        source = queryArg(request, "from")
        if mount is not None and source is not None and isValidName(source):
            digest = parseDigest(mount)
            if await LinkedBlobs(self.registry.blobs, source).has(digest):
                await LinkedBlobs(self.registry.blobs, name).link(digest)
                return self._blobCreated(request, name, digest)
        monolithic = queryArg(request, "digest")
        if monolithic is not None:
            digest = parseDigest(monolithic)
            uploadID = await self.uploads.start(name)
            try:
                await self._receive(request, name, uploadID, 0, digest)
            except BaseException:
                await self.uploads.cancel(name, uploadID)
                raise
            return self._blobCreated(request, name, digest)
        uploadID = await self.uploads.start(name)
        return self._uploadAccepted(request, name, uploadID, 0)

    async def patch(self, request: IRequest, name: str, uploadID: str) -> bytes:
        """
        C{PATCH}: append a chunk (the whole request body) to an upload.
        """
        size = await self._receive(request, name, uploadID, None, None)
        return self._uploadAccepted(request, name, uploadID, size)

    async def finish(self, request: IRequest, name: str, uploadID: str) -> bytes:
        """
        C{PUT ?digest=}: append a last chunk, if any, and make the upload a
        blob.
        """
        digest = parseDigest(queryArg(request, "digest"))
        await self._receive(request, name, uploadID, None, digest)
        return self._blobCreated(request, name, digest)

    async def status(self, request: IRequest, name: str, uploadID: str) -> bytes:
        """
        C{GET}: how much of the upload is stored.
        """
        self._checkUpload(request, name, uploadID)
        size = await self.uploads.size(name, uploadID)
        return self._uploadAccepted(request, name, uploadID, size, status=204)

    async def cancel(self, request: IRequest, name: str, uploadID: str) -> bytes:
        """
        C{DELETE}: abandon an upload.
        """
        self._checkUpload(request, name, uploadID)
        if uploadID in self._busy or not await self.uploads.cancel(name, uploadID):
            raise BlobUploadUnknown(uploadID)
        return respond(request, 204)

    def _checkUpload(self, request: IRequest, name: str, uploadID: str) -> None:
        checkName(request, name)
        if _UPLOAD_ID.fullmatch(uploadID) is None:
            raise BlobUploadUnknown(uploadID)

    async def _receive(self, request: IRequest, name: str, uploadID: str,
                       knownSize: int | None, digest: Digest | None) -> int:
        """
        Append the request body to the upload, then close the upload's
        writer, or with C{digest} commit it as a blob.

        @param knownSize: the upload's size if the caller knows it.
        @return: the upload's new size.
        """
        self._checkUpload(request, name, uploadID)
        if uploadID in self._busy:
            raise RangeInvalid(uploadID, message="another request is writing this upload")
        size = knownSize if knownSize is not None else await self.uploads.size(name, uploadID)
        self._checkContentRange(request, name, uploadID, size)
        self._busy.add(uploadID)
        try:
            writer = await self.uploads.writer(name, uploadID)
            try:
                await streamBody(request, writer)
            except BaseException:
                await writer.writer.close()
                raise
            if digest is not None:
                return await self.uploads.commit(name, uploadID, writer, digest)
            return await self._close(uploadID, writer)
        finally:
            self._busy.discard(uploadID)

    async def _close(self, uploadID: str, writer: HashingWriter) -> int:
        await writer.writer.close()
        self.uploads.remember(uploadID, writer)
        return writer.writer.size()

    def _checkContentRange(self, request: IRequest, name: str, uploadID: str,
                           size: int) -> None:
        contentRange = header(request, "content-range")
        if contentRange is None:
            return
        match = _CONTENT_RANGE.match(contentRange.strip())
        if match is None:
            raise BlobUploadInvalid(f"malformed Content-Range: {contentRange}")
        start, end = int(match.group(1)), int(match.group(2))
        length = header(request, "content-length")
        if end < start or (length is not None and length.isdigit()
                           and int(length) != end - start + 1):
            raise BlobUploadInvalid(f"Content-Range {contentRange} does not match Content-Length")
        if start != size:
            raise RangeInvalid(
                f"the upload holds {size} bytes",
                headers={b"Range": _rangeHeader(size).encode("ascii"),
                         b"Location": self._uploadURL(request, name, uploadID).encode("utf-8"),
                         b"Docker-Upload-UUID": uploadID.encode("ascii")})
