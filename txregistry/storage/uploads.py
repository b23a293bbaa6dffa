"""
Blob uploads in progress: their data, their running digests, and the commit
that turns an upload into a blob.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

from twisted.internet.interfaces import IConsumer, IProducer
from zope.interface import implementer

from txregistry.digest import CANONICAL, Digest
from txregistry.errors import BlobUploadUnknown, DigestInvalid
from txregistry.interfaces import IFileWriter, IStorageDriver
from txregistry.storage import paths
from txregistry.storage.blobs import BlobStore, LinkedBlobs
from txregistry.storage.driver.errors import PathNotFound
from txregistry.storage.links import deleteIfPresent

READ_BACK_CHUNK = 4 * 1024 * 1024
MAX_SESSIONS = 1024


@implementer(IConsumer)
class HashingWriter:
    """
    A consumer that hashes every byte on its way to an L{IFileWriter}.
    """

    def __init__(self, writer: IFileWriter, hasher: Any) -> None:
        self.writer = writer
        self.hasher = hasher

    def registerProducer(self, producer: IProducer, streaming: bool) -> None:
        self.writer.registerProducer(producer, streaming)

    def unregisterProducer(self) -> None:
        self.writer.unregisterProducer()

    def write(self, data: bytes) -> None:
        self.hasher.update(data)
        self.writer.write(data)


class UploadStore:
    """
    The uploads of every repository.

    The running hash of an upload is kept in this process between requests
    (up to L{MAX_SESSIONS} of them); when it is missing or out of step with
    the stored data (the upload went on in another process, or this one
    restarted), it is rebuilt by reading the stored data back.
    """

    def __init__(self, blobs: BlobStore, clock: Any) -> None:
        self.blobs = blobs
        self.driver: IStorageDriver = blobs.driver
        self.clock = clock
        self._hashers: OrderedDict[str, tuple[int, Any]] = OrderedDict()

    async def start(self, name: str) -> tuple[str, str]:
        """
        Start an upload.

        @return: its id and its start time (RFC 3339).
        """
        uploadID = str(uuid.uuid4())
        started = datetime.fromtimestamp(self.clock.seconds(), UTC)
        startedAt = started.isoformat().replace("+00:00", "Z")
        await self.driver.putContent(paths.uploadData(name, uploadID), b"")
        await self.driver.putContent(
            paths.uploadStartedAt(name, uploadID), startedAt.encode("ascii"))
        return uploadID, startedAt

    async def startedAt(self, name: str, uploadID: str) -> str:
        """
        @return: when the upload started (RFC 3339), or C{""} if unknown.
        """
        try:
            content = await self.driver.getContent(paths.uploadStartedAt(name, uploadID))
        except PathNotFound:
            return ""
        return content.decode("ascii", "replace").strip()

    async def size(self, name: str, uploadID: str) -> int:
        """
        @return: how many bytes the upload holds.
        @raise BlobUploadUnknown: if there is no such upload.
        """
        try:
            return (await self.driver.stat(paths.uploadData(name, uploadID))).size
        except PathNotFound:
            raise BlobUploadUnknown(uploadID) from None

    async def writer(self, name: str, uploadID: str) -> HashingWriter:
        """
        @return: a L{HashingWriter} appending to the upload, which it holds
            exclusively (its size cannot change under it), its hasher
            (sha256) up to date with the stored data.
        @raise BlobUploadUnknown: if there is no such upload.
        @raise PathBusy: if another request, here or in another process, is
            writing the upload.
        """
        try:
            writer = await self.driver.writer(paths.uploadData(name, uploadID), append=True)
        except PathNotFound:
            raise BlobUploadUnknown(uploadID) from None
        try:
            hasher = await self._hasher(name, uploadID, writer.size(), CANONICAL)
        except BaseException:
            await writer.close()
            raise
        return HashingWriter(writer, hasher)

    def remember(self, uploadID: str, writer: HashingWriter) -> None:
        """
        Keep the running hash of a writer that was closed, for the upload's
        next request.
        """
        self._hashers[uploadID] = (writer.writer.size(), writer.hasher)
        self._hashers.move_to_end(uploadID)
        while len(self._hashers) > MAX_SESSIONS:
            self._hashers.popitem(last=False)

    async def commit(self, name: str, uploadID: str, writer: HashingWriter,
                     expected: Digest) -> int:
        """
        Make an upload a blob of the repository: commit the writer durably,
        check the digest, move the data into the blob store, link it in the
        repository and remove the upload.  A digest mismatch cancels the
        upload.

        @return: the blob's size.
        @raise DigestInvalid: if the content does not match C{expected}.
        """
        await writer.writer.commit()
        size = writer.writer.size()
        hasher = writer.hasher
        if expected.algorithm != CANONICAL:
            hasher = await self._readBack(name, uploadID, size, expected.algorithm)
        if hasher.hexdigest() != expected.hex:
            await self.cancel(name, uploadID)
            raise DigestInvalid(str(expected))
        data = paths.uploadData(name, uploadID)
        if await self.blobs.size(expected) == size:
            await self.driver.delete(data)
        else:
            await self.driver.move(data, paths.blobData(expected))
        await LinkedBlobs(self.blobs, name).link(expected)
        await self.cancel(name, uploadID)
        return size

    async def cancel(self, name: str, uploadID: str) -> bool:
        """
        Remove an upload and everything it stored.

        @return: whether there was such an upload.
        """
        self._hashers.pop(uploadID, None)
        return await deleteIfPresent(self.driver, paths.upload(name, uploadID))

    async def _hasher(self, name: str, uploadID: str, size: int, algorithm: str) -> Any:
        session = self._hashers.pop(uploadID, None)
        if session is not None and session[0] == size and algorithm == CANONICAL:
            return session[1]
        return await self._readBack(name, uploadID, size, algorithm)

    async def _readBack(self, name: str, uploadID: str, size: int, algorithm: str) -> Any:
        hasher = Digest(algorithm, "").hasher()
        reader = await self.driver.reader(paths.uploadData(name, uploadID), 0)
        try:
            remaining = size
            while remaining > 0:
                data = await reader.read(min(READ_BACK_CHUNK, remaining))
                if not data:
                    break
                hasher.update(data)
                remaining -= len(data)
        finally:
            await reader.close()
        return hasher
