"""
The fields a request's log lines carry, named as distribution names them
(C{http.request.remoteaddr}, C{vars.name}, C{vars.digest}, ...), for the
JSON and logstash formatters.
"""

from __future__ import annotations

import re
from typing import Any

from txregistry.logging import loggable

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


def requestFields(request: Any) -> dict[str, str]:
    """
    @param request: an L{IRequest}.
    @return: the fields naming the client, the request and, for a
        repository's route, its name and reference or digest (from the path,
        or the C{digest} completing an upload); every value
        made L{loggable}.
    """
    path = request.path.decode("utf-8", "backslashreplace")
    fields = {
        "http.request.remoteaddr": loggable(clientAddress(request)),
        "http.request.method": loggable(request.method),
        "http.request.uri": loggable(request.uri),
    }
    agent = request.getHeader(b"user-agent")
    if agent:
        fields["http.request.useragent"] = loggable(agent)
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
