"""
Disk usage by repository (C{txregistry du}).

A repository uses the blobs it links: its C{_layers} links (layers and
configs pushed or mounted into it) and its manifest revisions (each
manifest is a blob too).  Blobs are shared between repositories, so the
sum of the repositories' bytes may exceed what the storage holds; the
total counts every blob once.

Only the storage driver interface is used (C{list}, C{walk}, C{stat}), so
it works on every driver.
"""

from __future__ import annotations

from dataclasses import dataclass

from txregistry.digest import Digest, InvalidDigest
from txregistry.interfaces import IStorageDriver
from txregistry.storage import paths
from txregistry.storage.catalog import listRepositories
from txregistry.storage.driver.errors import PathNotFound

#: The directories of a repository holding one link per blob it uses, as
#: C{<alg>/<hex>/link}.
LINKED = ("_layers", "_manifests/revisions")


@dataclass(frozen=True)
class RepositoryUsage:
    """
    What one repository uses.

    @ivar name: the repository.
    @ivar blobs: how many distinct stored blobs it links.
    @ivar size: their bytes.
    """

    name: str
    blobs: int
    size: int


@dataclass(frozen=True)
class Usage:
    """
    What the registry uses.

    @ivar repositories: per repository, largest first.
    @ivar blobs: how many distinct blobs the repositories link.
    @ivar size: their bytes, each blob counted once.
    @ivar missing: how many linked blobs are not stored (counted nowhere).
    """

    repositories: list[RepositoryUsage]
    blobs: int
    size: int
    missing: int


async def linkedBlobs(driver: IStorageDriver, name: str) -> set[Digest]:
    """
    @return: the digests repository C{name} links, in C{_layers} or as
        manifest revisions.
    """
    digests: set[Digest] = set()
    for below in LINKED:
        directory = f"{paths.repository(name)}/{below}"
        try:
            files = await driver.walk(directory)
        except PathNotFound:
            continue
        for info in files:
            parts = info.path[len(directory) + 1:].split("/")
            if info.isDir or len(parts) != 3 or parts[2] != "link":
                continue
            try:
                digests.add(Digest.parse(f"{parts[0]}:{parts[1]}"))
            except InvalidDigest:
                continue
    return digests


async def diskUsage(driver: IStorageDriver) -> Usage:
    """
    Measure the bytes every repository links, stat-ing every blob once.

    @return: the L{Usage}.
    """
    sizes: dict[Digest, int | None] = {}
    repositories = []
    for name in await listRepositories(driver, ("_layers", "_manifests")):
        count = total = 0
        for digest in await linkedBlobs(driver, name):
            if digest not in sizes:
                try:
                    sizes[digest] = (await driver.stat(paths.blobData(digest))).size
                except PathNotFound:
                    sizes[digest] = None
            size = sizes[digest]
            if size is not None:
                count += 1
                total += size
        repositories.append(RepositoryUsage(name, count, total))
    repositories.sort(key=lambda r: (-r.size, r.name))
    stored = [size for size in sizes.values() if size is not None]
    return Usage(repositories, len(stored), sum(stored), len(sizes) - len(stored))
