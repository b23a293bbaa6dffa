"""
Pins: the blobs that pushes under way in this process are about to rely on,
which the online garbage collector must not delete.

A manifest C{PUT} checks that the blobs it names are linked in its
repository, then writes its revision link; an upload commit moves its data
into C{blobs/}, then writes the repository's C{_layers} link; a mount checks
the source's link, then writes the target's.  Between the check (or the
move) and the link, nothing on the storage says the blob is wanted: a
collector that chose the blob for deletion before the link existed would
delete it from under the push, which then answers C{201} for content that
is gone (distribution's issue #3045).  Each of them therefore pins the
digests first and unpins them once the link is written.

The collector, for its part, deletes each blob (its C{_layers} links, then
its data), and each manifest it removes from a repository (an untagged one,
which an index pushed meanwhile may name), inside L{InFlight.deleting},
which:

  - refuses (the collector keeps it) if the digest is pinned, or
    was pinned at any time since the run began (L{InFlight.collecting}):
    what a push relied on during the run is never deleted by that run,
    even if the push finished before the collector reached it, because
    the collector's view of the links may predate the push;
  - otherwise marks the digest as being deleted until the delete is over:
    a pin taken meanwhile waits for the end of the delete, after which the
    push's own check finds the blob gone (C{MANIFEST_BLOB_UNKNOWN}, or the
    mount falls back to an upload) or, for an upload commit, stores it
    again and links it.

Both sides run on the reactor thread, so each step is exact: between
C{pin} returning and C{unpin}, no delete of a pinned digest starts; and
once L{InFlight.deleting} granted a delete, every pin of that digest waits
for it.  Pins are per process: another worker or replica sharing the
storage is covered by the collector's grace period instead (see
L{txregistry.storage.gc.collector}).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager

from twisted.internet.defer import Deferred

from txregistry.digest import Digest


class Pin:
    """
    The token of one L{InFlight.pin}, to give back to L{InFlight.unpin}.

    @ivar digests: the digests it pins.
    """

    __slots__ = ("digests",)

    def __init__(self, digests: tuple[Digest, ...]) -> None:
        self.digests = digests


class InFlight:
    """
    The digests pinned by the pushes under way in this process, and those
    the collector is deleting.
    """

    def __init__(self) -> None:
        self._pins: dict[Digest, int] = {}
        # A digest being deleted -> the pins waiting for the delete to end,
        # and how many deletes of it are under way.
        self._deleting: dict[Digest, list[Deferred[None]]] = {}
        self._deletes: dict[Digest, int] = {}
        # Every digest pinned since the collector's run began, during one.
        self._touched: set[Digest] | None = None

    def isPinned(self, digest: Digest) -> bool:
        """
        @return: whether a push under way pins C{digest}.
        """
        return digest in self._pins

    async def pin(self, digests: Iterable[Digest]) -> Pin:
        """
        Pin C{digests} until L{unpin}: the collector deletes none of them
        meanwhile.  If the collector is deleting one of them, wait until it
        is done (the caller then checks the storage as usual, and finds it
        gone).

        @return: the token to unpin them with.
        """
        pin = Pin(tuple(set(digests)))
        for digest in pin.digests:
            self._pins[digest] = self._pins.get(digest, 0) + 1
        if self._touched is not None:
            self._touched.update(pin.digests)
        try:
            for digest in pin.digests:
                waiters = self._deleting.get(digest)
                if waiters is not None:
                    done: Deferred[None] = Deferred()
                    waiters.append(done)
                    await done
        except BaseException:
            self.unpin(pin)
            raise
        return pin

    def unpin(self, token: object) -> None:
        """
        Give back the pins of one L{pin}.

        @param token: the L{Pin} it returned.
        """
        if not isinstance(token, Pin):
            raise TypeError(f"not a pin: {token!r}")
        for digest in token.digests:
            count = self._pins[digest] - 1
            if count:
                self._pins[digest] = count
            else:
                del self._pins[digest]

    @asynccontextmanager
    async def pinned(self, digests: Iterable[Digest]) -> AsyncIterator[Pin]:
        """
        L{pin} C{digests} for the duration of an C{async with} block.
        """
        pin = await self.pin(digests)
        try:
            yield pin
        finally:
            self.unpin(pin)

    @contextmanager
    def collecting(self) -> Iterator[None]:
        """
        Remember, for the duration of a collector's run, every digest
        pinned, so that L{deleting} refuses them even once unpinned: those
        pinned when the run begins too (a push may unpin after the run read
        the links, before it deletes).
        """
        self._touched = set(self._pins)
        try:
            yield
        finally:
            self._touched = None

    @asynccontextmanager
    async def deleting(self, digest: Digest) -> AsyncIterator[bool]:
        """
        Wrap the deletion of a blob (its links and its data), or of a
        manifest's revision in a repository: an C{async with} block given
        C{True} if the collector may delete it, C{False} if it must keep it
        (it is pinned, or was during this run).  While a granted block
        runs, pins of C{digest} wait for it to end.
        """
        if digest in self._pins or (self._touched is not None and digest in self._touched):
            yield False
            return
        # The same digest may be deleted from several places at once (a
        # manifest's revisions in several repositories).
        self._deletes[digest] = self._deletes.get(digest, 0) + 1
        self._deleting.setdefault(digest, [])
        try:
            yield True
        finally:
            self._deletes[digest] -= 1
            if not self._deletes[digest]:
                del self._deletes[digest]
                for waiter in self._deleting.pop(digest):
                    waiter.callback(None)
