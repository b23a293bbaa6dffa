"""
Failing at start the way an operator wants: one line naming the problem, a
non-zero exit status, no Python traceback.

C{twistd} prints the usage text before any error raised while options are
parsed, and a traceback for any other error (many lines of C{[stderr#error]}
once logging started, as when a port is taken).  The registry instead raises
L{StartupError}, which L{reportStartupErrors} prints as one line.  Because it
is an ordinary exception, twistd still removes its pid file and tells the
launching process of a daemon that the start failed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import TracebackType
from typing import Any

from twisted.application.internet import StreamServerEndpointService
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IStreamServerEndpoint

#: The start of the line a L{StartupError} is printed as.
PREFIX = "txregistry: "


class StartupError(ValueError):
    """
    The registry cannot start; the message says why, in one line.  A
    L{ValueError}, as the other errors of a setting that cannot be used.
    """


def reportStartupErrors() -> None:
    """
    Have an uncaught L{StartupError} printed as one line on standard error
    (C{twistd} logs that line once its logging has started); every other
    uncaught exception still gets its traceback.  Installing it twice
    changes nothing.
    """
    previous = sys.excepthook
    if getattr(previous, "reportsStartupErrors", False):
        return

    def hook(kind: type[BaseException], value: BaseException,
             traceback: TracebackType | None) -> None:
        if isinstance(value, StartupError):
            sys.stderr.write(f"{PREFIX}{value}\n")
            sys.stderr.flush()
        else:
            previous(kind, value, traceback)

    hook.reportsStartupErrors = True  # type: ignore[attr-defined]
    sys.excepthook = hook


EndpointMaker = Callable[[Any, str], IStreamServerEndpoint]


def describedEndpoints(makeEndpoint: EndpointMaker) -> EndpointMaker:
    """
    @param makeEndpoint: builds a server endpoint from a reactor and a
        description (L{twisted.internet.endpoints.serverFromString}).
    @return: the same, raising a L{StartupError} naming the description
        when it cannot be used (Twisted raises C{ValueError}, C{TypeError},
        C{OSError}... with messages such as C{invalid literal for int()}).
    """
    def make(reactor: Any, description: str) -> IStreamServerEndpoint:
        try:
            return makeEndpoint(reactor, description)
        except Exception as e:
            raise StartupError(f"cannot listen on {description!r}: {e}") from None
    return make


class ListeningService(StreamServerEndpointService):
    """
    Listens on an endpoint when the application starts (before twistd sheds
    its privileges), failing the start with a L{StartupError} when it
    cannot (a port in use, an address not on this host, a permission
    denied).
    """

    def __init__(self, description: str, endpoint: IStreamServerEndpoint,
                 factory: Any) -> None:
        """
        @param description: the endpoint's description, for the message.
        """
        super().__init__(endpoint, factory)
        self.description = description
        self._raiseSynchronously = True     # as strports.service does

    def privilegedStartService(self) -> None:
        try:
            super().privilegedStartService()
        except CannotListenError as e:
            raise StartupError(self._cannotListen(e.socketError)) from None
        except OSError as e:
            raise StartupError(self._cannotListen(e)) from None

    def _cannotListen(self, error: BaseException) -> str:
        reason = getattr(error, "strerror", None) or str(error)
        return f"cannot listen on {self.description}: {reason}"
