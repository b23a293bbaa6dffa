"""
Link files kept in memory for as long as the kernel says nothing changed
them (Linux's inotify), so that the hot GETs, which read nothing but links
and immutable content, need no round trip to the thread pool.

Correctness across processes (C{http.workers}, or several daemons on one
root) rests on one property of inotify: the kernel queues an event before
the system call that caused it (C{rename}, C{unlink}, C{write}) returns.
Every lookup first reads whatever events are queued (a non-blocking read)
and drops what they name, so a change that completed, in any process,
before a lookup began is always seen by it.

A file is cached only while its directory is watched, and only if nothing
happened in that directory between the watch being in place (before the
file is read) and the content being stored.  What inotify cannot see is a
rename of an I{ancestor} directory by another process; neither registry
renames directories (the driver's own L{WatchedDriver.move} and
L{WatchedDriver.delete} invalidate whatever they may touch).
"""

from __future__ import annotations

import builtins
import ctypes
import ctypes.util
import os
import select
import struct
from collections import Counter, OrderedDict
from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorFDSet, IReadDescriptor
from twisted.python.failure import Failure
from zope.interface import implementer

from txregistry.interfaces import FileInfo, IFileReader, IFileWriter, IStorageDriver
from txregistry.storage.driver.base import Infos, Paths

# <sys/inotify.h>
IN_MODIFY = 0x2
IN_ATTRIB = 0x4
IN_CLOSE_WRITE = 0x8
IN_MOVED_FROM = 0x40
IN_MOVED_TO = 0x80
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_DELETE_SELF = 0x400
IN_MOVE_SELF = 0x800
IN_Q_OVERFLOW = 0x4000
IN_IGNORED = 0x8000
IN_ONLYDIR = 0x1000000

#: Whatever changes a directory's entries or a file in it, or the directory
#: itself (IN_IGNORED and IN_Q_OVERFLOW are always reported).
WATCH_MASK = (IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO
              | IN_CREATE | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)

#: How many files are kept at most: each costs a watch on its directory
#: (links never share one), of the per-user C{fs.inotify.max_user_watches}.
CAPACITY = 8192

_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len; then len bytes of name


class Inotify:
    """
    A non-blocking inotify instance: a thin wrapper of the system calls.
    """

    def __init__(self, libc: Any, fd: int) -> None:
        self._libc = libc
        self._fd = fd
        self._pending = select.poll()
        self._pending.register(fd, select.POLLIN)

    @classmethod
    def open(cls) -> Inotify | None:
        """
        @return: a new instance, or L{None} where inotify is missing (not
            Linux) or refused (C{fs.inotify.max_user_instances}).
        """
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
            libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
            fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        except (OSError, AttributeError):
            return None
        return None if fd < 0 else cls(libc, fd)

    def fileno(self) -> int:
        return self._fd

    def add(self, directory: str) -> int:
        """
        Watch a directory for L{WATCH_MASK}.

        @return: the watch descriptor (the same for a directory watched
            already).
        @raise OSError: if it cannot be watched (C{ENOENT}, C{ENOTDIR},
            C{ENOSPC} past the watch limit, ...).
        """
        wd = self._libc.inotify_add_watch(self._fd, os.fsencode(directory), WATCH_MASK)
        if wd < 0:
            error = ctypes.get_errno()
            raise OSError(error, os.strerror(error), directory)
        return int(wd)

    def remove(self, wd: int) -> None:
        """
        Stop watching (an already removed watch is ignored).
        """
        self._libc.inotify_rm_watch(self._fd, wd)

    def read(self) -> list[tuple[int, int]]:
        """
        @return: the (watch descriptor, mask) of every event queued, without
            waiting for any.
        """
        events: list[tuple[int, int]] = []
        while self._pending.poll(0):
            data = os.read(self._fd, 64 * 1024)
            offset = 0
            while offset < len(data):
                wd, mask, _, length = _EVENT.unpack_from(data, offset)
                events.append((wd, mask))
                offset += _EVENT.size + length
        return events

    def close(self) -> None:
        os.close(self._fd)


def defaultCapacity(limit: str = "/proc/sys/fs/inotify/max_user_watches") -> int:
    """
    @param limit: the file holding the per-user watch limit.
    @return: L{CAPACITY}, or a quarter of the watch limit if that is less:
        the limit is shared with the other processes of the user.
    """
    try:
        with open(limit) as f:
            return min(CAPACITY, int(f.read()) // 4)
    except (OSError, ValueError):
        return CAPACITY


class _Directory:
    """
    A watched directory and the cached files in it.  Any event in it kills
    it (C{live} becomes false): its files are dropped, and reads begun
    while it was live are not stored.
    """

    __slots__ = ("path", "wd", "files", "live")

    def __init__(self, path: str, wd: int) -> None:
        self.path = path
        self.wd = wd
        self.files: set[str] = set()
        self.live = True


def _ancestors(path: str) -> list[str]:
    found = []
    while (cut := path.rfind("/")) > 0:
        path = path[:cut]
        found.append(path)
    return found


@implementer(IReadDescriptor)
class WatchedFiles:
    """
    A bounded least-recently-used cache of small files' contents, keyed by
    their local path, each valid while inotify watches its directory.

    Reading through it goes: L{refresh}, L{get}; on a miss, L{watch} the
    file's directory, read the file (in a thread), then L{refresh} and
    L{fill}.  It is also an L{IReadDescriptor}, so that the reactor
    consumes events while no lookup does (L{WatchService}).  It counts its
    lookups (a L{txregistry.cache.CountedLookups}).
    """

    def __init__(self, inotify: Inotify, capacity: int = CAPACITY) -> None:
        """
        @param capacity: the most files kept (and about as many watches).
        """
        self._inotify: Inotify | None = inotify
        self._capacity = capacity
        self._files: OrderedDict[str, tuple[bytes, _Directory]] = OrderedDict()
        self._directories: dict[str, _Directory] = {}
        self._byWatch: dict[int, _Directory] = {}
        # How many watched directories each directory holds, at any depth.
        self._below: Counter[str] = Counter()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._files)

    def refresh(self) -> None:
        """
        Apply every queued event: drop the files of the directories they
        name (all of them if the queue overflowed).
        """
        if self._inotify is None:
            return
        for wd, mask in self._inotify.read():
            if mask & IN_Q_OVERFLOW:
                for directory in list(self._directories.values()):
                    self._forget(directory)
                continue
            changed = self._byWatch.get(wd)
            if changed is not None:
                self._forget(changed, unwatch=not mask & IN_IGNORED)

    def get(self, path: str) -> bytes | None:
        """
        @return: the cached content of the file, or L{None}.  Call
            L{refresh} first.
        """
        entry = self._files.get(path)
        if entry is None:
            self.misses += 1
            return None
        self.hits += 1
        self._files.move_to_end(path)
        return entry[0]

    def watch(self, path: str) -> _Directory | None:
        """
        Watch the directory of a file about to be read.

        @return: what to give L{fill} once it has been read, or L{None} if
            the directory cannot be watched (the file is then not cached).
        """
        if self._inotify is None:
            return None
        where = os.path.dirname(path)
        directory = self._directories.get(where)
        if directory is not None:
            return directory
        try:
            wd = self._inotify.add(where)
        except OSError:
            return None
        other = self._byWatch.get(wd)
        if other is not None:
            # The same directory under another path: an ancestor was renamed.
            self._forget(other, unwatch=False)
        directory = self._directories[where] = self._byWatch[wd] = _Directory(where, wd)
        self._below.update(_ancestors(where))
        return directory

    def fill(self, directory: _Directory, path: str, content: bytes | None) -> None:
        """
        Store a file's content, read since L{watch} gave C{directory}, if
        nothing happened in the directory since.  Call L{refresh} first.

        @param content: L{None} for a file missing (or unreadable): it is
            not cached.
        """
        if not directory.live:
            return
        if content is None:
            if not directory.files:
                self._forget(directory)
            return
        self._files[path] = (content, directory)
        self._files.move_to_end(path)
        directory.files.add(path)
        while len(self._files) > self._capacity:
            evicted, (_, owner) = self._files.popitem(last=False)
            owner.files.discard(evicted)
            if not owner.files:
                self._forget(owner)

    def invalidate(self, path: str) -> None:
        """
        Drop the file at C{path}, its directory's other files and, if it is
        a directory, everything below it; reads in progress there will not
        be stored.
        """
        doomed = [self._directories.get(path), self._directories.get(os.path.dirname(path))]
        if path in self._below:
            prefix = path + "/"
            doomed += [d for where, d in self._directories.items() if where.startswith(prefix)]
        for directory in doomed:
            if directory is not None and directory.live:
                self._forget(directory)

    def _forget(self, directory: _Directory, unwatch: bool = True) -> None:
        directory.live = False
        del self._directories[directory.path]
        del self._byWatch[directory.wd]
        self._below.subtract(_ancestors(directory.path))
        for where in _ancestors(directory.path):
            if not self._below[where]:
                del self._below[where]
        for path in directory.files:
            del self._files[path]
        if unwatch and self._inotify is not None:
            self._inotify.remove(directory.wd)

    def close(self) -> None:
        """
        Forget everything and release the inotify instance: from then on
        nothing is cached.
        """
        if self._inotify is None:
            return
        for directory in list(self._directories.values()):
            self._forget(directory, unwatch=False)
        self._inotify.close()
        self._inotify = None

    # IReadDescriptor

    def fileno(self) -> int:
        return -1 if self._inotify is None else self._inotify.fileno()

    def doRead(self) -> None:
        self.refresh()

    def connectionLost(self, reason: Failure) -> None:
        pass

    def logPrefix(self) -> str:
        return "inotify"


class WatchService(Service):
    """
    Has the reactor read a L{WatchedFiles}' events while the service runs,
    and closes it when the service stops.
    """

    def __init__(self, files: WatchedFiles, reactor: IReactorFDSet) -> None:
        self.files = files
        self._reactor = reactor

    def startService(self) -> None:
        super().startService()
        self._reactor.addReader(self.files)

    def stopService(self) -> None:
        super().stopService()
        self._reactor.removeReader(self.files)
        self.files.close()


def _isLink(path: str) -> bool:
    return path.endswith("/link")


@implementer(IStorageDriver)
class WatchedDriver:
    """
    A filesystem driver whose C{link} files are read through a
    L{WatchedFiles}: a read whose every link is cached is answered at once,
    with no thread.  Other files (blob data, uploads) are read as before.

    Writes through this driver invalidate what they may change, in the
    reactor, when called and when done, so that a read after a write (or
    during it) never depends on when the events are read.

    @ivar name: the wrapped driver's name.
    """

    def __init__(self, driver: IStorageDriver, rootdirectory: str,
                 files: WatchedFiles) -> None:
        """
        @param driver: a driver keeping driver path C{/a} at
            C{<rootdirectory>/a} (L{FilesystemDriver}).
        """
        self._driver = driver
        self._root = rootdirectory.rstrip("/")
        self._files = files
        self.name: str = driver.name

    def getContent(self, path: str) -> Deferred[bytes]:
        if not _isLink(path):
            return self._driver.getContent(path)
        local = self._root + path
        self._files.refresh()
        content = self._files.get(local)
        if content is not None:
            return succeed(content)
        directory = self._files.watch(local)
        d = self._driver.getContent(path)
        if directory is None:
            return d

        def filled(result: bytes | Failure) -> bytes | Failure:
            self._files.refresh()
            self._files.fill(directory, local, result if isinstance(result, bytes) else None)
            return result
        return d.addBoth(filled)

    def getContents(self, paths: list[str]) -> Deferred[list[bytes | None]]:
        self._files.refresh()
        contents = [self._files.get(self._root + path) if _isLink(path) else None
                    for path in paths]
        missing = [i for i, content in enumerate(contents) if content is None]
        if not missing:
            return succeed(contents)
        watched = [(i, self._files.watch(self._root + paths[i]))
                   for i in missing if _isLink(paths[i])]

        def filled(result: list[bytes | None] | Failure) -> list[bytes | None] | Failure:
            found = dict(zip(missing, result, strict=True)) if isinstance(result, list) else {}
            self._files.refresh()
            for i, directory in watched:
                if directory is not None:
                    self._files.fill(directory, self._root + paths[i], found.get(i))
            if isinstance(result, Failure):
                return result
            for i, content in found.items():
                contents[i] = content
            return contents
        return self._driver.getContents([paths[i] for i in missing]).addBoth(filled)

    def _invalidate(self, result: object, *paths: str) -> object:
        for path in paths:
            self._files.invalidate(self._root + path)
        return result

    def putContent(self, path: str, content: bytes, durable: bool = True) -> Deferred[None]:
        self._invalidate(None, path)
        d = self._driver.putContent(path, content, durable)
        return d.addBoth(self._invalidate, path)

    def move(self, source: str, dest: str) -> Deferred[None]:
        self._invalidate(None, source, dest)
        return self._driver.move(source, dest).addBoth(self._invalidate, source, dest)

    def delete(self, path: str) -> Deferred[None]:
        self._invalidate(None, path)
        return self._driver.delete(path).addBoth(self._invalidate, path)

    def deleteAll(self, paths: builtins.list[str]) -> Deferred[builtins.list[bool]]:
        self._invalidate(None, *paths)
        return self._driver.deleteAll(paths).addBoth(self._invalidate, *paths)

    def reader(self, path: str, offset: int = 0) -> Deferred[IFileReader]:
        return self._driver.reader(path, offset)

    def writer(self, path: str, append: bool = False) -> Deferred[IFileWriter]:
        return self._driver.writer(path, append)

    def stat(self, path: str) -> Deferred[FileInfo]:
        return self._driver.stat(path)

    def list(self, path: str) -> Deferred[Paths]:
        return self._driver.list(path)

    def stats(self, paths: builtins.list[str]) -> Deferred[builtins.list[FileInfo | None]]:
        return self._driver.stats(paths)

    def lists(self, paths: builtins.list[str]) -> Deferred[builtins.list[Paths | None]]:
        return self._driver.lists(paths)

    def redirectURL(self, path: str, method: str) -> Deferred[str | None]:
        return self._driver.redirectURL(path, method)

    def walk(self, path: str) -> Deferred[Infos]:
        return self._driver.walk(path)
