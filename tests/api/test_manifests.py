"""
Manifests: C{/v2/<name>/manifests/<tag or digest>}.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.api.helpers import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    content,
    rawExchange,
    snapshot,
)
from tests.api.support import BASE, InMemoryRegistry, Response, imageManifest
from txregistry.digest import Digest
from txregistry.storage import paths

NAME = "library/app"
V2 = "/docker/registry/v2"
MiB = 1024 * 1024


class Image:
    """
    The blobs of one image, pushed to a repository.
    """

    def __init__(self, registry: InMemoryRegistry, name: str = NAME, seed: bytes = b"") -> None:
        self.config = b'{"architecture": "amd64", "os": "linux"}' + seed
        self.layer = b"layer data " + seed
        self.configDigest = registry.pushBlob(name, self.config)
        self.layerDigest = registry.pushBlob(name, self.layer)

    def manifest(self, mediaType: str = OCI_MANIFEST) -> dict[str, Any]:
        return imageManifest(self.configDigest, len(self.config),
                             [(self.layerDigest, len(self.layer))], mediaType)


def put(registry: InMemoryRegistry, reference: str, payload: bytes,
        contentType: str | None = OCI_MANIFEST, name: str = NAME) -> Response:
    headers = {} if contentType is None else {"Content-Type": contentType}
    return registry.request("PUT", f"/v2/{name}/manifests/{reference}", payload, headers)


def encode(manifest: dict[str, Any]) -> bytes:
    return json.dumps(manifest).encode()


def get(registry: InMemoryRegistry, reference: str | Digest, method: str = "GET",
        accept: str | None = None, name: str = NAME) -> Response:
    headers = {} if accept is None else {"Accept": accept}
    return registry.request(method, f"/v2/{name}/manifests/{reference}", headers=headers)


def descriptor(mediaType: str, payload: bytes, **extra: Any) -> dict[str, Any]:
    return {"mediaType": mediaType, "digest": str(Digest.of(payload)),
            "size": len(payload), **extra}


@pytest.fixture
def registry() -> InMemoryRegistry:
    return InMemoryRegistry()


@pytest.fixture
def image(registry: InMemoryRegistry) -> Image:
    return Image(registry)


# Pushing and pulling each type

@pytest.mark.parametrize("mediaType", [OCI_MANIFEST, DOCKER_MANIFEST])
def test_pushImageByTag(registry: InMemoryRegistry, image: Image, mediaType: str) -> None:
    """An image manifest pushed by tag is a 201 with its Location and digest, and is served back by tag and digest."""
    payload = encode(image.manifest(mediaType))
    digest = Digest.of(payload)
    response = put(registry, "v1", payload, mediaType)
    assert response.code == 201, response.body
    assert response.header("Docker-Content-Digest") == str(digest)
    assert response.header("Location") == f"{BASE}/v2/{NAME}/manifests/{digest}"
    for reference in ("v1", str(digest)):
        response = get(registry, reference)
        assert response.code == 200
        assert response.body == payload
        assert response.header("Content-Type") == mediaType
        assert response.header("Docker-Content-Digest") == str(digest)


@pytest.mark.parametrize("mediaType", [OCI_MANIFEST, DOCKER_MANIFEST])
def test_pushImageByDigest(registry: InMemoryRegistry, image: Image, mediaType: str) -> None:
    """An image manifest pushed by its digest is served by digest and creates no tag."""
    payload = encode(image.manifest(mediaType))
    digest = Digest.of(payload)
    response = put(registry, str(digest), payload, mediaType)
    assert response.code == 201, response.body
    assert response.header("Docker-Content-Digest") == str(digest)
    response = get(registry, digest)
    assert (response.code, response.body) == (200, payload)
    assert response.header("Content-Type") == mediaType
    assert not [path for path in snapshot(registry.driver) if "/_manifests/tags/" in path]


@pytest.mark.parametrize(("indexType", "childType"), [
    (OCI_INDEX, OCI_MANIFEST),
    (DOCKER_LIST, DOCKER_MANIFEST),
])
@pytest.mark.parametrize("byDigest", [False, True])
def test_pushIndex(registry: InMemoryRegistry, indexType: str, childType: str, byDigest: bool) -> None:
    """An index (or manifest list) of manifests the repository has is stored and served back exactly."""
    children = []
    for seed in (b"amd64", b"arm64"):
        payload = encode(Image(registry, seed=seed).manifest(childType))
        assert put(registry, str(Digest.of(payload)), payload, childType).code == 201
        children.append(descriptor(childType, payload,
                                   platform={"architecture": seed.decode(), "os": "linux"}))
    index = encode({"schemaVersion": 2, "mediaType": indexType, "manifests": children})
    digest = Digest.of(index)
    reference = str(digest) if byDigest else "multi"
    response = put(registry, reference, index, indexType)
    assert response.code == 201, response.body
    assert response.header("Docker-Content-Digest") == str(digest)
    response = get(registry, reference)
    assert (response.code, response.body) == (200, index)
    assert response.header("Content-Type") == indexType
    assert response.header("Docker-Content-Digest") == str(digest)


def test_head(registry: InMemoryRegistry, image: Image) -> None:
    """HEAD of a manifest gives its type, digest and length, and no body."""
    payload = encode(image.manifest())
    put(registry, "v1", payload)
    for reference in ("v1", str(Digest.of(payload))):
        response = get(registry, reference, "HEAD")
        assert response.code == 200
        assert response.body == b""
        assert response.header("Content-Type") == OCI_MANIFEST
        assert response.header("Docker-Content-Digest") == str(Digest.of(payload))
        assert response.header("Content-Length") == str(len(payload))


def test_getContentLengthOnTheWire(registry: InMemoryRegistry, image: Image) -> None:
    """GET of a manifest sends the manifest's length as Content-Length."""
    payload = encode(image.manifest())
    put(registry, "v1", payload)
    status, headers, body = rawExchange(registry, "GET", f"/v2/{NAME}/manifests/v1")
    assert status == 200
    assert headers["content-length"] == [str(len(payload))]
    assert body == payload


def test_bytesKeptExactly(registry: InMemoryRegistry, image: Image) -> None:
    """A manifest with odd whitespace, key order and custom fields is served byte for byte as pushed."""
    manifest = image.manifest()
    manifest["annotations"] = {"org.example.note": "caf\u00e9 \u2603"}
    manifest["x-custom"] = [1, 2.50, None, {"nested": True}]
    payload = ("\n\t{  \"x-custom\" : [1, 2.50, null, {\"nested\":true}],\r\n"
               + json.dumps({k: v for k, v in manifest.items() if k != "x-custom"},
                            indent=7, ensure_ascii=False)[1:-1]
               + "\n}\n\n   ").encode("utf-8")
    assert json.loads(payload)["x-custom"] == [1, 2.5, None, {"nested": True}]
    digest = Digest.of(payload)
    response = put(registry, "odd", payload)
    assert response.code == 201, response.body
    assert response.header("Docker-Content-Digest") == str(digest)
    for reference in ("odd", str(digest)):
        response = get(registry, reference)
        assert response.body == payload
        assert Digest.of(response.body) == digest


def test_ociWithoutMediaType(registry: InMemoryRegistry, image: Image) -> None:
    """An OCI image manifest may omit mediaType; it is served as an OCI manifest."""
    manifest = image.manifest()
    del manifest["mediaType"]
    payload = encode(manifest)
    assert put(registry, "v1", payload).code == 201
    response = get(registry, "v1")
    assert response.body == payload
    assert response.header("Content-Type") == OCI_MANIFEST


def test_servedAsPushedType(registry: InMemoryRegistry, image: Image) -> None:
    """A manifest without mediaType pushed as a Docker manifest is refused, or served back as one."""
    manifest = image.manifest(DOCKER_MANIFEST)
    del manifest["mediaType"]
    response = put(registry, "v1", encode(manifest), DOCKER_MANIFEST)
    if response.code == 201:
        assert get(registry, "v1").header("Content-Type") == DOCKER_MANIFEST
    else:
        assert response.code == 400
        assert response.errorCodes == ["MANIFEST_INVALID"]


def test_contentTypeWithParameters(registry: InMemoryRegistry, image: Image) -> None:
    """A Content-Type with parameters names the same media type."""
    payload = encode(image.manifest())
    response = put(registry, "v1", payload, OCI_MANIFEST + "; charset=utf-8")
    assert response.code == 201, response.body
    assert get(registry, "v1").header("Content-Type") == OCI_MANIFEST


def test_sha512Digest(registry: InMemoryRegistry, image: Image) -> None:
    """A manifest pushed under its sha512 digest is served under that digest."""
    payload = encode(image.manifest())
    digest = Digest.of(payload, "sha512")
    response = put(registry, str(digest), payload)
    assert response.code == 201, response.body
    assert response.header("Docker-Content-Digest") == str(digest)
    response = get(registry, digest)
    assert (response.code, response.body) == (200, payload)
    assert response.header("Docker-Content-Digest") == str(digest)


def test_foreignLayer(registry: InMemoryRegistry, image: Image) -> None:
    """A foreign layer with urls is accepted without the registry holding its blob."""
    manifest = image.manifest(DOCKER_MANIFEST)
    foreign = Digest.of(b"windows base layer")
    manifest["layers"].append({
        "mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        "digest": str(foreign), "size": 18,
        "urls": ["https://example.com/layer.tar.gz"]})
    payload = encode(manifest)
    response = put(registry, "win", payload, DOCKER_MANIFEST)
    assert response.code == 201, response.body
    assert get(registry, "win").body == payload
    assert content(registry.driver, paths.blobData(foreign)) is None


def test_layout(registry: InMemoryRegistry, image: Image) -> None:
    """A tagged manifest is stored as distribution stores it: blob data, revision link, tag current and index links."""
    before = snapshot(registry.driver)
    payload = encode(image.manifest())
    digest = Digest.of(payload)
    assert put(registry, "v1", payload).code == 201
    repo = f"{V2}/repositories/{NAME}/_manifests"
    added = {path: data for path, data in snapshot(registry.driver).items() if path not in before}
    assert added == {
        f"{V2}/blobs/sha256/{digest.hex[:2]}/{digest.hex}/data": payload,
        f"{repo}/revisions/sha256/{digest.hex}/link": str(digest).encode(),
        f"{repo}/tags/v1/current/link": str(digest).encode(),
        f"{repo}/tags/v1/index/sha256/{digest.hex}/link": str(digest).encode(),
    }


def test_manifestAsBlob(registry: InMemoryRegistry, image: Image) -> None:
    """A manifest's digest is also served as a blob of its repository."""
    payload = encode(image.manifest())
    put(registry, "v1", payload)
    response = registry.request("GET", f"/v2/{NAME}/blobs/{Digest.of(payload)}")
    assert (response.code, response.body) == (200, payload)


# References to content the repository lacks

def test_missingLayer(registry: InMemoryRegistry, image: Image) -> None:
    """A manifest naming a layer the registry lacks is a 400 MANIFEST_BLOB_UNKNOWN."""
    manifest = image.manifest()
    manifest["layers"].append(descriptor("application/vnd.oci.image.layer.v1.tar+gzip", b"absent"))
    response = put(registry, "v1", encode(manifest))
    assert response.code == 400
    assert response.errorCodes == ["MANIFEST_BLOB_UNKNOWN"]


def test_missingConfig(registry: InMemoryRegistry, image: Image) -> None:
    """A manifest naming a config the registry lacks is a 400 MANIFEST_BLOB_UNKNOWN."""
    manifest = image.manifest()
    manifest["config"] = descriptor("application/vnd.oci.image.config.v1+json", b"{}absent")
    response = put(registry, "v1", encode(manifest))
    assert response.code == 400
    assert response.errorCodes == ["MANIFEST_BLOB_UNKNOWN"]


def test_layerOfAnotherRepository(registry: InMemoryRegistry) -> None:
    """A layer stored only for another repository is unknown to this one's manifests."""
    image = Image(registry, "other")
    response = put(registry, "v1", encode(image.manifest()), name="mine")
    assert response.code == 400
    assert response.errorCodes == ["MANIFEST_BLOB_UNKNOWN"]


@pytest.mark.parametrize(("indexType", "childType"), [
    (OCI_INDEX, OCI_MANIFEST), (DOCKER_LIST, DOCKER_MANIFEST)])
def test_indexMissingChild(registry: InMemoryRegistry, image: Image,
                           indexType: str, childType: str) -> None:
    """An index naming a manifest the repository lacks is a 400 MANIFEST_BLOB_UNKNOWN."""
    child = encode(image.manifest(childType))
    index = encode({"schemaVersion": 2, "mediaType": indexType,
                    "manifests": [descriptor(childType, child)]})
    response = put(registry, "multi", index, indexType)
    assert response.code == 400
    assert response.errorCodes == ["MANIFEST_BLOB_UNKNOWN"]


def test_indexChildIsABlobNotAManifest(registry: InMemoryRegistry, image: Image) -> None:
    """An index naming a plain blob of the repository, not a manifest, is a 400 MANIFEST_BLOB_UNKNOWN."""
    index = encode({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": str(image.layerDigest), "size": len(image.layer)}]})
    response = put(registry, "multi", index, OCI_INDEX)
    assert response.code == 400
    assert response.errorCodes == ["MANIFEST_BLOB_UNKNOWN"]


def test_indexChildOfAnotherRepository(registry: InMemoryRegistry) -> None:
    """An index naming a manifest held only by another repository is a 400 MANIFEST_BLOB_UNKNOWN."""
    child = encode(Image(registry, "other").manifest())
    assert put(registry, "v1", child, name="other").code == 201
    index = encode({"schemaVersion": 2, "mediaType": OCI_INDEX,
                    "manifests": [descriptor(OCI_MANIFEST, child)]})
    response = put(registry, "multi", index, OCI_INDEX, name="mine")
    assert response.code == 400
    assert response.errorCodes == ["MANIFEST_BLOB_UNKNOWN"]


# Invalid manifests

def _invalidManifests(image: Image) -> list[tuple[str, bytes, str]]:
    good = image.manifest()

    def variant(**changes: Any) -> bytes:
        manifest = json.loads(json.dumps(good))
        for key, value in changes.items():
            if value is _DELETE:
                del manifest[key]
            else:
                manifest[key] = value
        return encode(manifest)

    config = good["config"]
    return [
        ("not JSON", b"{not json", OCI_MANIFEST),
        ("truncated", encode(good)[:-1], OCI_MANIFEST),
        ("not UTF-8", b'{"schemaVersion": 2, "x": "\xff"}', OCI_MANIFEST),
        ("a list", b"[]", OCI_MANIFEST),
        ("a string", b'"manifest"', OCI_MANIFEST),
        ("empty", b"", OCI_MANIFEST),
        ("schema 1", variant(schemaVersion=1), OCI_MANIFEST),
        ("schema missing", variant(schemaVersion=_DELETE), OCI_MANIFEST),
        ("schema as string", variant(schemaVersion="2"), OCI_MANIFEST),
        ("no config", variant(config=_DELETE), OCI_MANIFEST),
        ("config not an object", variant(config="sha256:abc"), OCI_MANIFEST),
        ("config negative size", variant(config={**config, "size": -1}), OCI_MANIFEST),
        ("config size as string", variant(config={**config, "size": "12"}), OCI_MANIFEST),
        ("config size bool", variant(config={**config, "size": True}), OCI_MANIFEST),
        ("config bad digest", variant(config={**config, "digest": "sha256:xyz"}), OCI_MANIFEST),
        ("config uppercase digest", variant(config={**config, "digest": config["digest"].upper()}),
         OCI_MANIFEST),
        ("config no mediaType", variant(config={k: v for k, v in config.items() if k != "mediaType"}),
         OCI_MANIFEST),
        ("config no digest", variant(config={k: v for k, v in config.items() if k != "digest"}),
         OCI_MANIFEST),
        ("layers not a list", variant(layers={}), OCI_MANIFEST),
        ("layers missing", variant(layers=_DELETE), OCI_MANIFEST),
        ("layer not an object", variant(layers=[1]), OCI_MANIFEST),
        ("urls not a list", variant(layers=[{**good["layers"][0], "urls": "http://x"}]),
         OCI_MANIFEST),
        ("mediaType not a string", variant(mediaType=7), OCI_MANIFEST),
        ("unknown mediaType", variant(mediaType="application/x-nothing"), "application/x-nothing"),
        ("mediaType differs from Content-Type", encode(good), DOCKER_MANIFEST),
        ("OCI index sent as OCI manifest",
         encode({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}), OCI_MANIFEST),
        ("index manifests missing", encode({"schemaVersion": 2, "mediaType": OCI_INDEX}), OCI_INDEX),
        ("bad subject", variant(subject={"digest": "nope"}), OCI_MANIFEST),
    ]


class _Delete:
    pass


_DELETE = _Delete()
INVALID = [
    "not JSON", "truncated", "not UTF-8", "a list", "a string", "empty", "schema 1",
    "schema missing", "schema as string", "no config", "config not an object",
    "config negative size", "config size as string", "config size bool", "config bad digest",
    "config uppercase digest", "config no mediaType", "config no digest", "layers not a list",
    "layers missing", "layer not an object", "urls not a list", "mediaType not a string",
    "unknown mediaType", "mediaType differs from Content-Type", "OCI index sent as OCI manifest",
    "index manifests missing", "bad subject",
]


@pytest.mark.parametrize("label", INVALID)
def test_invalidManifest(registry: InMemoryRegistry, image: Image, label: str) -> None:
    """A malformed manifest, or one whose type is not its Content-Type, is a 400 MANIFEST_INVALID that stores nothing."""
    cases = {case[0]: case[1:] for case in _invalidManifests(image)}
    assert sorted(cases) == sorted(INVALID)
    payload, contentType = cases[label]
    before = snapshot(registry.driver)
    response = put(registry, "v1", payload, contentType)
    assert response.code == 400, (label, response.body)
    assert response.errorCodes == ["MANIFEST_INVALID"], label
    assert snapshot(registry.driver) == before, label


@pytest.mark.parametrize("mediaType", [OCI_INDEX, DOCKER_LIST, DOCKER_MANIFEST])
def test_mediaTypeMismatch(registry: InMemoryRegistry, image: Image, mediaType: str) -> None:
    """An OCI manifest sent with any other manifest Content-Type is a 400 MANIFEST_INVALID."""
    response = put(registry, "v1", encode(image.manifest()), mediaType)
    assert response.code == 400
    assert response.errorCodes == ["MANIFEST_INVALID"]


# Size limit

def _padded(image: Image, size: int) -> bytes:
    payload = encode(image.manifest())
    return payload + b" " * (size - len(payload))


def test_maximumSize(registry: InMemoryRegistry, image: Image) -> None:
    """A manifest of exactly 4 MiB is accepted."""
    payload = _padded(image, 4 * MiB)
    response = put(registry, "big", payload)
    assert response.code == 201, response.body[:200]
    assert get(registry, "big").body == payload


def test_tooLarge(registry: InMemoryRegistry, image: Image) -> None:
    """A manifest over 4 MiB is a 413 and nothing is stored."""
    before = snapshot(registry.driver)
    response = put(registry, "big", _padded(image, 4 * MiB + 1))
    assert response.code == 413
    assert snapshot(registry.driver) == before


def test_tooLargeChunked(registry: InMemoryRegistry, image: Image) -> None:
    """A manifest over 4 MiB sent without a Content-Length is a 413 and nothing is stored."""
    before = snapshot(registry.driver)
    status, headers, body = rawExchange(
        registry, "PUT", f"/v2/{NAME}/manifests/big", {"Content-Type": OCI_MANIFEST},
        _padded(image, 5 * MiB), chunked=True)
    assert status == 413, body[:200]
    assert snapshot(registry.driver) == before


def test_chunkedManifest(registry: InMemoryRegistry, image: Image) -> None:
    """A manifest sent with chunked transfer encoding is stored as sent."""
    payload = _padded(image, 200 * 1024)
    status, headers, body = rawExchange(
        registry, "PUT", f"/v2/{NAME}/manifests/v1", {"Content-Type": OCI_MANIFEST},
        payload, chunked=True)
    assert status == 201, body
    assert get(registry, "v1").body == payload


# Digest and tag references

def test_digestMismatch(registry: InMemoryRegistry, image: Image) -> None:
    """PUT by a digest the manifest does not have is a 400 DIGEST_INVALID and stores nothing."""
    before = snapshot(registry.driver)
    payload = encode(image.manifest())
    other = Digest.of(payload + b" ")
    response = put(registry, str(other), payload)
    assert response.code == 400
    assert response.errorCodes == ["DIGEST_INVALID"]
    assert snapshot(registry.driver) == before
    assert get(registry, other).code == 404
    assert get(registry, Digest.of(payload)).code == 404


@pytest.mark.parametrize("reference", ["sha256:abc", "sha256:" + "A" * 64, "md5:" + "0" * 32])
def test_malformedDigestReference(registry: InMemoryRegistry, image: Image, reference: str) -> None:
    """PUT and GET by a malformed digest are a 400 DIGEST_INVALID."""
    assert put(registry, reference, encode(image.manifest())).errorCodes == ["DIGEST_INVALID"]
    response = get(registry, reference)
    assert response.code == 400
    assert response.errorCodes == ["DIGEST_INVALID"]


@pytest.mark.parametrize("levels", [1000, 10**5, 10**6])
@pytest.mark.parametrize("contentType", [OCI_MANIFEST, OCI_INDEX, None])
def test_deeplyNestedManifest(registry: InMemoryRegistry, levels: int,
                              contentType: str | None) -> None:
    """A manifest body nested a thousand to a million levels deep is a 400 MANIFEST_INVALID, not a 500."""
    before = snapshot(registry.driver)
    response = put(registry, "v1", b"[" * levels + b"]" * levels, contentType)
    assert (response.code, response.errorCodes) == (400, ["MANIFEST_INVALID"])
    assert snapshot(registry.driver) == before


@pytest.mark.parametrize("extra", [
    b'"annotations": {"a": ' + b"[" * 500 + b"]" * 500 + b"}",
    b'"x": ' + b'{"y":' * 5000 + b"1" + b"}" * 5000,
    b'"x": ' + b"1" * 5000,
])
def test_nestedOrHugeInsideManifest(registry: InMemoryRegistry, image: Image, extra: bytes) -> None:
    """Deep nesting or a 5,000-digit number inside an otherwise valid manifest is a 400 MANIFEST_INVALID."""
    payload = encode(image.manifest())[:-1] + b", " + extra + b"}"
    response = put(registry, "v1", payload)
    assert (response.code, response.errorCodes) == (400, ["MANIFEST_INVALID"])


@pytest.mark.parametrize("tag", ["-x", ".x", "x" * 129, "a+b", "t@g"])
def test_invalidTag(registry: InMemoryRegistry, image: Image, tag: str) -> None:
    """PUT by an invalid tag is a 400 MANIFEST_INVALID (a spec code) and stores nothing."""
    before = snapshot(registry.driver)
    response = put(registry, tag, encode(image.manifest()))
    assert response.code == 400
    assert response.errorCodes == ["MANIFEST_INVALID"]
    assert snapshot(registry.driver) == before


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("tag", [".INVALID_MANIFEST_NAME", "-x", "x" * 129, "a+b"])
def test_pullInvalidTag(registry: InMemoryRegistry, method: str, tag: str) -> None:
    """GET and HEAD by an invalid tag are a 404 MANIFEST_UNKNOWN, as the conformance suite expects."""
    response = get(registry, tag, method)
    assert response.code == 404
    if method == "GET":
        assert response.errorCodes == ["MANIFEST_UNKNOWN"]


@pytest.mark.parametrize("tag", ["x" * 128, "_x", "A.b-c_D", "0"])
def test_validTagEdges(registry: InMemoryRegistry, image: Image, tag: str) -> None:
    """Tags at the edges of the grammar, up to 128 characters, are accepted."""
    payload = encode(image.manifest())
    assert put(registry, tag, payload).code == 201
    assert get(registry, tag).body == payload


@pytest.mark.parametrize("reference", ["nosuchtag", str(Digest.of(b"no such manifest"))])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_unknownManifest(registry: InMemoryRegistry, image: Image, reference: str, method: str) -> None:
    """An unknown tag or digest is a 404 MANIFEST_UNKNOWN."""
    put(registry, "v1", encode(image.manifest()))
    response = get(registry, reference, method)
    assert response.code == 404
    if method == "GET":
        assert response.errorCodes == ["MANIFEST_UNKNOWN"]
    else:
        assert response.body == b""


def test_unknownRepository(registry: InMemoryRegistry) -> None:
    """A manifest of a repository that does not exist is a 404 MANIFEST_UNKNOWN."""
    response = get(registry, "latest", name="no/such/repo")
    assert response.code == 404
    assert response.errorCodes == ["MANIFEST_UNKNOWN"]


def test_digestOfAnotherRepository(registry: InMemoryRegistry, image: Image) -> None:
    """A manifest held by one repository is unknown, by digest, in another."""
    payload = encode(image.manifest())
    put(registry, "v1", payload)
    Image(registry, "other")
    response = get(registry, Digest.of(payload), name="other")
    assert response.code == 404
    assert response.errorCodes == ["MANIFEST_UNKNOWN"]


def test_layerDigestIsNotAManifest(registry: InMemoryRegistry, image: Image) -> None:
    """The digest of a plain blob is not served as a manifest."""
    response = get(registry, image.layerDigest)
    assert response.code == 404
    assert response.errorCodes == ["MANIFEST_UNKNOWN"]


# Content negotiation

@pytest.mark.parametrize("accept", [
    DOCKER_MANIFEST,
    f"{DOCKER_MANIFEST}, {DOCKER_LIST}",
    f"{DOCKER_LIST};q=0.5",
])
def test_acceptExcludes(registry: InMemoryRegistry, image: Image, accept: str) -> None:
    """An Accept header listing only other manifest types makes an OCI manifest a 404 MANIFEST_UNKNOWN."""
    put(registry, "v1", encode(image.manifest()))
    response = get(registry, "v1", accept=accept)
    assert response.code == 404
    assert response.errorCodes == ["MANIFEST_UNKNOWN"]
    assert get(registry, "v1", "HEAD", accept=accept).code == 404


@pytest.mark.parametrize("accept", [
    None,
    "*/*",
    OCI_MANIFEST,
    f"{DOCKER_MANIFEST}, {OCI_MANIFEST};q=0.9",
    f"{DOCKER_MANIFEST}, */*;q=0.1",
    "application/json",
    OCI_MANIFEST.upper(),
])
def test_acceptIncludes(registry: InMemoryRegistry, image: Image, accept: str | None) -> None:
    """No Accept, */*, one naming the manifest's type, or one naming no manifest type at all gives the manifest."""
    payload = encode(image.manifest())
    put(registry, "v1", payload)
    response = get(registry, "v1", accept=accept)
    assert response.code == 200
    assert response.body == payload


def test_acceptSeveralHeaders(registry: InMemoryRegistry, image: Image) -> None:
    """Accept types spread over several Accept headers all count."""
    payload = encode(image.manifest())
    put(registry, "v1", payload)
    results: list[Any] = []
    d = registry.stub.request("GET", f"{BASE}/v2/{NAME}/manifests/v1",
                              headers={"Accept": [DOCKER_MANIFEST, OCI_MANIFEST]})
    d.addCallback(results.append)
    registry.stub.flush()
    assert results[0].code == 200


# Tags move and go

def test_retag(registry: InMemoryRegistry) -> None:
    """Pushing another manifest under a tag moves the tag; the old manifest stays by digest."""
    first = encode(Image(registry, seed=b"1").manifest())
    second = encode(Image(registry, seed=b"2").manifest())
    assert put(registry, "latest", first).code == 201
    assert put(registry, "latest", second).code == 201
    response = get(registry, "latest")
    assert response.body == second
    assert response.header("Docker-Content-Digest") == str(Digest.of(second))
    assert get(registry, Digest.of(first)).body == first
    assert registry.request("GET", f"/v2/{NAME}/tags/list").json()["tags"] == ["latest"]
    current = content(registry.driver, paths.tagCurrentLink(NAME, "latest"))
    assert current == str(Digest.of(second)).encode()


def test_samePushTwice(registry: InMemoryRegistry, image: Image) -> None:
    """Pushing the same manifest twice is idempotent."""
    payload = encode(image.manifest())
    assert put(registry, "v1", payload).code == 201
    before = snapshot(registry.driver)
    assert put(registry, "v1", payload).code == 201
    assert snapshot(registry.driver) == before


def test_deleteDisabled(registry: InMemoryRegistry, image: Image) -> None:
    """DELETE of a manifest with deletes disabled is a 405 UNSUPPORTED and nothing changes."""
    payload = encode(image.manifest())
    put(registry, "v1", payload)
    before = snapshot(registry.driver)
    for reference in ("v1", str(Digest.of(payload))):
        response = registry.request("DELETE", f"/v2/{NAME}/manifests/{reference}")
        assert response.code == 405
        assert response.errorCodes == ["UNSUPPORTED"]
    assert snapshot(registry.driver) == before


@pytest.fixture
def deleting() -> InMemoryRegistry:
    return InMemoryRegistry(delete_enabled=True)


def test_deleteTag(deleting: InMemoryRegistry) -> None:
    """DELETE by tag removes only that tag: the manifest and its other tags stay."""
    payload = encode(Image(deleting).manifest())
    digest = Digest.of(payload)
    put(deleting, "v1", payload)
    put(deleting, "stable", payload)
    response = deleting.request("DELETE", f"/v2/{NAME}/manifests/v1")
    assert response.code == 202
    assert get(deleting, "v1").code == 404
    assert get(deleting, "stable").body == payload
    assert get(deleting, digest).body == payload
    assert deleting.request("GET", f"/v2/{NAME}/tags/list").json()["tags"] == ["stable"]


def test_deleteDigest(deleting: InMemoryRegistry) -> None:
    """DELETE by digest removes the manifest and every tag naming it, but no other tag."""
    image = Image(deleting)
    payload = encode(image.manifest())
    other = encode(Image(deleting, seed=b"other").manifest())
    digest = Digest.of(payload)
    put(deleting, "v1", payload)
    put(deleting, "stable", payload)
    put(deleting, "keep", other)
    response = deleting.request("DELETE", f"/v2/{NAME}/manifests/{digest}")
    assert response.code == 202
    for reference in ("v1", "stable", str(digest)):
        response = get(deleting, reference)
        assert response.code == 404, reference
        assert response.errorCodes == ["MANIFEST_UNKNOWN"]
    assert get(deleting, "keep").body == other
    assert deleting.request("GET", f"/v2/{NAME}/tags/list").json()["tags"] == ["keep"]
    assert content(deleting.driver, paths.manifestRevisionLink(NAME, digest)) is None
    assert deleting.request("GET", f"/v2/{NAME}/blobs/{image.layerDigest}").code == 200


def test_deleteThenPushAgain(deleting: InMemoryRegistry) -> None:
    """A deleted manifest can be pushed again."""
    payload = encode(Image(deleting).manifest())
    digest = Digest.of(payload)
    put(deleting, "v1", payload)
    assert deleting.request("DELETE", f"/v2/{NAME}/manifests/{digest}").code == 202
    assert put(deleting, "v1", payload).code == 201
    assert get(deleting, "v1").body == payload


@pytest.mark.parametrize("reference", ["nosuchtag", str(Digest.of(b"nothing"))])
def test_deleteUnknown(deleting: InMemoryRegistry, reference: str) -> None:
    """DELETE of an unknown tag or digest is a 404 MANIFEST_UNKNOWN."""
    put(deleting, "v1", encode(Image(deleting).manifest()))
    before = snapshot(deleting.driver)
    response = deleting.request("DELETE", f"/v2/{NAME}/manifests/{reference}")
    assert response.code == 404
    assert response.errorCodes == ["MANIFEST_UNKNOWN"]
    assert snapshot(deleting.driver) == before


def test_deleteInvalidTag(deleting: InMemoryRegistry) -> None:
    """DELETE by an invalid tag is a 404 MANIFEST_UNKNOWN: no manifest can have that tag."""
    response = deleting.request("DELETE", f"/v2/{NAME}/manifests/-x")
    assert response.code == 404
    assert response.errorCodes == ["MANIFEST_UNKNOWN"]


def test_deleteIndexKeepsChildren(deleting: InMemoryRegistry) -> None:
    """Deleting an index leaves the manifests it lists."""
    child = encode(Image(deleting).manifest())
    put(deleting, str(Digest.of(child)), child)
    index = encode({"schemaVersion": 2, "mediaType": OCI_INDEX,
                    "manifests": [descriptor(OCI_MANIFEST, child)]})
    assert put(deleting, "multi", index, OCI_INDEX).code == 201
    assert deleting.request("DELETE", f"/v2/{NAME}/manifests/{Digest.of(index)}").code == 202
    assert get(deleting, Digest.of(child)).body == child


# Nothing stored after a refusal

def test_noStorageAfterRefusals(registry: InMemoryRegistry, image: Image) -> None:
    """After every kind of refused manifest push, the storage is exactly as before."""
    good = image.manifest()
    payload = encode(good)
    missing = json.loads(payload)
    missing["layers"].append(descriptor("application/vnd.oci.image.layer.v1.tar+gzip", b"gone"))
    refusals = [
        ("v1", encode(missing), OCI_MANIFEST),
        (str(Digest.of(b"x")), payload, OCI_MANIFEST),
        ("-bad", payload, OCI_MANIFEST),
        ("v1", payload, DOCKER_MANIFEST),
        ("v1", b"{}", OCI_MANIFEST),
        ("v1", _padded(image, 4 * MiB + 10), OCI_MANIFEST),
    ]
    before = snapshot(registry.driver)
    for reference, body, contentType in refusals:
        response = put(registry, reference, body, contentType)
        assert 400 <= response.code < 500, reference
        assert snapshot(registry.driver) == before, (reference, contentType)
    for name in ("UPPER", "a%2Fb"):
        status, _, _ = rawExchange(registry, "PUT", f"/v2/{name}/manifests/v1",
                                   {"Content-Type": OCI_MANIFEST}, payload)
        assert status == 400
        assert snapshot(registry.driver) == before, name


def test_configWithURLsStillNeeded(registry: InMemoryRegistry, image: Image) -> None:
    """Only layers may be foreign: a config with urls the registry lacks is a 400 MANIFEST_BLOB_UNKNOWN."""
    manifest = image.manifest()
    manifest["config"] = {**descriptor("application/vnd.oci.image.config.v1+json", b"{}absent"),
                          "urls": ["https://example.com/config.json"]}
    before = snapshot(registry.driver)
    response = put(registry, "v1", encode(manifest))
    assert response.code == 400
    assert response.errorCodes == ["MANIFEST_BLOB_UNKNOWN"]
    assert snapshot(registry.driver) == before


@pytest.mark.parametrize(("body", "served"), [
    ({"schemaVersion": 2, "manifests": []}, OCI_INDEX),
])
def test_noContentTypeNoMediaType(registry: InMemoryRegistry, body: dict[str, Any], served: str) -> None:
    """A manifest with neither Content-Type nor mediaType is taken for the OCI type its shape implies."""
    payload = encode(body)
    response = put(registry, "v1", payload, None)
    assert response.code == 201, response.body
    response = get(registry, "v1")
    assert response.body == payload
    assert response.header("Content-Type") == served


def test_subjectNeedNotExist(registry: InMemoryRegistry, image: Image) -> None:
    """A manifest whose subject the registry lacks is accepted, as the OCI spec requires."""
    manifest = image.manifest()
    manifest["subject"] = descriptor(OCI_MANIFEST, b'{"not": "here"}')
    payload = encode(manifest)
    response = put(registry, str(Digest.of(payload)), payload)
    assert response.code == 201, response.body
    assert get(registry, Digest.of(payload)).body == payload
