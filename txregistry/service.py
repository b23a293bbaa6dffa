"""
The registry's service tree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from twisted.application import strports
from twisted.application.service import MultiService

from txregistry.api.app import RegistryApp
from txregistry.http.site import RegistrySite
from txregistry.storage.driver.factory import makeDriver
from txregistry.storage.purge import UploadPurgerService


def makeService(
    config: Any, listen: Sequence[str] | None, reactor: Any
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
        L{None} (or empty) to use the configuration's.
    @param reactor: the reactor the services run on.
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
    for description in descriptions:
        listener = strports.service(description, site, reactor=reactor)
        listener.setServiceParent(top)

    maintenance = config.storage.maintenance
    if maintenance.uploadpurging.enabled and not maintenance.readonly_enabled:
        UploadPurgerService.fromConfig(
            storage.driver, maintenance.uploadpurging, reactor).setServiceParent(top)
    return top
