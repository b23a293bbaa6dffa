"""
Check and build the registry's listening endpoints, serving C{http.tls} on
those whose description carries the C{tls+} prefix.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IStreamServerEndpoint

from txregistry.config.errors import ConfigError, PathStep
from txregistry.config.listen import listen_endpoint
from txregistry.config.model import TLS_PREFIX, Configuration, HTTPConfig
from txregistry.reuseport import checkShareable
from txregistry.tls.options import ServerTLSSettings, load_contexts
from txregistry.tls.reload import CertificateReloader
from txregistry.tls.sni import SNIConnectionCreator
from txregistry.tls.transport import RegistryTLSEndpoint


@dataclass
class Listeners:
    """
    @ivar endpoints: one server endpoint per description, in order.
    @ivar reloader: reloads the certificates of the C{tls+} endpoints, or
        L{None} if there are none.
    """

    endpoints: list[IStreamServerEndpoint] = field(default_factory=list)
    reloader: CertificateReloader | None = None


#: Builds a server endpoint from a reactor and a description, as
#: L{serverFromString} does.
EndpointMaker = Callable[[Any, str], IStreamServerEndpoint]

#: Stands for the reactor when an endpoint is built only to check its
#: description: L{serverFromString} passes the reactor to the endpoint's
#: constructor, which only stores it until the endpoint listens, and the
#: configuration is checked while the options are parsed, before the
#: service is given its reactor.
_NO_REACTOR = object()


def check_endpoints(http: HTTPConfig) -> None:
    """
    Check that Twisted can build each listener of C{http.endpoints}, or the
    one C{http.addr} describes (with no reactor: none listens),
    and, with C{http.workers} above 1, that each can be shared by the
    workers.

    @raise ConfigError: at C{http.endpoints[i]}, or at C{http.addr} for the
        listener it describes.
    """
    located: list[tuple[tuple[PathStep, ...], str]]
    if http.endpoints:
        located = [(("http", "endpoints", index), description)
                   for index, description in enumerate(http.endpoints)]
    else:
        located = [(("http", "addr"), listen_endpoint(http.net, http.addr))]
    for keys, description in located:
        description = description.removeprefix(TLS_PREFIX)
        try:
            serverFromString(_NO_REACTOR, description)
        except Exception as e:  # serverFromString raises many types
            raise ConfigError(
                keys,
                f"is not a valid Twisted server endpoint description: {description!r} ({e})",
            ) from None
        if http.workers > 1:
            try:
                checkShareable(description)
            except ValueError as e:
                raise ConfigError(keys, str(e)) from None


def build_listeners(
    config: Configuration,
    descriptions: Sequence[str],
    reactor: Any,
    makeEndpoint: EndpointMaker = serverFromString,
) -> Listeners:
    """
    Build an endpoint per description: Twisted's own for a plain description
    (C{tcp:}, C{unix:}, C{ssl:}...), and for C{tls+DESCRIPTION} the endpoint
    of C{DESCRIPTION} wrapped in TLS with C{http.tls}: SNI, client
    authentication, ALPN and C{SIGHUP} reloads.

    @param config: the configuration.
    @param descriptions: Twisted server endpoint descriptions, some with the
        C{tls+} prefix.
    @param reactor: the reactor the endpoints listen on.
    @param makeEndpoint: builds the endpoint of each description (without
        its C{tls+} prefix), once per description, in order:
        L{serverFromString}, or L{txregistry.reuseport.SharedListeners} for
        sockets shared by worker processes.
    @return: the endpoints and their reloader.
    @raise txregistry.config.ConfigError: if a certificate file cannot be
        used (it was checked when the configuration was loaded).
    @raise ValueError: for a C{tls+} description without C{http.tls}.
    """
    tls = config.http.tls
    listeners = Listeners()
    settings: ServerTLSSettings | None = None
    creators: list[SNIConnectionCreator] = []
    for description in descriptions:
        if not description.startswith(TLS_PREFIX):
            listeners.endpoints.append(makeEndpoint(reactor, description))
            continue
        if tls is None or tls.letsencrypt is not None:
            raise ValueError(f"{description!r} asks for http.tls, which is not configured")
        if settings is None:
            settings = ServerTLSSettings.fromConfig(tls, config.http.http2_disabled)
            contexts = load_contexts(tls, settings)
        creator = SNIConnectionCreator(contexts)
        creators.append(creator)
        inner = makeEndpoint(reactor, description[len(TLS_PREFIX):])
        listeners.endpoints.append(RegistryTLSEndpoint(inner, creator, clock=reactor))
    if tls is not None and settings is not None:
        listeners.reloader = CertificateReloader(tls, settings, creators)
    return listeners
