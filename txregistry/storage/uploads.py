"""
Blob uploads in progress: their data, their running digests, and the commit
that turns an upload into a blob.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any, cast

from twisted.internet.defer import Deferred, DeferredList, ensureDeferred, succeed
from twisted.internet.interfaces import IConsumer, IProducer, IPushProducer
from zope.interface import implementer

from txregistry.digest import CANONICAL, Digest
from txregistry.errors import BlobUploadUnknown, DigestInvalid
from txregistry.interfaces import ICountedWriter, IFileWriter, IStorageDriver
from txregistry.storage import paths
from txregistry.storage.blobs import BlobStore, LinkedBlobs
from txregistry.storage.driver.errors import PathNotFound, StorageDriverError
from txregistry.storage.gc.inflight import InFlight
from txregistry.storage.links import deleteIfPresent

MiB = 1024 * 1024
READ_BACK_CHUNK = 4 * MiB
MAX_SESSIONS = 1024


#: The first bytes of a writer are hashed on the reactor: a small blob is
#: hashed sooner than a thread would be woken.
INLINE_HASH = 64 * 1024

ThreadRunner = Callable[[Callable[[], None]], "Deferred[None]"]


@implementer(IConsumer, IPushProducer)
class HashingWriter:
    """
    A consumer that hashes every byte on its way to an L{IFileWriter}.

    Large writes are hashed by C{runInThread}, a batch at a time and in
    order (hashlib releases the GIL), so the reactor only queues them while
    the hashing, the writing and the receiving overlap.  The producer is
    paused while the writer or the hashing is behind.

    Bytes waiting to be hashed that the writer has written already are held
    by this queue alone: when the writer's memory is bounded
    (L{ICountedWriter}), they are counted there too, so that every writer
    pauses at the bound until the hashing catches up.  The writer and the
    queue both hold the latest bytes given, so this queue alone holds as
    many as it has beyond the writer's: nothing is counted twice.

    @ivar writer: the L{IFileWriter}.
    @ivar hasher: the running hash; complete once L{close} or L{commit}
        has fired.
    """

    def __init__(self, writer: IFileWriter, hasher: Any,
                 runInThread: ThreadRunner | None = None,
                 highWater: int = 16 * MiB, lowWater: int = 8 * MiB) -> None:
        """
        @param runInThread: runs a callable in a thread, returning a
            L{Deferred}; without it, every write is hashed at once.
        @param highWater: the producer is paused when more bytes than this
            wait to be hashed, and resumed below C{lowWater}.
        """
        self.writer = writer
        self.hasher = hasher
        self._runInThread = runInThread
        self._highWater = highWater
        self._lowWater = lowWater
        self._written = 0
        self._waiting: list[bytes] = []
        self._backlog = 0          # bytes waiting or being hashed
        self._hashing: Deferred[None] | None = None
        self._idle: list[Deferred[None]] = []
        self._producer: IPushProducer | None = None
        self._writerPaused = False
        self._paused = False
        self._counted = (writer if runInThread and ICountedWriter.providedBy(writer)
                         else None)
        self._alone = 0            # bytes only the queue holds, as counted
        if self._counted is not None:
            self._counted.whenWritten(self._recount)

    def registerProducer(self, producer: IProducer, streaming: bool) -> None:
        self._producer = cast(IPushProducer, producer)
        self._writerPaused = self._paused = False
        self.writer.registerProducer(self, True)

    def unregisterProducer(self) -> None:
        self._producer = None
        self.writer.unregisterProducer()

    def write(self, data: bytes) -> None:
        self.writer.write(data)
        self._written += len(data)
        if self._runInThread is None or self._written <= INLINE_HASH:
            self.hasher.update(data)
            return
        self._waiting.append(data)
        self._backlog += len(data)
        self._recount()
        self._hashNext()
        self._throttle()

    def size(self) -> int:
        """
        @return: the size of the file, counting every byte written.
        """
        return self.writer.size()

    def close(self) -> Deferred[None]:
        """
        Close the writer once every byte is hashed.
        """
        return self._hashed().addCallback(lambda _: self.writer.close())

    def commit(self) -> Deferred[None]:
        """
        Commit the writer once every byte is hashed.
        """
        return self._hashed().addCallback(lambda _: self.writer.commit())

    # IPushProducer, for the writer.

    def pauseProducing(self) -> None:
        self._writerPaused = True
        self._throttle()

    def resumeProducing(self) -> None:
        self._writerPaused = False
        self._throttle()

    def stopProducing(self) -> None:
        if self._producer is not None:
            self._producer.stopProducing()

    def _throttle(self) -> None:
        if self._producer is None:
            return
        if not self._paused and (self._writerPaused or self._backlog > self._highWater):
            self._paused = True
            self._producer.pauseProducing()
        elif self._paused and not self._writerPaused and self._backlog < self._lowWater:
            self._paused = False
            self._producer.resumeProducing()

    def _recount(self) -> None:
        if self._counted is None:
            return
        alone = max(0, self._backlog - self._counted.unwritten())
        if alone != self._alone:
            self._counted.countAlso(alone - self._alone)
            self._alone = alone

    def _hashNext(self) -> None:
        if self._hashing is not None or not self._waiting:
            return
        assert self._runInThread is not None
        batch, self._waiting = self._waiting, []
        update = self.hasher.update

        def hashBatch() -> None:
            for data in batch:
                update(data)

        self._hashing = self._runInThread(hashBatch)
        self._hashing.addBoth(self._batchHashed, sum(map(len, batch)))

    def _batchHashed(self, result: Any, size: int) -> Any:
        self._hashing = None
        self._backlog -= size
        self._recount()
        self._hashNext()
        self._throttle()
        if self._hashing is None:
            idle, self._idle = self._idle, []
            for d in idle:
                d.callback(None)
        return result

    def _hashed(self) -> Deferred[None]:
        if self._hashing is None:
            return succeed(None)
        d: Deferred[None] = Deferred()
        self._idle.append(d)
        return d


async def _together(*awaitables: Any) -> list[Any]:
    """
    Wait for every one of C{awaitables}, then raise the first error, if any.

    @return: their results.
    """
    results = await DeferredList([ensureDeferred(a) for a in awaitables], consumeErrors=True)
    for ok, result in results:
        if not ok:
            result.raiseException()
    return [result for _, result in results]


class UploadStore:
    """
    The uploads of every repository.

    The running hash of an upload is kept in this process between requests
    (up to L{MAX_SESSIONS} of them); when it is missing or out of step with
    the stored data (the upload went on in another process, or this one
    restarted), it is rebuilt by reading the stored data back.
    """

    def __init__(self, blobs: BlobStore, clock: Any,
                 runInThread: ThreadRunner | None = None,
                 inflight: InFlight | None = None) -> None:
        """
        @param clock: an L{IReactorTime}, for upload start times.
        @param runInThread: runs a callable in a thread (see
            L{HashingWriter}); without it, uploads are hashed on the reactor.
        @param inflight: where a commit pins its blob until it is linked,
            shared with the online garbage collector.
        """
        self.blobs = blobs
        self.inflight = inflight or InFlight()
        self._runInThread = runInThread
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
        # Not synced: a crash may lose an upload that committed nothing, and
        # its client then starts again.
        try:
            await _together(
                self.driver.putContent(paths.uploadData(name, uploadID), b"",
                                       durable=False),
                self.driver.putContent(paths.uploadStartedAt(name, uploadID),
                                       startedAt.encode("ascii"), durable=False))
        except BaseException:
            # A full disk, say: leave nothing behind for the purge.
            with suppress(StorageDriverError):
                await self.cancel(name, uploadID)
            raise
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
        return HashingWriter(writer, hasher, self._runInThread)

    def remember(self, uploadID: str, writer: HashingWriter) -> None:
        """
        Keep the running hash of a writer that was closed, for the upload's
        next request.
        """
        self._hashers[uploadID] = (writer.size(), writer.hasher)
        self._hashers.move_to_end(uploadID)
        while len(self._hashers) > MAX_SESSIONS:
            self._hashers.popitem(last=False)

    async def commit(self, name: str, uploadID: str, writer: HashingWriter,
                     expected: Digest) -> int:
        """
        Make an upload a blob of the repository: commit the writer durably,
        check the digest, move the data into the blob store, link it in the
        repository and remove the upload.  A digest mismatch cancels the
        upload.  The blob is pinned (L{InFlight}) until it is linked.

        @return: the blob's size.
        @raise DigestInvalid: if the content does not match C{expected}.
        """
        await writer.commit()
        size = writer.size()
        hasher = writer.hasher
        if expected.algorithm != CANONICAL:
            hasher = await self._readBack(name, uploadID, size, expected.algorithm)
        if hasher.hexdigest() != expected.hex:
            await self.cancel(name, uploadID)
            raise DigestInvalid(str(expected))
        async with self.inflight.pinned([expected]):
            # Content-addressed: replacing a stored copy changes nothing.
            await self.driver.move(paths.uploadData(name, uploadID), paths.blobData(expected))
            await _together(LinkedBlobs(self.blobs, name).link(expected),
                            self.cancel(name, uploadID))
        return size

    async def storeWhole(self, name: str, content: bytes, expected: Digest,
                         uploadID: str | None = None) -> bool:
        """
        Store a small blob received whole, in one write, and link it in the
        repository: a blob pushed in one request need not pass through an
        upload's data file.  The blob is pinned (L{InFlight}) until it is
        linked.

        @param uploadID: the (empty) upload the request names, which goes
            too.
        @return: whether the blob was stored and linked: if the content
            does not match C{expected}, nothing was stored nor removed.
        """
        if Digest.of(content, expected.algorithm) != expected:
            return False
        async with self.inflight.pinned([expected]):
            await self.driver.putContent(paths.blobData(expected), content)
            await _together(LinkedBlobs(self.blobs, name).link(expected),
                            self.cancel(name, uploadID) if uploadID else succeed(None))
        return True

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
