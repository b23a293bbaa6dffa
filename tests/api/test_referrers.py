"""
The OCI referrers API: C{GET /v2/<name>/referrers/<digest>}, and the
C{OCI-Subject} header of a manifest C{PUT}.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.api.helpers import OCI_INDEX, OCI_MANIFEST, content, snapshot
from tests.api.support import InMemoryRegistry, Response, imageManifest
from txregistry.digest import Digest
from txregistry.storage import paths

NAME = "library/app"
EMPTY = b"{}"
EMPTY_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
SBOM = "application/vnd.example.sbom.v1"
SIGNATURE = "application/vnd.example.signature.v1"
BUNDLE = "application/vnd.example.bundle.v1"


def encode(manifest: dict[str, Any]) -> bytes:
    return json.dumps(manifest).encode()


class Subject:
    """
    An image pushed (or ready to push) to a repository: the subject
    artifacts refer to.
    """

    def __init__(self, registry: InMemoryRegistry, name: str = NAME, seed: bytes = b"") -> None:
        config = b'{"architecture": "amd64", "os": "linux"}' + seed
        layer = b"layer data " + seed
        configDigest = registry.pushBlob(name, config)
        layerDigest = registry.pushBlob(name, layer)
        self.payload = encode(imageManifest(configDigest, len(config),
                                            [(layerDigest, len(layer))]))
        self.digest = Digest.of(self.payload)
        self.registry = registry
        self.name = name

    def push(self, reference: str = "v1") -> Response:
        return put(self.registry, reference, self.payload, OCI_MANIFEST, self.name)

    def descriptor(self) -> dict[str, Any]:
        return {"mediaType": OCI_MANIFEST, "digest": str(self.digest), "size": len(self.payload)}


def put(registry: InMemoryRegistry, reference: str, payload: bytes,
        contentType: str = OCI_MANIFEST, name: str = NAME) -> Response:
    return registry.request("PUT", f"/v2/{name}/manifests/{reference}", payload,
                            {"Content-Type": contentType})


def artifact(registry: InMemoryRegistry, subject: Subject, data: bytes,
             artifactType: str | None = None, configType: str = EMPTY_TYPE,
             annotations: dict[str, str] | None = None, name: str = NAME) -> bytes:
    """
    @return: an artifact manifest of one blob C{data} whose subject is
        C{subject}: with C{artifactType} and the empty config, or with a
        config blob of media type C{configType}; its blobs are pushed.
    """
    config = EMPTY if configType == EMPTY_TYPE else b'{"kind": "' + configType.encode() + b'"}'
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": configType, "digest": str(registry.pushBlob(name, config)),
                   "size": len(config)},
        "layers": [{"mediaType": "application/octet-stream",
                    "digest": str(registry.pushBlob(name, data)), "size": len(data)}],
        "subject": subject.descriptor(),
    }
    if artifactType is not None:
        manifest["artifactType"] = artifactType
    if annotations is not None:
        manifest["annotations"] = annotations
    return encode(manifest)


def pushByDigest(registry: InMemoryRegistry, payload: bytes, contentType: str = OCI_MANIFEST,
                 name: str = NAME) -> Digest:
    digest = Digest.of(payload)
    response = put(registry, str(digest), payload, contentType, name)
    assert response.code == 201, response.body
    return digest


def referrers(registry: InMemoryRegistry, subject: Digest | str, name: str = NAME,
              query: str = "") -> Response:
    return registry.request("GET", f"/v2/{name}/referrers/{subject}{query}")


def listed(response: Response) -> list[dict[str, Any]]:
    """
    @return: the descriptors of a referrers answer, after checking it is a
        200 OCI image index.
    """
    assert response.code == 200, response.body
    assert response.header("Content-Type") == OCI_INDEX
    index = response.json()
    assert (index["schemaVersion"], index["mediaType"]) == (2, OCI_INDEX)
    return index["manifests"]


@pytest.fixture
def registry() -> InMemoryRegistry:
    return InMemoryRegistry(delete_enabled=True)


@pytest.fixture
def subject(registry: InMemoryRegistry) -> Subject:
    subject = Subject(registry)
    assert subject.push().code == 201
    return subject


class Referred:
    """
    A subject with three referrers: an artifact with an C{artifactType}, one
    typed by its config alone, and an index.
    """

    def __init__(self, registry: InMemoryRegistry, subject: Subject) -> None:
        self.sbom = artifact(registry, subject, b"sbom", artifactType=SBOM,
                             annotations={"org.example.kind": "sbom"})
        self.signature = artifact(registry, subject, b"signature", configType=SIGNATURE)
        self.sbomDigest = pushByDigest(registry, self.sbom)
        self.signatureDigest = pushByDigest(registry, self.signature)
        self.index = encode({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "artifactType": BUNDLE,
            "manifests": [
                {"mediaType": OCI_MANIFEST, "digest": str(self.sbomDigest),
                 "size": len(self.sbom)},
                {"mediaType": OCI_MANIFEST, "digest": str(self.signatureDigest),
                 "size": len(self.signature)},
            ],
            "subject": subject.descriptor(),
            "annotations": {"org.example.kind": "bundle", "org.example.count": "2"},
        })
        self.indexDigest = pushByDigest(registry, self.index, OCI_INDEX)

    def descriptors(self) -> list[dict[str, Any]]:
        """
        @return: the descriptors a listing of the subject should give, in
            digest order.
        """
        return sorted([
            {"mediaType": OCI_MANIFEST, "digest": str(self.sbomDigest),
             "size": len(self.sbom), "artifactType": SBOM,
             "annotations": {"org.example.kind": "sbom"}},
            {"mediaType": OCI_MANIFEST, "digest": str(self.signatureDigest),
             "size": len(self.signature), "artifactType": SIGNATURE},
            {"mediaType": OCI_INDEX, "digest": str(self.indexDigest),
             "size": len(self.index), "artifactType": BUNDLE,
             "annotations": {"org.example.kind": "bundle", "org.example.count": "2"}},
        ], key=lambda d: d["digest"])


@pytest.fixture
def referred(registry: InMemoryRegistry, subject: Subject) -> Referred:
    return Referred(registry, subject)


# Listing

def test_listReferrers(registry: InMemoryRegistry, subject: Subject, referred: Referred) -> None:
    """Every manifest whose subject is the image is listed by digest, with its media type, size, artifactType and annotations."""
    response = referrers(registry, subject.digest)
    assert listed(response) == referred.descriptors()
    assert response.header("OCI-Filters-Applied") is None


def test_listIsOrderedByDigest(registry: InMemoryRegistry, subject: Subject, referred: Referred) -> None:
    """The listing is in digest order, whatever order the referrers were pushed in."""
    digests = [d["digest"] for d in listed(referrers(registry, subject.digest))]
    assert len(digests) == 3
    assert digests == sorted(digests)


def test_indexWithoutArtifactType(registry: InMemoryRegistry, subject: Subject) -> None:
    """An index referrer without an artifactType or annotations is listed without either field."""
    payload = encode({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [],
                      "subject": subject.descriptor()})
    digest = pushByDigest(registry, payload, OCI_INDEX)
    assert listed(referrers(registry, subject.digest)) == [
        {"mediaType": OCI_INDEX, "digest": str(digest), "size": len(payload)}]


def test_emptyArtifactTypeFallsBackToConfig(registry: InMemoryRegistry, subject: Subject) -> None:
    """An image manifest whose artifactType is empty is listed with its config's media type."""
    digest = pushByDigest(registry, artifact(registry, subject, b"x", artifactType="",
                                             configType=SIGNATURE))
    [descriptor] = listed(referrers(registry, subject.digest))
    assert (descriptor["digest"], descriptor["artifactType"]) == (str(digest), SIGNATURE)


def test_emptyConfigArtifact(registry: InMemoryRegistry, subject: Subject) -> None:
    """An artifact whose config is the empty JSON blob {} (application/vnd.oci.empty.v1+json) is pushed and listed by its artifactType."""
    assert str(Digest.of(EMPTY)) == EMPTY_DIGEST
    payload = artifact(registry, subject, b"payload", artifactType=SBOM)
    assert json.loads(payload)["config"] == {"mediaType": EMPTY_TYPE, "digest": EMPTY_DIGEST,
                                             "size": 2}
    digest = pushByDigest(registry, payload)
    assert listed(referrers(registry, subject.digest)) == [
        {"mediaType": OCI_MANIFEST, "digest": str(digest), "size": len(payload),
         "artifactType": SBOM}]
    assert registry.request("GET", f"/v2/{NAME}/blobs/{EMPTY_DIGEST}").body == EMPTY


def test_headReferrers(registry: InMemoryRegistry, subject: Subject, referred: Referred) -> None:
    """HEAD of a referrers listing is a 200 index with no body."""
    response = registry.request("HEAD", f"/v2/{NAME}/referrers/{subject.digest}")
    assert response.code == 200
    assert response.header("Content-Type") == OCI_INDEX
    assert response.body == b""


# Filtering

@pytest.mark.parametrize(("artifactType", "expected"), [
    (SBOM, "sbomDigest"),
    (SIGNATURE, "signatureDigest"),
    (BUNDLE, "indexDigest"),
])
def test_filterByArtifactType(registry: InMemoryRegistry, subject: Subject, referred: Referred,
                              artifactType: str, expected: str) -> None:
    """?artifactType= keeps only the referrers of that type (a config media type counts) and says so in OCI-Filters-Applied."""
    response = referrers(registry, subject.digest, query=f"?artifactType={artifactType}")
    assert [d["digest"] for d in listed(response)] == [str(getattr(referred, expected))]
    assert response.header("OCI-Filters-Applied") == "artifactType"


def test_filterMatchingNothing(registry: InMemoryRegistry, subject: Subject, referred: Referred) -> None:
    """A filter no referrer matches gives an empty 200 index, still with OCI-Filters-Applied."""
    response = referrers(registry, subject.digest, query="?artifactType=application/vnd.none")
    assert listed(response) == []
    assert response.header("OCI-Filters-Applied") == "artifactType"


def test_emptyFilterIsNoFilter(registry: InMemoryRegistry, subject: Subject, referred: Referred) -> None:
    """An empty ?artifactType= filters nothing and sends no OCI-Filters-Applied."""
    response = referrers(registry, subject.digest, query="?artifactType=")
    assert len(listed(response)) == 3
    assert response.header("OCI-Filters-Applied") is None


# No referrers

def test_noReferrers(registry: InMemoryRegistry, subject: Subject) -> None:
    """An image nothing refers to has an empty 200 index, not a 404."""
    assert listed(referrers(registry, subject.digest)) == []


@pytest.mark.parametrize("name", [NAME, "no/such/repository"])
def test_unknownDigest(registry: InMemoryRegistry, subject: Subject, name: str) -> None:
    """A digest the repository does not have, in a repository that may not exist, has an empty 200 index."""
    assert listed(referrers(registry, Digest.of(b"hello world"), name=name)) == []


def test_otherRepositoriesNotListed(registry: InMemoryRegistry, subject: Subject) -> None:
    """A referrer pushed to another repository is listed there, not in the subject's repository."""
    other = "library/other"
    elsewhere = Subject(registry, other)
    digest = pushByDigest(registry, artifact(registry, subject, b"x", SBOM, name=other),
                          name=other)
    assert elsewhere.digest == subject.digest
    assert listed(referrers(registry, subject.digest)) == []
    assert [d["digest"] for d in listed(referrers(registry, subject.digest, name=other))] == [
        str(digest)]


# Pushing

def test_ociSubjectHeader(registry: InMemoryRegistry, subject: Subject, referred: Referred) -> None:
    """A manifest PUT with a subject answers OCI-Subject: the subject's digest; one without, no such header."""
    payload = artifact(registry, subject, b"again", artifactType=SBOM)
    response = put(registry, str(Digest.of(payload)), payload)
    assert response.code == 201
    assert response.header("OCI-Subject") == str(subject.digest)
    assert Subject(registry, seed=b"plain").push("plain").header("OCI-Subject") is None


def test_indexOciSubjectHeader(registry: InMemoryRegistry, subject: Subject) -> None:
    """An index PUT by tag with a subject answers OCI-Subject too."""
    payload = encode({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [],
                      "subject": subject.descriptor()})
    response = put(registry, "bundle", payload, OCI_INDEX)
    assert response.code == 201, response.body
    assert response.header("OCI-Subject") == str(subject.digest)


def test_subjectPushedAfterReferrers(registry: InMemoryRegistry) -> None:
    """A referrer whose subject does not exist yet is accepted and listed, before and after the subject is pushed."""
    subject = Subject(registry)
    payload = artifact(registry, subject, b"early", artifactType=SBOM)
    response = put(registry, str(Digest.of(payload)), payload)
    assert response.code == 201, response.body
    assert response.header("OCI-Subject") == str(subject.digest)
    expected = [str(Digest.of(payload))]
    assert [d["digest"] for d in listed(referrers(registry, subject.digest))] == expected
    assert subject.push().code == 201
    assert [d["digest"] for d in listed(referrers(registry, subject.digest))] == expected


def test_repushListedOnce(registry: InMemoryRegistry, subject: Subject) -> None:
    """A referrer pushed twice (by digest, then by tag) is listed once."""
    payload = artifact(registry, subject, b"twice", artifactType=SBOM)
    pushByDigest(registry, payload)
    assert put(registry, "sbom", payload).code == 201
    assert len(listed(referrers(registry, subject.digest))) == 1


@pytest.mark.parametrize(("field", "value"), [
    ("artifactType", 7),
    ("annotations", {"org.example.n": 1}),
    ("annotations", ["not", "an", "object"]),
])
def test_malformedArtifactFields(registry: InMemoryRegistry, subject: Subject,
                                 field: str, value: Any) -> None:
    """A manifest whose artifactType is not a string, or whose annotations are not an object of strings, is a 400 MANIFEST_INVALID and is not indexed."""
    manifest = json.loads(artifact(registry, subject, b"bad", artifactType=SBOM))
    manifest[field] = value
    payload = encode(manifest)
    response = put(registry, str(Digest.of(payload)), payload)
    assert response.code == 400
    assert response.errorCodes == ["MANIFEST_INVALID"]
    assert listed(referrers(registry, subject.digest)) == []


# Deleting

def test_deleteReferrer(registry: InMemoryRegistry, subject: Subject, referred: Referred) -> None:
    """Deleting a referrer by digest removes it from the listing and its index entry from storage; the others stay."""
    response = registry.request("DELETE", f"/v2/{NAME}/manifests/{referred.sbomDigest}")
    assert response.code == 202
    assert listed(referrers(registry, subject.digest)) == [
        d for d in referred.descriptors() if d["digest"] != str(referred.sbomDigest)]
    assert content(registry.driver,
                   paths.referrerLink(NAME, subject.digest, referred.sbomDigest)) is None
    assert content(registry.driver, paths.referrerLink(
        NAME, subject.digest, referred.signatureDigest)) == str(referred.signatureDigest).encode()


def test_deleteReferrerTag(registry: InMemoryRegistry, subject: Subject) -> None:
    """Deleting the tag of a referrer leaves it listed: the manifest is still there."""
    payload = artifact(registry, subject, b"tagged", artifactType=SBOM)
    assert put(registry, "sbom", payload).code == 201
    assert registry.request("DELETE", f"/v2/{NAME}/manifests/sbom").code == 202
    assert [d["digest"] for d in listed(referrers(registry, subject.digest))] == [
        str(Digest.of(payload))]


def test_deleteSubjectKeepsReferrers(registry: InMemoryRegistry, subject: Subject,
                                     referred: Referred) -> None:
    """Deleting the subject leaves its referrers stored and listed, as for a subject never pushed."""
    assert registry.request("DELETE", f"/v2/{NAME}/manifests/{subject.digest}").code == 202
    assert listed(referrers(registry, subject.digest)) == referred.descriptors()


def test_staleEntrySkipped(registry: InMemoryRegistry, subject: Subject, referred: Referred) -> None:
    """An index entry whose manifest the repository no longer has (as distribution deleting it would leave) is not listed."""
    before = snapshot(registry.driver)
    registry.driver.delete(paths.manifestRevision(NAME, referred.sbomDigest))
    assert paths.referrerLink(NAME, subject.digest, referred.sbomDigest) in before
    assert [d["digest"] for d in listed(referrers(registry, subject.digest))] == sorted(
        [str(referred.signatureDigest), str(referred.indexDigest)])


# Errors

@pytest.mark.parametrize("digest", [
    "sha256:abc",
    "sha256:" + "G" * 64,
    "md5:d41d8cd98f00b204e9800998ecf8427e",
    "latest",
])
def test_badDigest(registry: InMemoryRegistry, digest: str) -> None:
    """A malformed or unsupported digest is a 400 DIGEST_INVALID error."""
    response = referrers(registry, digest)
    assert response.code == 400
    assert response.header("Content-Type") == "application/json"
    assert response.errorCodes == ["DIGEST_INVALID"]


def test_badName(registry: InMemoryRegistry) -> None:
    """An invalid repository name is a 400 NAME_INVALID error."""
    response = referrers(registry, Digest.of(b"x"), name="Bad/Name")
    assert response.code == 400
    assert response.errorCodes == ["NAME_INVALID"]
