"""
Blobs: content stored once by digest, and the repository links that make a
blob visible in a repository.
"""

from __future__ import annotations

from txregistry.cache import CountedLookups, LRUCache
from txregistry.digest import Digest
from txregistry.errors import BlobUnknown
from txregistry.interfaces import IFileReader, IStorageDriver
from txregistry.storage import paths
from txregistry.storage.driver.errors import PathNotFound
from txregistry.storage.links import deleteIfPresent, parseLink, writeLink

#: How many blob sizes are remembered.
KNOWN_SIZES = 100_000
#: Bytes of small blobs kept in memory.
SMALL_CONTENTS = 32 * 1024 * 1024
#: Repository layers remembered (see L{LinkedBlobs.describe}).
KNOWN_LAYERS = 100_000


class BlobStore:
    """
    The content-addressed blob store shared by every repository.
    """

    def __init__(self, driver: IStorageDriver) -> None:
        self.driver = driver
        # Content-addressed: a stored blob's size never changes.
        self._sizes: LRUCache[Digest, int] = LRUCache(KNOWN_SIZES)
        self._contents: LRUCache[Digest, bytes] = LRUCache(SMALL_CONTENTS)
        # (repository, digest) whose layer link named the blob when last read.
        self.layerGuesses: LRUCache[tuple[str, Digest], bool] = LRUCache(KNOWN_LAYERS)

    def caches(self) -> dict[str, CountedLookups]:
        """
        @return: this store's caches, by name.
        """
        return {"blob_sizes": self._sizes, "blob_contents": self._contents,
                "layer_guesses": self.layerGuesses}

    def knownSize(self, digest: Digest) -> int | None:
        """
        @return: the size of the blob when this process last saw it stored,
            or L{None}.  (It may since have been garbage-collected.)
        """
        return self._sizes.get(digest)

    def forget(self, digest: Digest) -> None:
        """
        Drop what this process remembers of a blob the garbage collector
        deleted.  (Which repositories linked it is only a guess, checked
        on use, and is left to age out.)
        """
        self._sizes.discard(digest)
        self._contents.discard(digest)

    async def size(self, digest: Digest) -> int | None:
        """
        @return: the blob's size, or L{None} if it is not stored.
        """
        try:
            info = await self.driver.stat(paths.blobData(digest))
        except PathNotFound:
            return None
        self._sizes.put(digest, info.size, 1)
        return info.size

    def knownContent(self, digest: Digest) -> bytes | None:
        """
        @return: the content of a small blob this process has read (and
            which may since have been garbage-collected), or L{None}.
        """
        return self._contents.get(digest)

    def remember(self, digest: Digest, content: bytes) -> None:
        """
        Keep the content of a small blob just read from the storage.
        """
        self._contents.put(digest, content, len(content))

    async def reader(self, digest: Digest, offset: int = 0) -> IFileReader:
        """
        @return: an L{IFileReader} of the blob from C{offset}.
        """
        return await self.driver.reader(paths.blobData(digest), offset)

    async def getContent(self, digest: Digest) -> bytes:
        """
        @return: the content of a (small) blob.
        @raise PathNotFound: if it is not stored.
        """
        return await self.driver.getContent(paths.blobData(digest))

    async def putContent(self, content: bytes, digest: Digest) -> None:
        """
        Store a small blob (a manifest) whose digest is known.
        """
        if await self.size(digest) != len(content):
            await self.driver.putContent(paths.blobData(digest), content)


class LinkedBlobs:
    """
    The blobs of one repository: those its C{_layers} link, and its
    manifests, which are blobs too.
    """

    def __init__(self, blobs: BlobStore, name: str) -> None:
        self.blobs = blobs
        self.driver = blobs.driver
        self.name = name

    async def size(self, digest: Digest) -> int:
        """
        @return: the size of a blob the repository may serve.
        @raise BlobUnknown: if it may not, or the blob is gone.
        """
        size, _ = await self.describe(digest, 0)
        return size

    async def describe(self, digest: Digest, smallLimit: int) -> tuple[int, bytes | None]:
        """
        Check that the repository may serve a blob, reading its links
        afresh, and read it at the same time if it is known to be small.

        The links are read in one round trip to the storage: both of them,
        or, if the layer link named the blob last time, that one alone (a
        driver caching links then answers at once) and the other only if
        the layer link no longer names it.

        @param smallLimit: read the content of a blob known to be at most
            this big in the same round trip as the links.
        @return: the blob's size, and its content if it was read.
        @raise BlobUnknown: if the repository may not serve it, or it is gone.
        """
        links = [paths.layerLink(self.name, digest), paths.manifestRevisionLink(self.name, digest)]
        layer = (self.name, digest)
        guessed = bool(self.blobs.layerGuesses.get(layer))
        wanted = links[:1] if guessed else links
        known = self.blobs.knownSize(digest)
        small = known is not None and known <= smallLimit
        content = self.blobs.knownContent(digest) if small else None
        read = small and content is None
        contents = await self.driver.getContents(
            wanted + [paths.blobData(digest)] if read else wanted)
        named = [parseLink(contents[i], path) == digest for i, path in enumerate(wanted)]
        if named[0] != guessed:
            self.blobs.layerGuesses.put(layer, named[0], 1)
        if guessed and not named[0]:
            named = [parseLink((await self.driver.getContents(links[1:]))[0], links[1]) == digest]
        if not any(named):
            raise BlobUnknown(str(digest))
        if read:
            content = contents[-1]
            if content is None:
                raise BlobUnknown(str(digest))
            self.blobs.remember(digest, content)
        if content is not None:
            return len(content), content
        size = known if known is not None else await self.blobs.size(digest)
        if size is None:
            raise BlobUnknown(str(digest))
        return size, None

    async def has(self, digest: Digest) -> bool:
        """
        @return: whether the repository may serve the blob.
        """
        try:
            await self.size(digest)
        except BlobUnknown:
            return False
        return True

    async def link(self, digest: Digest) -> None:
        """
        Make a stored blob visible in the repository.
        """
        await writeLink(self.driver, paths.layerLink(self.name, digest), digest)

    async def unlink(self, digest: Digest) -> None:
        """
        Remove the blob from the repository (the data stays until garbage
        collection).

        @raise BlobUnknown: if the repository had no such layer.
        """
        path = paths.layerLink(self.name, digest).rsplit("/", 1)[0]
        if not await deleteIfPresent(self.driver, path):
            raise BlobUnknown(str(digest))
