"""
Purging abandoned uploads (C{storage.maintenance.uploadpurging}), as
distribution's C{registry/storage/purgeuploads.go} and C{startUploadPurger}
in C{registry/handlers/app.go}.

Every repository's C{_uploads/<id>/} whose C{startedat} is older than the
configured age is deleted.  As in distribution:

  - only directories named by a UUID are considered (nothing else under
    C{_uploads} was made by an upload, so nothing else is deleted);
  - an upload whose C{startedat} is missing is kept: its age is unknown
    (distribution dates it 10000 hours in the future);
  - an upload whose C{startedat} cannot be read or parsed as an RFC 3339
    time is kept too, and counted (and logged) as an error;
  - a dry run logs what would be deleted and deletes nothing.

Only the storage driver interface is used (C{list}, C{getContent},
C{delete}), so the purge works on every driver and never blocks the reactor.

A driver that writes small files through temporary ones (the filesystem
driver) also has the temporaries left by an interrupted write removed: at
start and every hour after, whether uploads are purged or not
(L{TemporarySweepService}).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.interfaces import IDelayedCall
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure

from txregistry.config.units import format_duration
from txregistry.interfaces import IStorageDriver
from txregistry.storage import paths
from txregistry.storage.driver.errors import PathNotFound, StorageDriverError

#: The longest wait before the first purge after start (distribution spreads
#: the first purges of its replicas over a random delay too).
MAX_INITIAL_DELAY = timedelta(minutes=30)

#: Temporary files younger than this are never removed: they may be being
#: written, by this process or another one sharing the storage.  A small
#: file takes milliseconds to write; an hour leaves room for a stalled disk.
TEMPORARY_AGE = timedelta(hours=1)

#: The time between two sweeps of temporary files: a leftover is removed at
#: most two hours after it was last written.
SWEEP_INTERVAL = TEMPORARY_AGE

#: Removes a driver's temporary files last modified before a time (seconds
#: since the epoch), firing with their paths (see
#: L{txregistry.storage.driver.filesystem.FilesystemDriver.removeTemporaries}).
RemoveTemporaries = Callable[[float], "Deferred[list[str]]"]


def parseStartedAt(content: bytes) -> datetime:
    """
    Parse the content of an upload's C{startedat} file.

    @param content: an RFC 3339 time, as distribution and
        L{txregistry.storage.uploads.UploadStore.start} write it
        (C{2024-05-01T12:00:00Z}, fractional seconds allowed).
    @return: the time, timezone-aware.
    @raise ValueError: if C{content} is not such a time.
    """
    text = content.decode("ascii").strip()
    if "T" not in text.upper():
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    when = datetime.fromisoformat(text)
    if when.tzinfo is None:
        raise ValueError(f"no time zone in {text!r}")
    return when


def isUploadID(name: str) -> bool:
    """
    @return: whether C{name} is a UUID, as the upload ids distribution and
        txregistry make (and the only names distribution's purge deletes).
    """
    try:
        uuid.UUID(name)
    except ValueError:
        return False
    return True


def initialDelay(interval: timedelta, rand: Callable[[], float] = random.random) -> float:
    """
    Choose how long to wait before the first purge.

    @param interval: the time between purges.
    @param rand: a source of floats in [0, 1).
    @return: seconds in [0, min(C{interval}, L{MAX_INITIAL_DELAY})).
    """
    return rand() * min(interval, MAX_INITIAL_DELAY).total_seconds()


@dataclass
class PurgeResult:
    """
    What one purge did.

    @ivar deleted: the upload directories deleted (in a dry run: that would
        have been deleted).
    @ivar kept: how many uploads were kept (young, or of unknown age).
    @ivar errors: how many uploads or directories could not be examined or
        deleted.
    """

    deleted: list[str] = field(default_factory=list)
    kept: int = 0
    errors: int = 0


class TemporarySweeper:
    """
    Removes the temporary files a process killed while storing a small file
    leaves behind, once they are older than L{TEMPORARY_AGE}.

    @param remove: the driver's L{RemoveTemporaries}.
    @param clock: an L{IReactorTime} telling the time.
    """

    log = Logger()

    def __init__(self, remove: RemoveTemporaries, clock: Any) -> None:
        self.remove = remove
        self.clock = clock

    def sweep(self) -> Deferred[list[str]]:
        """
        Remove the temporary files older than L{TEMPORARY_AGE}.

        @return: a L{Deferred} firing with their paths; it never fails (an
            error is logged, and nothing reported removed).  Cancelling it
            stops the scan.
        """
        d = self.remove(self.clock.seconds() - TEMPORARY_AGE.total_seconds())

        def done(outcome: list[str] | Failure) -> list[str]:
            if isinstance(outcome, Failure):
                if not outcome.check(CancelledError):
                    self.log.failure("removing temporary files", outcome)
                return []
            for path in outcome:
                self.log.info("removed temporary file {path}, left by an interrupted "
                              "write", path=path)
            return outcome

        return d.addBoth(done)


class RepeatingService(Service):
    """
    Runs L{runOnce} after C{delay} seconds, then every C{interval}, never two
    at once (a run that outlasts the interval delays the next); a run under
    way when the service stops is cancelled.

    @ivar clock: the L{IReactorTime} scheduling the runs.
    """

    def __init__(self, clock: Any, delay: float, interval: timedelta) -> None:
        self.clock = clock
        self.delay = delay
        self.interval = interval
        self._delayed: IDelayedCall | None = None
        self._loop: LoopingCall | None = None
        self._running: Deferred[Any] | None = None

    def runOnce(self) -> Deferred[Any]:
        """
        @return: a L{Deferred} firing when the run is over; it never fails,
            and cancelling it stops the run.
        """
        raise NotImplementedError

    def startService(self) -> None:
        super().startService()
        self._delayed = self.clock.callLater(self.delay, self._startLoop)

    def _startLoop(self) -> None:
        self._delayed = None
        self._loop = LoopingCall(self._run)
        self._loop.clock = self.clock
        self._loop.start(self.interval.total_seconds(), now=True)

    def _run(self) -> Deferred[Any]:
        self._running = self.runOnce()

        def done(result: Any) -> Any:
            self._running = None
            return result

        return self._running.addBoth(done)

    def stopService(self) -> None:
        super().stopService()
        if self._delayed is not None and self._delayed.active():
            self._delayed.cancel()
        self._delayed = None
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None
        if self._running is not None:
            self._running.cancel()


class TemporarySweepService(RepeatingService):
    """
    Runs a L{TemporarySweeper} as soon as the reactor runs (the listeners do
    not wait for it), then every L{SWEEP_INTERVAL}, never two at once.

    A sweep under way when the service stops is cancelled.

    @param sweeper: the L{TemporarySweeper}.
    @param clock: the L{IReactorTime} scheduling it.
    """

    def __init__(self, sweeper: TemporarySweeper, clock: Any) -> None:
        super().__init__(clock, 0, SWEEP_INTERVAL)
        self.sweeper = sweeper

    def runOnce(self) -> Deferred[list[str]]:
        return self.sweeper.sweep()


class UploadPurger:
    """
    Deletes the uploads started before some time, in every repository.

    @param driver: the L{IStorageDriver} holding the repositories.
    @param dryRun: log what would be deleted instead of deleting it.
    """

    log = Logger()

    def __init__(self, driver: IStorageDriver, dryRun: bool = False) -> None:
        self.driver = driver
        self.dryRun = dryRun

    def purge(self, olderThan: datetime) -> Deferred[PurgeResult]:
        """
        Walk every repository's C{_uploads} and delete the uploads started
        before C{olderThan}.

        Storage errors are counted in the result, never raised.  Cancelling
        the returned L{Deferred} stops the walk at the driver call under way.

        @param olderThan: a timezone-aware time.
        @return: a L{Deferred} firing with the L{PurgeResult}.
        """
        return Deferred.fromCoroutine(self._purge(olderThan))

    async def _purge(self, olderThan: datetime) -> PurgeResult:
        result = PurgeResult()
        self.log.info("purging uploads started before {olderThan} (dry run: {dryRun})",
                      olderThan=olderThan.isoformat(), dryRun=self.dryRun)
        pending = [paths.REPOSITORIES]
        while pending:
            directory = pending.pop()
            try:
                children = await self.driver.list(directory)
            except PathNotFound:
                continue
            except StorageDriverError as e:
                self._error(result, "listing {path}: {error}", directory, e)
                continue
            for child in children:
                base = child.rsplit("/", 1)[1]
                if base == "_uploads":
                    await self._purgeUploads(child, olderThan, result)
                elif not base.startswith("_"):
                    pending.append(child)
        self.log.info(
            "purged uploads: {deleted} {verb}, {kept} kept, {errors} errors",
            deleted=len(result.deleted), kept=result.kept, errors=result.errors,
            verb="would be deleted (dry run)" if self.dryRun else "deleted")
        return result

    async def _purgeUploads(self, directory: str, olderThan: datetime,
                            result: PurgeResult) -> None:
        try:
            uploads = await self.driver.list(directory)
        except PathNotFound:
            return
        except StorageDriverError as e:
            self._error(result, "listing {path}: {error}", directory, e)
            return
        for upload in uploads:
            if not isUploadID(upload.rsplit("/", 1)[1]):
                continue
            startedAt = await self._startedAt(upload, result)
            if startedAt is None or startedAt >= olderThan:
                result.kept += 1
                continue
            if self.dryRun:
                self.log.info("would delete upload {path}, started {startedAt}",
                              path=upload, startedAt=startedAt.isoformat())
                result.deleted.append(upload)
                continue
            try:
                await self.driver.delete(upload)
            except PathNotFound:
                # Finished or cancelled since it was listed.
                continue
            except StorageDriverError as e:
                self._error(result, "deleting {path}: {error}", upload, e)
                continue
            self.log.info("deleted upload {path}, started {startedAt}",
                          path=upload, startedAt=startedAt.isoformat())
            result.deleted.append(upload)

    async def _startedAt(self, upload: str, result: PurgeResult) -> datetime | None:
        """
        @return: when C{upload} started, or L{None} if that is unknown.
        """
        path = f"{upload}/startedat"
        try:
            return parseStartedAt(await self.driver.getContent(path))
        except PathNotFound:
            self.log.debug("keeping upload {path}: it has no startedat", path=upload)
        except (StorageDriverError, ValueError) as e:
            self._error(result, "keeping upload of unknown age, {path}: {error}", path, e)
        return None

    def _error(self, result: PurgeResult, format: str, path: str,
               error: Exception) -> None:
        result.errors += 1
        self.log.warn(format, path=path, error=error)


class UploadPurgerService(RepeatingService):
    """
    Runs an L{UploadPurger} every C{interval}, the first time after
    C{delay}, purging the uploads older than C{age}.

    A purge under way when the service stops is cancelled.

    @param purger: the L{UploadPurger}.
    @param age: uploads started longer ago than this are deleted.
    @param interval: the time between the starts of two purges.
    @param clock: the L{IReactorTime} scheduling the purges and telling the
        time.
    @param delay: seconds to wait before the first purge (see
        L{initialDelay}).
    """

    log = Logger()

    def __init__(self, purger: UploadPurger, age: timedelta, interval: timedelta,
                 clock: Any, delay: float) -> None:
        if interval <= timedelta(0):
            raise ValueError("storage.maintenance.uploadpurging.interval must be "
                             f"positive, not {interval}")
        super().__init__(clock, delay, interval)
        self.purger = purger
        self.age = age

    @classmethod
    def fromConfig(cls, driver: IStorageDriver, config: Any,
                   clock: Any) -> UploadPurgerService:
        """
        @param config: a L{txregistry.config.model.UploadPurgingConfig}.
        @return: the service for C{config}, its first purge after a random
            delay (see L{initialDelay}).
        """
        return cls(UploadPurger(driver, config.dryrun), config.age,
                   config.interval, clock, initialDelay(config.interval))

    def startService(self) -> None:
        super().startService()
        self.log.info(
            "purging uploads older than {age} every {interval}, first in {delay:.1f}s",
            age=format_duration(self.age), interval=format_duration(self.interval),
            delay=self.delay)

    def runOnce(self) -> Deferred[PurgeResult | None]:
        """
        Purge the uploads older than C{age} now.

        @return: a L{Deferred} firing with the L{PurgeResult}, or L{None} if
            the purge failed (logged) or was cancelled; it never fails.
        """
        now = datetime.fromtimestamp(self.clock.seconds(), UTC)
        d = self.purger.purge(now - self.age)

        def done(outcome: PurgeResult | Failure) -> PurgeResult | None:
            if isinstance(outcome, Failure):
                if not outcome.check(CancelledError):
                    self.log.failure("purging uploads", outcome)
                return None
            return outcome

        return d.addBoth(done)
