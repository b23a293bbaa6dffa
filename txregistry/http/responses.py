"""
Writing a whole response in one call: its status, its headers with an
explicit C{Content-Length}, and its body, plain, JSON, or the JSON error
body of a L{RegistryError}.
"""

from __future__ import annotations

import json
from typing import Any

from twisted.web.iweb import IRequest

from txregistry.errors import RegistryError


def respond(request: IRequest, status: int, headers: dict[str, str] | None = None,
            body: bytes = b"") -> bytes:
    """
    Set the status, the headers and an explicit C{Content-Length}.

    @return: C{body}, for the handler to return.
    """
    request.setResponseCode(status)
    for name, value in (headers or {}).items():
        request.setHeader(name, value)
    request.setHeader(b"Content-Length", b"%d" % (len(body),))
    return body


def respondError(request: IRequest, error: RegistryError) -> bytes:
    """
    Respond with C{error}'s status, headers and JSON body (no body to a
    C{HEAD}).
    """
    request.setHeader(b"Content-Type", b"application/json")
    for name, value in error.headers.items():
        request.setHeader(name, value)
    body = b"" if request.method == b"HEAD" else error.body()
    return respond(request, error.status, body=body)


def respondJSON(request: IRequest, value: Any, status: int = 200,
                headers: dict[str, str] | None = None) -> bytes:
    """
    Respond with C{value} as JSON.
    """
    request.setHeader(b"Content-Type", b"application/json")
    return respond(request, status, headers, json.dumps(value).encode("utf-8"))
