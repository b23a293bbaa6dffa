"""
The resource that authorises every request before the API sees it.

It wraps the API's resource and decides from the request's method, path,
query and headers alone.  An upload or manifest C{PUT} is dispatched as soon
as its headers arrive (see L{txregistry.http.request.StreamingRequest}), so
a refused push is answered before its body is read: no C{100 Continue} is
sent, and the connection is closed after the answer.
"""

from __future__ import annotations

from contextvars import copy_context
from typing import Any, cast

from twisted.internet.defer import maybeDeferred
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource, Resource
from twisted.web.server import NOT_DONE_YET, Request

from txregistry.auth.access import Access, requiredAccess
from txregistry.auth.interfaces import Challenge, Grant, IAccessController
from txregistry.errors import RegistryError, Unauthorized, Unknown
from txregistry.http.accesslog import authenticated, clientAddress, requestFields
from txregistry.http.responses import respondError
from txregistry.logging import loggable


class AuthResource(Resource):
    """
    Passes a request to the resource it wraps once its access controller
    allows it; answers 401 with the controller's challenge otherwise.

    @ivar log: where refusals are logged, with the client's address and the
        user name claimed (never the password or the token).  The user an
        allowed request is made for is named in its log lines (see
        L{txregistry.http.accesslog.authenticated}).
    """

    isLeaf = True
    log = Logger()

    def __init__(self, wrapped: IResource, controller: IAccessController) -> None:
        """
        @param wrapped: the resource serving allowed requests.
        @param controller: decides.
        """
        super().__init__()
        self._wrapped = wrapped
        self._controller = controller

    def render(self, request: IRequest) -> Any:
        accesses = requiredAccess(request.method, request.path, request.args or {})
        early: list[Any] = []
        gone: list[Failure] = []
        waiting = False
        # A late decision fires elsewhere (a thread's result): the request is
        # handled on in its own context, whose lines carry its fields.
        context = copy_context()

        def decided(result: Any) -> None:
            if not waiting:
                early.append(result)
            elif not gone:
                body = context.run(self._decided, request, accesses, result)
                if body is not NOT_DONE_YET:
                    request.write(body)
                    request.finish()

        d = maybeDeferred(self._controller.authorize, request, accesses)
        d.addBoth(decided)
        if early:
            return self._decided(request, accesses, early[0])
        waiting = True
        cast(Request, request).notifyFinish().addErrback(gone.append)
        d.addErrback(lambda f: self.log.failure("answering {method} {path}", f,
                                                method=loggable(request.method),
                                                path=loggable(request.path)))
        return NOT_DONE_YET

    def _decided(self, request: IRequest, accesses: tuple[Access, ...],
                 result: Grant | Failure) -> Any:
        if isinstance(result, Grant):
            authenticated(request, result.user)
            return self._wrapped.render(request)
        if result.check(Challenge) is None:
            self.log.failure("authorising {method} {path}", result,
                             method=loggable(request.method), path=loggable(request.path),
                             fields=requestFields(request))
            return respondError(request, Unknown())
        challenge = cast(Challenge, result.value)
        self._logRefusal(request, challenge)
        error: RegistryError = Unauthorized(
            [access.detail() for access in accesses] or None,
            headers=challenge.headers)
        return respondError(request, error)

    def _logRefusal(self, request: IRequest, challenge: Challenge) -> None:
        user = loggable(challenge.user or "-")
        fields = dict(client=loggable(clientAddress(request)), user=user,
                      reason=loggable(challenge.reason),
                      method=loggable(request.method), path=loggable(request.path),
                      fields=requestFields(request) | {"auth.user.name": user})
        if challenge.attempted:
            self.log.warn("authentication failed for {client} (user {user}) on "
                          "{method} {path}: {reason}", **fields)
        else:
            self.log.debug("no credentials from {client} on {method} {path}", **fields)
