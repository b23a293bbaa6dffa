"""
The lease that lets one garbage collector at a time run on a storage shared
by several processes (the workers of one registry, the replicas of several).

The lease is a small file on the storage, L{LEASE}, outside C{blobs/} and
C{repositories/} (neither distribution nor txregistry reads anything else
there), holding its owner's id and the time it expires.  A collector takes
it only if the file is absent, expired, or its own; renews it every third
of its lifetime while it runs; and deletes it when done.  A collector that
dies leaves a lease which expires, after which another one may take it.

L{IStorageDriver} has no atomic create-if-absent, so taking the lease is a
read, a write, then, after L{Lease.settle} seconds, a read back: of two
collectors that both read the lease free and both wrote it, the one that
wrote first reads back the other's id and gives up, provided the read and
the write of the second one were less than C{settle} seconds apart.  The
later writer keeps it.  Expiry times are compared with each process's own
clock: the lifetime (a minute by default) must exceed the skew between the
clocks of the replicas.

A collector that finds, when renewing, that the lease is no longer its own
(it stalled beyond the lifetime and another one took over) stops its run
(L{LeaseLost}).
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.task import LoopingCall, deferLater
from twisted.logger import Logger

from txregistry.interfaces import IStorageDriver
from txregistry.storage import paths
from txregistry.storage.driver.errors import PathNotFound

#: Where the lease lives: beside C{blobs/} and C{repositories/}.
LEASE = f"{paths.ROOT}/_txregistry/gc-lease"

_T = TypeVar("_T")


class LeaseLost(Exception):
    """
    Another collector took the lease while this one held it.
    """


def defaultOwner() -> str:
    """
    @return: an id naming this process uniquely among those sharing a
        storage, readable in the lease file: host, pid and a random part.
    """
    return f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:12]}"


class Lease:
    """
    The garbage collection lease of one storage, as one process sees it.

    @ivar owner: this process's id in the lease file.
    @ivar ttl: the lease's lifetime in seconds, from each renewal.
    @ivar settle: seconds between writing the lease and reading it back.
    """

    log = Logger()

    def __init__(self, driver: IStorageDriver, clock: Any, owner: str | None = None,
                 ttl: float = 60.0, settle: float = 1.0, path: str = LEASE) -> None:
        """
        @param clock: an L{IReactorTime}, telling the time and timing the
            renewals and the settling.
        """
        self.driver = driver
        self.clock = clock
        self.owner = owner or defaultOwner()
        self.ttl = ttl
        self.settle = settle
        self.path = path

    async def _read(self) -> tuple[str, float] | None:
        """
        @return: the lease's owner and expiry, or L{None} if there is none
            (a lease that cannot be parsed is taken as expired: logged).
        """
        try:
            content = await self.driver.getContent(self.path)
        except PathNotFound:
            return None
        try:
            lease = json.loads(content)
            return str(lease["owner"]), float(lease["expires"])
        except (ValueError, KeyError, TypeError):
            self.log.warn("ignoring an unreadable garbage collection lease at {path}",
                          path=self.path)
            return None

    async def _write(self) -> None:
        expires = self.clock.seconds() + self.ttl
        await self.driver.putContent(
            self.path, json.dumps({"owner": self.owner, "expires": expires}).encode())

    async def acquire(self) -> bool:
        """
        Take the lease if it is free (absent or expired) or already ours.

        @return: whether this process now holds it.
        """
        lease = await self._read()
        if lease is not None and lease[0] != self.owner and lease[1] > self.clock.seconds():
            return False
        await self._write()
        if lease is not None and lease[0] == self.owner:
            return True
        await deferLater(self.clock, self.settle)
        lease = await self._read()
        return lease is not None and lease[0] == self.owner

    async def renew(self) -> None:
        """
        Push the expiry of a lease this process holds one lifetime ahead.

        @raise LeaseLost: if the lease is no longer this process's.
        """
        lease = await self._read()
        if lease is None or lease[0] != self.owner:
            raise LeaseLost(f"{self.path} is now held by "
                            f"{'nobody' if lease is None else lease[0]}")
        await self._write()

    async def release(self) -> None:
        """
        Delete the lease if this process holds it.
        """
        lease = await self._read()
        if lease is not None and lease[0] == self.owner:
            try:
                await self.driver.delete(self.path)
            except PathNotFound:
                pass

    async def run(self, work: Callable[[], Awaitable[_T]]) -> tuple[bool, _T | None]:
        """
        Run C{work} holding the lease, renewed every third of its lifetime,
        and release it after.

        @return: C{(False, None)} if another process holds the lease (the
            work did not run), else C{(True, result)}.
        @raise LeaseLost: if the lease was taken over meanwhile (the work
            is cancelled).
        """
        try:
            if not await self.acquire():
                return False, None
        except BaseException:
            await self.release()    # if written before the failure
            raise
        running: Deferred[_T] = ensureDeferred(_awaited(work))
        lost: list[BaseException] = []

        def renew() -> Deferred[None]:
            def failed(failure: Any) -> None:
                lost.append(failure.value)
                running.cancel()

            return ensureDeferred(self.renew()).addErrback(failed)

        renewal = LoopingCall(renew)
        renewal.clock = self.clock
        renewed = renewal.start(self.ttl / 3, now=False)
        try:
            result = await running
        except BaseException:
            if lost:
                raise LeaseLost(str(lost[0])) from None
            raise
        finally:
            if renewal.running:
                renewal.stop()
            await renewed       # a renewal under way, if any, ends first
            if not lost:
                await self.release()
        return True, result


async def _awaited(work: Callable[[], Awaitable[_T]]) -> _T:
    return await work()
