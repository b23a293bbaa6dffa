"""
The HTTP client for the registry's outgoing requests (notifications, the
pull-through cache, token realms): TLS always verifies the server's
certificate and host name.
"""

from __future__ import annotations

from typing import Any

from treq.client import HTTPClient
from twisted.internet.ssl import Certificate, trustRootFromCertificates
from twisted.web.client import Agent, BrowserLikePolicyForHTTPS, HTTPConnectionPool


def makeHTTPClient(reactor: Any, caCertificates: list[bytes] | None = None,
                   pool: HTTPConnectionPool | None = None) -> HTTPClient:
    """
    @param reactor: the reactor to connect with.
    @param caCertificates: PEM certificates of the authorities to trust, or
        L{None} for the platform's trust store.
    @param pool: the connection pool (persistent connections) to use.
    @return: a treq L{HTTPClient} whose HTTPS connections verify the
        certificate chain and, with C{service_identity}, the host name.
    """
    trustRoot = None
    if caCertificates:
        trustRoot = trustRootFromCertificates(
            [Certificate.loadPEM(pem) for pem in caCertificates])
    policy = BrowserLikePolicyForHTTPS(trustRoot=trustRoot)
    return HTTPClient(Agent(reactor, contextFactory=policy, pool=pool))
