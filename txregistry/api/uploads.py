"""
Blob uploads: C{/v2/<name>/blobs/uploads/[<id>]}, and cross-repository
mounts.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from twisted.web.iweb import IRequest

from txregistry.api.requests import (
    absoluteURL,
    checkName,
    header,
    parseDigest,
    queryArg,
    readBody,
    streamBody,
)
from txregistry.api.uploadstate import (
    InvalidUploadState,
    UploadState,
    UploadStateSigner,
)
from txregistry.config.model import HTTPConfig
from txregistry.digest import Digest
from txregistry.errors import (
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    RegistryError,
)
from txregistry.http.responses import respond
from txregistry.reference import isValidName
from txregistry.storage.blobs import LinkedBlobs
from txregistry.storage.driver.errors import PathBusy
from txregistry.storage.registry import Registry
from txregistry.storage.uploads import HashingWriter

_UPLOAD_ID = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._=-]{0,127}")
#: The only C{Content-Range} of a chunk the spec allows: C{<start>-<end>}.
_CONTENT_RANGE = re.compile(r"([0-9]+)-([0-9]+)")


#: A blob pushed whole in one request up to this size is read into memory
#: and stored in one write (see L{UploadStore.storeWhole}).
SMALL_PUSH = 256 * 1024


def _isSmallWholeBody(request: IRequest) -> bool:
    length = header(request, "content-length")
    return (length is not None and length.isdigit() and int(length) <= SMALL_PUSH
            and header(request, "content-range") is None)


def _rangeHeader(size: int) -> str:
    # distribution answers "0-0" for an empty upload, not "0--1".
    return f"0-{max(size - 1, 0)}"


class UploadHandlers:
    """
    Starting, feeding, finishing and cancelling blob uploads.
    """

    def __init__(self, registry: Registry, http: HTTPConfig,
                 signer: UploadStateSigner) -> None:
        """
        @param http: the C{http} section (how URLs are written).
        @param signer: signs the upload state carried in upload URLs.
        """
        self.registry = registry
        self.uploads = registry.uploads
        self.http = http
        self.signer = signer

    def _uploadURL(self, request: IRequest, state: UploadState) -> str:
        token = quote(self.signer.pack(state), safe="")
        return absoluteURL(request, self.http,
                           f"/v2/{state.name}/blobs/uploads/{state.uploadID}?_state={token}")

    def _blobCreated(self, request: IRequest, name: str, digest: Digest) -> bytes:
        return respond(request, 201, {
            "Location": absoluteURL(request, self.http, f"/v2/{name}/blobs/{digest}"),
            "Docker-Content-Digest": str(digest),
        })

    def _uploadAccepted(self, request: IRequest, state: UploadState,
                        status: int = 202) -> bytes:
        return respond(request, status, {
            "Location": self._uploadURL(request, state),
            "Range": _rangeHeader(state.offset),
            "Docker-Upload-UUID": state.uploadID,
            "Blob-Upload-Session-ID": state.uploadID,
        })

    async def _state(self, request: IRequest, name: str, uploadID: str) -> UploadState | None:
        """
        @return: the verified state the request carries, or L{None} if it
            carries none (the upload id in the path is then all there is).
        @raise BlobUploadInvalid: if the state is forged, damaged or signed
            with another secret.
        @raise BlobUploadUnknown: if it names another upload.
        """
        token = queryArg(request, "_state")
        if token is None:
            return None
        try:
            state = self.signer.unpack(token)
        except InvalidUploadState as e:
            raise BlobUploadInvalid(uploadID, message=str(e)) from None
        if (state.name, state.uploadID) != (name, uploadID):
            raise BlobUploadUnknown(uploadID, message="the upload state names another upload")
        return state

    async def start(self, request: IRequest, name: str) -> bytes:
        """
        C{POST}: mount a blob from another repository, take a whole blob in
        one request (C{?digest=}), or start an upload.
        """
        checkName(request, name)
        mount = queryArg(request, "mount")
        if mount is not None and await self._mount(name, parseDigest(mount),
                                                   queryArg(request, "from")):
            return self._blobCreated(request, name, parseDigest(mount))
        monolithic = queryArg(request, "digest")
        if monolithic is not None:
            digest = parseDigest(monolithic)
            if _isSmallWholeBody(request):
                content = await readBody(request, SMALL_PUSH)
                if not await self.uploads.storeWhole(name, content, digest):
                    raise DigestInvalid(str(digest))
                return self._blobCreated(request, name, digest)
            uploadID, _ = await self.uploads.start(name)
            try:
                await self._receive(request, name, uploadID, digest)
            except BaseException:
                await self.uploads.cancel(name, uploadID)
                raise
            return self._blobCreated(request, name, digest)
        uploadID, startedAt = await self.uploads.start(name)
        return self._uploadAccepted(request, UploadState(name, uploadID, 0, startedAt))

    async def _mount(self, name: str, digest: Digest, source: str | None) -> bool:
        """
        Link a stored blob into repository C{name}: from repository
        C{source}, or, without one, from wherever the registry holds it (the
        spec's automatic mount).

        @return: whether the blob was mounted (else an upload starts).
        """
        # Pinned from the check to the link, for the garbage collector.
        async with self.registry.inflight.pinned([digest]):
            if source is None:
                # TODO(auth): only when the client may pull a repository holding it.
                mountable = await self.registry.blobs.size(digest) is not None
            else:
                mountable = isValidName(source) and await LinkedBlobs(
                    self.registry.blobs, source).has(digest)
            if mountable:
                await LinkedBlobs(self.registry.blobs, name).link(digest)
        return mountable

    async def patch(self, request: IRequest, name: str, uploadID: str) -> bytes:
        """
        C{PATCH}: append a chunk (the whole request body) to an upload.
        """
        state = await self._state(request, name, uploadID)
        size = await self._receive(request, name, uploadID, None, state)
        startedAt = state.startedAt if state else await self.uploads.startedAt(name, uploadID)
        return self._uploadAccepted(request, UploadState(name, uploadID, size, startedAt))

    async def finish(self, request: IRequest, name: str, uploadID: str) -> bytes:
        """
        C{PUT ?digest=}: append a last chunk, if any, and make the upload a
        blob.
        """
        digest = parseDigest(queryArg(request, "digest"))
        state = await self._state(request, name, uploadID)
        content = None
        self._checkUpload(request, name, uploadID)
        if _isSmallWholeBody(request) and await self.uploads.size(name, uploadID) == 0:
            try:
                content = await readBody(request, SMALL_PUSH)
                stored = await self.uploads.storeWhole(name, content, digest, uploadID)
            except BaseException:
                await self.uploads.cancel(name, uploadID)
                raise
            if stored:
                return self._blobCreated(request, name, digest)
        await self._receive(request, name, uploadID, digest, state, content)
        return self._blobCreated(request, name, digest)

    async def status(self, request: IRequest, name: str, uploadID: str) -> bytes:
        """
        C{GET}: how much of the upload is stored.
        """
        self._checkUpload(request, name, uploadID)
        state = await self._state(request, name, uploadID)
        size = await self.uploads.size(name, uploadID)
        startedAt = state.startedAt if state else await self.uploads.startedAt(name, uploadID)
        return self._uploadAccepted(request, UploadState(name, uploadID, size, startedAt),
                                    status=204)

    async def cancel(self, request: IRequest, name: str, uploadID: str) -> bytes:
        """
        C{DELETE}: abandon an upload.
        """
        self._checkUpload(request, name, uploadID)
        await self._state(request, name, uploadID)
        if not await self.uploads.cancel(name, uploadID):
            raise BlobUploadUnknown(uploadID)
        return respond(request, 204)

    def _checkUpload(self, request: IRequest, name: str, uploadID: str) -> None:
        checkName(request, name)
        if _UPLOAD_ID.fullmatch(uploadID) is None:
            raise BlobUploadUnknown(uploadID)

    async def _receive(self, request: IRequest, name: str, uploadID: str,
                       digest: Digest | None, state: UploadState | None = None,
                       content: bytes | None = None) -> int:
        """
        Append the request body to the upload, then close the upload's
        writer, or with C{digest} commit it as a blob.

        A request that brings a whole blob (with C{digest}, to an empty
        upload) and fails (a full disk, a client gone) cancels the upload at
        once, so its space is free for the client's next try, which starts
        a new upload.  A failed chunk leaves the upload as it is, to be
        resumed: the upload then holds what was stored of the chunk, which
        a 416 or a C{GET} of the upload tells the client.

        @param state: the verified state the client sent, if any (it names
            this upload; its offset is not enforced: the spec only asks
            clients to use the latest C{Location}, and orders chunks by their
            C{Content-Range}).
        @param content: the body, if it was already read.
        @return: the upload's new size.
        """
        self._checkUpload(request, name, uploadID)
        startedAt = state.startedAt if state else None
        try:
            writer = await self.uploads.writer(name, uploadID)
        except PathBusy:
            size = await self.uploads.size(name, uploadID)
            raise self._rangeInvalid(request, name, uploadID, size, startedAt,
                                     "another request is writing this upload") from None
        whole = False       # whether a failure drops the upload (not a bad range)
        try:
            # The writer holds the upload: its size is settled until it ends.
            self._checkContentRange(request, name, uploadID, writer.size(), startedAt)
            whole = digest is not None and writer.size() == 0
            if content is None:
                await streamBody(request, writer)
            else:
                writer.write(content)
        except BaseException:
            try:
                await writer.close()    # fails too if storing failed
            finally:
                if whole:
                    await self.uploads.cancel(name, uploadID)
            raise
        if digest is None:
            return await self._close(uploadID, writer)
        try:
            return await self.uploads.commit(name, uploadID, writer, digest)
        except BaseException:
            if whole:
                await self.uploads.cancel(name, uploadID)
            raise

    async def _close(self, uploadID: str, writer: HashingWriter) -> int:
        await writer.close()
        self.uploads.remember(uploadID, writer)
        return writer.size()

    def _checkContentRange(self, request: IRequest, name: str, uploadID: str,
                           size: int, startedAt: str | None) -> None:
        """
        @raise BlobUploadInvalid: (416) if the chunk's C{Content-Range} is
            not C{<start>-<end>}, disagrees with its C{Content-Length}, or
            does not start where the upload ends: the spec's 416, with the
            upload's current C{Range}.
        """
        contentRange = header(request, "content-range")
        if contentRange is None:
            return
        match = _CONTENT_RANGE.fullmatch(contentRange.strip())
        length = header(request, "content-length")
        if match is None:
            problem = f"malformed Content-Range: {contentRange}"
        else:
            start, end = int(match.group(1)), int(match.group(2))
            if end < start or (length is not None and length.isdigit()
                               and int(length) != end - start + 1):
                problem = f"Content-Range {contentRange} does not match the body's length"
            elif start != size:
                problem = f"the upload holds {size} bytes; the chunk starts at {start}"
            else:
                return
        raise self._rangeInvalid(request, name, uploadID, size, startedAt, problem)

    def _rangeInvalid(self, request: IRequest, name: str, uploadID: str, size: int,
                      startedAt: str | None, detail: str) -> RegistryError:
        state = UploadState(name, uploadID, size, startedAt or "")
        return BlobUploadInvalid(detail, status=416, headers={
            b"Range": _rangeHeader(size).encode("ascii"),
            b"Location": self._uploadURL(request, state).encode("utf-8"),
            b"Docker-Upload-UUID": uploadID.encode("ascii"),
            b"Blob-Upload-Session-ID": uploadID.encode("ascii")})
