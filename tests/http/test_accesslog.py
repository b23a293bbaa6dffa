"""
Tests for L{txregistry.http.accesslog}: a request's log fields as
distribution names them, escaped; its id; the user on its access line.
"""

from __future__ import annotations

import uuid

import pytest
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.logger import capturedLogs
from twisted.web.http import combinedLogFormatter, datetimeToLogString
from twisted.web.resource import Resource
from twisted.web.test.requesthelper import DummyRequest

from txregistry.http import accesslog
from txregistry.http.accesslog import (
    MAX_INCOMING_ID,
    authenticated,
    registryLogFormatter,
    requestFields,
    requestId,
)
from txregistry.http.site import RegistrySite

DIGEST = "sha256:" + "a" * 64


def request(method: bytes, uri: bytes, agent: bytes | None = None,
            incomingId: bytes | None = None) -> DummyRequest:
    path, _, query = uri.partition(b"?")
    r = DummyRequest([])
    r.client = IPv4Address("TCP", "192.168.1.1", 4321)
    r.method, r.uri, r.path = method, uri, path
    r.args = {b"digest": [query.split(b"=", 1)[1]]} if query.startswith(b"digest=") else {}
    if agent is not None:
        r.requestHeaders.setRawHeaders(b"user-agent", [agent])
    if incomingId is not None:
        r.requestHeaders.setRawHeaders(b"x-request-id", [incomingId])
    return r


def test_manifestByTag() -> None:
    """A manifest by tag names the client, method, URI, repository and reference."""
    fields = requestFields(request(b"GET", b"/v2/a/b/manifests/v1", b"skopeo"))
    assert uuid.UUID(fields.pop("http.request.id")).version == 4
    assert fields == {
        "http.request.remoteaddr": "192.168.1.1",
        "http.request.method": "GET",
        "http.request.uri": "/v2/a/b/manifests/v1",
        "http.request.useragent": "skopeo",
        "vars.name": "a/b",
        "vars.reference": "v1",
    }


def test_digests() -> None:
    """A blob's digest comes from the path, an upload's from its digest query."""
    assert requestFields(request(b"HEAD", f"/v2/r/blobs/{DIGEST}".encode()))["vars.digest"] == DIGEST
    fields = requestFields(request(b"PUT", f"/v2/r/blobs/uploads/u?digest={DIGEST}".encode()))
    assert fields["vars.name"] == "r" and fields["vars.digest"] == DIGEST


def test_noRepository() -> None:
    """/v2/ and the catalog name no repository."""
    for uri in (b"/v2/", b"/v2/_catalog"):
        assert "vars.name" not in requestFields(request(b"GET", uri))


def test_escaped() -> None:
    """Values from the request are escaped: no field can hold a line break."""
    fields = requestFields(request(b"GET", b"/v2/x\r\ny/tags/list", b"a\x1bb"))
    assert fields["vars.name"] == "x\\r\\ny" and fields["http.request.useragent"] == "a\\x1bb"


def test_siteLogsEventWithCachedDate() -> None:
    """
    Without a C{logPath}, a site logs each request as an event carrying its
    line, made by the site's log formatter from the date Twisted caches each
    second (not one formatted per request), and its fields.
    """
    clock = Clock()
    clock.advance(86400)
    dates: list[str] = []

    def formatter(timestamp: str, request: object) -> str:
        dates.append(timestamp)
        return combinedLogFormatter(timestamp, request)

    site = RegistrySite(Resource(), reactor=clock, logFormatter=formatter)
    site.startFactory()
    clock.advance(0.5)
    r = request(b"GET", b"/v2/a/manifests/v1", b"skopeo")
    r.code, r.sentLength = 200, 5
    with capturedLogs() as events:
        site.log(r)
    cached = site._logDateTime
    site.stopFactory()
    assert dates == [datetimeToLogString(86400)] and dates[0] is cached
    [event] = [e for e in events if "line" in e]
    assert event["line"] == combinedLogFormatter(dates[0], r)
    assert event["fields"]["vars.reference"] == "v1"
    assert event["fields"]["http.response.status"] == "200"


def test_uuid4() -> None:
    """Request ids are version 4, RFC 4122 variant UUIDs, written as uuid writes them, all different."""
    drawn = {accesslog.uuid4() for _ in range(1000)}
    assert len(drawn) == 1000
    for text in drawn:
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant, str(parsed)) == (4, uuid.RFC_4122, text)


def test_requestIdKept() -> None:
    """A request's id is a uuid4 chosen once: every line of the request names the same one; another request gets another."""
    first, second = request(b"GET", b"/v2/"), request(b"GET", b"/v2/")
    assert requestId(first) == requestFields(first)["http.request.id"] == first.requestId
    assert requestId(second) != requestId(first)


@pytest.mark.parametrize("incoming", [
    b"0d1f7c1e-5b7c-4c7a-9c1e-1e2f3a4b5c6d", b"a", b"Root=1-67891233:abc+/._-",
    b"x" * MAX_INCOMING_ID,
])
def test_incomingIdTaken(incoming: bytes) -> None:
    """A bounded X-Request-Id of safe characters (a proxy's) becomes the request's id."""
    assert requestFields(request(b"GET", b"/v2/", incomingId=incoming))["http.request.id"] == \
        incoming.decode()


@pytest.mark.parametrize("incoming", [
    b"", b"x" * (MAX_INCOMING_ID + 1), b"a b", b"a\r\nb", b'a"b', b"a\\b", b"caf\xc3\xa9",
    b"a;b", b"a\x00",
])
def test_incomingIdIgnored(incoming: bytes) -> None:
    """An X-Request-Id too long, empty or with other characters is ignored: the id is a uuid4."""
    fields = requestFields(request(b"GET", b"/v2/", incomingId=incoming))
    assert uuid.UUID(fields["http.request.id"]).version == 4


def test_userOnAccessLine() -> None:
    """The user a request was allowed for is the combined line's third field and the auth.user.name field; else "-" and no field."""
    r = request(b"GET", b"/v2/", b"docker")
    r.code, r.sentLength = 200, 2
    anonymous = registryLogFormatter("[01/Jan/2026:00:00:00 +0000]", r)
    assert anonymous == combinedLogFormatter("[01/Jan/2026:00:00:00 +0000]", r)
    assert anonymous.startswith('"192.168.1.1" - - [')
    authenticated(r, "alice")
    line = registryLogFormatter("[01/Jan/2026:00:00:00 +0000]", r)
    assert line == anonymous.replace('" - - [', '" - alice [', 1)
    assert requestFields(r)["auth.user.name"] == "alice"


@pytest.mark.parametrize(("user", "shown"), [
    ("j doe", "j\\x20doe"), ('a"b', 'a\\"b'), ("e\r\nvil", "e\\r\\nvil"),
])
def test_userEscaped(user: str, shown: str) -> None:
    """A user name stays one field of one line: spaces, quotes and controls are escaped."""
    r = request(b"GET", b"/v2/")
    r.code, r.sentLength = 200, 2
    authenticated(r, user)
    line = registryLogFormatter("[ts]", r)
    assert line.split(" ")[2] == shown and len(line.splitlines()) == 1
