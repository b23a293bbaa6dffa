"""
Tests for L{txregistry.baseurl}: which Host values are valid, how a
C{Forwarded} header parses, and which URL the registry gives for which
request and configuration.
"""

from __future__ import annotations

import pytest
from twisted.web.server import Request
from twisted.web.test.requesthelper import DummyChannel

from txregistry.baseurl import (
    absoluteURL,
    forwardedProto,
    hostIsValid,
    isValidAuthority,
    parseForwarded,
    requestHost,
)

PATH = "/v2/foo/blobs/uploads/u?_state=s"


def makeRequest(*headers: tuple[str, str], secure: bool = False) -> Request:
    """
    @return: a request with these headers, on a connection to 10.0.0.1:80
        (over TLS if C{secure}).
    """
    channel = DummyChannel()
    if secure:
        channel.transport = DummyChannel.SSL()
    request = Request(channel)
    for name, value in headers:
        request.requestHeaders.addRawHeader(name.encode(), value.encode("latin-1"))
    return request


@pytest.mark.parametrize("value", [
    "registry.test", "registry.test:5000", "127.0.0.1:5000", "[::1]", "[::1]:5000",
    "[::ffff:10.0.0.1]:443", "under_score.test", "pct%2Dencoded.test", "sub!$&'()*+,;=.test",
    "registry.test:",
])
def test_validAuthority(value: str) -> None:
    """RFC 3986 host [":" port] is valid: names, IPv4, bracketed IPv6, any port digits."""
    assert isValidAuthority(value)


@pytest.mark.parametrize("value", [
    "evil.test/path", "evil.test?query", "evil.test#fragment", "user@evil.test",
    "user:pass@evil.test", "evil .test", "evil.test\r\nX: y", "evil.test:port",
    "evil.test:80:81", "::1", "[::1", "[::1]x", "[zz::1]", "[fe80::1%25eth0]",
    "b\u00fccher.test", "bad%2", "\"quoted\"", "a<b", "",
])
def test_invalidAuthority(value: str) -> None:
    """A path, query, fragment, userinfo, space, control, bad port or bad IPv6 is invalid."""
    assert not isValidAuthority(value)


def test_emptyHost() -> None:
    """An empty host is valid in a Host header (RFC 3986 allows it), nowhere else."""
    assert isValidAuthority("", emptyHost=True)
    assert isValidAuthority(":5000", emptyHost=True)
    assert not isValidAuthority(":5000")


@pytest.mark.parametrize(("hosts", "valid"), [
    ((), True),
    (("registry.test",), True),
    (("registry.test", "registry.test"), True),
    (("registry.test", "other.test"), False),
    (("registry.test/x",), False),
    (("",), True),
])
def test_hostIsValid(hosts: tuple[str, ...], valid: bool) -> None:
    """A request's Host is valid if absent, or present once (or repeated equal) and valid."""
    assert hostIsValid(makeRequest(*(("Host", host) for host in hosts))) is valid


@pytest.mark.parametrize(("header", "params"), [
    # distribution's examples (registry/api/v2/headerparser.go).
    ('For=192.0.2.43; Proto=https,For="[2001:db8:cafe::17]",For=unknown',
     {"for": "192.0.2.43", "proto": "https"}),
    ('for="192.0.2.43:443"; host="registry.example.org", for="10.10.05.40:80"',
     {"for": "192.0.2.43:443", "host": "registry.example.org"}),
    ('host="a\\"b\\\\c"', {"host": 'a"b\\c'}),
    ("proto=https;;host=h.test;", {"proto": "https", "host": "h.test"}),
    ("proto = https", {"proto": "https"}),
    (", proto=https", {}),
    ("proto=https;proto=http", None),
    ("PROTO=https;proto=http", None),
    ("host=h.test:5000", None),
    ('host="unterminated', None),
    ("proto", None),
    ("proto=https host=h", None),
])
def test_parseForwarded(header: str, params: dict[str, str] | None) -> None:
    """The first element of Forwarded parses as distribution's parser does."""
    assert parseForwarded(header) == params


#: (request headers, secure, the URL of PATH the registry gives)
ORIGINS = [
    ((("Host", "registry.test:5000"),), False, "http://registry.test:5000"),
    ((("Host", "registry.test"),), True, "https://registry.test"),
    ((("Host", "[::1]:5000"),), False, "http://[::1]:5000"),
    ((), False, "http://10.0.0.1:80"),
    ((("Host", ":5000"),), False, "http://10.0.0.1:80"),
    ((("Host", "r.test"), ("X-Forwarded-Proto", "https"), ("X-Forwarded-Host", "p.test")),
     False, "https://p.test"),
    ((("Host", "r.test"), ("X-Forwarded-Proto", "http")), True, "http://r.test"),
    ((("Host", "r.test"), ("X-Forwarded-Host", "a.test:8443, b.test")), False,
     "http://a.test:8443"),
    ((("Host", "r.test"), ("X-Forwarded-Host", "a.test"), ("X-Forwarded-Host", "b.test")),
     False, "http://a.test"),
    ((("Host", "r.test"), ("X-Forwarded-Proto", "HTTPS, http")), False, "https://r.test"),
    ((("Host", "r.test"), ("X-Forwarded-Proto", "javascript")), False, "http://r.test"),
    ((("Host", "r.test"), ("X-Forwarded-Host", "evil.test/x?")), False, "http://r.test"),
    ((("Host", "r.test"), ("X-Forwarded-Host", "user@evil.test")), False, "http://r.test"),
    ((("Host", "r.test"), ("X-Forwarded-Host", "")), False, "http://r.test"),
    ((("Host", "r.test"), ("Forwarded", 'for=192.0.2.1;proto=https;host="f.test:8443"')),
     False, "https://f.test:8443"),
    ((("Host", "r.test"), ("Forwarded", "proto=https, proto=http;host=other.test")),
     False, "https://r.test"),
    ((("Host", "r.test"), ("Forwarded", "proto=https"), ("X-Forwarded-Host", "x.test")),
     False, "https://r.test"),
    ((("Host", "r.test"), ("Forwarded", "proto"), ("X-Forwarded-Proto", "https")),
     False, "http://r.test"),
    ((("Host", "r.test"), ("Forwarded", 'host="a b";proto=ftp')), False, "http://r.test"),
    ((("Host", "r.test"), ("Forwarded", "host=f.test"), ("Forwarded", "host=g.test")),
     False, "http://f.test"),
]


@pytest.mark.parametrize(("headers", "secure", "origin"), ORIGINS)
def test_fromRequest(headers: tuple[tuple[str, str], ...], secure: bool, origin: str) -> None:
    """Without http.host, the URL is built from the request and the proxies' headers."""
    request = makeRequest(*headers, secure=secure)
    assert absoluteURL(request, PATH) == origin + PATH


@pytest.mark.parametrize(("host", "relative", "url"), [
    ("https://r.example.com", False, "https://r.example.com" + PATH),
    ("https://r.example.com:5000/", False, "https://r.example.com:5000" + PATH),
    ("https://p.example.com/registry/", False, "https://p.example.com/registry" + PATH),
    ("https://p.example.com/registry", False, "https://p.example.com" + PATH),
    ("https://r.example.com", True, "https://r.example.com" + PATH),
    (None, True, PATH),
])
def test_configured(host: str | None, relative: bool, url: str) -> None:
    """http.host, then http.relativeurls, win over every header of the request."""
    request = makeRequest(("Host", "r.test"), ("X-Forwarded-Host", "x.test"),
                          ("Forwarded", "proto=http;host=f.test"))
    assert absoluteURL(request, PATH, host, relative) == url


@pytest.mark.parametrize(("headers", "proto", "host"), [
    ((("Host", "r.test"),), None, "r.test"),
    ((("Host", "r.test"), ("X-Forwarded-Proto", "http")), "http", "r.test"),
    ((("Host", "r.test/x"), ("X-Forwarded-Proto", "gopher")), None, "10.0.0.1:80"),
])
def test_tokenRealmParts(headers: tuple[tuple[str, str], ...], proto: str | None,
                         host: str) -> None:
    """The scheme and host the token realm's redirect uses are checked too."""
    request = makeRequest(*headers)
    assert (forwardedProto(request), requestHost(request)) == (proto, host)
