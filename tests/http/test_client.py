"""
The outgoing HTTP client verifies the server's certificate and host name.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.endpoints import SSL4ServerEndpoint
from twisted.internet.ssl import PrivateCertificate
from twisted.web.client import HTTPConnectionPool, ResponseNeverReceived
from twisted.web.resource import Resource
from twisted.web.server import Site

from tests.certs import CertificateAuthority
from txregistry.http.client import makeHTTPClient


class Hello(Resource):
    isLeaf = True

    def render_GET(self, request) -> bytes:  # type: ignore[no-untyped-def]
        return b"hello"


@pytest_twisted.ensureDeferred
async def test_verifiesHostName(tmp_path: Path) -> None:
    """A certificate for the host name is accepted; one for another name, or from an unknown CA, is refused."""
    authority = CertificateAuthority()
    issued = authority.issue(["registry.test"], ips=["127.0.0.1"])
    credentials = PrivateCertificate.loadPEM(issued.keyPEM + issued.chainPEM)
    endpoint = SSL4ServerEndpoint(reactor, 0, credentials.options(), interface="127.0.0.1")
    port = await endpoint.listen(Site(Hello()))
    pool = HTTPConnectionPool(reactor, persistent=False)
    try:
        number = port.getHost().port
        trusting = makeHTTPClient(reactor, [authority.certificatePEM], pool)
        response = await trusting.get(f"https://127.0.0.1:{number}/")
        assert await response.content() == b"hello"
        # "localhost" is the same address but not a name the certificate has.
        with pytest.raises(ResponseNeverReceived):
            await trusting.get(f"https://localhost:{number}/")
        stranger = makeHTTPClient(reactor, [CertificateAuthority("other").certificatePEM], pool)
        with pytest.raises(ResponseNeverReceived):
            await stranger.get(f"https://127.0.0.1:{number}/")
    finally:
        await pool.closeCachedConnections()
        await port.stopListening()
