"""
The garbage collector (L{txregistry.storage.gc.collector}) on the
in-memory driver, on registries built by pushing through the API.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

import pytest

from tests.api.helpers import OCI_MANIFEST, result
from tests.storage.gc.support import OLD, Registry, imageOf, run
from txregistry.digest import Digest
from txregistry.storage import paths
from txregistry.storage.gc.collector import Removed
from txregistry.storage.gc.hooks import TagInfo
from txregistry.storage.links import writeLink

A, B = "library/a", "library/b"


@pytest.fixture
def registry() -> Registry:
    return Registry()


def removedBlobs(report: object) -> set[Digest]:
    return {item.digest for item in report.removed  # type: ignore[attr-defined]
            if item.kind == "blob" and item.digest is not None}


def revisions(registry: Registry, name: str) -> set[Digest]:
    prefix = f"{paths.manifests(name)}/revisions/"
    return {Digest(*path[len(prefix):].split("/")[:2]) for path in registry.files()
            if path.startswith(prefix)}


def test_keepsEveryRevision(registry: Registry) -> None:
    """Without delete-untagged every revision is a root: tagged and untagged images keep all their blobs, only an unreferenced blob goes."""
    tagged, taggedBlobs = registry.image(A, "v1", b"config 1", b"layer 1")
    untagged, untaggedBlobs = registry.image(A, "", b"config 2", b"layer 2")
    orphan = registry.pushBlob(A, b"never used")
    before = registry.stored()
    report = registry.collect()
    assert removedBlobs(report) == {orphan}
    assert registry.stored() == before - {orphan}
    assert {tagged, untagged, *taggedBlobs, *untaggedBlobs} <= registry.stored()
    assert (report.blobs, report.bytes, report.manifests, report.tags) == (1, 10, 0, 0)
    assert report.kept == len(before) - 1 and not report.dryRun


def test_deletedManifestSwept(registry: Registry) -> None:
    """A manifest deleted through the API leaves its blob, config and layers, which are swept with the _layers links naming them."""
    digest, blobs = registry.image(A, "v1", b"config", b"layer")
    registry.deleteManifest(A, digest)
    report = registry.collect()
    assert removedBlobs(report) == {digest, *blobs}
    assert not registry.stored()
    assert [p for p in registry.files() if "/_layers/" in p] == []
    assert sorted((item.kind, item.repository) for item in report.removed
                  if item.kind == "layer-link") == [("layer-link", A)] * 2


def test_sharedLayerKept(registry: Registry) -> None:
    """A layer shared with another repository's image stays (and so do both repositories' links to it) when one image is deleted."""
    deleted, (config, shared, own) = registry.image(A, "v1", b"config a", b"shared", b"own a")
    kept, _ = registry.image(B, "v1", b"config b", b"shared")
    registry.deleteManifest(A, deleted)
    report = registry.collect()
    assert removedBlobs(report) == {deleted, config, own}
    assert {shared, kept} <= registry.stored()
    files = registry.files()
    assert paths.layerLink(A, shared) in files and paths.layerLink(B, shared) in files
    assert paths.layerLink(A, own) not in files


def test_deleteUntagged(registry: Registry) -> None:
    """With delete-untagged an untagged image goes, revision and blobs, and a tagged one stays; a layer it shares with the tagged one stays."""
    tagged, taggedBlobs = registry.image(A, "v1", b"config 1", b"shared")
    untagged, (config, _) = registry.image(A, "", b"config 2", b"shared")
    report = registry.collect(deleteUntagged=True)
    assert [(i.kind, i.repository, i.digest, i.reason) for i in report.removed
            if i.kind == "manifest"] == [("manifest", A, untagged, "untagged")]
    assert revisions(registry, A) == {tagged}
    assert removedBlobs(report) == {untagged, config}
    assert {tagged, *taggedBlobs} <= registry.stored()


def test_indexChildrenKept(registry: Registry) -> None:
    """With delete-untagged the untagged children of a tagged index stay, with their layers; those of an untagged index go with it."""
    amd64, amd64Blobs = registry.image(A, "", b"config amd64", b"layer amd64")
    arm64, arm64Blobs = registry.image(A, "", b"config arm64", b"layer arm64")
    index = registry.index(A, "v1", amd64, arm64)
    lost, lostBlobs = registry.image(A, "", b"config lost", b"layer lost")
    lostIndex = registry.index(A, "", lost)
    report = registry.collect(deleteUntagged=True)
    assert revisions(registry, A) == {index, amd64, arm64}
    assert {index, amd64, arm64, *amd64Blobs, *arm64Blobs} <= registry.stored()
    assert removedBlobs(report) == {lostIndex, lost, *lostBlobs}
    assert registry.request("GET", f"/v2/{A}/manifests/{amd64}").code == 200


def test_referrersKeptWithSubject(registry: Registry) -> None:
    """With delete-untagged an untagged signature of a tagged image stays, and so does a referrer of that signature, with their blobs."""
    subject, _ = registry.image(A, "v1", b"config", b"layer")
    size = registry.size(subject)
    signature, signatureBlobs = registry.image(A, "", b"sig config", b"signature",
                                               subject=(subject, size))
    countersigned, counterBlobs = registry.image(
        A, "", b"counter config", b"countersignature",
        subject=(signature, registry.size(signature)))
    report = registry.collect(deleteUntagged=True)
    assert not report.removed
    assert revisions(registry, A) == {subject, signature, countersigned}
    assert {*signatureBlobs, *counterBlobs} <= registry.stored()
    listed = registry.request("GET", f"/v2/{A}/referrers/{subject}").json()["manifests"]
    assert [m["digest"] for m in listed] == [str(signature)]


def test_referrersRemovedWithSubject(registry: Registry) -> None:
    """With delete-untagged the referrers of an untagged subject, and theirs, go with it, referrers index entries included."""
    subject, subjectBlobs = registry.image(A, "", b"config", b"layer")
    signature, signatureBlobs = registry.image(A, "", b"sig config", b"signature",
                                               subject=(subject, registry.size(subject)))
    counter, counterBlobs = registry.image(A, "", b"counter config", b"counter",
                                           subject=(signature, registry.size(signature)))
    report = registry.collect(deleteUntagged=True)
    assert {i.digest for i in report.removed if i.kind == "manifest"} == {
        subject, signature, counter}
    assert not revisions(registry, A)
    assert not [p for p in registry.files() if "/_manifests/referrers/" in p]
    assert removedBlobs(report) == {subject, signature, counter, *subjectBlobs,
                                    *signatureBlobs, *counterBlobs}


def test_unparseableManifestKept(registry: Registry) -> None:
    """A revision whose manifest txregistry does not parse (schema 1, not JSON) is kept with its blob and every blob it names; the collection does not fail."""
    layer = registry.pushBlob(A, b"schema 1 layer")
    schema1 = json.dumps({"schemaVersion": 1, "name": A, "tag": "old",
                          "fsLayers": [{"blobSum": str(layer)}]}).encode()
    garbage = b"\x00 not a manifest"
    for payload in (schema1, garbage):
        digest = Digest.of(payload)
        result(registry.driver.putContent(paths.blobData(digest), payload))
        run(writeLink(registry.driver, paths.manifestRevisionLink(A, digest), digest))
    missing = Digest.of(b"a revision whose blob is gone")
    run(writeLink(registry.driver, paths.manifestRevisionLink(A, missing), missing))
    report = registry.collect()
    assert not report.removed
    assert registry.stored() == {layer, Digest.of(schema1), Digest.of(garbage)}


def test_dryRun(registry: Registry) -> None:
    """A dry run deletes nothing and reports exactly what the real run then removes."""
    registry.image(A, "v1", b"config", b"layer")
    untagged, _ = registry.image(A, "", b"config 2", b"layer 2")
    deleted, _ = registry.image(B, "v1", b"config 3", b"layer 3")
    registry.deleteManifest(B, deleted)
    registry.pushBlob(A, b"orphan")
    before = registry.files()
    dry = registry.collect(dryRun=True, deleteUntagged=True)
    assert registry.files() == before
    assert dry.dryRun and dry.blobs == 7 and dry.manifests == 1
    real = registry.collect(deleteUntagged=True)
    assert real.removed == dry.removed
    assert (real.kept, real.skipped) == (dry.kept, dry.skipped)
    assert registry.files() != before


def test_cachesForgotten(registry: Registry) -> None:
    """After a collection told to forget what it deletes, the registry answers 404 for a swept blob and manifest, and pushing the same image again works."""
    blobs = [b"config", b"layer"]
    digest, digests = registry.image(A, "v1", *blobs)
    for blob in digests:
        assert registry.request("HEAD", f"/v2/{A}/blobs/{blob}").code == 200
    assert registry.request("GET", f"/v2/{A}/manifests/v1").code == 200
    registry.deleteManifest(A, digest)
    forgotten: list[Digest] = []

    def forget(swept: Digest) -> None:
        forgotten.append(swept)
        registry.stores.manifests.forget(swept)

    registry.collect(forget=forget)
    assert sorted(forgotten) == sorted([digest, *digests])
    assert registry.stores.blobs.knownSize(digests[1]) is None
    for blob in digests:
        assert registry.request("HEAD", f"/v2/{A}/blobs/{blob}").code == 404
    assert registry.request("GET", f"/v2/{A}/manifests/{digest}").code == 404
    again, _ = registry.image(A, "v1", *blobs)
    assert again == digest
    response = registry.request("GET", f"/v2/{A}/blobs/{digests[1]}")
    assert (response.code, response.body) == (200, b"layer")


def test_gracePeriod(registry: Registry) -> None:
    """With a grace period, an unreferenced blob written within it is spared, an older one goes."""
    old = registry.pushBlob(A, b"old orphan")
    registry.driver.age(OLD)
    young = registry.pushBlob(A, b"young orphan")
    registry.driver.age(60, paths.blobDirectory(young))
    registry.driver.age(60, f"{paths.repository(A)}/_layers/{young.algorithm}/{young.hex}")
    report = registry.collectNow(graceperiod=600)
    assert removedBlobs(report) == {old}
    assert young in registry.stored() and report.skipped == 1


def test_youngLayerLinkSparesOldBlob(registry: Registry) -> None:
    """An old unreferenced blob that a _layers link written within the grace period names is spared (an upload committed late)."""
    blob = registry.pushBlob(A, b"resumed upload")
    registry.driver.age(OLD)
    run(writeLink(registry.driver, paths.layerLink(B, blob), blob))
    registry.driver.age(60, paths.repository(B))
    report = registry.collectNow(graceperiod=600)
    assert not report.removed and report.skipped == 1
    assert blob in registry.stored()


def test_youngUntaggedManifestSpared(registry: Registry) -> None:
    """With delete-untagged and a grace period, an untagged manifest pushed within the grace period stays with its blobs."""
    old, _ = registry.image(A, "", b"config old", b"layer old")
    registry.driver.age(OLD)
    young, youngBlobs = registry.image(A, "", b"config young", b"layer young")
    registry.driver.age(60, paths.repository(A) + "/_manifests/revisions/sha256/" + young.hex)
    report = registry.collectNow(graceperiod=600, deleteUntagged=True)
    assert [i.digest for i in report.removed if i.kind == "manifest"] == [old]
    assert revisions(registry, A) == {young}


def test_manifestPushedDuringRun(registry: Registry) -> None:
    """A manifest pushed after the links were walked, naming old unreferenced blobs, keeps them: online, the links are walked again before marking."""
    config = registry.pushBlob(A, b"config")
    layer = registry.pushBlob(A, b"layer")
    pushed: list[Digest] = []
    registry.driver.after[("walk", f"{paths.manifests(A)}/revisions")] = [
        lambda: pushed.append(registry.manifest(A, "v1", imageOf(b"config", b"layer"),
                                                OCI_MANIFEST))]
    report = registry.collect(graceperiod=600)
    assert pushed and not report.removed
    assert {config, layer, pushed[0]} <= registry.stored()


def test_taggedBeforeDelete(registry: Registry) -> None:
    """A doomed untagged manifest that a tag names by the time it would be deleted is kept, and so are its blobs (the tags are read again)."""
    registry.image(A, "other", b"other config", b"other layer")
    digest, blobs = registry.image(A, "", b"config", b"layer")

    def tag() -> None:
        run(registry.stores.tags.tag(A, "late", digest))

    registry.driver.after[("list", paths.tags(A))] = [tag]
    report = registry.collect(deleteUntagged=True)
    assert not report.removed and report.skipped == 1
    assert {digest, *blobs} <= registry.stored()


def test_indexTaggedBeforeDeleteKeepsChildren(registry: Registry) -> None:
    """A doomed untagged index that a tag names by the time it would be deleted is kept with its untagged children and their blobs, not only itself."""
    registry.image(A, "other", b"other config", b"other layer")
    amd64, amd64Blobs = registry.image(A, "", b"config amd64", b"layer amd64")
    index = registry.index(A, "", amd64)

    def tag() -> None:
        run(registry.stores.tags.tag(A, "late", index))

    registry.driver.after[("list", paths.tags(A))] = [tag]
    report = registry.collect(deleteUntagged=True)
    assert not report.removed and report.skipped == 2
    assert revisions(registry, A) >= {index, amd64}
    assert {index, amd64, *amd64Blobs} <= registry.stored()


def test_blobRewrittenDuringRun(registry: Registry) -> None:
    """A candidate blob written again after the inventory listed it is spared (it is stat-ed right before its delete)."""
    orphan = registry.pushBlob(A, b"orphan")

    def rewrite() -> None:
        result(registry.driver.putContent(paths.blobData(orphan), b"orphan"))

    registry.driver.after[("list", paths.blobDirectory(orphan).rsplit("/", 1)[0])] = [rewrite]
    report = registry.collect()
    assert not report.removed and report.skipped == 1
    assert orphan in registry.stored()


class Pins:
    """
    In-flight checks pinning a fixed set of digests.
    """

    def __init__(self, pinned: Iterable[Digest]) -> None:
        self.pinned = set(pinned)
        self.deleting: list[Digest] = []

    def pin(self, digests: Iterable[Digest]) -> object:
        return None

    def unpin(self, token: object) -> None:
        pass

    @asynccontextmanager
    async def deletingBlob(self, digest: Digest) -> AsyncIterator[bool]:
        self.deleting.append(digest)
        yield digest not in self.pinned


def test_pinnedBlobSpared(registry: Registry) -> None:
    """A blob a request of this process has pinned is not deleted; every other is deleted inside the in-flight guard."""
    pinned = registry.pushBlob(A, b"pinned")
    free = registry.pushBlob(A, b"free")
    pins = Pins([pinned])
    pins.deleting = []  # type: ignore[assignment]
    inflight = type("InFlight", (), {"pin": pins.pin, "unpin": pins.unpin,
                                     "deleting": staticmethod(pins.deletingBlob)})()
    report = registry.collect(inflight=inflight)
    assert removedBlobs(report) == {free} and report.skipped == 1
    assert sorted(pins.deleting) == sorted([pinned, free])
    assert pinned in registry.stored()


class Retention:
    """
    A retention policy removing the tags named, and untagged manifests
    older than C{maxAge}.
    """

    def __init__(self, doomed: Iterable[str], maxAge: float | None = None) -> None:
        self.doomed = set(doomed)
        self.maxAge = maxAge
        self.seen: list[list[TagInfo]] = []

    def tagsToDelete(self, repository: str, tags: list[TagInfo],
                     now: float) -> dict[str, str]:
        self.seen.append(tags)
        return {tag.name: "retention: rule 1" for tag in tags if tag.name in self.doomed}

    def untaggedMaxAge(self, repository: str) -> float | None:
        return self.maxAge

    def reason(self, repository: str) -> str:
        return "retention: rule 1"


def test_retentionTags(registry: Registry) -> None:
    """Tags a retention policy removes are deleted and reported; their manifests stay untagged unless untagged manifests are deleted too."""
    old, _ = registry.image(A, "old", b"config 1", b"layer 1")
    registry.image(A, "new", b"config 2", b"layer 2")
    retention = Retention(["old"])
    report = registry.collect(retention=retention)
    assert [(i.kind, i.repository, i.tag, i.digest, i.reason) for i in report.removed] == [
        ("tag", A, "old", old, "retention: rule 1")]
    assert {tag.name for tag in retention.seen[0]} == {"old", "new"}
    assert all(tag.pushedAt > 0 for tag in retention.seen[0])
    assert revisions(registry, A) == {old, registry.image(A, "new", b"config 2", b"layer 2")[0]}
    assert registry.request("GET", f"/v2/{A}/manifests/old").code == 404
    report = registry.collect(retention=retention, deleteUntagged=True)
    assert [i.digest for i in report.removed if i.kind == "manifest"] == [old]


def test_retentionUntaggedMaxAge(registry: Registry) -> None:
    """A retention rule on untagged manifests deletes those older than its age, without delete-untagged."""
    old, _ = registry.image(A, "", b"config", b"layer")
    report = registry.collect(retention=Retention([], maxAge=600))
    assert [(i.kind, i.digest, i.reason) for i in report.removed if i.kind == "manifest"] == [
        ("manifest", old, "retention: rule 1: untagged for more than 10m")]
    assert not report.tags
    report = registry.collect(retention=Retention([], maxAge=2 * OLD))
    assert not report.removed


def test_reportLines() -> None:
    """A Removed item is a plain value, comparable between runs."""
    digest = Digest.of(b"x")
    assert Removed("blob", digest, None, None, 1, "unreferenced") == Removed(
        "blob", digest, None, None, 1, "unreferenced")
