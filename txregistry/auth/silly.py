"""
The C{silly} provider, for development only, as distribution's
C{registry/auth/silly}: any request with an C{Authorization} header passes
(whatever it holds); one without gets a C{Bearer} challenge.
"""

from __future__ import annotations

from collections.abc import Sequence

from twisted.internet.defer import Deferred, fail, succeed
from twisted.web.iweb import IRequest
from zope.interface import implementer

from txregistry.auth.access import Access, quoted, scopeParam
from txregistry.auth.interfaces import Challenge, Grant, IAccessController


@implementer(IAccessController)
class SillyAccessController:
    """
    Lets in anyone who sends an C{Authorization} header.
    """

    def __init__(self, realm: str, service: str) -> None:
        """
        @param realm: the C{realm} of the challenge.
        @param service: the C{service} of the challenge.
        """
        self.realm = realm
        self.service = service

    def authorize(self, request: IRequest, accesses: Sequence[Access]) -> Deferred[Grant]:
        if request.getHeader(b"authorization"):
            return succeed(Grant())
        value = f"Bearer realm={quoted(self.realm)},service={quoted(self.service)}"
        scope = scopeParam(accesses)
        if scope:
            value += f",scope={quoted(scope)}"
        return fail(Challenge({b"WWW-Authenticate": value.encode("utf-8")},
                              "no credentials", attempted=False))
