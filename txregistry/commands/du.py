"""
C{txregistry du}: the bytes every repository uses, as a table or JSON.
"""

from __future__ import annotations

import json
from typing import IO

from txregistry.interfaces import IStorageDriver
from txregistry.storage.usage import Usage, diskUsage


def table(usage: Usage) -> str:
    """
    @return: one line per repository (largest first), then the total of
        the distinct blobs.
    """
    rows = [(r.name, str(r.blobs), str(r.size)) for r in usage.repositories]
    rows.append(("total (unique)", str(usage.blobs), str(usage.size)))
    header = ("REPOSITORY", "BLOBS", "BYTES")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(3)]
    return "".join(f"{name:<{widths[0]}}  {blobs:>{widths[1]}}  {size:>{widths[2]}}\n"
                   for name, blobs, size in [header, *rows])


def asJSON(usage: Usage) -> str:
    """
    @return: the usage as a JSON document.
    """
    return json.dumps({
        "repositories": [{"name": r.name, "blobs": r.blobs, "bytes": r.size}
                         for r in usage.repositories],
        "total": {"blobs": usage.blobs, "bytes": usage.size},
        "missing": usage.missing,
    }, indent=2) + "\n"


async def du(driver: IStorageDriver, asJson: bool, out: IO[str]) -> int:
    """
    Print the disk usage of every repository.

    @return: the exit status, 0.
    """
    usage = await diskUsage(driver)
    out.write(asJSON(usage) if asJson else table(usage))
    return 0
