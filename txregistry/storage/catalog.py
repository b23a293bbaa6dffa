"""
The catalog: every repository that holds manifests.
"""

from __future__ import annotations

from txregistry.interfaces import IStorageDriver
from txregistry.storage import paths
from txregistry.storage.driver.errors import PathNotFound


async def listRepositories(driver: IStorageDriver,
                           markers: tuple[str, ...] = ("_manifests",)) -> list[str]:
    """
    @param markers: the directories that make a directory a repository.
    @return: the names of the repositories that have one of C{markers}
        (by default a C{_manifests} directory), in lexical order.
    """
    names: list[str] = []
    pending = [paths.REPOSITORIES]
    while pending:
        directory = pending.pop()
        try:
            children = await driver.list(directory)
        except PathNotFound:
            continue
        for child in children:
            base = child.rsplit("/", 1)[1]
            if base in markers:
                name = directory[len(paths.REPOSITORIES) + 1:]
                if not names or names[-1] != name:
                    names.append(name)
            elif not base.startswith("_"):
                pending.append(child)
    return sorted(names)
