"""
Manifests resolve in as few storage round trips as the links allow, every
link read afresh, their bytes cached by digest.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import pytest_twisted
from twisted.internet.task import Clock

from txregistry.cache import LRUCache
from txregistry.digest import Digest
from txregistry.errors import ManifestUnknown
from txregistry.manifest import OCI_MANIFEST
from txregistry.storage.driver.base import CheckedDriver
from txregistry.storage.driver.inmemory import InMemoryDriver
from txregistry.storage.registry import Registry


class CountingDriver(CheckedDriver):
    """
    A driver counting the reads it is asked for.
    """

    def __init__(self) -> None:
        super().__init__(InMemoryDriver())
        self.calls: list[str] = []

    def getContent(self, path: str) -> Any:
        self.calls.append("getContent")
        return super().getContent(path)

    def getContents(self, paths: list[str]) -> Any:
        self.calls.append(f"getContents{len(paths)}")
        return super().getContents(paths)


async def pushImage(registry: Registry, tag: str, marker: str) -> Digest:
    config = json.dumps({"marker": marker}).encode()
    configDigest = Digest.of(config)
    await registry.blobs.putContent(config, configDigest)
    await registry.blobs.driver.putContent(
        f"/docker/registry/v2/repositories/app/_layers/sha256/{configDigest.hex}/link",
        str(configDigest).encode())
    payload = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": [],
                          "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                     "digest": str(configDigest), "size": len(config)}}).encode()
    digest = Digest.of(payload)
    await registry.manifests.put("app", payload, OCI_MANIFEST, digest)
    await registry.tags.tag("app", tag, digest)
    return digest


@pytest_twisted.ensureDeferred
async def test_roundTrips() -> None:
    """A tag that has not moved resolves in one read; a moved tag in two; bytes are read once."""
    driver = CountingDriver()
    registry = Registry.onDriver(driver, Clock())
    first = await pushImage(registry, "v1", "one")
    driver.calls.clear()
    digest, payload, mediaType = await registry.manifests.resolve("app", "v1")
    assert (digest, mediaType) == (first, OCI_MANIFEST)
    assert Digest.of(payload) == first
    assert driver.calls == ["getContents1", "getContents1", "getContent"]
    driver.calls.clear()
    assert (await registry.manifests.resolve("app", "v1"))[0] == first
    assert driver.calls == ["getContents2"]
    second = await pushImage(registry, "v1", "two")
    driver.calls.clear()
    assert (await registry.manifests.resolve("app", "v1"))[0] == second
    assert driver.calls[:2] == ["getContents2", "getContents1"]
    driver.calls.clear()
    assert (await registry.manifests.resolve("app", first))[0] == first
    assert driver.calls == ["getContents1"]


@pytest_twisted.ensureDeferred
async def test_freshAfterDeletes() -> None:
    """A deleted manifest or tag is unknown at once, though its bytes and last digest were cached."""
    driver = CountingDriver()
    registry = Registry.onDriver(driver, Clock())
    digest = await pushImage(registry, "v1", "one")
    await registry.manifests.resolve("app", "v1")
    await registry.tags.untag("app", "v1")
    with pytest.raises(ManifestUnknown):
        await registry.manifests.resolve("app", "v1")
    await registry.manifests.delete("app", digest)
    with pytest.raises(ManifestUnknown):
        await registry.manifests.resolve("app", digest)


def test_lruBySize() -> None:
    """The cache evicts the least recently used entries past its capacity and skips oversized values."""
    cache: LRUCache[str, bytes] = LRUCache(10)
    cache.put("a", b"aaaa", 4)
    cache.put("b", b"bbbb", 4)
    assert cache.get("a") == b"aaaa"
    cache.put("c", b"cccc", 4)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (b"aaaa", None, b"cccc")
    cache.put("huge", b"x" * 11, 11)
    assert cache.get("huge") is None
    cache.put("a", b"a2", 2)
    assert cache.get("a") == b"a2"


def test_lruCountsLookups() -> None:
    """The cache counts the lookups that found an entry and those that did not."""
    cache: LRUCache[str, bytes] = LRUCache(10)
    cache.put("a", b"a", 1)
    for key in ("a", "a", "b", "a", "c"):
        cache.get(key)
    assert (cache.hits, cache.misses) == (3, 2)


@pytest_twisted.ensureDeferred
async def test_registryCaches() -> None:
    """A resolve's lookups are counted by the stores' named caches: the tag's last
    digest and the manifest's bytes miss the first time and hit the next."""
    registry = Registry.onDriver(CountingDriver(), Clock())
    await pushImage(registry, "v1", "one")
    caches = registry.caches()
    assert set(caches) == {"blob_sizes", "blob_contents", "layer_guesses",
                           "manifest_contents", "tag_guesses"}
    before = {name: (cache.hits, cache.misses) for name, cache in caches.items()}
    for _ in range(2):
        await registry.manifests.resolve("app", "v1")
    for name in ("tag_guesses", "manifest_contents"):
        cache = caches[name]
        assert (cache.hits - before[name][0], cache.misses - before[name][1]) == (1, 1), name


@pytest_twisted.ensureDeferred
async def test_smallBlobOneRoundTrip() -> None:
    """Once its size is known, a small blob and its layer link are read in one round trip; then the link alone, its bytes being cached."""
    from txregistry.errors import BlobUnknown
    from txregistry.storage.blobs import LinkedBlobs

    driver = CountingDriver()
    registry = Registry.onDriver(driver, Clock())
    data = b"small layer"
    digest = Digest.of(data)
    await registry.blobs.putContent(data, digest)
    linked = LinkedBlobs(registry.blobs, "app")
    with pytest.raises(BlobUnknown):
        await linked.describe(digest, 1024)
    await linked.link(digest)
    driver.calls.clear()
    assert await linked.describe(digest, 1024) == (len(data), None)
    assert driver.calls == ["getContents2"]
    driver.calls.clear()
    assert await linked.describe(digest, 1024) == (len(data), data)
    assert driver.calls == ["getContents2"]
    driver.calls.clear()
    assert await linked.describe(digest, 1024) == (len(data), data)
    assert await linked.describe(digest, 0) == (len(data), None)
    assert driver.calls == ["getContents1", "getContents1"]
    await linked.unlink(digest)
    driver.calls.clear()
    with pytest.raises(BlobUnknown):
        await linked.describe(digest, 1024)
    assert driver.calls == ["getContents1", "getContents1"]


@pytest_twisted.ensureDeferred
async def test_manifestAsBlob() -> None:
    """A manifest is served as a blob through its revision link, both links read in one round trip."""
    from txregistry.storage.blobs import LinkedBlobs

    driver = CountingDriver()
    registry = Registry.onDriver(driver, Clock())
    digest = await pushImage(registry, "v1", "one")
    linked = LinkedBlobs(registry.blobs, "app")
    size = len(await registry.manifests.get("app", digest))
    driver.calls.clear()
    assert await linked.describe(digest, 0) == (size, None)
    assert await linked.describe(digest, 0) == (size, None)
    assert driver.calls == ["getContents2", "getContents2"]


@pytest_twisted.ensureDeferred
async def test_tagsOfOneRoundTrip() -> None:
    """The tags naming a manifest are found by reading every tag link in one round trip."""
    driver = CountingDriver()
    registry = Registry.onDriver(driver, Clock())
    first = await pushImage(registry, "a", "one")
    second = await pushImage(registry, "b", "two")
    for tag in ("c", "d"):
        await registry.tags.tag("app", tag, first)
    driver.calls.clear()
    assert await registry.tags.tagsOf("app", first) == ["a", "c", "d"]
    assert await registry.tags.tagsOf("app", second) == ["b"]
    assert driver.calls == ["getContents4", "getContents4"]


@pytest.mark.parametrize("payload", [b"[]", b"[" * 10**5 + b"]" * 10**5, b"\xff"])
@pytest_twisted.ensureDeferred
async def test_unreadableStoredManifest(payload: bytes) -> None:
    """A stored manifest that is not a JSON object (written by another registry) is served as application/json, not an error."""
    from txregistry.storage import paths
    from txregistry.storage.links import writeLink

    registry = Registry.onDriver(CheckedDriver(InMemoryDriver()), Clock())
    digest = Digest.of(payload)
    await registry.blobs.putContent(payload, digest)
    await writeLink(registry.driver, paths.manifestRevisionLink("app", digest), digest)
    assert await registry.manifests.resolve("app", digest) == (digest, payload, "application/json")
