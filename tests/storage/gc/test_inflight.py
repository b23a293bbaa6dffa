"""
Tests for L{txregistry.storage.gc.inflight}: the pins that pushes take on
the blobs they rely on, and how the collector's deletes wait for them and
they for the deletes.
"""

from __future__ import annotations

import json
from typing import Any

from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.task import Clock

from tests.api.helpers import result
from tests.api.support import imageManifest, makeConfig
from tests.storage.gc import support
from txregistry.api.uploads import UploadHandlers
from txregistry.api.uploadstate import UploadStateSigner
from txregistry.digest import Digest
from txregistry.errors import ManifestBlobUnknown
from txregistry.storage import paths
from txregistry.storage.driver.inmemory import InMemoryDriver
from txregistry.storage.gc.inflight import InFlight
from txregistry.storage.registry import Registry

OCI = "application/vnd.oci.image.manifest.v1+json"


class HoldingDriver(InMemoryDriver):
    """
    An in-memory driver that holds the writes of paths containing C{held}
    until the L{Deferred} in C{gate} fires.
    """

    def __init__(self) -> None:
        super().__init__()
        self.held: str | None = None
        self.gate: Deferred[None] = Deferred()

    def putContent(self, path: str, content: bytes, durable: bool = True) -> Deferred[None]:
        if self.held is not None and self.held in path:
            return self.gate.addCallback(
                lambda _: super(HoldingDriver, self).putContent(path, content, durable))
        return super().putContent(path, content, durable)


def deleting(inflight: InFlight, digest: Digest) -> tuple[Any, bool]:
    """
    Enter C{inflight.deleting(digest)}.

    @return: the context manager (to exit) and whether the delete may go on.
    """
    context = inflight.deleting(digest)
    return context, result(ensureDeferred(context.__aenter__()))


def leave(context: Any) -> None:
    result(ensureDeferred(context.__aexit__(None, None, None)))


def test_pinnedIsRefused() -> None:
    """A digest pinned is not to be deleted; once unpinned, it may be."""
    inflight = InFlight()
    digest = Digest.of(b"layer")
    pin = result(ensureDeferred(inflight.pin([digest, digest])))
    context, granted = deleting(inflight, digest)
    assert not granted
    leave(context)
    inflight.unpin(pin)
    context, granted = deleting(inflight, digest)
    assert granted
    leave(context)


def test_pinsCounted() -> None:
    """Two pushes pinning a digest: it stays pinned until both unpin."""
    inflight = InFlight()
    digest = Digest.of(b"layer")
    first = result(ensureDeferred(inflight.pin([digest])))
    second = result(ensureDeferred(inflight.pin([digest])))
    inflight.unpin(first)
    assert inflight.isPinned(digest)
    inflight.unpin(second)
    assert not inflight.isPinned(digest)


def test_pinWaitsForDelete() -> None:
    """A pin taken while its digest is being deleted returns only once the
    delete is over, and stops the next delete."""
    inflight = InFlight()
    digest, other = Digest.of(b"layer"), Digest.of(b"other")
    context, granted = deleting(inflight, digest)
    assert granted
    waiting = ensureDeferred(inflight.pin([other, digest]))
    assert not waiting.called
    leave(context)
    pin = result(waiting)
    assert deleting(inflight, digest)[1] is False
    inflight.unpin(pin)


def test_cancelledPinUnpins() -> None:
    """A push gone while its pin waits for a delete leaves no pin behind."""
    inflight = InFlight()
    digest = Digest.of(b"layer")
    context, _ = deleting(inflight, digest)
    waiting = ensureDeferred(inflight.pin([digest]))
    waiting.cancel()
    waiting.addErrback(lambda _: None)
    leave(context)
    assert not inflight.isPinned(digest)


def test_pinnedDuringRunIsRefused() -> None:
    """During a collector's run, a digest pinned and unpinned since it began
    is still refused; after the run, it is not."""
    inflight = InFlight()
    digest = Digest.of(b"layer")
    with inflight.collecting():
        inflight.unpin(result(ensureDeferred(inflight.pin([digest]))))
        context, granted = deleting(inflight, digest)
        assert not granted
        leave(context)
    context, granted = deleting(inflight, digest)
    assert granted
    leave(context)


def test_pinnedWhenRunBeginsIsRefused() -> None:
    """A digest pinned when a collector's run begins and unpinned during it
    is refused for the rest of the run: the push may have written its links
    after the run read them."""
    inflight = InFlight()
    digest = Digest.of(b"layer")
    pin = result(ensureDeferred(inflight.pin([digest])))
    with inflight.collecting():
        inflight.unpin(pin)
        context, granted = deleting(inflight, digest)
        assert not granted
        leave(context)


def storedImage(registry: Registry, name: str) -> tuple[bytes, list[Digest]]:
    """
    Store a config and a layer in C{name}.

    @return: an image manifest of them, and their digests.
    """
    blobs = [b"config", b"layer"]
    for blob in blobs:
        assert result(ensureDeferred(registry.uploads.storeWhole(name, blob, Digest.of(blob))))
    config, layer = (Digest.of(blob) for blob in blobs)
    payload = json.dumps(imageManifest(config, 6, [(layer, 5)])).encode()
    return payload, [config, layer]


def test_manifestPushPins() -> None:
    """A manifest PUT pins its own blob and those it names from before it
    checks them until its revision link is written."""
    driver = HoldingDriver()
    registry = Registry.onDriver(driver, Clock())
    payload, named = storedImage(registry, "repo")
    digest = Digest.of(payload)
    driver.held = "_manifests/revisions"
    pushed = ensureDeferred(registry.manifests.put("repo", payload, OCI, digest))
    assert not pushed.called
    assert all(registry.inflight.isPinned(d) for d in [digest, *named])
    driver.gate.callback(None)
    result(pushed)
    assert not any(registry.inflight.isPinned(d) for d in [digest, *named])


def test_manifestPushPinsUntilTagged() -> None:
    """A manifest PUT by tag keeps its pins until the tag is written, so a
    collector deleting untagged manifests never takes it for untagged."""
    driver = HoldingDriver()
    registry = Registry.onDriver(driver, Clock())
    payload, named = storedImage(registry, "repo")
    digest = Digest.of(payload)
    driver.held = "_manifests/tags/latest/current"
    pushed = ensureDeferred(registry.manifests.put("repo", payload, OCI, digest, "latest"))
    assert not pushed.called
    assert result(ensureDeferred(registry.manifests.has("repo", digest)))
    assert all(registry.inflight.isPinned(d) for d in [digest, *named])
    driver.gate.callback(None)
    result(pushed)
    assert not registry.inflight.isPinned(digest)
    assert result(ensureDeferred(registry.tags.resolve("repo", "latest"))) == digest


def test_manifestPushWaitsForDelete() -> None:
    """A manifest PUT naming a blob being deleted waits for the delete, then
    finds the blob gone: MANIFEST_BLOB_UNKNOWN, and no revision link."""
    driver = InMemoryDriver()
    registry = Registry.onDriver(driver, Clock())
    payload, (config, layer) = storedImage(registry, "repo")
    context, granted = deleting(registry.inflight, layer)
    assert granted
    pushed = ensureDeferred(registry.manifests.put("repo", payload, OCI, Digest.of(payload)))
    assert not pushed.called
    result(driver.delete(paths.layerLink("repo", layer).rsplit("/", 1)[0]))
    result(driver.delete(paths.blobDirectory(layer)))
    leave(context)
    assert isinstance(result(pushed.addErrback(lambda f: f.value)), ManifestBlobUnknown)
    assert not result(ensureDeferred(registry.manifests.has("repo", Digest.of(payload))))


def test_uploadPins() -> None:
    """A blob pushed whole is pinned until its repository link is written."""
    driver = HoldingDriver()
    registry = Registry.onDriver(driver, Clock())
    digest = Digest.of(b"layer")
    driver.held = "_layers"
    stored = ensureDeferred(registry.uploads.storeWhole("repo", b"layer", digest))
    assert registry.inflight.isPinned(digest)
    driver.gate.callback(None)
    assert result(stored)
    assert not registry.inflight.isPinned(digest)


def test_uploadCommitRestoresDeleted() -> None:
    """An upload committed while its blob is being deleted waits, then
    stores the blob again and links it."""
    driver = InMemoryDriver()
    registry = Registry.onDriver(driver, Clock())
    digest = Digest.of(b"layer")
    assert result(ensureDeferred(registry.uploads.storeWhole("old", b"layer", digest)))
    uploadID, _ = result(ensureDeferred(registry.uploads.start("repo")))
    writer = result(ensureDeferred(registry.uploads.writer("repo", uploadID)))
    writer.write(b"layer")
    context, _ = deleting(registry.inflight, digest)
    committed = ensureDeferred(registry.uploads.commit("repo", uploadID, writer, digest))
    assert not committed.called
    result(driver.delete(paths.blobDirectory(digest)))
    leave(context)
    assert result(committed) == 5
    assert result(driver.getContent(paths.blobData(digest))) == b"layer"
    assert result(driver.getContent(paths.layerLink("repo", digest))) == str(digest).encode()


def test_mountPins() -> None:
    """A cross-repository mount pins the blob from its check to its link."""
    driver = HoldingDriver()
    registry = Registry.onDriver(driver, Clock())
    digest = Digest.of(b"layer")
    assert result(ensureDeferred(registry.uploads.storeWhole("source", b"layer", digest)))
    handlers = UploadHandlers(registry, makeConfig().http, UploadStateSigner(b"secret"))
    driver.held = "target/_layers"
    mounted = ensureDeferred(handlers._mount("target", digest, "source"))
    assert registry.inflight.isPinned(digest)
    driver.gate.callback(None)
    assert result(mounted)
    assert not registry.inflight.isPinned(digest)


def test_untaggedManifestPinnedByIndexPushKept() -> None:
    """With delete-untagged online, an untagged manifest that an index push
    of this process pins (it checked it, and will write its revision) keeps
    its revision and its blobs; unpinned, the next run deletes it."""
    registry = support.Registry()
    child, blobs = registry.image("repo", "", b"config", b"layer")
    inflight = registry.stores.inflight
    pin = result(ensureDeferred(inflight.pin([child])))
    report = registry.collect(inflight=inflight, deleteUntagged=True)
    assert report.manifests == 0 and report.blobs == 0 and report.skipped >= 1
    assert result(ensureDeferred(registry.stores.manifests.has("repo", child)))
    assert {child, *blobs} <= registry.stored()
    inflight.unpin(pin)
    report = registry.collect(inflight=inflight, deleteUntagged=True)
    assert report.manifests == 1 and not {child, *blobs} & registry.stored()


def test_concurrentDeletesOfOneDigest() -> None:
    """One digest deleted from two places at once (a manifest in two
    repositories): a pin waits for both to end."""
    inflight = InFlight()
    digest = Digest.of(b"manifest")
    first, granted = deleting(inflight, digest)
    second, alsoGranted = deleting(inflight, digest)
    assert granted and alsoGranted
    waiting = ensureDeferred(inflight.pin([digest]))
    leave(first)
    assert not waiting.called
    leave(second)
    inflight.unpin(result(waiting))
