"""
The referrers index in storage: where its entries live, and how the
manifest store keeps it.
"""

from __future__ import annotations

import json
from collections.abc import Coroutine
from typing import Any

import pytest
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from tests.api.helpers import OCI_INDEX, OCI_MANIFEST, content, result, snapshot
from txregistry.digest import Digest
from txregistry.manifest import parseManifest
from txregistry.storage import paths
from txregistry.storage.driver.base import CheckedDriver
from txregistry.storage.driver.inmemory import InMemoryDriver
from txregistry.storage.links import writeLink
from txregistry.storage.referrerlisting import artifactTypeOf
from txregistry.storage.registry import Registry

NAME = "library/app"
R = f"/docker/registry/v2/repositories/{NAME}"
SUBJECT = Digest.of(b"the subject manifest")
EMPTY = b"{}"


def run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """
    @return: the result of a coroutine on the in-memory driver (whose
        operations complete at once).
    """
    return result(Deferred.fromCoroutine(coroutine))


@pytest.fixture
def registry() -> Registry:
    registry = Registry.onDriver(CheckedDriver(InMemoryDriver()), Clock())
    run(registry.blobs.putContent(EMPTY, Digest.of(EMPTY)))
    run(writeLink(registry.driver, paths.layerLink(NAME, Digest.of(EMPTY)), Digest.of(EMPTY)))
    return registry


def referrer(artifactType: str, subject: Digest = SUBJECT) -> tuple[bytes, Digest]:
    """
    @return: an artifact manifest (config and only layer the empty blob)
        whose subject is C{subject}, and its digest.
    """
    empty = {"mediaType": "application/vnd.oci.empty.v1+json",
             "digest": str(Digest.of(EMPTY)), "size": 2}
    payload = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifactType,
        "config": empty, "layers": [empty],
        "subject": {"mediaType": OCI_MANIFEST, "digest": str(subject), "size": 20},
    }).encode()
    return payload, Digest.of(payload)


def test_entryPath(registry: Registry) -> None:
    """Putting a manifest with a subject writes one link, holding its digest, at _manifests/referrers/<alg>/<subject hex>/<alg>/<hex>/link."""
    payload, digest = referrer("application/vnd.example.sbom")
    run(registry.manifests.put(NAME, payload, OCI_MANIFEST, digest))
    path = f"{R}/_manifests/referrers/sha256/{SUBJECT.hex}/sha256/{digest.hex}/link"
    assert [p for p in snapshot(registry.driver) if "/_manifests/referrers/" in p] == [path]
    assert content(registry.driver, path) == str(digest).encode()


def test_noEntryWithoutSubject(registry: Registry) -> None:
    """Putting a manifest without a subject writes nothing below _manifests/referrers."""
    payload = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}).encode()
    run(registry.manifests.put(NAME, payload, OCI_INDEX, Digest.of(payload)))
    assert not [p for p in snapshot(registry.driver) if "/_manifests/referrers/" in p]
    assert content(registry.driver, paths.manifestRevisionLink(NAME, Digest.of(payload)))


def test_deleteRemovesEntry(registry: Registry) -> None:
    """Deleting a referrer removes its entry and leaves the other referrers' entries."""
    kept, keptDigest = referrer("application/vnd.example.a")
    gone, goneDigest = referrer("application/vnd.example.b")
    run(registry.manifests.put(NAME, kept, OCI_MANIFEST, keptDigest))
    run(registry.manifests.put(NAME, gone, OCI_MANIFEST, goneDigest))
    run(registry.manifests.delete(NAME, goneDigest))
    assert run(registry.manifests.referrers.referrersOf(NAME, SUBJECT)) == [keptDigest]
    assert content(registry.driver, paths.referrerLink(NAME, SUBJECT, goneDigest)) is None


def test_referrersOfSorted(registry: Registry) -> None:
    """The index lists a subject's referrers in digest order, and none for an unknown subject or repository."""
    digests = []
    for n in range(5):
        payload, digest = referrer(f"application/vnd.example.{n}")
        run(registry.manifests.put(NAME, payload, OCI_MANIFEST, digest))
        digests.append(digest)
    index = registry.manifests.referrers
    assert run(index.referrersOf(NAME, SUBJECT)) == sorted(digests)
    assert run(index.referrersOf(NAME, Digest.of(b"other"))) == []
    assert run(index.referrersOf("no/repository", SUBJECT)) == []


def test_corruptEntryIgnored(registry: Registry) -> None:
    """An index entry whose link is corrupt is left out of the subject's referrers."""
    payload, digest = referrer("application/vnd.example.a")
    run(registry.manifests.put(NAME, payload, OCI_MANIFEST, digest))
    bogus = Digest.of(b"bogus")
    result(registry.driver.putContent(paths.referrerLink(NAME, SUBJECT, bogus), b"not a digest"))
    assert run(registry.manifests.referrers.referrersOf(NAME, SUBJECT)) == [digest]


def test_descriptorsFromStoredBytes(registry: Registry) -> None:
    """The listing's descriptor is built from the referrer's stored bytes: its exact size and digest."""
    payload, digest = referrer("application/vnd.example.sbom")
    run(registry.manifests.put(NAME, payload, OCI_MANIFEST, digest))
    assert run(registry.referrers.descriptors(NAME, SUBJECT)) == [{
        "mediaType": OCI_MANIFEST, "digest": str(digest), "size": len(payload),
        "artifactType": "application/vnd.example.sbom"}]


@pytest.mark.parametrize(("body", "expected"), [
    ({"artifactType": "a/b", "config": {"mediaType": "c/d"}}, "a/b"),
    ({"config": {"mediaType": "c/d"}}, "c/d"),
    ({"artifactType": "", "config": {"mediaType": "c/d"}}, "c/d"),
    ({"mediaType": OCI_INDEX, "artifactType": "a/b", "manifests": []}, "a/b"),
    ({"mediaType": OCI_INDEX, "manifests": []}, None),
])
def test_artifactTypeOf(body: dict[str, Any], expected: str | None) -> None:
    """A manifest's artifactType is its own, else its config's media type, else (an index) none."""
    if "config" in body:
        body["config"].update({"digest": str(Digest.of(EMPTY)), "size": 2})
        body["layers"] = []
        body.setdefault("mediaType", OCI_MANIFEST)
    manifest = parseManifest(json.dumps({"schemaVersion": 2, **body}).encode(), None)
    assert artifactTypeOf(manifest) == expected
