"""
Reload the certificates of C{http.tls} on C{SIGHUP}.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Any

from twisted.application.service import Service
from twisted.logger import Logger

from txregistry.config.errors import ConfigError
from txregistry.config.model import TLSConfig
from txregistry.tls.options import ServerTLSSettings, load_contexts
from txregistry.tls.sni import SNIConnectionCreator

#: C{signal.signal}'s shape: install a handler, return the previous one.
SignalInstaller = Callable[[int, Any], Any]


class CertificateReloader:
    """
    Re-reads the files of C{http.tls} and hands the new contexts to the
    connection creators, all or nothing.
    """

    log = Logger()

    def __init__(
        self,
        tls: TLSConfig,
        settings: ServerTLSSettings,
        creators: list[SNIConnectionCreator],
    ) -> None:
        """
        @param tls: the parsed C{http.tls} (the same file paths are read
            again: a reload picks up renewed files, not a changed
            configuration).
        @param settings: the listeners' settings.
        @param creators: the connection creators to update.
        """
        self.tls = tls
        self.settings = settings
        self.creators = creators

    def reload(self) -> bool:
        """
        Build contexts from the files as they are now; if every file loads,
        serve them to new connections, else keep the current ones and log
        an error.

        @return: whether the new certificates are served.
        """
        try:
            contexts = load_contexts(self.tls, self.settings)
        except ConfigError as e:
            self.log.error(
                "TLS certificates not reloaded, the current ones are kept: {error}",
                error=str(e),
            )
            return False
        for creator in self.creators:
            creator.replace(contexts)
        self.log.info(
            "TLS certificates reloaded from {paths}",
            paths=", ".join(identity.source.certificate for identity in contexts.identities),
        )
        return True


class SIGHUPReloadService(Service):
    """
    While running, calls a function in the reactor thread on each C{SIGHUP}.

    The previous handler is put back when the service stops.
    """

    def __init__(
        self,
        reload: Callable[[], object],
        reactor: Any,
        installHandler: SignalInstaller = signal.signal,
        signum: int = signal.SIGHUP,
    ) -> None:
        """
        @param reload: what to call, from the reactor (not from the signal
            handler).
        @param reactor: an L{IReactorThreads}: the handler schedules
            C{reload} with C{callFromThread}, which is safe from a signal
            handler.
        @param installHandler: C{signal.signal}, or a fake in tests.
        @param signum: the signal.
        """
        self._reload = reload
        self._reactor = reactor
        self._installHandler = installHandler
        self._signum = signum
        self._previous: Any = None

    def _handle(self, signum: int, frame: object) -> None:
        self._reactor.callFromThread(self._reload)

    def startService(self) -> None:
        super().startService()
        self._previous = self._installHandler(self._signum, self._handle)

    def stopService(self) -> None:
        previous, self._previous = self._previous, None
        self._installHandler(
            self._signum, signal.SIG_DFL if previous is None else previous
        )
        return super().stopService()  # type: ignore[no-any-return]
