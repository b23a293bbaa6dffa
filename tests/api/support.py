"""
Running whole HTTP exchanges against the registry in memory.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from treq.testing import StubTreq
from twisted.internet.task import Clock
from twisted.python.failure import Failure

from txregistry.config import load_config
from txregistry.digest import Digest
from txregistry.http.site import RegistrySite
from txregistry.service import makeApp
from txregistry.storage.driver.base import CheckedDriver
from txregistry.storage.driver.inmemory import InMemoryDriver

BASE = "http://registry.test"


@dataclass
class Response:
    """
    A response as the client saw it.
    """

    code: int
    headers: Any
    body: bytes

    def header(self, name: str) -> str | None:
        values = self.headers.getRawHeaders(name)
        return None if values is None else values[0]

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def errorCodes(self) -> list[str]:
        return [e["code"] for e in self.json()["errors"]]


def makeConfig(catalogEntries: int | None = None, secret: str = "test-secret",
               maxTags: int = 0, auth: Any = None, **storage: Any) -> Any:
    """
    @param auth: the C{auth} section, an L{txregistry.config.AuthConfig}
        (none by default).
    @return: the embedded default configuration on the in-memory driver,
        with C{storage} fields replaced (and C{catalog.maxentries}, if given).
    """
    config = load_config(None, {"REGISTRY_STORAGE": "inmemory", "REGISTRY_HTTP_SECRET": secret})
    config = dataclasses.replace(config, auth=auth)
    config = dataclasses.replace(config, storage=dataclasses.replace(config.storage, **storage))
    config = dataclasses.replace(config, tags=dataclasses.replace(config.tags, maxtags=maxTags))
    if catalogEntries is not None:
        config = dataclasses.replace(
            config, catalog=dataclasses.replace(config.catalog, maxentries=catalogEntries))
    return config


class InMemoryRegistry:
    """
    A registry on the in-memory driver, served by L{RegistrySite} (so
    uploads take the streaming path) through treq's in-memory agent.
    """

    def __init__(self, catalogEntries: int | None = None, driver: Any = None,
                 secret: str = "test-secret", maxTags: int = 0, auth: Any = None,
                 clock: Clock | None = None, **storage: Any) -> None:
        """
        @param driver: a driver to share with another registry (a new
            in-memory one by default).
        @param secret: C{http.secret}, which signs upload states.
        @param auth: the C{auth} section (an L{txregistry.config.AuthConfig}).
        @param clock: the registry's clock (a new L{Clock} by default).
        """
        self.driver = driver if driver is not None else CheckedDriver(InMemoryDriver())
        self.config = makeConfig(catalogEntries, secret, maxTags, auth, **storage)
        self.clock = clock if clock is not None else Clock()
        self.app = makeApp(self.config, self.driver, self.clock)
        resource = self.app.resource()
        self.stub = StubTreq(resource)
        # treq's agent serves a plain Site; serve ours instead.
        agent = self.stub._agent
        agent._serverFactory = RegistrySite(resource, reactor=agent._memoryReactor)

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, Any] | None = None) -> Response:
        """
        Make a request and wait for its whole response.
        """
        results: list[Any] = []
        d = self.stub.request(method, BASE + path, data=body, headers=headers)
        d.addCallback(lambda r: self.stub.content(r).addCallback(
            lambda content: Response(r.code, r.headers, content)))
        d.addBoth(results.append)
        self.stub.flush()
        assert results, f"no response to {method} {path}"
        if isinstance(results[0], Failure):
            results[0].raiseException()
        return results[0]

    def pushBlob(self, name: str, data: bytes) -> Digest:
        """
        Push a blob monolithically.
        """
        digest = Digest.of(data)
        response = self.request("POST", f"/v2/{name}/blobs/uploads/?digest={digest}", data)
        assert response.code == 201, response.body
        return digest

    def pushManifest(self, name: str, reference: str, manifest: dict[str, Any],
                     mediaType: str) -> Response:
        """
        Push a manifest.
        """
        return self.request("PUT", f"/v2/{name}/manifests/{reference}",
                            json.dumps(manifest).encode(),
                            {"Content-Type": mediaType})


def imageManifest(config: Digest, configSize: int, layers: list[tuple[Digest, int]],
                  mediaType: str = "application/vnd.oci.image.manifest.v1+json") -> dict[str, Any]:
    """
    @return: an image manifest of the given config and layers.
    """
    docker = "docker" in mediaType
    return {
        "schemaVersion": 2,
        "mediaType": mediaType,
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json" if docker
            else "application/vnd.oci.image.config.v1+json",
            "digest": str(config), "size": configSize},
        "layers": [{
            "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip" if docker
            else "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": str(d), "size": s} for d, s in layers],
    }
