"""
Blobs: content stored once by digest, and the repository links that make a
blob visible in a repository.
"""

from __future__ import annotations

from txregistry.digest import Digest
from txregistry.errors import BlobUnknown
from txregistry.interfaces import IFileReader, IStorageDriver
from txregistry.storage import paths
from txregistry.storage.driver.errors import PathNotFound
from txregistry.storage.links import deleteIfPresent, readLink, writeLink


class BlobStore:
    """
    The content-addressed blob store shared by every repository.
    """

    def __init__(self, driver: IStorageDriver) -> None:
        self.driver = driver

    async def size(self, digest: Digest) -> int | None:
        """
        @return: the blob's size, or L{None} if it is not stored.
        """
        try:
            info = await self.driver.stat(paths.blobData(digest))
        except PathNotFound:
            return None
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
        for link in (paths.layerLink(self.name, digest),
                     paths.manifestRevisionLink(self.name, digest)):
            if await readLink(self.driver, link) == digest:
                size = await self.blobs.size(digest)
                if size is not None:
                    return size
        raise BlobUnknown(str(digest))

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
