"""
Tags: names for manifests within a repository.
"""

from __future__ import annotations

from txregistry.digest import Digest
from txregistry.interfaces import IStorageDriver
from txregistry.storage import paths
from txregistry.storage.driver.errors import PathNotFound
from txregistry.storage.links import deleteIfPresent, parseLink, readLink, writeLink


class TagStore:
    """
    The tags of every repository, in distribution's layout: each tag has a
    C{current} link and an C{index} of every digest it ever named.
    """

    def __init__(self, driver: IStorageDriver) -> None:
        self.driver = driver

    async def resolve(self, name: str, tag: str) -> Digest | None:
        """
        @return: the digest the tag names, or L{None}.
        """
        return await readLink(self.driver, paths.tagCurrentLink(name, tag))

    async def tag(self, name: str, tag: str, digest: Digest) -> None:
        """
        Point C{tag} at C{digest}: the index entry first, then C{current}
        (atomically replaced, so readers see the old or the new digest).
        """
        await writeLink(self.driver, paths.tagIndexLink(name, tag, digest), digest)
        await writeLink(self.driver, paths.tagCurrentLink(name, tag), digest)

    async def untag(self, name: str, tag: str) -> bool:
        """
        Remove a tag.

        @return: whether there was such a tag.
        """
        return await deleteIfPresent(self.driver, paths.tag(name, tag))

    async def listTags(self, name: str) -> list[str] | None:
        """
        @return: the repository's tags, sorted, or L{None} if it has no tags
            directory.
        """
        try:
            children = await self.driver.list(paths.tags(name))
        except PathNotFound:
            return None
        return sorted(child.rsplit("/", 1)[1] for child in children)

    async def tagsOf(self, name: str, digest: Digest) -> list[str]:
        """
        @return: the tags currently naming C{digest}.
        """
        tags = await self.listTags(name) or []
        links = [paths.tagCurrentLink(name, tag) for tag in tags]
        contents = await self.driver.getContents(links)
        return [tag for tag, link, content in zip(tags, links, contents, strict=True)
                if parseLink(content, link) == digest]
