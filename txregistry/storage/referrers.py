"""
The OCI referrers index: for each manifest, the manifests of the same
repository whose C{subject} it is.

The index is a txregistry extension to distribution's layout (see
L{txregistry.storage.paths.referrerLink}): one link per referrer, named by
the subject and the referrer's digests, and holding the referrer's digest.
Only digests are indexed; each descriptor is built from the referrer's
stored bytes when it is asked for (L{txregistry.storage.referrerlisting}),
so the index can never disagree with a manifest about its type, size,
C{artifactType} or annotations, and its entries are links like every other
link of the layout.
"""

from __future__ import annotations

from txregistry.digest import Digest
from txregistry.interfaces import IStorageDriver
from txregistry.storage import paths
from txregistry.storage.driver.errors import PathNotFound
from txregistry.storage.links import deleteIfPresent, parseLink, writeLink


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
