"""
The catalog: every repository that holds manifests.
"""

from __future__ import annotations

from txregistry.interfaces import IStorageDriver
from txregistry.storage import paths
from txregistry.storage.driver.errors import PathNotFound


async def listRepositories(driver: IStorageDriver) -> list[str]:
    """
    @return: the names of the repositories that have a C{_manifests}
        directory, in lexical order.
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
            if base == "_manifests":
                names.append(directory[len(paths.REPOSITORIES) + 1:])
            elif not base.startswith("_"):
                pending.append(child)
    return sorted(names)
