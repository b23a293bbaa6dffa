"""
Tests for the health checks' statuses and their periodic runs, on a
L{Clock} with an in-memory driver whose C{stat} can be made to fail.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from twisted.internet.defer import Deferred, fail
from twisted.internet.task import Clock

from txregistry.health.checks import storageDriverCheck
from txregistry.health.registry import HealthRegistry, PeriodicCheck, ThresholdStatus
from txregistry.storage.driver.errors import PathNotFound, StorageDriverError
from txregistry.storage.driver.inmemory import InMemoryDriver

INTERVAL = timedelta(seconds=10)


class BrokenStatDriver(InMemoryDriver):
    """
    An in-memory driver whose C{stat} fails with C{error} while it is set.
    """

    error: Exception | None = None

    def stat(self, path: str) -> Deferred[Any]:
        if self.error is not None:
            return fail(self.error)
        return super().stat(path)


def storageCheck(threshold: int) -> tuple[HealthRegistry, PeriodicCheck,
                                           BrokenStatDriver, Clock]:
    """
    @return: a registry with one started storage driver check, the check,
        its driver and its clock.
    """
    clock = Clock()
    driver = BrokenStatDriver()
    health = HealthRegistry()
    check = PeriodicCheck("storagedriver_inmemory", storageDriverCheck(driver),
                          health.register("storagedriver_inmemory", threshold),
                          INTERVAL, clock)
    check.startService()
    return health, check, driver, clock


def test_thresholdZeroAndOne() -> None:
    """With a threshold of 0 or 1 the first failure makes a check unhealthy, as
    distribution's threshold updater."""
    for threshold in (0, 1):
        status = ThresholdStatus(threshold)
        assert status.error() is None
        status.update("down")
        assert status.error() == "down"


def test_thresholdCountsFailuresInARow() -> None:
    """With a threshold of 3, a check is unhealthy at the third failure in a row,
    and a success in between starts the count again."""
    status = ThresholdStatus(3)
    for error in ("a", "b", None, "c", "d"):
        status.update(error)
        assert status.error() is None
    status.update("e")
    assert status.error() == "e"


def test_firstRunAfterOneInterval() -> None:
    """A check first runs one interval after start, as distribution's ticker:
    a failing driver is healthy until then."""
    health, check, driver, clock = storageCheck(0)
    driver.error = StorageDriverError("inmemory", "disk gone")
    assert health.failing() == {}
    clock.advance(INTERVAL.total_seconds())
    assert health.failing() == {"storagedriver_inmemory": "inmemory: disk gone"}
    check.stopService()


def test_thresholdThenRecovery() -> None:
    """A driver whose stat fails makes the check unhealthy after `threshold`
    periods, and the first passing period makes it healthy again."""
    health, check, driver, clock = storageCheck(2)
    driver.error = StorageDriverError("inmemory", "disk gone")
    clock.advance(INTERVAL.total_seconds())
    assert health.failing() == {}
    clock.advance(INTERVAL.total_seconds())
    assert health.failing() == {"storagedriver_inmemory": "inmemory: disk gone"}
    driver.error = None
    clock.advance(INTERVAL.total_seconds())
    assert health.failing() == {}
    check.stopService()


def test_missingRootIsHealthy() -> None:
    """A root that does not exist (PathNotFound) is healthy: the driver
    answered, as distribution's check says."""
    health, check, driver, clock = storageCheck(0)
    driver.error = PathNotFound("inmemory", "/")
    clock.advance(INTERVAL.total_seconds())
    assert health.failing() == {}
    check.stopService()


def test_stopCancelsRunningCheck() -> None:
    """Stopping the service stops its runs and cancels one under way, which
    is not recorded (nor logged) as a failure."""
    clock = Clock()
    pending: Deferred[object] = Deferred()
    status = HealthRegistry()
    check = PeriodicCheck("slow", lambda: pending, status.register("slow", 0),
                          INTERVAL, clock)
    check.startService()
    clock.advance(INTERVAL.total_seconds())
    check.stopService()
    assert pending.called
    assert clock.getDelayedCalls() == []
    assert status.failing() == {}


def test_failingListsEveryUnhealthyCheck() -> None:
    """The registry reports every unhealthy check by name, and only those."""
    health = HealthRegistry()
    health.register("a", 0).update("a is down")
    health.register("b", 0).update(None)
    health.register("c", 0).update("c is down")
    assert health.failing() == {"a": "a is down", "c": "c is down"}
