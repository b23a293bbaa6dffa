"""
Read-only mode (C{storage.maintenance.readonly.enabled}): the registry
serves pulls and refuses every write.

distribution registers no handler for the writing methods in this mode
(C{if !ctx.readOnly} in C{registry/handlers/*.go}), so writes get 405 Method
Not Allowed; here they get 405 with the spec's C{UNSUPPORTED} JSON error and
an C{Allow} header.  The refusal is made by a resource wrapping the API's, so
that an upload, whose request is dispatched as soon as its headers arrive
(see L{txregistry.http.request.StreamingRequest}), is refused before its body
is read.
"""

from __future__ import annotations

from typing import Any

from twisted.web.iweb import IRequest
from twisted.web.resource import IResource, Resource

from txregistry.errors import Unsupported
from txregistry.http.responses import respondError

#: The methods that write, refused under C{/v2/}.
WRITE_METHODS = frozenset([b"POST", b"PUT", b"PATCH", b"DELETE"])

#: What the detail of the refusal says.
READ_ONLY_DETAIL = "the registry is in read-only mode"


def isWrite(request: IRequest) -> bool:
    """
    @return: whether C{request} would write to the registry.
    """
    path: bytes = request.path
    return request.method in WRITE_METHODS and (path == b"/v2" or path.startswith(b"/v2/"))


class ReadOnlyResource(Resource):
    """
    Refuses writes at once; passes reads to the resource it wraps.
    """

    isLeaf = True

    def __init__(self, wrapped: IResource) -> None:
        """
        @param wrapped: the resource serving reads.
        """
        super().__init__()
        self._wrapped = wrapped

    def render(self, request: IRequest) -> Any:
        if not isWrite(request):
            return self._wrapped.render(request)
        return respondError(request, Unsupported(
            READ_ONLY_DETAIL, headers={b"Allow": b"GET, HEAD"}))
