"""
Tests for L{txregistry.http.accesslog.requestFields}: a request's log fields
as distribution names them, escaped.
"""

from __future__ import annotations

from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.logger import capturedLogs
from twisted.web.http import combinedLogFormatter, datetimeToLogString
from twisted.web.resource import Resource
from twisted.web.test.requesthelper import DummyRequest

from txregistry.http.accesslog import requestFields
from txregistry.http.site import RegistrySite

DIGEST = "sha256:" + "a" * 64


def request(method: bytes, uri: bytes, agent: bytes | None = None) -> DummyRequest:
    path, _, query = uri.partition(b"?")
    r = DummyRequest([])
    r.client = IPv4Address("TCP", "192.168.1.1", 4321)
    r.method, r.uri, r.path = method, uri, path
    r.args = {b"digest": [query.split(b"=", 1)[1]]} if query.startswith(b"digest=") else {}
    if agent is not None:
        r.requestHeaders.setRawHeaders(b"user-agent", [agent])
    return r


def test_manifestByTag() -> None:
    """A manifest by tag names the client, method, URI, repository and reference."""
    fields = requestFields(request(b"GET", b"/v2/a/b/manifests/v1", b"skopeo"))
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
