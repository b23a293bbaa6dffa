"""
The contracts between txregistry's layers.

Every method that may touch a disk or a network returns a L{Deferred}; none of
them blocks the reactor.  Paths given to a driver are absolute, slash
separated and relative to the driver's root: C{/docker/registry/v2/...}.  Each
component matches C{[A-Za-z0-9._-]+} and is neither C{.} nor C{..}; anything
else fails with L{txregistry.storage.driver.errors.InvalidPath}.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from dataclasses import dataclass

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IConsumer
from zope.interface import Attribute, Interface


@dataclass(frozen=True)
class FileInfo:
    """
    What a driver knows of one path.

    @ivar path: the driver path.
    @ivar size: the size in bytes (0 for a directory).
    @ivar modTime: the last modification time, in seconds since the epoch.
    @ivar isDir: whether the path is a directory (a prefix of other paths).
    """

    path: str
    size: int
    modTime: float
    isDir: bool


class IFileReader(Interface):
    """
    Sequential reads from one stored file, opened at some offset.
    """

    def read(size: int) -> Deferred[bytes]:
        """
        Read up to C{size} bytes from the current position.

        Only one read may be outstanding at a time.

        @return: a L{Deferred} firing with the bytes read; C{b""} at the end
            of the file.
        """

    def close() -> Deferred[None]:
        """
        Release the file.  Reads after this fail.  Safe to call twice.

        @return: a L{Deferred} firing when the file is released.
        """


class IFileWriter(IConsumer):
    """
    An append-only writer to one stored file.

    L{write} never blocks and never fails: it queues the bytes, and an error
    while storing them is reported by the next L{close} or L{commit}.  A
    writer is a consumer: a registered streaming producer is paused while more
    than a high-water mark of bytes is queued and resumed when the queue has
    drained below a low-water mark, so a fast client cannot fill the memory.

    Exactly one of L{close}, L{commit} or L{cancel} ends a writer.
    """

    def write(data: bytes) -> None:
        """
        Queue C{data} to be appended.
        """

    def size() -> int:
        """
        @return: the file's size, counting every byte given to L{write} so
            far (queued or stored), as an L{int}.
        """

    def close() -> Deferred[None]:
        """
        Store all queued bytes and release the file.  The content stays, and
        a later C{writer(path, append=True)} continues it.

        @return: a L{Deferred} firing when the bytes are stored.
        """

    def commit() -> Deferred[None]:
        """
        Store all queued bytes durably (synced to stable storage where the
        driver can) and release the file.

        @return: a L{Deferred} firing when the content is durable.
        """

    def cancel() -> Deferred[None]:
        """
        Drop the queued bytes, release the file and remove it.

        @return: a L{Deferred} firing when the file is gone.
        """


class ICountedWriter(IFileWriter):
    """
    An L{IFileWriter} whose queued bytes count against a memory bound
    shared by every writer of its driver (the filesystem driver's
    C{uploadmemory}).  A consumer that keeps the bytes it writes for longer
    (a queue of bytes to hash) counts here what it alone still holds, so
    that the bound covers it too: it is paused with the writers at the
    bound, and its releases resume them.
    """

    def unwritten() -> int:
        """
        @return: how many of the bytes given to L{write} are not written
            yet (and so still held, and counted, by the writer).
        """

    def countAlso(count: int) -> None:
        """
        Count C{count} bytes more (or, negative, fewer) held beside the
        writer's own; a release resumes paused writers if it makes room.
        """

    def whenWritten(recount: Callable[[], None] | None) -> None:
        """
        Call C{recount} each time written bytes leave the writer (or are
        dropped, after an error), just before they stop being counted:
        L{unwritten} is already smaller, and what C{recount} adds with
        L{countAlso} is never more than what leaves.  L{None} stops it.
        """


class IStorageDriver(Interface):
    """
    A place to keep files, with the contract of distribution's storage
    drivers.  Errors are the types of
    L{txregistry.storage.driver.errors}.
    """

    name = Attribute("The driver's name, as in the configuration: C{str}.")

    def getContent(path: str) -> Deferred[bytes]:
        """
        @return: a L{Deferred} firing with the whole content of a (small) file.
        @raise PathNotFound: (asynchronously) if there is no such file.
        """

    def getContents(paths: list[str]) -> Deferred[list[bytes | None]]:
        """
        Read several small files at once (one round trip to the storage
        where the driver can).

        @return: a L{Deferred} firing with their contents, in order, with
            L{None} for a file that does not exist.
        """

    def putContent(path: str, content: bytes, durable: bool = True) -> Deferred[None]:
        """
        Replace the content of a (small) file atomically and durably: a
        reader sees the old content or the new one, never a part.

        @param durable: whether the content must survive a crash once the
            L{Deferred} fires.  Bookkeeping that a crash may lose (an
            upload's start) passes C{False}, and a driver may then skip
            syncing.
        """

    def reader(path: str, offset: int = 0) -> Deferred[IFileReader]:
        """
        @return: a L{Deferred} firing with an L{IFileReader} positioned at
            C{offset}.
        @raise PathNotFound: if there is no such file.
        @raise InvalidOffset: if C{offset} is negative or past the end.
        """

    def writer(path: str, append: bool = False) -> Deferred[IFileWriter]:
        """
        @return: a L{Deferred} firing with an L{IFileWriter}; with C{append}
            it continues an existing file (which must exist), else it starts
            the file afresh.  The writer holds the file exclusively until it
            ends (across processes, where the storage can lock).
        @raise PathBusy: if another writer holds the file.
        """

    def stat(path: str) -> Deferred[FileInfo]:
        """
        @return: a L{Deferred} firing with the path's L{FileInfo}.
        @raise PathNotFound: if nothing is stored at or below C{path}.
        """

    def list(path: str) -> Deferred[builtins.list[str]]:
        """
        @return: a L{Deferred} firing with the sorted full paths of the
            direct children of the directory C{path}.
        @raise PathNotFound: if the directory does not exist.
        """

    def move(source: str, dest: str) -> Deferred[None]:
        """
        Move a file, replacing C{dest} if it exists, atomically where the
        storage allows.  Parent directories of C{dest} are created.
        @raise PathNotFound: if C{source} does not exist.
        """

    def delete(path: str) -> Deferred[None]:
        """
        Remove a file, or a directory and all below it.
        @raise PathNotFound: if nothing is stored at or below C{path}.
        """

    def redirectURL(path: str, method: str) -> Deferred[str | None]:
        """
        @return: a L{Deferred} firing with a URL a client may fetch the
            content from directly, or L{None} where the driver has none.
        """

    def stats(paths: builtins.list[str]) -> Deferred[builtins.list[FileInfo | None]]:
        """
        L{stat} several paths at once (one round trip to the storage where
        the driver can: a thread job, a bulk request).

        @return: a L{Deferred} firing with their L{FileInfo}s, in order,
            with L{None} for a path where nothing is stored.
        """

    def lists(paths: builtins.list[str]) -> Deferred[builtins.list[builtins.list[str] | None]]:
        """
        L{list} several directories at once.

        @return: a L{Deferred} firing with the sorted full paths of the
            direct children of each, in order, with L{None} for a directory
            that does not exist.
        """

    def deleteAll(paths: builtins.list[str]) -> Deferred[builtins.list[bool]]:
        """
        L{delete} several paths (files, or directories and all below them)
        at once, in order, where the storage has a bulk delete (as S3's
        C{DeleteObjects}) in as few requests as it allows.

        @return: a L{Deferred} firing, once every delete is done, with
            whether something was deleted at each path (L{False} where
            nothing was stored).
        """

    def walk(path: str) -> Deferred[builtins.list[FileInfo]]:
        """
        @return: a L{Deferred} firing with the L{FileInfo} of every file and
            directory below C{path} (not C{path} itself), sorted by path.
        @raise PathNotFound: if the directory does not exist.
        """
