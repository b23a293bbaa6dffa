"""
Building the access controller that the C{auth} section configures.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.threads import deferToThreadPool

from txregistry.auth.htpasswd import HtpasswdAccessController, ThreadRunner
from txregistry.auth.interfaces import IAccessController
from txregistry.auth.keys import TrustedKeys
from txregistry.auth.silly import SillyAccessController
from txregistry.auth.token import (
    DEFAULT_ALGORITHMS,
    TokenAccessController,
    TokenVerifier,
)


def threadRunner(reactor: Any) -> ThreadRunner:
    """
    @return: a runner of blocking calls in C{reactor}'s thread pool; or,
        for a reactor without one (a test's L{Clock
        <twisted.internet.task.Clock>}), one that runs them at once.
    """
    getThreadPool = getattr(reactor, "getThreadPool", None)
    if getThreadPool is None:
        return lambda f, *args: maybeDeferred(f, *args)

    def run(f: Any, *args: Any) -> Deferred[Any]:
        return deferToThreadPool(reactor, getThreadPool(), f, *args)

    return run


def makeAccessController(auth: Any, reactor: Any,
                         runInThread: ThreadRunner | None = None
                         ) -> IAccessController | None:
    """
    Build the access controller of an C{auth} section.

    @param auth: the L{txregistry.config.AuthConfig}, or L{None}.
    @param reactor: tells the time; its thread pool runs bcrypt checks
        unless C{runInThread} is given.
    @param runInThread: runs blocking calls off the reactor.
    @return: the controller, or L{None} when there is no C{auth} section or
        it is C{none} (distribution: no access control).
    @raise ValueError: if a file the section names cannot be loaded
        (L{txregistry.auth.htpasswd.HtpasswdError},
        L{txregistry.auth.keys.KeyFileError}).
    """
    if auth is None or auth.provider == "none":
        return None
    options = auth.parameters
    if auth.provider == "silly":
        return SillyAccessController(options["realm"], options["service"])
    if auth.provider == "htpasswd":
        return HtpasswdAccessController(
            options["realm"], options["path"], reactor,
            runInThread if runInThread is not None else threadRunner(reactor))
    if auth.provider == "token":
        keys = TrustedKeys.load(options.get("rootcertbundle", ""), options.get("jwks", ""))
        verifier = TokenVerifier(keys, options["issuer"], options["service"], reactor,
                                 options.get("signingalgorithms") or DEFAULT_ALGORITHMS)
        return TokenAccessController(
            options["realm"], options["service"], verifier,
            bool(options.get("autoredirect", False)),
            options.get("autoredirectpath", ""))
    raise ValueError(f"unknown auth provider {auth.provider!r}")
