"""
The checks C{health} configures, each a callable returning a L{Deferred}
that fails with the reason the checked thing is unhealthy.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import treq
from twisted.internet.defer import Deferred, succeed
from twisted.internet.endpoints import HostnameEndpoint
from twisted.internet.protocol import Factory, Protocol

from txregistry.interfaces import IStorageDriver
from txregistry.storage.driver.errors import PathNotFound

#: A check: returns a L{Deferred} that fires when the checked thing is
#: healthy, and fails with an exception saying why when it is not.
Check = Callable[[], "Deferred[object]"]


class CheckFailed(Exception):
    """
    The checked thing is unhealthy; the message says why.
    """


def storageDriverCheck(driver: IStorageDriver) -> Check:
    """
    distribution's C{storagedriver} check: C{stat} the root.  A root that
    does not exist yet (an empty registry) is healthy, as there: the driver
    answered.

    @param driver: the registry's storage driver.
    """

    def check() -> Deferred[object]:
        d: Deferred[Any] = driver.stat("/")
        d.addErrback(lambda failure: failure.trap(PathNotFound) and None)
        return d

    return check


def fileCheck(path: str) -> Check:
    """
    distribution's C{file} check: unhealthy while C{path} exists (an
    operator creates it to take the registry out of a load balancer).

    @param path: the file checked.
    """

    def check() -> Deferred[object]:
        if os.path.exists(path):
            raise CheckFailed("file exists")
        return succeed(None)

    return check


def httpCheck(client: Any, uri: str, statuscode: int,
              headers: dict[str, list[str]], timeout: float | None) -> Check:
    """
    distribution's C{http} check: a C{HEAD} of C{uri} must answer
    C{statuscode} within C{timeout} seconds.

    @param client: a L{treq.client.HTTPClient} (its agent holds the reactor).
    """

    async def check() -> object:
        response = await client.head(uri, headers=headers, timeout=timeout)
        await treq.content(response)
        if response.code != statuscode:
            raise CheckFailed(
                f"downstream service returned unexpected status: {response.code}")
        return None

    return lambda: Deferred.fromCoroutine(check())


def tcpCheck(reactor: Any, addr: str, timeout: float) -> Check:
    """
    distribution's C{tcp} check: a TCP connection to C{addr} must open
    within C{timeout} seconds; it is closed at once.

    @param addr: C{HOST:PORT}, as C{http.addr} (an empty C{HOST} is this
        host).
    """
    host, _, port = addr.rpartition(":")
    endpoint = HostnameEndpoint(reactor, host.strip("[]") or "localhost", int(port),
                                timeout=timeout)

    async def check() -> object:
        try:
            protocol: Any = await endpoint.connect(Factory.forProtocol(Protocol))
        except Exception as e:
            raise CheckFailed(f"connection to {addr} failed: {e}") from None
        protocol.transport.loseConnection()
        return None

    return lambda: Deferred.fromCoroutine(check())
