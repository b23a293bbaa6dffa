"""
The URL by which a client reaches the registry, for the absolute URLs the
registry gives (the C{Location} of uploads, blobs and manifests, the token
realm's auto-redirect), chosen as distribution's C{NewURLBuilderFromRequest}
chooses it:

  1. C{http.host}, the configured base URL, if it is set (then
     C{http.relativeurls} is ignored, as distribution ignores it);
  2. C{http.relativeurls}: no scheme nor host, the path alone;
  3. else the request's scheme and C{Host}, replaced by those a proxy
     forwarded: the first element of RFC 7239's C{Forwarded} (C{proto=},
     C{host=}) if the request has that header, else C{X-Forwarded-Proto}
     and the first host of C{X-Forwarded-Host}.

Values are checked before use: a C{Host} must be RFC 3986's C{host [":"
port]} (the caller answers 400 otherwise, see L{hostIsValid}); a forwarded
host that is not, or a forwarded scheme other than C{http} or C{https}, is
ignored (distribution escapes them instead); a C{Forwarded} header that does
not parse is ignored, and then so are the C{X-Forwarded-*} headers, as in
distribution.
"""

from __future__ import annotations

import re
from functools import lru_cache
from ipaddress import IPv6Address
from urllib.parse import urljoin

from twisted.web.iweb import IRequest

# RFC 3986: IP-literal (IPv6 only) or reg-name (which covers IPv4address),
# then an optional port.
_AUTHORITY = re.compile(
    r"(?:\[(?P<ipv6>[0-9A-Fa-f:.]+)\]"
    r"|(?P<name>(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*))"
    r"(?::[0-9]*)?")

# RFC 7230's token; a Forwarded pair is token "=" (token / quoted-string),
# and pairs are separated by ";" (empty ones allowed), elements by ",".
_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_PAIR = re.compile(
    rf"\s*(?:(?P<name>{_TOKEN})\s*=\s*"
    rf"(?:(?P<token>{_TOKEN})|\"(?P<quoted>(?:[^\"\\]|\\[\t\x20-\x7e])*)\"))?\s*")
_ESCAPED = re.compile(r"\\(.)")

_SCHEMES = ("http", "https")


def isValidAuthority(value: str, emptyHost: bool = False) -> bool:
    """
    @param value: the value of a C{Host} header, or a forwarded host.
    @param emptyHost: whether an empty host (C{""}, C{":5000"}) is valid,
        as RFC 3986 allows for C{Host}.
    @return: whether C{value} is RFC 3986's C{host [":" port]}, with an
        IPv6 literal in brackets or a name (or IPv4 address) of unreserved,
        percent-encoded or sub-delimiter characters.
    """
    match = _AUTHORITY.fullmatch(value)
    if match is None:
        return False
    if match["ipv6"] is not None:
        try:
            IPv6Address(match["ipv6"])
        except ValueError:
            return False
        return True
    return emptyHost or match["name"] != ""


def hostIsValid(request: IRequest) -> bool:
    """
    @return: whether the request's C{Host} is absent or valid (see
        L{isValidAuthority}); several C{Host} headers are valid only if they
        are equal (an HTTP/2 request may send C{:authority} and C{host}).
    """
    values = request.requestHeaders.getRawHeaders(b"host")
    if not values:
        return True
    first = values[0]
    return all(value == first for value in values) and _hostHeaderIsValid(first)


@lru_cache(maxsize=256)
def _hostHeaderIsValid(value: bytes) -> bool:
    # Remembered: clients send the same few Hosts on every request, and the
    # check was 2-3 % of a manifest GET.
    return isValidAuthority(value.decode("latin-1"), emptyHost=True)


def parseForwarded(value: str) -> dict[str, str] | None:
    """
    Parse the first element of a C{Forwarded} header (RFC 7239), the one
    the proxy nearest the client set.

    @return: its parameters, by lower-case name (quoted values unquoted),
        or L{None} if it does not parse or names a parameter twice.
    """
    params: dict[str, str] = {}
    position = 0
    while True:
        pair = _PAIR.match(value, position)
        assert pair is not None  # every part of the pattern is optional
        if pair["name"] is not None:
            name = pair["name"].lower()
            if name in params:
                return None
            quoted = pair["quoted"]
            params[name] = pair["token"] if quoted is None else _ESCAPED.sub(r"\1", quoted)
        position = pair.end()
        if position == len(value) or value[position] == ",":
            return params
        if value[position] != ";":
            return None
        position += 1


def _first(request: IRequest, name: bytes) -> str | None:
    values = request.requestHeaders.getRawHeaders(name)
    return values[0].decode("latin-1") if values else None


def _firstItem(value: str | None) -> str | None:
    return None if value is None else value.split(",", 1)[0].strip()


def forwardedProto(request: IRequest) -> str | None:
    """
    @return: the first scheme of the first C{X-Forwarded-Proto} header, in
        lower case, if it is C{http} or C{https}.
    """
    proto = (_firstItem(_first(request, b"x-forwarded-proto")) or "").lower()
    return proto if proto in _SCHEMES else None


def requestHost(request: IRequest) -> str:
    """
    @return: the request's C{Host} if it is valid and names a host, else
        the address the request came to.
    """
    host = _first(request, b"host")
    if host is not None and isValidAuthority(host):
        return host
    address = request.getHost()
    ip = getattr(address, "host", None)
    if ip is None:
        return "localhost"
    return f"[{ip}]:{address.port}" if ":" in ip else f"{ip}:{address.port}"


def requestOrigin(request: IRequest) -> str:
    """
    @return: C{scheme://host} of the registry as the client reached it,
        through the proxies that forwarded the request (see the module's
        docstring).
    """
    scheme = "https" if request.isSecure() else "http"
    host = requestHost(request)
    proto: str | None
    forwarded = _first(request, b"forwarded")
    if forwarded:
        params = parseForwarded(forwarded) or {}
        proto, forwardedHost = params.get("proto", "").lower(), params.get("host")
    else:
        proto = forwardedProto(request)
        forwardedHost = _firstItem(_first(request, b"x-forwarded-host"))
    if proto in _SCHEMES:
        scheme = proto
    if forwardedHost and isValidAuthority(forwardedHost):
        host = forwardedHost
    return f"{scheme}://{host}"


def absoluteURL(request: IRequest, path: str, host: str | None = None,
                relative: bool = False) -> str:
    """
    @param path: an absolute path on the registry, with its query if any.
    @param host: C{http.host}: the base URL of the registry.
    @param relative: C{http.relativeurls}.
    @return: the URL of C{path} that the registry gives to the client of
        C{request}: C{path} resolved against C{host} as distribution
        resolves it (a path in C{host} is kept if it ends with C{/}), else
        C{path} itself if C{relative}, else C{path} on the request's origin
        (see L{requestOrigin}).
    """
    if host:
        return urljoin(host, path.lstrip("/"))
    if relative:
        return path
    return requestOrigin(request) + path
