"""
The fields a request's log lines carry, named as distribution names them
(C{http.request.id}, C{http.request.remoteaddr}, C{vars.name},
C{vars.digest}, C{auth.user.name}, ...), for the JSON and logstash
formatters; and the access line in the combined format, naming the user the
request was allowed for.

A request's id is a uuid4, as distribution's, unless the request brings an
C{X-Request-Id} (set by a proxy in front, to follow a request through both
logs) of at most L{MAX_INCOMING_ID} characters among letters, digits and
C{._:+/=-}; any other is ignored.  A client may choose its id that way: the
id correlates lines, it proves nothing.
"""

from __future__ import annotations

import os
import re
from typing import Any

from twisted.web.http import combinedLogFormatter

from txregistry.logging import loggable

#: The longest C{X-Request-Id} taken as the request's id.
MAX_INCOMING_ID = 128
_INCOMING_ID = re.compile(rb"[A-Za-z0-9._:+/=-]{1,%d}" % MAX_INCOMING_ID)

# /v2/<name>/<kind>/<reference>: the repository and the tag or digest.
_ROUTE = re.compile(
    r"^/v2/(?P<name>.+?)/(?:manifests|blobs(?:/uploads)?|tags|referrers)"
    r"(?:/(?P<reference>[^/?]*))?(?:\?|$)", re.DOTALL)


def clientAddress(request: Any) -> str:
    """
    @return: the client's address, as logs show it.
    """
    address = request.getClientAddress()
    host = getattr(address, "host", None)
    return str(host) if host is not None else str(address)


def uuid4() -> str:
    """
    @return: a random (version 4) UUID, as text: C{uuid.uuid4()}'s, in a
        third of its time (it is drawn for every request).
    """
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40
    raw[8] = raw[8] & 0x3F | 0x80
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def requestId(request: Any) -> str:
    """
    @param request: an L{IRequest}.
    @return: the request's id, chosen on the first call (see above) and
        kept on the request as its C{requestId}.
    """
    chosen: str | None = getattr(request, "requestId", None)
    if chosen is None:
        incoming = request.getHeader(b"x-request-id")
        if incoming is not None and _INCOMING_ID.fullmatch(incoming):
            chosen = incoming.decode("ascii")
        else:
            chosen = uuid4()
        request.requestId = chosen
    return chosen


def authenticated(request: Any, user: str | None) -> None:
    """
    Name the user a request was allowed for (the Basic user name, the
    token's subject), for its log lines.

    @param request: an L{IRequest}.
    @param user: the name, or L{None} if not known.
    """
    request.authenticatedUser = user


def _user(request: Any) -> str | None:
    """
    @return: the user C{request} was allowed for, L{loggable}, or L{None}.
    """
    user = getattr(request, "authenticatedUser", None)
    return loggable(user) if user else None


def registryLogFormatter(timestamp: str, request: Any) -> str:
    """
    Twisted's combined log line, with the user the request was allowed for
    (see L{authenticated}) as its third field, escaped so that it stays one
    field: C{"192.0.2.1" - alice [...] "GET /v2/ HTTP/1.1" 200 ...}.

    @see: L{twisted.web.iweb.IAccessLogFormatter}
    """
    line: str = combinedLogFormatter(timestamp, request)
    user = _user(request)
    if user is None:
        return line
    # Twisted's line starts with the quoted address (no quote inside).
    address, _, rest = line.partition('" - - ')
    user = user.replace(" ", "\\x20").replace('"', '\\"')
    return f'{address}" - {user} {rest}'


def requestFields(request: Any) -> dict[str, str]:
    """
    @param request: an L{IRequest}.
    @return: the fields naming the request (its id), the client, the user
        it was allowed for, and, for a repository's route, its name and
        reference or digest (from the path, or the C{digest} completing an
        upload); every value made L{loggable}.
    """
    path = request.path.decode("utf-8", "backslashreplace")
    fields = {
        "http.request.id": requestId(request),
        "http.request.remoteaddr": loggable(clientAddress(request)),
        "http.request.method": loggable(request.method),
        "http.request.uri": loggable(request.uri),
    }
    agent = request.getHeader(b"user-agent")
    if agent:
        fields["http.request.useragent"] = loggable(agent)
    user = _user(request)
    if user is not None:
        fields["auth.user.name"] = user
    match = _ROUTE.match(path)
    if match is not None:
        fields["vars.name"] = loggable(match["name"])
        reference = match["reference"]
        if reference and ":" in reference:
            fields["vars.digest"] = loggable(reference)
        elif reference and "/manifests/" in path:
            fields["vars.reference"] = loggable(reference)
        digests = (request.args or {}).get(b"digest")
        if digests and "vars.digest" not in fields:
            fields["vars.digest"] = loggable(digests[0])
    return fields
