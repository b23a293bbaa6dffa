"""
Link files: small files naming a digest, which make content visible in a
repository.
"""

from __future__ import annotations

from twisted.logger import Logger

from txregistry.digest import Digest, InvalidDigest
from txregistry.interfaces import IStorageDriver
from txregistry.storage.driver.errors import PathNotFound

log = Logger()


async def readLink(driver: IStorageDriver, path: str) -> Digest | None:
    """
    @return: the digest the link at C{path} names, or L{None} if there is no
        link there (or it is unreadable, which is logged).
    """
    try:
        content = await driver.getContent(path)
    except PathNotFound:
        return None
    return parseLink(content, path)


def parseLink(content: bytes | None, path: str) -> Digest | None:
    """
    @param content: a link file's content, or L{None} for a missing link.
    @return: the digest it names, or L{None} if there is none (or the link
        is unreadable, which is logged).
    """
    if content is None:
        return None
    try:
        return Digest.parse(content.decode("ascii").strip())
    except (UnicodeDecodeError, InvalidDigest):
        log.warn("ignoring a corrupt link at {path}", path=path)
        return None


async def writeLink(driver: IStorageDriver, path: str, digest: Digest) -> None:
    """
    Write (atomically) a link at C{path} naming C{digest}.
    """
    await driver.putContent(path, str(digest).encode("ascii"))


async def deleteIfPresent(driver: IStorageDriver, path: str) -> bool:
    """
    Delete C{path} if it exists.

    @return: whether something was deleted.
    """
    try:
        await driver.delete(path)
    except PathNotFound:
        return False
    return True
