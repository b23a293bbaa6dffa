"""
Blobs: content stored once by digest, and the repository links that make a
blob visible in a repository.
"""

from __future__ import annotations

from txregistry.cache import LRUCache
from txregistry.digest import Digest
from txregistry.errors import BlobUnknown
from txregistry.interfaces import IFileReader, IStorageDriver
from txregistry.storage import paths
from txregistry.storage.driver.errors import PathNotFound
from txregistry.storage.links import deleteIfPresent, parseLink, writeLink

#: How many blob sizes are remembered.
KNOWN_SIZES = 100_000


class BlobStore:
    """
    The content-addressed blob store shared by every repository.
    """

    def __init__(self, driver: IStorageDriver) -> None:
        self.driver = driver
        # Content-addressed: a stored blob's size never changes.
        self._sizes: LRUCache[Digest, int] = LRUCache(KNOWN_SIZES)

    def knownSize(self, digest: Digest) -> int | None:
        """
        @return: the size of the blob when this process last saw it stored,
            or L{None}.  (It may since have been garbage-collected.)
        """
        return self._sizes.get(digest)

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

        @param smallLimit: read the content of a blob known to be at most
            this big in the same round trip as the links.
        @return: the blob's size, and its content if it was read.
        @raise BlobUnknown: if the repository may not serve it, or it is gone.
        """
        links = [paths.layerLink(self.name, digest), paths.manifestRevisionLink(self.name, digest)]
        known = self.blobs.knownSize(digest)
        small = known is not None and known <= smallLimit
        contents = await self.driver.getContents(
            links + [paths.blobData(digest)] if small else links)
        if digest not in (parseLink(contents[0], links[0]), parseLink(contents[1], links[1])):
            raise BlobUnknown(str(digest))
        if small:
            content = contents[2]
            if content is None:
                raise BlobUnknown(str(digest))
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
