"""
Tests for L{txregistry.storage.purge}: purging abandoned uploads on the
in-memory driver, timed by a L{Clock}.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.logger import Logger, formatEvent
from twisted.python.failure import Failure

from tests.api.helpers import result
from txregistry.storage import paths
from txregistry.storage.driver.base import CheckedDriver
from txregistry.storage.driver.errors import UnexpectedError
from txregistry.storage.driver.inmemory import InMemoryDriver
from txregistry.storage.purge import (
    MAX_INITIAL_DELAY,
    SWEEP_INTERVAL,
    TEMPORARY_AGE,
    PurgeResult,
    TemporarySweeper,
    TemporarySweepService,
    UploadPurger,
    UploadPurgerService,
    initialDelay,
    isUploadID,
    parseStartedAt,
)

NOW = datetime(2024, 5, 8, 12, 0, tzinfo=UTC)
WEEK = timedelta(days=7)
OLD = "11111111-1111-4111-8111-111111111111"
YOUNG = "22222222-2222-4222-8222-222222222222"
OTHER = "33333333-3333-4333-8333-333333333333"


def rfc3339(when: datetime) -> bytes:
    return when.isoformat().replace("+00:00", "Z").encode("ascii")


def addUpload(driver: Any, name: str, uploadID: str, startedAt: bytes | None,
              data: bytes = b"some bytes") -> str:
    """
    Store an upload as L{txregistry.storage.uploads.UploadStore} does.

    @param startedAt: the content of its C{startedat}, or L{None} for none.
    @return: its directory.
    """
    result(driver.putContent(paths.uploadData(name, uploadID), data))
    if startedAt is not None:
        result(driver.putContent(paths.uploadStartedAt(name, uploadID), startedAt))
    return paths.upload(name, uploadID)


def exists(driver: Any, path: str) -> bool:
    """
    @return: whether anything is stored at or below C{path}.
    """
    outcome: list[Any] = []
    driver.stat(path).addBoth(outcome.append)
    return not isinstance(outcome[0], Failure)


@pytest.fixture
def driver() -> CheckedDriver:
    return CheckedDriver(InMemoryDriver())


def purge(driver: Any, dryRun: bool = False, age: timedelta = WEEK) -> PurgeResult:
    outcome: PurgeResult = result(UploadPurger(driver, dryRun).purge(NOW - age))
    return outcome


# Parsing


@pytest.mark.parametrize("text, expected", [
    (b"2024-05-01T12:00:00Z", datetime(2024, 5, 1, 12, tzinfo=UTC)),
    (b"2024-05-01T12:00:00.123456789Z", datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)),
    (b"2024-05-01T14:00:00+02:00", datetime(2024, 5, 1, 12, tzinfo=UTC)),
    (b"2024-05-01T12:00:00Z\n", datetime(2024, 5, 1, 12, tzinfo=UTC)),
])
def test_parseStartedAt(text: bytes, expected: datetime) -> None:
    """RFC 3339 times, as distribution and txregistry write them, parse to aware datetimes."""
    assert parseStartedAt(text) == expected


@pytest.mark.parametrize("text", [
    b"", b"yesterday", b"2024-05-01", b"2024-05-01T12:00:00", b"\xff\xfe", b"1714564800",
])
def test_parseStartedAtRefuses(text: bytes) -> None:
    """Text that is not an RFC 3339 time with a zone is refused."""
    with pytest.raises(ValueError):
        parseStartedAt(text)


def test_isUploadID() -> None:
    """Only UUIDs name uploads."""
    assert isUploadID(OLD)
    assert not isUploadID("not-a-uuid")
    assert not isUploadID("hashstates")


@pytest.mark.parametrize("interval, fraction, expected", [
    (timedelta(hours=24), 0.5, MAX_INITIAL_DELAY.total_seconds() / 2),
    (timedelta(hours=24), 0.0, 0.0),
    (timedelta(seconds=2), 0.5, 1.0),
])
def test_initialDelay(interval: timedelta, fraction: float, expected: float) -> None:
    """The first purge waits a random part of the interval, at most 30 minutes."""
    assert initialDelay(interval, lambda: fraction) == expected


# Purging


def test_oldRemovedYoungKept(driver: Any) -> None:
    """An upload started more than age ago is deleted whole; a younger one is kept."""
    old = addUpload(driver, "app", OLD, rfc3339(NOW - WEEK - timedelta(seconds=1)))
    result(driver.putContent(f"{old}/hashstates/sha256/0", b"state"))
    young = addUpload(driver, "app", YOUNG, rfc3339(NOW - WEEK + timedelta(seconds=1)))
    outcome = purge(driver)
    assert outcome.deleted == [old]
    assert (outcome.kept, outcome.errors) == (1, 0)
    assert not exists(driver, old)
    assert exists(driver, paths.uploadData("app", YOUNG))
    assert exists(driver, young)


def test_dryRunKeepsAll(driver: Any) -> None:
    """A dry run reports the old upload and deletes nothing."""
    old = addUpload(driver, "app", OLD, rfc3339(NOW - 2 * WEEK))
    addUpload(driver, "app", YOUNG, rfc3339(NOW))
    outcome = purge(driver, dryRun=True)
    assert outcome.deleted == [old]
    assert outcome.kept == 1
    assert exists(driver, paths.uploadData("app", OLD))
    assert exists(driver, paths.uploadStartedAt("app", OLD))


def test_severalAndNestedRepositories(driver: Any) -> None:
    """Uploads of every repository are purged, nested names and parents of nested ones included."""
    old = rfc3339(NOW - 2 * WEEK)
    purged = [
        addUpload(driver, "app", OLD, old),
        addUpload(driver, "library/app", OLD, old),
        addUpload(driver, "library", OTHER, old),
        addUpload(driver, "a/b/c/d", YOUNG, old),
    ]
    kept = addUpload(driver, "library/app", YOUNG, rfc3339(NOW))
    # A repository with content and no uploads is walked past untouched.
    result(driver.putContent(
        paths.repository("other") + "/_manifests/tags/v1/current/link", b"sha256:00"))
    outcome = purge(driver)
    assert sorted(outcome.deleted) == sorted(purged)
    assert outcome.kept == 1
    assert not any(exists(driver, path) for path in purged)
    assert exists(driver, kept)
    assert exists(driver, paths.repository("other") + "/_manifests")


def test_notUnderReservedDirectories(driver: Any) -> None:
    """Directories named _uploads below other reserved directories are not repositories' uploads."""
    stray = paths.repository("app") + f"/_layers/_uploads/{OLD}/startedat"
    result(driver.putContent(stray, rfc3339(NOW - 2 * WEEK)))
    assert purge(driver).deleted == []
    assert exists(driver, stray)


@pytest.mark.parametrize("startedAt", [b"not a time", b"2024-05-01", b"\xff"])
def test_malformedStartedAtKept(driver: Any, startedAt: bytes) -> None:
    """An upload whose startedat cannot be parsed is kept and counted as an error, as distribution does."""
    upload = addUpload(driver, "app", OLD, startedAt)
    addUpload(driver, "app", YOUNG, rfc3339(NOW - 2 * WEEK))
    outcome = purge(driver)
    assert outcome.deleted == [paths.upload("app", YOUNG)]
    assert (outcome.kept, outcome.errors) == (1, 1)
    assert exists(driver, upload)


def test_missingStartedAtKept(driver: Any) -> None:
    """An upload with no startedat is of unknown age: kept, not an error."""
    upload = addUpload(driver, "app", OLD, None)
    outcome = purge(driver, age=timedelta(0))
    assert outcome == PurgeResult(deleted=[], kept=1, errors=0)
    assert exists(driver, upload)


def test_nonUUIDIgnored(driver: Any) -> None:
    """A directory under _uploads not named by a UUID is neither deleted nor counted."""
    upload = addUpload(driver, "app", "not-an-upload", rfc3339(NOW - 2 * WEEK))
    assert purge(driver) == PurgeResult()
    assert exists(driver, upload)


def test_emptyStorage(driver: Any) -> None:
    """A storage with no repositories purges nothing, without error."""
    assert purge(driver) == PurgeResult()


class FailingDriver(CheckedDriver):
    """
    Fails C{delete} and C{getContent} of the paths it is told.
    """

    def __init__(self, failing: set[str]) -> None:
        super().__init__(InMemoryDriver())
        self.failing = failing

    def _failIf(self, path: str) -> Deferred[Any] | None:
        if path in self.failing:
            d: Deferred[Any] = Deferred()
            d.errback(UnexpectedError(self.name, OSError(5, "I/O error")))
            return d
        return None

    def delete(self, path: str) -> Deferred[None]:
        return self._failIf(path) or super().delete(path)

    def getContent(self, path: str) -> Deferred[bytes]:
        return self._failIf(path) or super().getContent(path)


def test_storageErrorsCounted() -> None:
    """A failed read or delete is counted as an error, and the purge goes on to the other uploads."""
    failing = {paths.upload("app", OLD), paths.uploadStartedAt("app", OTHER)}
    driver = FailingDriver(failing)
    old = rfc3339(NOW - 2 * WEEK)
    addUpload(driver, "app", OLD, old)
    addUpload(driver, "app", OTHER, old)
    purged = addUpload(driver, "app", YOUNG, old)
    outcome = purge(driver)
    assert outcome.deleted == [purged]
    assert (outcome.kept, outcome.errors) == (1, 2)
    assert exists(driver, paths.upload("app", OLD))


# The service


def makeService(driver: Any, clock: Clock, delay: float = 60.0,
                dryRun: bool = False) -> UploadPurgerService:
    return UploadPurgerService(UploadPurger(driver, dryRun), WEEK, timedelta(hours=1),
                               clock, delay)


def clockAt(when: datetime) -> Clock:
    clock = Clock()
    clock.advance(when.timestamp())
    return clock


def test_serviceWaitsForDelay(driver: Any) -> None:
    """Nothing is purged before the initial delay; the first purge runs at its end."""
    clock = clockAt(NOW)
    upload = addUpload(driver, "app", OLD, rfc3339(NOW - 2 * WEEK))
    service = makeService(driver, clock, delay=60)
    service.startService()
    clock.advance(59)
    assert exists(driver, upload)
    clock.advance(1)
    assert not exists(driver, upload)
    service.stopService()


def test_serviceLogsDurationsAsConfigured(driver: Any) -> None:
    """The start line says the age and interval as config.yml does (168h, 1h)."""
    events: list[dict[str, Any]] = []
    service = makeService(driver, clockAt(NOW))
    service.log = Logger(observer=events.append)
    service.startService()
    service.stopService()
    text = formatEvent(events[0])
    assert "older than 168h every 1h," in text, text


def test_serviceRepeatsEveryInterval(driver: Any) -> None:
    """An upload that becomes too old is purged by the next run, one interval later."""
    clock = clockAt(NOW)
    service = makeService(driver, clock, delay=0)
    upload = addUpload(driver, "app", OLD, rfc3339(NOW - WEEK + timedelta(minutes=30)))
    service.startService()
    clock.advance(0)
    assert exists(driver, upload)
    clock.advance(timedelta(minutes=59).total_seconds())
    assert exists(driver, upload)
    clock.advance(timedelta(minutes=1).total_seconds())
    assert not exists(driver, upload)
    service.stopService()


def test_serviceDryRun(driver: Any) -> None:
    """A dry-run service deletes nothing however long it runs."""
    clock = clockAt(NOW)
    upload = addUpload(driver, "app", OLD, rfc3339(NOW - 2 * WEEK))
    service = makeService(driver, clock, delay=0, dryRun=True)
    service.startService()
    clock.pump([3600.0] * 3)
    assert exists(driver, upload)
    service.stopService()


def test_serviceStopCancelsSchedule(driver: Any) -> None:
    """Stopping before the first purge cancels it: no call stays scheduled."""
    clock = clockAt(NOW)
    upload = addUpload(driver, "app", OLD, rfc3339(NOW - 2 * WEEK))
    service = makeService(driver, clock, delay=60)
    service.startService()
    service.stopService()
    assert clock.getDelayedCalls() == []
    clock.advance(3600)
    assert exists(driver, upload)


def test_serviceStopAfterRunsLeavesNothingScheduled(driver: Any) -> None:
    """Stopping after purges began stops the loop: no call stays scheduled."""
    clock = clockAt(NOW)
    service = makeService(driver, clock, delay=0)
    service.startService()
    clock.advance(0)
    assert len(clock.getDelayedCalls()) == 1
    service.stopService()
    assert clock.getDelayedCalls() == []


class StalledDriver(CheckedDriver):
    """
    A driver whose C{list} never answers until told, recording cancellations.
    """

    def __init__(self) -> None:
        super().__init__(InMemoryDriver())
        self.pending: list[Deferred[Any]] = []
        self.cancelled = 0

    def list(self, path: str) -> Deferred[list[str]]:
        def cancel(d: Deferred[Any]) -> None:
            self.cancelled += 1
        d: Deferred[list[str]] = Deferred(cancel)
        self.pending.append(d)
        return d


def test_serviceStopCancelsPurgeUnderWay() -> None:
    """A purge waiting on the driver when the service stops is cancelled, logging no failure."""
    clock = clockAt(NOW)
    driver = StalledDriver()
    service = makeService(driver, clock, delay=0)
    service.startService()
    clock.advance(0)
    assert len(driver.pending) == 1
    service.stopService()
    assert driver.cancelled == 1
    assert clock.getDelayedCalls() == []


def test_serviceSurvivesUnexpectedFailure(driver: Any) -> None:
    """A purge failing unexpectedly is logged and the next one still runs."""
    clock = clockAt(NOW)
    calls: list[datetime] = []

    class Exploding(UploadPurger):
        def purge(self, olderThan: datetime) -> Deferred[PurgeResult]:
            calls.append(olderThan)
            if len(calls) == 1:
                d: Deferred[PurgeResult] = Deferred()
                d.errback(RuntimeError("boom"))
                return d
            return succeed(PurgeResult())

    service = UploadPurgerService(Exploding(driver), WEEK, timedelta(hours=1), clock, 0)
    service.startService()
    clock.advance(0)
    clock.advance(3600)
    assert calls == [NOW - WEEK, NOW + timedelta(hours=1) - WEEK]
    service.stopService()


def test_serviceRefusesZeroInterval(driver: Any) -> None:
    """A zero interval would purge without pause: it is refused, naming the key."""
    with pytest.raises(ValueError, match="uploadpurging.interval"):
        UploadPurgerService(UploadPurger(driver), WEEK, timedelta(0), Clock(), 0)


# Temporary files


class FakeRemover:
    """
    A L{txregistry.storage.purge.RemoveTemporaries} recording the times it
    is given, answering with a L{Deferred} the test fires.
    """

    def __init__(self) -> None:
        self.calls: list[float] = []
        self.pending: list[Deferred[list[str]]] = []

    def __call__(self, olderThan: float) -> Deferred[list[str]]:
        self.calls.append(olderThan)
        self.pending.append(Deferred())
        return self.pending[-1]


def test_sweeperRemovesOnlyOldTemporaries() -> None:
    """A sweep asks for the temporaries older than TEMPORARY_AGE, never younger."""
    remover = FakeRemover()
    sweeper = TemporarySweeper(remover, clockAt(NOW))
    d = sweeper.sweep()
    assert remover.calls == [(NOW - TEMPORARY_AGE).timestamp()]
    remover.pending[0].callback(["/a/data~0123456789abcdef"])
    assert result(d) == ["/a/data~0123456789abcdef"]


def test_sweeperNeverFails() -> None:
    """A sweep whose removal fails reports nothing removed and logs the error."""
    remover = FakeRemover()
    sweeper = TemporarySweeper(remover, clockAt(NOW))
    events: list[dict[str, Any]] = []
    sweeper.log = Logger(observer=events.append)
    d = sweeper.sweep()
    remover.pending[0].errback(PermissionError("denied"))
    assert result(d) == []
    assert "removing temporary files" in formatEvent(events[0])


def test_sweepAtStartDoesNotDelay() -> None:
    """The start-up sweep runs once the reactor turns, not within
    startService (the listeners do not wait for it); stopping cancels it."""
    clock = clockAt(NOW)
    remover = FakeRemover()
    service = TemporarySweepService(TemporarySweeper(remover, clock), clock)
    service.startService()
    assert remover.calls == []
    clock.advance(0)
    assert len(remover.calls) == 1
    service.stopService()
    assert remover.pending[0].called
    clock.advance(3600)
    assert len(remover.calls) == 1


def test_sweepRepeatsEveryInterval() -> None:
    """After the start-up sweep, a sweep runs every SWEEP_INTERVAL on its own
    (upload purging may be off), never while the previous one is under way,
    so a temporary too young at start is removed once it comes of age."""
    clock = clockAt(NOW)
    remover = FakeRemover()
    service = TemporarySweepService(TemporarySweeper(remover, clock), clock)
    service.startService()
    clock.advance(0)
    remover.pending[0].callback([])
    clock.advance(SWEEP_INTERVAL.total_seconds())
    assert remover.calls[1] == remover.calls[0] + SWEEP_INTERVAL.total_seconds()
    clock.advance(SWEEP_INTERVAL.total_seconds())
    assert len(remover.calls) == 2
    remover.pending[1].callback(["/x/data~0123456789abcdef"])
    clock.advance(SWEEP_INTERVAL.total_seconds())
    assert len(remover.calls) == 3
    service.stopService()
    assert remover.pending[2].called
    clock.advance(SWEEP_INTERVAL.total_seconds())
    assert len(remover.calls) == 3
