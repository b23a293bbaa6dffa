"""
C{txregistry purge-uploads}: purge the abandoned uploads once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import IO, Any

from txregistry.interfaces import IStorageDriver
from txregistry.storage.purge import UploadPurger


async def purgeUploads(driver: IStorageDriver, clock: Any, age: timedelta,
                       dryRun: bool, out: IO[str]) -> int:
    """
    Delete (or, in a dry run, list) the uploads started more than C{age}
    ago, printing each and then the counts.

    @param clock: an L{IReactorTime} telling the time.
    @return: the exit status: 1 if an upload could not be examined or
        deleted, else 0.
    """
    olderThan = datetime.fromtimestamp(clock.seconds(), UTC) - age
    result = await UploadPurger(driver, dryRun).purge(olderThan)
    verb = "would delete" if dryRun else "deleted"
    for path in result.deleted:
        out.write(f"{verb} {path}\n")
    out.write(f"{len(result.deleted)} uploads {verb}, {result.kept} kept, "
              f"{result.errors} errors\n")
    return 1 if result.errors else 0
