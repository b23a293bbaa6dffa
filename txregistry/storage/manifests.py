"""
Manifests: checked, stored as blobs and linked as revisions of a repository.
"""

from __future__ import annotations

from txregistry.digest import Digest
from txregistry.errors import ManifestBlobUnknown, ManifestInvalid, ManifestUnknown
from txregistry.manifest import Manifest, parseManifest
from txregistry.storage import paths
from txregistry.storage.blobs import BlobStore, LinkedBlobs
from txregistry.storage.driver.errors import PathNotFound
from txregistry.storage.links import deleteIfPresent, readLink, writeLink
from txregistry.storage.referrers import ReferrerIndex
from txregistry.storage.tags import TagStore
from txregistry.urlpolicy import URLPolicy


class ManifestStore:
    """
    The manifests of every repository, and the referrers index kept with
    them.
    """

    def __init__(self, blobs: BlobStore, tags: TagStore,
                 referrers: ReferrerIndex | None = None,
                 urls: URLPolicy | None = None) -> None:
        """
        @param urls: what foreign layers may name (any http(s) URL by
            default).
        """
        self.blobs = blobs
        self.driver = blobs.driver
        self.tags = tags
        self.referrers = referrers or ReferrerIndex(blobs.driver)
        self.urls = urls or URLPolicy()

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
        Check and store a manifest whose digest is C{digest}, and index it
        as a referrer of its C{subject}, if it has one (which need not exist).

        @raise ManifestInvalid: if it is malformed.
        @raise ManifestBlobUnknown: if it refers to a blob or manifest the
            repository does not have (foreign layers with C{urls} excepted).
        @return: the parsed manifest.
        """
        manifest = parseManifest(payload, contentType)
        await self._checkReferences(name, manifest)
        await self.blobs.putContent(payload, digest)
        # The index entry first: until the revision link exists, listings
        # skip it, so a crash between the two never lists a missing manifest.
        if manifest.subject is not None:
            await self.referrers.add(name, manifest.subject.digest, digest)
        await writeLink(self.driver, paths.manifestRevisionLink(name, digest), digest)
        return manifest

    async def delete(self, name: str, digest: Digest) -> None:
        """
        Remove a manifest from the repository, with the tags naming it and
        its referrers index entry.

        @raise ManifestUnknown: if the repository has no such manifest.
        """
        subject = await self._subjectOf(name, digest)
        if not await deleteIfPresent(self.driver, paths.manifestRevision(name, digest)):
            raise ManifestUnknown(str(digest))
        if subject is not None:
            await self.referrers.remove(name, subject, digest)
        for tag in await self.tags.tagsOf(name, digest):
            await self.tags.untag(name, tag)

    async def _subjectOf(self, name: str, digest: Digest) -> Digest | None:
        """
        @return: the subject of a stored manifest, or L{None} if it has none
            or cannot be read (a manifest distribution stored, say, in a
            format txregistry does not parse).
        """
        try:
            manifest = parseManifest(await self.get(name, digest), None)
        except (ManifestUnknown, ManifestInvalid):
            return None
        return None if manifest.subject is None else manifest.subject.digest

    async def _checkReferences(self, name: str, manifest: Manifest) -> None:
        self.urls.check(manifest)
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
