"""
Checking and building the access controller that the C{auth} section
configures.
"""

from __future__ import annotations

from typing import Any, cast

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.threads import deferToThreadPool

from txregistry.auth.htpasswd import Htpasswd, HtpasswdAccessController, ThreadRunner
from txregistry.auth.interfaces import IAccessController
from txregistry.auth.keys import KeyFileError, TrustedKeys, loadJWKS, loadRootCertBundle
from txregistry.auth.silly import SillyAccessController
from txregistry.auth.token import (
    DEFAULT_ALGORITHMS,
    TokenAccessController,
    TokenVerifier,
)
from txregistry.config.errors import ConfigError
from txregistry.config.model import AuthConfig

#: What loads each file an C{auth} provider names, by its key.
_FILE_LOADERS = {"path": Htpasswd.load, "rootcertbundle": loadRootCertBundle,
                 "jwks": loadJWKS}


def checkAuth(auth: AuthConfig | None) -> None:
    """
    Check what parsing the C{auth} section cannot: that the files it names
    load, and that the token provider accepts the signing algorithms named.

    @param auth: the parsed section, or L{None}.
    @raise ConfigError: at the key of the file that cannot be loaded
        (C{auth.htpasswd.path}, C{auth.token.jwks}...), at C{auth.token} if
        the token files hold no key, or at the unsupported entry of
        C{auth.token.signingalgorithms}.
    """
    if auth is None:
        return
    keys = ("auth", auth.provider)
    options = auth.parameters
    loaded: dict[str, Any] = {}
    for key, load in _FILE_LOADERS.items():
        path = options.get(key)
        if path:
            try:
                loaded[key] = load(str(path))
            except ValueError as e:
                raise ConfigError((*keys, key), str(e)) from None
    if auth.provider != "token":
        return
    try:
        TrustedKeys.combine(loaded.get("rootcertbundle", []), loaded.get("jwks", {}))
    except KeyFileError as e:
        raise ConfigError(keys, str(e)) from None
    for index, algorithm in enumerate(cast(list[str], options["signingalgorithms"])):
        if algorithm not in DEFAULT_ALGORITHMS:
            raise ConfigError(
                (*keys, "signingalgorithms", index),
                f"unsupported signing algorithm {algorithm!r}; supported: "
                f"{', '.join(DEFAULT_ALGORITHMS)}",
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
