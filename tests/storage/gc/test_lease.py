"""
Tests for L{txregistry.storage.gc.lease}: one collector at a time on a
storage shared by several processes, timed by a L{Clock}.
"""

from __future__ import annotations

import json

from twisted.internet.defer import CancelledError, Deferred, ensureDeferred
from twisted.internet.task import Clock

from tests.api.helpers import content, result
from tests.storage.gc.test_inflight import HoldingDriver
from txregistry.storage.driver.base import CheckedDriver
from txregistry.storage.driver.inmemory import InMemoryDriver
from txregistry.storage.gc.lease import LEASE, Lease, LeaseLost


def twoLeases(driver: object = None) -> tuple[Clock, Lease, Lease]:
    """
    @return: a clock, and the leases of two processes sharing a driver.
    """
    clock = Clock()
    clock.advance(1_000_000)
    shared = driver if driver is not None else CheckedDriver(InMemoryDriver())
    return clock, Lease(shared, clock, "a", ttl=60, settle=1), Lease(shared, clock, "b",
                                                                     ttl=60, settle=1)


def acquired(clock: Clock, lease: Lease) -> bool:
    d = ensureDeferred(lease.acquire())
    clock.advance(lease.settle)
    return bool(result(d))


def test_onlyOneHolds() -> None:
    """A free lease is taken after settling; while held, another process
    cannot take it; once released, it can."""
    clock, a, b = twoLeases()
    assert acquired(clock, a)
    assert json.loads(content(a.driver, LEASE) or b"")["owner"] == "a"
    assert not acquired(clock, b)
    assert acquired(clock, a)
    result(ensureDeferred(b.release()))
    assert content(a.driver, LEASE) is not None
    result(ensureDeferred(a.release()))
    assert content(a.driver, LEASE) is None
    assert acquired(clock, b)


def test_raceWonByLaterWriter() -> None:
    """Two processes that both read the lease free and write it: the one
    that wrote first reads the other's back and gives up."""
    driver = HoldingDriver()
    clock, a, b = twoLeases(driver)
    driver.held = "gc-lease"
    first = ensureDeferred(a.acquire())     # read free, write held
    driver.held = None
    second = ensureDeferred(b.acquire())    # read free, written
    clock.advance(0.5)
    driver.gate.callback(None)              # a's write lands later
    clock.advance(0.5)
    assert result(second) is False
    clock.advance(0.5)
    assert result(first) is True


def test_expiredTakenOver() -> None:
    """A lease its holder stopped renewing (it died) is taken once expired."""
    clock, a, b = twoLeases()
    assert acquired(clock, a)       # written a second ago: expires in 59s
    clock.advance(57)
    assert not acquired(clock, b)
    clock.advance(1)
    assert acquired(clock, b)


def test_unreadableLeaseIsFree() -> None:
    """A lease file that cannot be parsed does not block collection forever."""
    clock, a, _ = twoLeases()
    result(a.driver.putContent(LEASE, b"{not json"))
    assert acquired(clock, a)


def test_runRenewsAndReleases() -> None:
    """The lease is renewed while the work runs, longer than its lifetime,
    and released after; another process meanwhile gets (False, None)."""
    clock, a, b = twoLeases()
    work: Deferred[str] = Deferred()
    running = ensureDeferred(a.run(lambda: work))
    clock.advance(1)
    for _ in range(10):
        clock.advance(30)
        busy = ensureDeferred(b.run(lambda: Deferred()))
        assert result(busy) == (False, None)
    work.callback("report")
    assert result(running) == (True, "report")
    assert content(a.driver, LEASE) is None


def test_lostLeaseStopsRun() -> None:
    """A process that finds, renewing, that another took its lease over,
    cancels its work and fails with LeaseLost, leaving the other's lease."""
    clock, a, b = twoLeases()
    cancelled: list[bool] = []
    work: Deferred[None] = Deferred(lambda _: cancelled.append(True))
    running = ensureDeferred(a.run(lambda: work))
    clock.advance(1)
    result(a.driver.putContent(LEASE, json.dumps({"owner": "b",
                                                  "expires": clock.seconds() + 60}).encode()))
    clock.advance(20)
    assert cancelled == [True]
    failure = running.addErrback(lambda f: f.value)
    assert isinstance(result(failure), LeaseLost)
    assert json.loads(content(a.driver, LEASE) or b"")["owner"] == "b"


def test_cancelledRunReleases() -> None:
    """Cancelling a run (the service stops) releases the lease."""
    clock, a, _ = twoLeases()
    running = ensureDeferred(a.run(lambda: Deferred()))
    clock.advance(1)
    running.cancel()
    assert isinstance(result(running.addErrback(lambda f: f.value)), CancelledError)
    assert content(a.driver, LEASE) is None
