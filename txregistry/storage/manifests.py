"""
Manifests: checked, stored as blobs and linked as revisions of a repository.
"""

from __future__ import annotations

from txregistry.digest import Digest
from txregistry.errors import ManifestBlobUnknown, ManifestUnknown
from txregistry.manifest import Manifest, parseManifest
from txregistry.storage import paths
from txregistry.storage.blobs import BlobStore, LinkedBlobs
from txregistry.storage.driver.errors import PathNotFound
from txregistry.storage.links import deleteIfPresent, readLink, writeLink
from txregistry.storage.tags import TagStore


class ManifestStore:
    """
    The manifests of every repository.
    """

    def __init__(self, blobs: BlobStore, tags: TagStore) -> None:
        self.blobs = blobs
        self.driver = blobs.driver
        self.tags = tags

    async def get(self, name: str, digest: Digest) -> bytes:
        """
        @return: the manifest's bytes exactly as pushed.
        @raise ManifestUnknown: if the repository has no such manifest.
        """
        if await readLink(self.driver, paths.manifestRevisionLink(name, digest)) != digest:
            raise ManifestUnknown(str(digest))
        try:
            return await self.blobs.getContent(digest)
        except PathNotFound:
            raise ManifestUnknown(str(digest)) from None

    async def has(self, name: str, digest: Digest) -> bool:
        """
        @return: whether the repository has the manifest.
        """
        link = await readLink(self.driver, paths.manifestRevisionLink(name, digest))
        return link == digest and await self.blobs.size(digest) is not None

    async def put(self, name: str, payload: bytes, contentType: str | None,
                  digest: Digest) -> Manifest:
        """
        Check and store a manifest whose digest is C{digest}.

        @raise ManifestInvalid: if it is malformed.
        @raise ManifestBlobUnknown: if it refers to a blob or manifest the
            repository does not have (foreign layers with C{urls} excepted).
        @return: the parsed manifest.
        """
        manifest = parseManifest(payload, contentType)
        await self._checkReferences(name, manifest)
        await self.blobs.putContent(payload, digest)
        await writeLink(self.driver, paths.manifestRevisionLink(name, digest), digest)
        return manifest

    async def delete(self, name: str, digest: Digest) -> None:
        """
        Remove a manifest from the repository, with the tags naming it.

        @raise ManifestUnknown: if the repository has no such manifest.
        """
        if not await deleteIfPresent(self.driver, paths.manifestRevision(name, digest)):
            raise ManifestUnknown(str(digest))
        for tag in await self.tags.tagsOf(name, digest):
            await self.tags.untag(name, tag)

    async def _checkReferences(self, name: str, manifest: Manifest) -> None:
        linked = LinkedBlobs(self.blobs, name)
        # Foreign layers (with urls) may live elsewhere; a config may not.
        needed = [layer for layer in manifest.layers if not layer.urls]
        if manifest.config is not None:
            needed.insert(0, manifest.config)
        for blob in needed:
            if not await linked.has(blob.digest):
                raise ManifestBlobUnknown(str(blob.digest))
        for child in manifest.manifests:
            if not await self.has(name, child.digest):
                raise ManifestBlobUnknown(str(child.digest))
