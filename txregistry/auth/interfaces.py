"""
The contract of an access controller, and what it answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from twisted.internet.defer import Deferred
from twisted.web.iweb import IRequest
from zope.interface import Interface

from txregistry.auth.access import Access


@dataclass(frozen=True)
class Grant:
    """
    A request was allowed.

    @ivar user: who made it, if known (the Basic user name, the token's
        C{sub}).
    """

    user: str | None = None


@dataclass
class Challenge(Exception):
    """
    A request was refused for want of (valid, sufficient) credentials: the
    answer is 401 with these headers.

    @ivar headers: the response headers, with C{WWW-Authenticate}.
    @ivar reason: why, for the log; never holds a password or a token.
    @ivar attempted: whether the request carried credentials at all (a
        request without any is the first step of every client's login, not
        a failed attempt).
    @ivar user: the user name the request claimed, if any.
    """

    headers: dict[bytes, bytes]
    reason: str
    attempted: bool = True
    user: str | None = None

    def __str__(self) -> str:
        return self.reason


class IAccessController(Interface):
    """
    Decides whether a request may do what it needs, from its headers alone
    (its body is not read yet, and must not be).
    """

    def authorize(request: IRequest, accesses: Sequence[Access]) -> Deferred[Grant]:
        """
        Check the request's credentials against what it needs.

        @param request: the request; only its headers and client address
            may be used.
        @param accesses: what the request needs (see
            L{txregistry.auth.access.requiredAccess}); empty when valid
            credentials are enough.
        @return: a L{Deferred} firing with a L{Grant}, or failing with a
            L{Challenge} (never with another error for bad, malformed or
            expired credentials).  It may have fired already.
        """
