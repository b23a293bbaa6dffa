"""
Manifests: checked, stored as blobs and linked as revisions of a repository.
"""

from __future__ import annotations

from txregistry.cache import CountedLookups, LRUCache
from txregistry.digest import Digest
from txregistry.errors import ManifestBlobUnknown, ManifestInvalid, ManifestUnknown
from txregistry.jsonparse import InvalidJSON, parseJSON
from txregistry.manifest import Manifest, parseManifest, sniffMediaType
from txregistry.storage import paths
from txregistry.storage.blobs import BlobStore, LinkedBlobs
from txregistry.storage.driver.errors import PathNotFound
from txregistry.storage.gc.inflight import InFlight
from txregistry.storage.links import deleteIfPresent, parseLink, readLink, writeLink
from txregistry.storage.referrers import ReferrerIndex
from txregistry.storage.tags import TagStore
from txregistry.urlpolicy import URLPolicy

#: Bytes of manifests kept in memory (they are small: this holds thousands).
CONTENT_CACHE_SIZE = 64 * 1024 * 1024
#: Tags whose last digest is remembered, to read its revision link at once.
TAG_GUESSES = 100_000


class ManifestStore:
    """
    The manifests of every repository, and the referrers index kept with
    them.
    """

    def __init__(self, blobs: BlobStore, tags: TagStore,
                 referrers: ReferrerIndex | None = None,
                 urls: URLPolicy | None = None,
                 inflight: InFlight | None = None) -> None:
        """
        @param urls: what foreign layers may name (any http(s) URL by
            default).
        @param inflight: where a push pins the blobs it names (see
            L{put}), shared with the online garbage collector.
        """
        self.blobs = blobs
        self.driver = blobs.driver
        self.tags = tags
        self.referrers = referrers or ReferrerIndex(blobs.driver)
        self.urls = urls or URLPolicy()
        self.inflight = inflight or InFlight()
        # Content-addressed: a digest's bytes never change.
        self._contents: LRUCache[Digest, tuple[bytes, str]] = LRUCache(CONTENT_CACHE_SIZE)
        self._tagGuesses: LRUCache[tuple[str, str], Digest] = LRUCache(TAG_GUESSES)

    def caches(self) -> dict[str, CountedLookups]:
        """
        @return: this store's caches, by name.
        """
        return {"manifest_contents": self._contents, "tag_guesses": self._tagGuesses}

    def forget(self, digest: Digest) -> None:
        """
        Drop what this process remembers of a manifest whose blob the
        garbage collector deleted, and of that blob.
        """
        self._contents.discard(digest)
        self.blobs.forget(digest)

    async def get(self, name: str, digest: Digest) -> bytes:
        """
        @return: the manifest's bytes exactly as pushed.
        @raise ManifestUnknown: if the repository has no such manifest.
        """
        revision = await self.driver.getContents([paths.manifestRevisionLink(name, digest)])
        payload, _ = await self._content(name, digest, revision[0])
        return payload

    async def resolve(self, name: str, reference: Digest | str) -> tuple[Digest, bytes, str]:
        """
        Find the manifest a tag or digest names, reading every link afresh.

        A tag is read together with the revision link of the digest it
        named last time, so that a tag that has not moved costs one round
        trip to the storage; the manifest's bytes, immutable, come from a
        cache.

        @return: its digest, its bytes exactly as pushed, and its media type.
        @raise ManifestUnknown: if the repository has no such manifest.
        """
        if isinstance(reference, Digest):
            digest = reference
            revision = (await self.driver.getContents(
                [paths.manifestRevisionLink(name, digest)]))[0]
        else:
            tagLink = paths.tagCurrentLink(name, reference)
            guess = self._tagGuesses.get((name, reference))
            wanted = [tagLink] if guess is None else [
                tagLink, paths.manifestRevisionLink(name, guess)]
            contents = await self.driver.getContents(wanted)
            tagged = parseLink(contents[0], tagLink)
            if tagged is None:
                raise ManifestUnknown({"tag": reference}, message="manifest unknown")
            digest = tagged
            if digest == guess:
                revision = contents[1]
            else:
                self._tagGuesses.put((name, reference), digest, 1)
                revision = (await self.driver.getContents(
                    [paths.manifestRevisionLink(name, digest)]))[0]
        payload, mediaType = await self._content(name, digest, revision)
        return digest, payload, mediaType

    async def _content(self, name: str, digest: Digest,
                       revision: bytes | None) -> tuple[bytes, str]:
        """
        @param revision: the content of the repository's revision link.
        @return: the manifest's bytes and media type.
        @raise ManifestUnknown: unless the revision link names C{digest}.
        """
        if parseLink(revision, paths.manifestRevisionLink(name, digest)) != digest:
            raise ManifestUnknown(str(digest))
        cached = self._contents.get(digest)
        if cached is not None:
            return cached
        try:
            payload = await self.blobs.getContent(digest)
        except PathNotFound:
            raise ManifestUnknown(str(digest)) from None
        try:
            body = parseJSON(payload)
        except InvalidJSON:
            body = None
        sniffed = sniffMediaType(body) if isinstance(body, dict) else None
        mediaType = sniffed or "application/json"
        self._contents.put(digest, (payload, mediaType), len(payload))
        return payload, mediaType

    async def has(self, name: str, digest: Digest) -> bool:
        """
        @return: whether the repository has the manifest.
        """
        link = await readLink(self.driver, paths.manifestRevisionLink(name, digest))
        return link == digest and await self.blobs.size(digest) is not None

    async def put(self, name: str, payload: bytes, contentType: str | None,
                  digest: Digest, tag: str | None = None) -> Manifest:
        """
        Check and store a manifest whose digest is C{digest}, index it as a
        referrer of its C{subject}, if it has one (which need not exist), and
        point C{tag} at it, if given.

        The manifest's own blob and every blob it names are pinned
        (L{InFlight}) from before they are checked until the revision link
        and the tag are written, so that the garbage collector deletes none
        of them in between (nor, deleting untagged manifests, the manifest
        while it is still untagged).

        @raise ManifestInvalid: if it is malformed.
        @raise ManifestBlobUnknown: if it refers to a blob or manifest the
            repository does not have (foreign layers with C{urls} excepted).
        @return: the parsed manifest.
        """
        manifest = parseManifest(payload, contentType)
        named = [blob.digest for blob in (*manifest.layers, *manifest.manifests)]
        if manifest.config is not None:
            named.append(manifest.config.digest)
        async with self.inflight.pinned([digest, *named]):
            await self._checkReferences(name, manifest)
            await self.blobs.putContent(payload, digest)
            # The index entry first: until the revision link exists, listings
            # skip it, so a crash between the two never lists a missing manifest.
            if manifest.subject is not None:
                await self.referrers.add(name, manifest.subject.digest, digest)
            await writeLink(self.driver, paths.manifestRevisionLink(name, digest), digest)
            if tag is not None:
                await self.tags.tag(name, tag, digest)
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
