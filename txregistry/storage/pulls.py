"""
When each tag was last pulled, for the retention rules that keep the tags
pulled recently (L{txregistry.storage.gc.retention}).

A pull is noted in memory, on the request's path, as one dictionary write
(L{PullRecorder.pulled}); L{PullRecorderService} writes the notes to the
storage every minute and when the registry stops.  A record is an empty
file, C{repositories/<name>/_txregistry/pulled/<tag>}, whose modification
time is the pull time (to the minute), so that the garbage collector
reads every record of a repository with one C{walk} (L{readPulls}).  It is
outside the tag's directory, so that writing it after the tag was deleted
cannot make the tag appear again; distribution never reads it.

Writes are few: a tag this process recorded less than L{COARSENESS} ago is
not written again.  Each process (worker, replica) records its own pulls;
the latest write wins.  Pulls not yet written are lost if the process dies.
"""

from __future__ import annotations

from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred, DeferredSemaphore, gatherResults
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure

from txregistry.interfaces import IStorageDriver
from txregistry.storage import paths
from txregistry.storage.driver.errors import PathNotFound

#: Seconds after writing a tag's record during which this process does not
#: write it again: pull times are known to within this, which is plenty for
#: rules that count in hours or days.
COARSENESS = 3600.0

#: Seconds between two flushes.
FLUSH_INTERVAL = 60.0


async def readPulls(driver: IStorageDriver, names: list[str],
                    concurrency: int) -> dict[str, dict[str, float]]:
    """
    Read the pull records of repositories, with one C{walk} each,
    C{concurrency} at a time.

    @param names: the repositories.
    @return: for those with records, when each tag was last pulled (its
        record's modification time), tags since deleted included.
    """
    async def read(name: str) -> dict[str, float]:
        directory = paths.pulledRecords(name)
        try:
            infos = await driver.walk(directory)
        except PathNotFound:
            return {}
        return {info.path[len(directory) + 1:]: info.modTime for info in infos
                if not info.isDir and "/" not in info.path[len(directory) + 1:]}

    semaphore = DeferredSemaphore(concurrency)
    found = await gatherResults([semaphore.run(read, name) for name in names],
                                consumeErrors=True)
    return {name: pulled for name, pulled in zip(names, found, strict=True) if pulled}


class PullRecorder:
    """
    Notes the pulls of tags, and writes them to the storage.
    """

    log = Logger()

    def __init__(self, driver: IStorageDriver, clock: IReactorTime) -> None:
        self._driver = driver
        self._clock = clock
        self._pending: dict[tuple[str, str], None] = {}
        self._written: dict[tuple[str, str], float] = {}

    def pulled(self, name: str, tag: str) -> None:
        """
        Note that the manifest tagged C{tag} in repository C{name} was
        pulled (by a C{GET}): no more than a dictionary write.
        """
        self._pending[name, tag] = None

    def flush(self) -> Deferred[int]:
        """
        Write the records of the tags pulled since the last flush, but
        those written less than L{COARSENESS} ago.  A record that cannot be
        written is logged and tried again at the next flush.

        Every write is handed to the driver at once, before this returns:
        they are small, few (at most one per tag and hour), and so none is
        left waiting when the driver's threads stop after the last flush.

        @return: a L{Deferred} firing with how many records were written;
            it never fails.
        """
        now = self._clock.seconds()
        self._written = {key: when for key, when in self._written.items()
                         if now - when < COARSENESS}
        due = [key for key in self._pending if key not in self._written]
        self._pending = {}

        def write(key: tuple[str, str]) -> Deferred[bool]:
            d = self._driver.putContent(paths.pulledRecord(*key), b"", durable=False)

            def done(outcome: object) -> bool:
                if isinstance(outcome, Failure):
                    self.log.failure("recording the pull of {name}:{tag}", outcome,
                                     name=key[0], tag=key[1])
                    self._pending[key] = None
                    return False
                self._written[key] = now
                return True
            return d.addBoth(done)

        return gatherResults([write(key) for key in due]).addCallback(sum)


class PullRecorderService(Service):
    """
    Flushes a L{PullRecorder} every L{FLUSH_INTERVAL} seconds, and once
    more when it stops.
    """

    def __init__(self, recorder: PullRecorder, clock: IReactorTime) -> None:
        self.recorder = recorder
        self.clock = clock
        self._loop: LoopingCall | None = None
        self._looping: Deferred[LoopingCall] | None = None

    def startService(self) -> None:
        super().startService()
        self._loop = LoopingCall(self.recorder.flush)
        self._loop.clock = self.clock
        self._looping = self._loop.start(FLUSH_INTERVAL, now=False)

    def stopService(self) -> Deferred[Any]:
        """
        Stop flushing periodically, and flush what remains (the service
        is stopped before the driver's, which it is added after).

        @return: a L{Deferred} firing when the last flushes are done.
        """
        super().stopService()
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        looping, self._loop, self._looping = self._looping, None, None
        final: list[Deferred[Any]] = [self.recorder.flush()]
        return gatherResults(final if looping is None else [looping, *final])
