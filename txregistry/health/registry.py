"""
The results of the health checks: one L{ThresholdStatus} per check, kept
up to date by a L{PeriodicCheck}, and the L{HealthRegistry} that reports the
failing ones.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure

from txregistry.health.checks import Check


class ThresholdStatus:
    """
    The status of one check, as distribution's threshold updater keeps it:
    unhealthy once C{threshold} results in a row have failed (the first
    failure when C{threshold} is 0 or 1), healthy again at the first
    success.
    """

    def __init__(self, threshold: int) -> None:
        self._threshold = threshold
        self._count = 0
        self._error: str | None = None

    def update(self, error: str | None) -> None:
        """
        Record a check's result: L{None} if it passed, else why it failed.
        """
        if error is None:
            self._count = 0
        elif self._count < self._threshold:
            self._count += 1
        self._error = error

    def error(self) -> str | None:
        """
        @return: why the check is unhealthy, or L{None} if it is healthy.
        """
        if self._error is not None and self._count >= self._threshold:
            return self._error
        return None


class HealthRegistry:
    """
    The statuses of the checks of one process, by name.
    """

    def __init__(self) -> None:
        self._statuses: dict[str, ThresholdStatus] = {}

    def register(self, name: str, threshold: int) -> ThresholdStatus:
        """
        @return: the new status of the check named C{name}.
        """
        status = self._statuses[name] = ThresholdStatus(threshold)
        return status

    def failing(self) -> dict[str, str]:
        """
        @return: the unhealthy checks' names and why they are unhealthy.
        """
        failing = {}
        for name, status in self._statuses.items():
            error = status.error()
            if error is not None:
                failing[name] = error
        return failing


class PeriodicCheck(Service):
    """
    Runs a check every C{interval}, the first one an interval after start
    (as distribution's ticker), recording each result in its status.
    """

    log = Logger()

    def __init__(self, name: str, check: Check, status: ThresholdStatus,
                 interval: timedelta, clock: Any) -> None:
        self.name = name
        self._check = check
        self._status = status
        self._interval = interval.total_seconds()
        self._call = LoopingCall(self._run)
        self._call.clock = clock
        self._running: Deferred[Any] | None = None

    def _run(self) -> Deferred[None]:
        self._running = maybeDeferred(self._check)
        return self._running.addCallbacks(self._passed, self._failed)

    def _passed(self, _: object) -> None:
        self._running = None
        self._status.update(None)

    def _failed(self, failure: Failure) -> None:
        self._running = None
        if not self.running:
            return  # cancelled by stopService
        error = failure.getErrorMessage() or repr(failure.value)
        self.log.error("health check {name} failed: {error}", name=self.name,
                       error=error)
        self._status.update(error)

    def startService(self) -> None:
        super().startService()
        self._call.start(self._interval, now=False)

    def stopService(self) -> None:
        super().stopService()
        if self._call.running:
            self._call.stop()
        if self._running is not None:
            self._running.cancel()
