"""
The C{htpasswd} provider: HTTP Basic authentication against an Apache
htpasswd file of bcrypt entries, as distribution's
C{registry/auth/htpasswd}.

Any user listed may do anything.  The file is read again when its
modification time or size changes, so users can be added, removed or given
new passwords without a restart.  bcrypt is slow by design, so the check
runs in a thread, and a successful check is remembered for a short while
(keyed by a salted hash of the user, the password and the stored entry) so
that a push of many layers pays for it once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import bcrypt
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.web.iweb import IRequest
from zope.interface import implementer

from txregistry.auth.access import Access, quoted
from txregistry.auth.interfaces import Challenge, Grant, IAccessController

#: The prefixes of the bcrypt variants an entry may use.
BCRYPT_PREFIXES = (b"$2a$", b"$2b$", b"$2y$")

#: The bytes of a password bcrypt uses: Apache's C{htpasswd -B} and Go's
#: C{CompareHashAndPassword} (distribution's check) ignore the rest.
BCRYPT_MAX_PASSWORD = 72

#: The cost C{htpasswd -B} uses by default.
HTPASSWD_COST = 5


def dummyHash(cost: int) -> bytes:
    """
    @return: a bcrypt hash of C{cost} that no password matches: checked
        for unknown users, so that they take as long as known ones.
    """
    return b"$2y$%02d$" % (cost,) + b"." * 53


def commonCost(hashes: Iterable[bytes]) -> int:
    """
    @return: the cost most of the bcrypt C{hashes} use (the higher of
        equally common ones), or L{HTPASSWD_COST} if there are none.
    """
    costs = Counter(int(h[4:6]) for h in hashes
                    if h[4:6].isdigit() and h[6:7] == b"$" and 4 <= int(h[4:6]) <= 31)
    return max(costs, key=lambda cost: (costs[cost], cost), default=HTPASSWD_COST)


#: Runs a blocking function off the reactor: C{runInThread(f, *args)}
#: returns a L{Deferred} of its result.
ThreadRunner = Callable[..., Deferred[Any]]


class HtpasswdError(ValueError):
    """
    An htpasswd file cannot be read or has a malformed line.
    """


@dataclass(frozen=True)
class Htpasswd:
    """
    The entries of an htpasswd file.

    @ivar entries: bcrypt hash by user name.
    @ivar ignored: the user names of entries that are not bcrypt (MD5,
        SHA-1, crypt or plain text, which distribution cannot check either),
        left out.
    @ivar unknownUserHash: what an unknown user's password is checked
        against: a hash of the cost most entries use.
    """

    entries: dict[str, bytes]
    ignored: tuple[str, ...] = ()
    unknownUserHash: bytes = dummyHash(HTPASSWD_COST)

    @classmethod
    def parse(cls, data: bytes) -> Htpasswd:
        """
        Read an htpasswd file: C{user:hash} lines; blank lines and lines
        starting with C{#} are skipped.

        @raise HtpasswdError: for a line without a C{:} (its number only).
        """
        entries: dict[str, bytes] = {}
        ignored: list[str] = []
        for number, line in enumerate(data.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith(b"#"):
                continue
            user, colon, hashed = line.partition(b":")
            if not colon:
                raise HtpasswdError(f"line {number} is not user:hash")
            name = user.decode("utf-8", "replace")
            if hashed.startswith(BCRYPT_PREFIXES):
                entries[name] = hashed
            else:
                ignored.append(name)
        return cls(entries, tuple(ignored),
                   dummyHash(commonCost(entries.values())))

    @classmethod
    def load(cls, path: str) -> Htpasswd:
        """
        Read the htpasswd file at C{path}.

        @raise HtpasswdError: if it cannot be read or is malformed.
        """
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise HtpasswdError(f"cannot read {path}: {e.strerror}") from None
        return cls.parse(data)


#: How often, at most, the htpasswd file is looked at for changes (seconds).
CHECK_INTERVAL = 1.0


class HtpasswdFile:
    """
    An htpasswd file, read again when its modification time or size has
    changed.  The file is looked at no more than once per C{interval}, and
    then in a thread: requests in between cost no file system call on the
    reactor.  A file that becomes unreadable or malformed keeps the entries
    last read (and says so in the log) rather than locking everyone out or
    failing requests.
    """

    log = Logger()

    def __init__(self, path: str, clock: IReactorTime, runInThread: ThreadRunner,
                 interval: float = CHECK_INTERVAL) -> None:
        """
        @param path: the file.
        @param clock: tells when the file is due to be looked at again.
        @param runInThread: runs the look (and a re-read) off the reactor.
        @param interval: how often, at most, the file is looked at.
        @raise HtpasswdError: if it cannot be read now.
        """
        self.path = path
        self._clock = clock
        self._runInThread = runInThread
        self._interval = interval
        self._checked = clock.seconds()
        self._stamp = self._stat()
        self._current = self._read()

    def _stat(self) -> tuple[int, int] | None:
        try:
            info = os.stat(self.path)
        except OSError:
            return None
        return (info.st_mtime_ns, info.st_size)

    def _read(self) -> Htpasswd:
        htpasswd = Htpasswd.load(self.path)
        if htpasswd.ignored:
            self.log.warn(
                "{path}: ignoring entries that are not bcrypt, for {users}",
                path=self.path, users=", ".join(htpasswd.ignored))
        return htpasswd

    def current(self) -> Deferred[Htpasswd]:
        """
        @return: a L{Deferred} firing with the entries, read again if the
            file changed and was not looked at for C{interval}.
        """
        now = self._clock.seconds()
        if now - self._checked < self._interval:
            return succeed(self._current)
        self._checked = now
        return self._runInThread(self._refresh)

    def _refresh(self) -> Htpasswd:
        stamp = self._stat()
        if stamp != self._stamp:
            self._stamp = stamp
            try:
                self._current = self._read()
            except HtpasswdError as e:
                self.log.error("keeping the users last read: {error}", error=str(e))
            else:
                self.log.info("{path} changed: read {count} users",
                              path=self.path, count=len(self._current.entries))
        return self._current


class VerificationCache:
    """
    Remembers successful password checks for a while, bounded in size.

    Keys are salted SHA-256 hashes (the salt is random per process), never
    the passwords themselves.
    """

    def __init__(self, clock: IReactorTime, ttl: float = 60.0, size: int = 1024) -> None:
        """
        @param clock: tells the time.
        @param ttl: how long a check is remembered, in seconds.
        @param size: how many checks are remembered at most.
        """
        self._clock = clock
        self._ttl = ttl
        self._size = size
        self._salt = secrets.token_bytes(32)
        self._entries: OrderedDict[bytes, float] = OrderedDict()

    def key(self, user: str, password: bytes, hashed: bytes) -> bytes:
        """
        @return: the cache key of checking C{password} for C{user} against
            the stored C{hashed} (so that a changed entry misses).
        """
        digest = hashlib.sha256(self._salt)
        for part in (user.encode("utf-8"), password, hashed):
            digest.update(b"%d:" % (len(part),) + part)
        return digest.digest()

    def __contains__(self, key: bytes) -> bool:
        expires = self._entries.get(key)
        if expires is None:
            return False
        if expires <= self._clock.seconds():
            del self._entries[key]
            return False
        return True

    def add(self, key: bytes) -> None:
        """
        Remember a successful check.
        """
        self._entries[key] = self._clock.seconds() + self._ttl
        self._entries.move_to_end(key)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)


def basicCredentials(request: IRequest) -> tuple[str, bytes] | None:
    """
    @return: the user name and password of the request's C{Authorization:
        Basic} header, or L{None} if it has none or it is malformed.
    """
    header = request.getHeader(b"authorization")
    if header is None:
        return None
    scheme, _, encoded = header.strip().partition(b" ")
    if scheme.lower() != b"basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
        user, colon, password = decoded.partition(b":")
        name = user.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    if not colon:
        return None
    return name, password


def checkPassword(password: bytes, hashed: bytes) -> bool:
    """
    @return: whether the first L{BCRYPT_MAX_PASSWORD} bytes of C{password}
        match the bcrypt hash C{hashed} (bcrypt 5 refuses longer ones, which
        htpasswd and distribution accept); L{False} if C{hashed} is malformed.
    """
    try:
        return bcrypt.checkpw(password[:BCRYPT_MAX_PASSWORD], hashed)
    except ValueError:
        return False


@implementer(IAccessController)
class HtpasswdAccessController:
    """
    Basic authentication against an htpasswd file.
    """

    def __init__(self, realm: str, path: str, clock: IReactorTime,
                 runInThread: ThreadRunner, cache: VerificationCache | None = None) -> None:
        """
        @param realm: the realm of the C{Basic} challenge.
        @param path: the htpasswd file.
        @param clock: tells the time (for the cache).
        @param runInThread: runs the bcrypt checks off the reactor.
        @param cache: remembers successful checks (one for C{clock} by
            default).
        @raise HtpasswdError: if the file cannot be read.
        """
        self.realm = realm
        self.file = HtpasswdFile(path, clock, runInThread)
        self._runInThread = runInThread
        self.cache = cache if cache is not None else VerificationCache(clock)
        self._challenge = {b"WWW-Authenticate": f"Basic realm={quoted(realm)}".encode()}

    def _refuse(self, reason: str, user: str | None = None,
                attempted: bool = True) -> Challenge:
        return Challenge(dict(self._challenge), reason, attempted, user)

    def authorize(self, request: IRequest, accesses: Sequence[Access]) -> Deferred[Grant]:
        credentials = basicCredentials(request)
        if credentials is None:
            attempted = request.getHeader(b"authorization") is not None
            return fail(self._refuse(
                "malformed or non-Basic credentials" if attempted else "no credentials",
                attempted=attempted))
        user, password = credentials
        return self.file.current().addCallback(self._check, user, password)

    def _check(self, htpasswd: Htpasswd, user: str, password: bytes) -> Deferred[Grant]:
        hashed = htpasswd.entries.get(user)
        if hashed is None:
            d = self._runInThread(checkPassword, password, htpasswd.unknownUserHash)
            return d.addCallback(lambda _: self._failed(user, "unknown user"))
        key = self.cache.key(user, password, hashed)
        if key in self.cache:
            return succeed(Grant(user))

        def checked(matches: bool) -> Grant:
            if not matches:
                self._failed(user, "wrong password")
            self.cache.add(key)
            return Grant(user)

        return self._runInThread(checkPassword, password, hashed).addCallback(checked)

    def _failed(self, user: str, reason: str) -> Grant:
        raise self._refuse(reason, user)
