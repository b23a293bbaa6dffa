"""
The OCI referrers index: for each manifest, the manifests of the same
repository whose C{subject} it is.

The index is a txregistry extension to distribution's layout (see
L{txregistry.storage.paths.referrerLink}): one link per referrer, named by
the subject and the referrer's digests, and holding the referrer's digest.
Only digests are indexed; each descriptor is built from the referrer's
stored bytes when it is asked for, so the index can never disagree with a
manifest about its type, size, C{artifactType} or annotations, and its
entries are links like every other link of the layout.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.logger import Logger

from txregistry.digest import Digest
from txregistry.errors import ManifestInvalid, ManifestUnknown
from txregistry.interfaces import IStorageDriver
from txregistry.manifest import IMAGE_TYPES, Manifest, parseManifest
from txregistry.storage import paths
from txregistry.storage.driver.errors import PathNotFound
from txregistry.storage.links import deleteIfPresent, parseLink, writeLink

if TYPE_CHECKING:
    from txregistry.storage.manifests import ManifestStore

log = Logger()


def artifactTypeOf(manifest: Manifest) -> str | None:
    """
    @return: the C{artifactType} a referrers listing gives C{manifest}: its
        own, else (for an image manifest) its config's media type, else
        L{None} (an index without one), as the OCI distribution spec says.
    """
    if manifest.artifactType:
        return manifest.artifactType
    if manifest.mediaType in IMAGE_TYPES and manifest.config is not None:
        return manifest.config.mediaType
    return None


def referrerDescriptor(manifest: Manifest, digest: Digest, size: int) -> dict[str, Any]:
    """
    @return: the descriptor of C{manifest} (whose bytes have C{digest} and
        C{size}) in a referrers listing.
    """
    descriptor: dict[str, Any] = {
        "mediaType": manifest.mediaType, "digest": str(digest), "size": size}
    artifactType = artifactTypeOf(manifest)
    if artifactType is not None:
        descriptor["artifactType"] = artifactType
    if manifest.annotations:
        descriptor["annotations"] = manifest.annotations
    return descriptor


class ReferrerIndex:
    """
    The referrers index of every repository: which manifests name which
    subject.
    """

    def __init__(self, driver: IStorageDriver) -> None:
        self.driver = driver

    async def add(self, name: str, subject: Digest, digest: Digest) -> None:
        """
        Record that the manifest C{digest} has C{subject} as its subject.
        """
        await writeLink(self.driver, paths.referrerLink(name, subject, digest), digest)

    async def remove(self, name: str, subject: Digest, digest: Digest) -> None:
        """
        Forget that the manifest C{digest} refers to C{subject}, if it was
        recorded.

        Emptied parent directories stay, as distribution leaves them when it
        deletes a revision: removing them could race with another referrer
        of the same subject being added.
        """
        await deleteIfPresent(self.driver, paths.referrer(name, subject, digest))

    async def referrersOf(self, name: str, subject: Digest) -> list[Digest]:
        """
        @return: the digests recorded as referring to C{subject}, sorted (an
            empty list for an unknown subject or repository).
        """
        links = [f"{directory}/link"
                 for algorithmDirectory in await self._children(paths.referrers(name, subject))
                 for directory in await self._children(algorithmDirectory)]
        contents = await self.driver.getContents(links)
        found = (parseLink(content, link) for link, content in zip(links, contents, strict=True))
        return sorted(digest for digest in found if digest is not None)

    async def _children(self, directory: str) -> list[str]:
        try:
            return list(await self.driver.list(directory))
        except PathNotFound:
            return []


class Referrers:
    """
    Answers to the referrers API, from the index and the stored manifests.
    """

    def __init__(self, index: ReferrerIndex, manifests: ManifestStore) -> None:
        self.index = index
        self.manifests = manifests

    async def descriptors(self, name: str, subject: Digest,
                          artifactType: str | None = None) -> list[dict[str, Any]]:
        """
        @param artifactType: if given, list only the referrers of that
            C{artifactType} (as L{artifactTypeOf} gives it).
        @return: the descriptors of the repository's manifests whose subject
            is C{subject}, in digest order.  Index entries naming a manifest
            the repository no longer has (left by a crash between the writes,
            or by distribution deleting it from a shared data directory) are
            skipped.
        """
        descriptors = []
        for digest in await self.index.referrersOf(name, subject):
            try:
                payload = await self.manifests.get(name, digest)
                manifest = parseManifest(payload, None)
            except ManifestUnknown:
                continue
            except ManifestInvalid:
                log.warn("ignoring an unreadable referrer {digest} in {name}",
                         digest=str(digest), name=name)
                continue
            if manifest.subject is None or manifest.subject.digest != subject:
                continue
            if artifactType is not None and artifactTypeOf(manifest) != artifactType:
                continue
            descriptors.append(referrerDescriptor(manifest, digest, len(payload)))
        return descriptors
