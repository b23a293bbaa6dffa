"""
Build the health checks the C{health} section configures.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from treq.client import HTTPClient
from twisted.web.client import Agent

from txregistry.config.model import HealthCheck, HealthConfig
from txregistry.health.checks import (
    Check,
    fileCheck,
    httpCheck,
    storageDriverCheck,
    tcpCheck,
)
from txregistry.health.registry import HealthRegistry, PeriodicCheck
from txregistry.interfaces import IStorageDriver

#: distribution's interval for a check whose C{interval} is 0.
DEFAULT_INTERVAL = timedelta(seconds=10)


def makeChecks(config: HealthConfig, driverName: str, driver: IStorageDriver,
               reactor: Any) -> tuple[HealthRegistry, list[PeriodicCheck]]:
    """
    Build the checks of C{config}, named as distribution names them:
    C{storagedriver_<driver>}, and each file, URI or address checked.

    @param driverName: the storage driver's name (C{filesystem}, ...).
    @param driver: the storage driver the C{storagedriver} check stats.
    @param reactor: the clock the checks run on, and the reactor of their
        connections.
    @return: the registry of the checks' statuses, and the services running
        them.
    """
    health = HealthRegistry()
    services = []

    def add(name: str, check: Check, interval: timedelta, threshold: int) -> None:
        services.append(PeriodicCheck(name, check, health.register(name, threshold),
                                      interval or DEFAULT_INTERVAL, reactor))

    if config.storagedriver_enabled:
        add(f"storagedriver_{driverName}", storageDriverCheck(driver),
            config.storagedriver_interval, config.storagedriver_threshold)
    client = HTTPClient(Agent(reactor))
    for entry in config.checks:
        add(entry.target, _check(entry, client, reactor), entry.interval,
            entry.threshold)
    return health, services


def _check(entry: HealthCheck, client: HTTPClient, reactor: Any) -> Check:
    timeout = entry.timeout.total_seconds() if entry.timeout else None
    if entry.kind == "file":
        return fileCheck(entry.target)
    if entry.kind == "http":
        return httpCheck(client, entry.target, entry.statuscode, entry.headers,
                         timeout)
    return tcpCheck(reactor, entry.target, timeout or 30.0)
