"""
The registry's service tree.
"""

from __future__ import annotations

import signal
from collections.abc import Sequence
from typing import Any

from twisted.application.internet import StreamServerEndpointService
from twisted.application.service import MultiService

from txregistry.api.app import RegistryApp
from txregistry.http.site import RegistrySite
from txregistry.storage.driver.factory import makeDriver
from txregistry.storage.purge import UploadPurgerService
from txregistry.tls.listeners import build_listeners
from txregistry.tls.reload import SIGHUPReloadService, SignalInstaller


def makeService(
    config: Any,
    listen: Sequence[str] | None,
    reactor: Any,
    installSignalHandler: SignalInstaller | None = None,
) -> MultiService:
    """
    Build the registry's L{MultiService}.

    Its children are the storage driver's services (thread pools, clients),
    one listening service per endpoint, all serving one
    L{txregistry.http.site.RegistrySite}, and the upload purger when
    C{storage.maintenance.uploadpurging} is enabled and the registry is not
    read-only (read-only mode is for running garbage collection on a
    storage nothing else writes to).

    @param config: the L{txregistry.config.Configuration}.
    @param listen: Twisted server endpoint descriptions to listen on, which
        replace the configuration's own (C{config.listen_endpoints()}); or
        L{None} (or empty) to use the configuration's.  A description
        prefixed with C{tls+} is served with C{http.tls}
        (L{txregistry.tls.listeners}); the certificates of those listeners
        are reloaded on C{SIGHUP}.
    @param reactor: the reactor the services run on.
    @param installSignalHandler: C{signal.signal} (the default), or a fake
        in tests.
    @return: the unstarted service tree.
    """
    top = MultiService()
    storage = makeDriver(config.storage, reactor)
    for child in storage.services:
        child.setServiceParent(top)

    site = RegistrySite(RegistryApp(config, storage.driver, reactor).resource(),
                        accessLog=not config.log.accesslog_disabled)
    descriptions = list(listen) if listen else list(config.listen_endpoints())
    if not descriptions:
        raise ValueError("nothing to listen on: no --listen and no http address")
    listeners = build_listeners(config, descriptions, reactor)
    for endpoint in listeners.endpoints:
        listener = StreamServerEndpointService(endpoint, site)
        listener._raiseSynchronously = True  # as strports.service does
        listener.setServiceParent(top)
    if listeners.reloader is not None:
        SIGHUPReloadService(
            listeners.reloader.reload,
            reactor,
            installSignalHandler or signal.signal,
        ).setServiceParent(top)

    maintenance = config.storage.maintenance
    if maintenance.uploadpurging.enabled and not maintenance.readonly_enabled:
        UploadPurgerService.fromConfig(
            storage.driver, maintenance.uploadpurging, reactor).setServiceParent(top)
    return top
