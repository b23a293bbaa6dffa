"""
Tests for L{txregistry.auth.htpasswd}: the file, the cache and the Basic
access controller.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import bcrypt
import pytest
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from twisted.web.test.requesthelper import DummyRequest

from tests.auth.conftest import htpasswdLine
from txregistry.auth.htpasswd import (
    CHECK_INTERVAL,
    Htpasswd,
    HtpasswdAccessController,
    HtpasswdError,
    HtpasswdFile,
    VerificationCache,
    basicCredentials,
    checkPassword,
)
from txregistry.auth.interfaces import Challenge, Grant


def basic(user: str, password: str) -> bytes:
    return b"Basic " + base64.b64encode(f"{user}:{password}".encode())


def requestWith(authorization: bytes | None) -> DummyRequest:
    request = DummyRequest([b""])
    if authorization is not None:
        request.requestHeaders.setRawHeaders(b"authorization", [authorization])
    return request


class CountingRunner:
    """
    Runs calls at once, counting them (as a thread pool would run them).
    """

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, f: Any, *args: Any) -> Deferred[Any]:
        self.calls += 1
        return maybeDeferred(f, *args)


def result(d: Deferred[Any]) -> Any:
    results: list[Any] = []
    d.addBoth(results.append)
    assert results, "the Deferred has not fired"
    return results[0]


def test_parse_skips_comments_and_blank_lines() -> None:
    """Comments and blank lines are skipped; bcrypt entries are kept."""
    line = htpasswdLine("alice", "pw")
    parsed = Htpasswd.parse(f"# users\n\n{line}".encode())
    assert list(parsed.entries) == ["alice"]


def test_parse_ignores_non_bcrypt() -> None:
    """MD5, SHA-1 and plain entries are left out, and named."""
    data = (b"md5:$apr1$abc$def\nsha:{SHA}abc=\nplain:pw\n"
            + htpasswdLine("alice", "pw").encode())
    parsed = Htpasswd.parse(data)
    assert list(parsed.entries) == ["alice"]
    assert parsed.ignored == ("md5", "sha", "plain")


def test_parse_malformed_line() -> None:
    """A line without a colon is an error naming its number."""
    with pytest.raises(HtpasswdError, match="line 2"):
        Htpasswd.parse(b"# c\nnocolon\n")


def test_load_missing_file(tmp_path: Path) -> None:
    """A missing file is an error naming it."""
    with pytest.raises(HtpasswdError, match="cannot read .*nothing"):
        Htpasswd.load(str(tmp_path / "nothing"))


def users(watched: HtpasswdFile) -> set[str]:
    return set(result(watched.current()).entries)


def test_file_reread_when_changed(htpasswdPath: Path) -> None:
    """A change of the file is seen at its next look, a check interval later, in the runner."""
    clock, runner = Clock(), CountingRunner()
    watched = HtpasswdFile(str(htpasswdPath), clock, runner, interval=1)
    assert users(watched) == {"alice", "bob"}
    htpasswdPath.write_text(htpasswdLine("carol", "pw"))
    assert users(watched) == {"alice", "bob"}
    assert runner.calls == 0
    clock.advance(1)
    assert users(watched) == {"carol"}
    assert runner.calls == 1
    assert users(watched) == {"carol"}
    assert runner.calls == 1


def test_file_not_looked_at_between_checks(htpasswdPath: Path) -> None:
    """Between two checks no file system call is made: even a removed file goes unnoticed until the next."""
    clock, runner = Clock(), CountingRunner()
    watched = HtpasswdFile(str(htpasswdPath), clock, runner, interval=1)
    os.remove(htpasswdPath)
    for _ in range(3):
        assert users(watched) == {"alice", "bob"}
    assert runner.calls == 0


def test_file_keeps_entries_when_broken(htpasswdPath: Path) -> None:
    """A file that becomes malformed or vanishes keeps the users last read."""
    clock = Clock()
    watched = HtpasswdFile(str(htpasswdPath), clock, CountingRunner(), interval=1)
    htpasswdPath.write_text("garbage\n")
    clock.advance(1)
    assert users(watched) == {"alice", "bob"}
    os.remove(htpasswdPath)
    clock.advance(1)
    assert users(watched) == {"alice", "bob"}


def test_cache_expires() -> None:
    """A remembered check is forgotten after its time to live."""
    clock = Clock()
    cache = VerificationCache(clock, ttl=10)
    key = cache.key("alice", b"pw", b"$2b$hash")
    cache.add(key)
    clock.advance(9)
    assert key in cache
    clock.advance(2)
    assert key not in cache


def test_cache_bounded() -> None:
    """The oldest checks are dropped beyond the size limit."""
    cache = VerificationCache(Clock(), size=2)
    keys = [cache.key(f"u{i}", b"pw", b"h") for i in range(3)]
    for key in keys:
        cache.add(key)
    assert [key in cache for key in keys] == [False, True, True]


def test_cache_key_depends_on_everything() -> None:
    """Another user, password or stored hash gives another key, never the password."""
    cache = VerificationCache(Clock())
    key = cache.key("alice", b"pw", b"h1")
    assert len({key, cache.key("alice", b"pw2", b"h1"), cache.key("bob", b"pw", b"h1"),
                cache.key("alice", b"pw", b"h2")}) == 4
    assert b"pw" not in key


@pytest.mark.parametrize("header, expected", [
    (basic("alice", "se:cret"), ("alice", b"se:cret")),
    (b"basic " + base64.b64encode(b"bob:"), ("bob", b"")),
    (None, None),
    (b"Bearer abc", None),
    (b"Basic !!!notbase64", None),
    (b"Basic " + base64.b64encode(b"nocolon"), None),
    (b"Basic " + base64.b64encode(b"\xff\xfe:pw"), None),
    (b"Basic", None),
])
def test_basic_credentials(header: bytes | None, expected: Any) -> None:
    """Basic credentials are read; anything else or malformed gives none."""
    assert basicCredentials(requestWith(header)) == expected


def controller(path: Path, runner: Any = None, clock: Clock | None = None) -> HtpasswdAccessController:
    return HtpasswdAccessController("Registry Realm", str(path), clock or Clock(),
                                    runner or CountingRunner())


def test_right_password(htpasswdPath: Path) -> None:
    """The right password is granted, naming the user."""
    grant = result(controller(htpasswdPath).authorize(
        requestWith(basic("alice", "secret")), []))
    assert grant == Grant("alice")


@pytest.mark.parametrize("header, user, reason", [
    (basic("alice", "wrong"), "alice", "wrong password"),
    (basic("mallory", "secret"), "mallory", "unknown user"),
    (b"Basic %%%", None, "malformed or non-Basic credentials"),
])
def test_refused(htpasswdPath: Path, header: bytes, user: str | None, reason: str) -> None:
    """Bad credentials get a Basic challenge naming the realm."""
    outcome = result(controller(htpasswdPath).authorize(requestWith(header), []))
    assert isinstance(outcome, Failure)
    challenge = outcome.value
    assert isinstance(challenge, Challenge)
    assert challenge.headers == {b"WWW-Authenticate": b'Basic realm="Registry Realm"'}
    assert (challenge.user, challenge.reason, challenge.attempted) == (user, reason, True)
    assert "secret" not in challenge.reason and "wrong" not in str(challenge.user)


def test_no_credentials_not_an_attempt(htpasswdPath: Path) -> None:
    """A request without credentials is challenged, not counted as a failure."""
    outcome = result(controller(htpasswdPath).authorize(requestWith(None), []))
    assert outcome.value.attempted is False


def test_success_cached(htpasswdPath: Path) -> None:
    """A second request with the same credentials skips bcrypt."""
    runner = CountingRunner()
    checker = controller(htpasswdPath, runner)
    for _ in range(5):
        assert result(checker.authorize(requestWith(basic("alice", "secret")), [])) \
            == Grant("alice")
    assert runner.calls == 1


def test_failure_not_cached(htpasswdPath: Path) -> None:
    """A wrong password is checked every time, and never granted."""
    runner = CountingRunner()
    checker = controller(htpasswdPath, runner)
    for _ in range(2):
        assert isinstance(result(checker.authorize(
            requestWith(basic("alice", "nope")), [])), Failure)
    assert runner.calls == 2


def test_changed_password(htpasswdPath: Path) -> None:
    """After the file changes, the new password works and the old one (cached) does not."""
    clock = Clock()
    checker = controller(htpasswdPath, clock=clock)
    assert result(checker.authorize(requestWith(basic("alice", "secret")), [])) \
        == Grant("alice")
    htpasswdPath.write_text(htpasswdLine("alice", "newpass"))
    clock.advance(CHECK_INTERVAL)
    assert isinstance(result(checker.authorize(
        requestWith(basic("alice", "secret")), [])), Failure)
    assert result(checker.authorize(requestWith(basic("alice", "newpass")), [])) \
        == Grant("alice")


def test_check_runs_in_the_runner(htpasswdPath: Path) -> None:
    """The bcrypt check is handed to the runner, and the answer waits for it."""
    pending: list[tuple[Deferred[Any], Any, tuple[Any, ...]]] = []

    def runner(f: Any, *args: Any) -> Deferred[Any]:
        d: Deferred[Any] = Deferred()
        pending.append((d, f, args))
        return d

    d = controller(htpasswdPath, runner).authorize(requestWith(basic("bob", "hunter2")), [])
    answers: list[Any] = []
    d.addBoth(answers.append)
    assert answers == [] and len(pending) == 1
    waiting, f, args = pending[0]
    waiting.callback(f(*args))
    assert answers == [Grant("bob")]


#: Entries written by Debian's C{htpasswd -nbB} (Apache 2.4, cost 5): carol's
#: password is L{LONG_PASSWORD}, dave's C{short one}.
HTPASSWD_B = (b"carol:$2y$05$l2P2ia5qeuIm0nTLeRTGG.jmgxP0pEcQy/CfLB3.L7ewLldXJs3JK\n"
              b"dave:$2y$05$.6R4QzDzH3Sd99VtLHDXf.Zjj2ypkYY8KaNc73cmulQaArKy33FQa\n")
LONG_PASSWORD = ("migrated from distribution; " * 4)[:90]


class RecordingRunner(CountingRunner):
    """
    Runs calls at once, recording the bcrypt hash each password check was
    given.
    """

    def __init__(self) -> None:
        super().__init__()
        self.hashes: list[bytes] = []

    def __call__(self, f: Any, *args: Any) -> Deferred[Any]:
        if f is checkPassword:
            self.hashes.append(args[1])
        return super().__call__(f, *args)


def cost(hashed: bytes) -> int:
    return int(hashed.split(b"$")[2])


def test_unknown_user_checked_at_the_files_cost(tmp_path: Path) -> None:
    """An unknown user's password is checked against a hash of the cost htpasswd -B wrote, as a known user's is."""
    path = tmp_path / "htpasswd"
    path.write_bytes(HTPASSWD_B)
    runner = RecordingRunner()
    checker = controller(path, runner)
    assert isinstance(result(checker.authorize(requestWith(basic("dave", "wrong")), [])), Failure)
    assert isinstance(result(checker.authorize(requestWith(basic("mallory", "x")), [])), Failure)
    known, unknown = runner.hashes
    assert cost(known) == cost(unknown) == 5
    assert unknown != known


def test_unknown_user_cost_follows_the_file(htpasswdPath: Path) -> None:
    """The dummy hash takes the cost most entries use, and follows the file when it is read again."""
    clock = Clock()
    runner = RecordingRunner()
    checker = controller(htpasswdPath, runner, clock)
    result(checker.authorize(requestWith(basic("mallory", "x")), []))
    assert cost(runner.hashes[-1]) == 4
    hashes = [bcrypt.hashpw(b"pw", bcrypt.gensalt(rounds)).decode() for rounds in (6, 6, 5)]
    htpasswdPath.write_text("".join(f"u{i}:{h}\n" for i, h in enumerate(hashes)))
    os.utime(htpasswdPath, ns=(1, 1))
    clock.advance(CHECK_INTERVAL)
    result(checker.authorize(requestWith(basic("mallory", "x")), []))
    assert cost(runner.hashes[-1]) == 6


@pytest.mark.parametrize("data, expected", [
    (b"", 5),
    (b"a:$2y$07$x\nb:$2a$04$x\nc:$2b$04$x\n", 4),
    (b"a:$2y$07$x\nb:$2a$04$x\n", 7),
    (b"a:$2y$xx$x\nb:$2y$99$x\nc:$apr1$x\n", 5),
])
def test_common_cost(data: bytes, expected: int) -> None:
    """The cost is the most common valid one, the higher on a tie, and htpasswd's 5 without any."""
    assert cost(Htpasswd.parse(data).unknownUserHash) == expected


@pytest.mark.parametrize("password, accepted", [
    (LONG_PASSWORD, True), (LONG_PASSWORD[:72], True), (LONG_PASSWORD[:71], False),
    (LONG_PASSWORD[:72] + "anything else", True)])
def test_password_over_72_bytes(tmp_path: Path, password: str, accepted: bool) -> None:
    """A password over 72 bytes matches on its first 72, as htpasswd -B and distribution check it."""
    path = tmp_path / "htpasswd"
    path.write_bytes(HTPASSWD_B)
    answer = result(controller(path).authorize(requestWith(basic("carol", password)), []))
    assert (answer == Grant("carol")) is accepted
