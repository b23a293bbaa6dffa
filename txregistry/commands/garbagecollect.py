"""
C{txregistry garbage-collect}: collect the garbage of a stopped registry's
storage once (L{txregistry.storage.gc.collector.GarbageCollector}).
"""

from __future__ import annotations

from typing import IO

from twisted.internet.interfaces import IReactorTime

from txregistry.interfaces import IStorageDriver
from txregistry.storage.gc.collector import GarbageCollector, Removed, Report
from txregistry.storage.gc.hooks import RetentionHook


def line(item: Removed, dryRun: bool) -> str:
    """
    @return: the line reporting one thing removed (or, in a dry run, that
        would be).
    """
    verb = "would delete" if dryRun else "deleted"
    if item.kind == "blob":
        return f"{verb} blob {item.digest} ({item.size} bytes, {item.reason})\n"
    if item.kind == "tag":
        return f"{verb} tag {item.repository}:{item.tag} ({item.reason})\n"
    what = "layer link" if item.kind == "layer-link" else item.kind
    return f"{verb} {what} {item.repository}@{item.digest} ({item.reason})\n"


def summary(report: Report) -> str:
    """
    @return: the line counting what was (or would be) removed.
    """
    counts = f"{report.blobs} blobs, {report.manifests} manifests, {report.tags} tags"
    if report.dryRun:
        return (f"dry run: {counts} would be removed, {report.bytes} bytes would be freed; "
                f"{report.kept} blobs kept\n")
    return f"{counts} removed, {report.bytes} bytes freed; {report.kept} blobs kept\n"


async def garbageCollect(driver: IStorageDriver, clock: IReactorTime, out: IO[str], *,
                         dryRun: bool = False, deleteUntagged: bool = False,
                         quiet: bool = False,
                         retention: RetentionHook | None = None) -> int:
    """
    Collect once, with no grace period (nothing may be pushed meanwhile),
    printing each thing removed (unless C{quiet}) and then the counts.

    @param clock: an L{IReactorTime} telling the time.
    @param retention: the retention policy, if any.
    @return: the exit status, 0.
    """
    report = await GarbageCollector(driver, clock, retention=retention).collect(
        dryRun=dryRun, deleteUntagged=deleteUntagged)
    if not quiet:
        out.writelines(line(item, dryRun) for item in report.removed)
    out.write(summary(report))
    return 0
