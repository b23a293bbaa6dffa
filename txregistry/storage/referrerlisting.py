"""
The answers of the OCI referrers API: the descriptors of the manifests
whose C{subject} a manifest is, read from the referrers index
(L{txregistry.storage.referrers}) and the stored manifests.
"""

from __future__ import annotations

from typing import Any

from twisted.logger import Logger

from txregistry.digest import Digest
from txregistry.errors import ManifestInvalid, ManifestUnknown
from txregistry.manifest import IMAGE_TYPES, Manifest, parseManifest
from txregistry.storage.manifests import ManifestStore
from txregistry.storage.referrers import ReferrerIndex

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
