"""
The registry's service tree.
"""

from __future__ import annotations

import dataclasses
import secrets
import signal
from collections.abc import Callable, Sequence
from typing import Any

from twisted.application.service import MultiService
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import serverFromString
from twisted.logger import Logger

from txregistry.api.app import RegistryApp
from txregistry.api.uploadstate import UploadStateSigner
from txregistry.auth.factory import makeAccessController
from txregistry.config import Configuration
from txregistry.config.listen import listen_endpoint
from txregistry.config.model import DebugConfig
from txregistry.health.factory import makeChecks
from txregistry.health.registry import HealthRegistry
from txregistry.health.resource import UnhealthyGate, debugRoot
from txregistry.http.drain import Connections, DrainingService
from txregistry.http.limit import ConnectionLimit
from txregistry.http.site import RegistrySite
from txregistry.interfaces import IStorageDriver
from txregistry.memory import tuneAllocator
from txregistry.metrics import Exposition, Metrics, Snapshot
from txregistry.reuseport import SharedListeners
from txregistry.startup import ListeningService, describedEndpoints
from txregistry.storage.driver.factory import makeDriver
from txregistry.storage.gc.inflight import InFlight
from txregistry.storage.gc.retention import RetentionPolicy
from txregistry.storage.gc.service import CollectionService
from txregistry.storage.pulls import PullRecorder, PullRecorderService
from txregistry.storage.purge import (
    TemporarySweeper,
    TemporarySweepService,
    UploadPurgerService,
)
from txregistry.storage.registry import Registry
from txregistry.tls.listeners import EndpointMaker, build_listeners
from txregistry.tls.reload import SIGHUPReloadService, SignalInstaller
from txregistry.urlpolicy import URLPolicy
from txregistry.workers import (
    ProcessSpawner,
    WorkerSpec,
    WorkerSupervisor,
    encodeSpec,
)
from txregistry.workers.figures import FiguresService, WorkerFigures
from txregistry.workers.supervisor import STOP_TIMEOUT

log = Logger()


def makeService(
    config: Configuration,
    listen: Sequence[str] | None,
    reactor: Any,
    installSignalHandler: SignalInstaller | None = None,
    spawn: Callable[[Any, int], None] | None = None,
) -> MultiService:
    """
    Build the registry's L{MultiService}.

    Its children are the storage driver's services (thread pools, clients),
    one listening service per endpoint, all serving one
    L{txregistry.http.site.RegistrySite}, and the upload purger when
    C{storage.maintenance.uploadpurging} is enabled and the registry is not
    read-only (read-only mode is for running garbage collection on a
    storage nothing else writes to), and so the online garbage collector
    (C{storage.maintenance.gc}); unless read-only, the temporary files
    an interrupted write left are removed in the background, at start and
    every hour (L{TemporarySweepService}), purging or not.

    With C{http.workers} above 1, this process is worker 1 and the
    supervisor of the others (L{txregistry.workers}): its listeners bind
    with C{SO_REUSEPORT}, a L{WorkerSupervisor} (the last child, started
    once the listeners are bound) spawns the other workers, and C{SIGHUP}
    is passed on to them.  Without C{http.secret}, a random secret is drawn
    here (L{withSecret}), and shared with the workers.

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
    @param spawn: starts a worker process (see L{WorkerSupervisor}); a
        L{ProcessSpawner} by default.
    @return: the unstarted service tree.
    @raise ValueError: if there is nothing to listen on, or, with several
        workers, for a listener they cannot share (such as C{unix:}).
    """
    descriptions = list(listen) if listen else list(config.listen_endpoints())
    if not descriptions:
        raise ValueError("nothing to listen on: no --listen and no http address")
    config = withSecret(config)
    count = config.http.workers
    metrics = _metrics(config)
    if count == 1:
        return _makeTree(config, descriptions, reactor, installSignalHandler,
                         serverFromString, purge=True, metrics=metrics)

    shared = SharedListeners()
    figures = None if metrics is None else WorkerFigures(reactor)
    supervisor = WorkerSupervisor(
        count,
        lambda index: encodeSpec(
            WorkerSpec(index, count, config, makeWorkerService, descriptions,
                       shared.ports())),
        spawn or ProcessSpawner(reactor, channel=figures),
        reactor,
        # Each worker drains on its own at SIGTERM.
        stopTimeout=config.http.draintimeout.total_seconds() + STOP_TIMEOUT,
    )
    top = _makeTree(config, descriptions, reactor, installSignalHandler, shared,
                    purge=True, onReload=lambda: supervisor.signalAll("HUP"),
                    metrics=metrics, peers=None if figures is None else figures.gather)
    if isinstance(top, DrainingService):
        top.stopWithListeners(supervisor)
    else:
        supervisor.setServiceParent(top)
    return top


def makeWorkerService(
    spec: WorkerSpec,
    reactor: Any,
    installSignalHandler: SignalInstaller | None = None,
) -> MultiService:
    """
    Build the service tree of worker C{spec.index}: that of its supervisor,
    listening on the ports the supervisor bound (with C{SO_REUSEPORT}),
    without the upload purger and the online garbage collector (worker 1
    runs the only ones), and, with metrics, without the debug listener but
    serving its figures to worker 1's (L{FiguresService}).

    @param spec: what the supervisor sent.
    @param reactor: the reactor the services run on.
    @param installSignalHandler: C{signal.signal} (the default), or a fake
        in tests.
    @return: the unstarted service tree.
    """
    metrics = _metrics(spec.config)
    top = _makeTree(spec.config, spec.descriptions, reactor, installSignalHandler,
                    SharedListeners(list(spec.ports)), purge=False, metrics=metrics)
    if metrics is not None:
        FiguresService(metrics.snapshot, reactor).setServiceParent(top)
    return top


def _metrics(config: Configuration) -> Metrics | None:
    """
    @return: the metrics of this process, if C{http.debug.prometheus} is
        enabled (and the debug listener has an address); else L{None}.
    """
    debug = config.http.debug
    if debug is None or not debug.addr or not debug.prometheus_enabled:
        return None
    return Metrics()


def withSecret(config: Configuration) -> Configuration:
    """
    The one place a random C{http.secret} is drawn, as distribution does
    when it is unset: once per registry, before any worker starts, so that
    every process of this registry signs upload URLs alike.

    @param config: a configuration.
    @return: C{config} if it has C{http.secret}, else a copy with a random
        one (and a warning).
    """
    if config.http.secret:
        return config
    log.warn("http.secret is not set: upload URLs are signed with a random "
             "secret, so an upload cannot continue after a restart or on another "
             "replica; set http.secret on every replica sharing the storage")
    http = dataclasses.replace(config.http, secret=secrets.token_urlsafe(32))
    return dataclasses.replace(config, http=http)


def makeApp(config: Configuration, driver: IStorageDriver, reactor: Any,
            onPull: Callable[[str, str], None] | None = None) -> RegistryApp:
    """
    Build the registry's API and its collaborators: the stores on
    C{driver}, with the in-flight pins they share with the online garbage
    collector, the signer of upload URLs, and the access controller of the
    C{auth} section.

    @param config: a configuration with C{http.secret} set (see
        L{withSecret}).
    @param driver: the storage driver holding the data.
    @param reactor: the clock of the stores and the access controller, and
        the thread pool they run blocking calls in (when it has one).
    @param onPull: called with the repository and tag of each manifest
        pulled by tag, or L{None}.
    @return: the API.
    @raise ValueError: if C{http.secret} is not set, or a file the C{auth}
        section names cannot be loaded.
    """
    if not config.http.secret:
        raise ValueError("http.secret is not set (makeService draws one: see withSecret)")
    validation = config.validation
    registry = Registry.onDriver(driver, reactor, URLPolicy(
        validation.manifests_urls_allow, validation.manifests_urls_deny), InFlight())
    return RegistryApp(config, registry,
                       UploadStateSigner(config.http.secret.encode("utf-8")),
                       makeAccessController(config.auth, reactor), onPull)


def _debugListener(debug: DebugConfig, health: HealthRegistry, metrics: Metrics | None,
                   peers: Callable[[], Deferred[list[Snapshot]]] | None,
                   reactor: Any) -> ListeningService:
    """
    The debug listener on C{http.debug.addr}, serving C{/debug/health}
    (L{txregistry.health.resource.debugRoot}) and C{metrics} (if enabled)
    without an access log.  With several workers, worker 1 alone serves it,
    reporting its own checks, and the metrics of every worker (those of the
    others gathered by C{peers}).
    """
    description = listen_endpoint("tcp", debug.addr)
    exposition = None if metrics is None else Exposition(metrics, peers)
    return ListeningService(description, serverFromString(reactor, description),
                            RegistrySite(debugRoot(health, exposition, debug.prometheus_path),
                                         accessLog=False))


def _makeTree(
    config: Configuration,
    descriptions: Sequence[str],
    reactor: Any,
    installSignalHandler: SignalInstaller | None,
    makeEndpoint: EndpointMaker,
    purge: bool,
    onReload: Callable[[], object] | None = None,
    metrics: Metrics | None = None,
    peers: Callable[[], Deferred[list[Snapshot]]] | None = None,
) -> MultiService:
    """
    Build the services of one serving process.

    @param makeEndpoint: builds each listener's endpoint.
    @param purge: whether this process runs the upload purger and the
        online garbage collector (if enabled), and the debug listener (if
        C{http.debug.addr} is set); every process runs the C{health}
        checks, and answers 503 while one fails.
    @param onReload: called after the certificates are reloaded on
        C{SIGHUP}, or L{None}.
    @param metrics: this process's metrics (see L{_metrics}), or L{None}.
    @param peers: gathers the figures of the other workers, served with
        this process's own; or L{None}.
    """
    tuneAllocator()
    drainTimeout = config.http.draintimeout.total_seconds()
    tracked = Connections(reactor)
    top = DrainingService(tracked, drainTimeout) if drainTimeout else MultiService()
    debug = config.http.debug
    serveDebug = purge and debug is not None and bool(debug.addr)
    storage = makeDriver(config.storage, reactor,
                         None if metrics is None else metrics.storageCallEnded)
    for child in storage.services:
        child.setServiceParent(top)

    health, checks = makeChecks(config.health, config.storage.driver, storage.driver,
                                reactor)
    for check in checks:
        check.setServiceParent(top)
    maintenance = config.storage.maintenance
    recorder = None
    if maintenance.retention and not maintenance.readonly_enabled:
        recorder = PullRecorder(storage.driver, reactor)
        PullRecorderService(recorder, reactor).setServiceParent(top)
    app = makeApp(config, storage.driver, reactor,
                  None if recorder is None else recorder.pulled)
    if metrics is not None:
        metrics.countCaches({**app.registry.caches(), **storage.caches})
    resource = app.resource()
    if checks:
        resource = UnhealthyGate(resource, health)
    if serveDebug and debug is not None:
        _debugListener(debug, health, metrics, peers, reactor).setServiceParent(top)

    connections = ConnectionLimit(config.http.maxconnections, reactor)
    site = RegistrySite(resource,
                        accessLog=not config.log.accesslog_disabled,
                        headerTimeout=config.http.headertimeout.total_seconds(),
                        connectionLimit=connections,
                        connections=tracked if drainTimeout else None,
                        metrics=metrics)
    listeners = build_listeners(config, descriptions, reactor,
                                describedEndpoints(makeEndpoint))
    for description, endpoint in zip(descriptions, listeners.endpoints, strict=True):
        ListeningService(description, connections.watch(endpoint), site).setServiceParent(top)
    if listeners.reloader is not None:
        reload = listeners.reloader.reload

        def reloadAll() -> None:
            reload()
            if onReload is not None:
                onReload()

        SIGHUPReloadService(
            reloadAll,
            reactor,
            installSignalHandler or signal.signal,
        ).setServiceParent(top)

    if purge and storage.removeTemporaries and not maintenance.readonly_enabled:
        TemporarySweepService(TemporarySweeper(storage.removeTemporaries, reactor),
                              reactor).setServiceParent(top)
    if purge and maintenance.uploadpurging.enabled and not maintenance.readonly_enabled:
        UploadPurgerService.fromConfig(storage.driver, maintenance.uploadpurging,
                                       reactor).setServiceParent(top)
    if purge and maintenance.gc.enabled and not maintenance.readonly_enabled:
        CollectionService.fromConfig(
            maintenance.gc, app.registry, reactor, metrics,
            RetentionPolicy.fromConfig(maintenance.retention)).setServiceParent(top)
    return top
