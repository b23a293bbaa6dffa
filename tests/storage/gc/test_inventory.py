"""
Reading what a manifest refers to (L{txregistry.storage.gc.inventory.references}).
"""

from __future__ import annotations

import json

from txregistry.digest import Digest
from txregistry.storage.gc.inventory import References, references

CONFIG, LAYER, CHILD, SUBJECT = (Digest.of(name) for name in (b"c", b"l", b"m", b"s"))


def descriptor(digest: Digest) -> dict[str, object]:
    return {"mediaType": "application/octet-stream", "digest": str(digest), "size": 1}


def read(body: object) -> References:
    payload = json.dumps(body).encode()
    return references(Digest.of(payload), payload)


def test_image() -> None:
    """An image manifest refers to its config and layers, and to its subject."""
    found = read({"schemaVersion": 2, "config": descriptor(CONFIG),
                  "layers": [descriptor(LAYER)], "subject": descriptor(SUBJECT)})
    assert found == References((CONFIG, LAYER), (), SUBJECT)


def test_index() -> None:
    """An index refers to the manifests it lists, as children."""
    found = read({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                  "manifests": [descriptor(CHILD)]})
    assert found == References((), (CHILD,), None)


def test_otherShapes() -> None:
    """A schema 1 manifest, a descriptor with a bad digest or a non-JSON payload keep every digest they name, unparsed."""
    schema1 = read({"schemaVersion": 1, "fsLayers": [{"blobSum": str(LAYER)}]})
    assert schema1 == References((LAYER,), (LAYER,), None, parsed=False)
    bad = read({"schemaVersion": 2, "config": descriptor(CONFIG),
                "layers": [{"digest": "sha256:nothex"}, descriptor(LAYER)]})
    assert set(bad.blobs) == set(bad.children) == {CONFIG, LAYER} and not bad.parsed
    assert references(CONFIG, b"\xff not JSON") == References((), (), None, parsed=False)
