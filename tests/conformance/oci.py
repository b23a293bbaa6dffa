"""
The OCI conformance suite's client operations and test data, in Python.

Each operation mirrors a function of C{conformance/api.go} (the rewritten
suite of opencontainers/distribution-spec) and asserts what that function
expects of the registry; the test data mirrors C{conformance/testdata.go}
and the data sets of C{conformance/run.go}.  Operations work on any client
with C{request(method, path, body, headers)} and C{stream(...)} answering
objects with C{code}, C{body}, C{header(name)} and C{json()}: the in-memory
registry of C{tests/api/support.py} or a real process (C{test_process.py}).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import secrets
import tarfile
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

#: C{chunkMin} of C{conformance/config.go}.
CHUNK_MIN = 1024

MT_EXAMPLE_CONF1 = "application/vnd.example.oci.conformance.v1"
MT_EXAMPLE_CONF2 = "application/vnd.example.oci.conformance.v2"
MT_OCTET_STREAM = "application/octet-stream"
MT_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_OCI_IMAGE = "application/vnd.oci.image.manifest.v1+json"
MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MT_OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
MT_OCI_LAYER_PRE = "application/vnd.oci.image.layer.v1."
MT_OCI_LAYER_GZ = "application/vnd.oci.image.layer.v1.tar+gzip"
MT_OCI_LAYER_ND = "application/vnd.oci.image.layer.nondistributable.v1.tar"
MT_OCI_LAYER_ND_GZ = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
MT_OCI_EMPTY_JSON = "application/vnd.oci.empty.v1+json"

#: The error codes of the spec's error code table (C{spec.md}).
ERROR_CODES = {
    "BLOB_UNKNOWN", "BLOB_UPLOAD_INVALID", "BLOB_UPLOAD_UNKNOWN", "DIGEST_INVALID",
    "MANIFEST_BLOB_UNKNOWN", "MANIFEST_INVALID", "MANIFEST_UNKNOWN", "NAME_INVALID",
    "NAME_UNKNOWN", "SIZE_INVALID", "UNAUTHORIZED", "DENIED", "UNSUPPORTED",
    "TOOMANYREQUESTS",
}

REPO1 = "conformance/repo1"
REPO2 = "conformance/repo2"


def digestOf(data: bytes, algo: str = "sha256") -> str:
    """
    @return: the digest of C{data} with C{algo} (C{sha256} or C{sha512}).
    """
    return f"{algo}:{hashlib.new(algo, data).hexdigest()}"


def randomDigest(algo: str = "sha256") -> str:
    """
    @return: the digest of random bytes, which no registry holds.
    """
    return digestOf(os.urandom(1024), algo)


def relative(location: str | None) -> str:
    """
    @return: the path and query of a C{Location} (absolute or relative), as
        Go's C{u.Parse(loc)} resolves it against the registry.
    """
    assert location, "missing Location header"
    parts = urlsplit(location)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def withParam(location: str, key: str, value: str) -> str:
    """
    @return: C{location} with the query parameter C{key} set to C{value}
        (Go's C{qa.Set}), the other parameters kept.
    """
    parts = urlsplit(relative(location))
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != key]
    query.append((key, value))
    return f"{parts.path}?{urlencode(query)}"


def headerValues(response: Any, name: str) -> list[str]:
    """
    @return: every value of the header C{name} in C{response}.
    """
    headers = response.headers
    if hasattr(headers, "getRawHeaders"):
        return list(headers.getRawHeaders(name) or [])
    return list(headers.get_all(name) or [])


def errorCodesOf(response: Any) -> list[str]:
    """
    @return: the codes of the spec's JSON error body of C{response}.
    """
    return [e["code"] for e in json.loads(response.body)["errors"]]


def check(response: Any, *statuses: int, what: str = "") -> Any:
    """
    Assert that C{response} has one of C{statuses} (Go's C{apiExpectStatus}).
    """
    assert response.code in statuses, (
        f"{what}: expected one of {list(statuses)}, got {response.code}: {response.body[:500]!r}")
    return response


def expectHeader(response: Any, name: str, value: str = "") -> None:
    """
    Go's C{apiExpectHeader}: the header is present (C{value} empty) or one
    of its values is C{value}.
    """
    values = headerValues(response, name)
    if value == "":
        assert values, f"missing header {name!r}"
    else:
        assert value in values, f"header {name!r}: expected {value!r}, got {values!r}"


def verifyDigest(response: Any, digest: str, required: bool = True) -> None:
    """
    Go's C{VerifyDigest}, with C{RequireDigestHeader} (the suite's 1.1+dev
    default): C{Docker-Content-Digest} is C{digest}.
    """
    value = response.header("Docker-Content-Digest")
    if required:
        assert value is not None, "registry did not return a Docker-Content-Digest header"
    if value is not None:
        assert value == digest, f"Docker-Content-Digest: expected {digest}, got {value}"


# Test data (conformance/testdata.go)

@dataclass
class TestData:
    """
    One of the suite's data sets: blobs, manifests in push order, tags and
    the referrers each subject should have.
    """

    name: str
    tags: dict[str, str] = field(default_factory=dict)
    desc: dict[str, dict[str, Any]] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)
    manifests: dict[str, bytes] = field(default_factory=dict)
    manOrder: list[str] = field(default_factory=list)
    referrers: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: manifests whose push must fail with 400 (C{ExpectBadDigest}) and
    #: which are never pulled (C{SkipPullTest}).
    badDigest: set[str] = field(default_factory=set)

    __test__ = False

    def addBlob(self, data: bytes, algo: str = "sha256",
                descriptorMediaType: str = MT_OCTET_STREAM, setData: bool = False,
                **_: Any) -> str:
        dig = digestOf(data, algo)
        self.blobs[dig] = data
        self.desc[dig] = {"mediaType": descriptorMediaType, "digest": dig, "size": len(data)}
        if setData:
            self.desc[dig]["data"] = base64.b64encode(data).decode()
        return dig

    def genBlob(self, blobSize: int = 2048, **opts: Any) -> tuple[str, bytes]:
        data = os.urandom(blobSize)
        return self.addBlob(data, **opts), data

    def genLayer(self, fileNum: int, compress: bool = True, algo: str = "sha256",
                 setData: bool = False, **_: Any) -> tuple[str, str]:
        """
        @return: the digests of a one-file tar layer, compressed (the blob)
            and uncompressed (its diff ID).
        """
        content = (f"Conformance test file contents for file number {fileNum}.\n"
                   f"Todays lucky number is {secrets.randbelow(2**63)}\n").encode()
        tarball = io.BytesIO()
        with tarfile.open(fileobj=tarball, mode="w", format=tarfile.PAX_FORMAT) as tar:
            info = tarfile.TarInfo(f"./conformance-{fileNum}.txt")
            info.size, info.mode = len(content), 0o644
            tar.addfile(info, io.BytesIO(content))
        uncompressed = tarball.getvalue()
        body = gzip.compress(uncompressed) if compress else uncompressed
        digC, digUC = digestOf(body, algo), digestOf(uncompressed, algo)
        self.blobs[digC] = body
        self.desc[digC] = {"mediaType": MT_OCI_LAYER_GZ if compress else MT_OCI_LAYER,
                           "digest": digC, "size": len(body)}
        if setData:
            self.desc[digC]["data"] = base64.b64encode(body).decode()
        return digC, digUC

    def genConfig(self, platform: dict[str, str], layers: list[str], algo: str = "sha256",
                  configMediaType: str = MT_OCI_CONFIG, extraField: bool = False,
                  setData: bool = False, **_: Any) -> str:
        config: dict[str, Any] = {"author": "OCI Conformance Test", **platform,
                                  "rootfs": {"type": "layers", "diff_ids": layers}}
        if extraField:
            config["org.example.conformance." + secrets.token_hex(4)] = secrets.token_hex(8)
        body = compact(config)
        dig = digestOf(body, algo)
        self.blobs[dig] = body
        self.desc[dig] = {"mediaType": configMediaType, "digest": dig, "size": len(body)}
        if setData:
            self.desc[dig]["data"] = base64.b64encode(body).decode()
        return dig

    def _finish(self, doc: dict[str, Any], algo: str, tag: str | None,
                subject: dict[str, Any] | None, artifactType: str,
                setData: bool) -> str:
        body = compact(doc)
        dig = digestOf(body, algo)
        self.manifests[dig] = body
        self.manOrder.append(dig)
        self.desc[dig] = {"mediaType": doc["mediaType"], "digest": dig, "size": len(body)}
        if setData:
            self.desc[dig]["data"] = base64.b64encode(body).decode()
        if subject is not None:
            referrer: dict[str, Any] = {"mediaType": doc["mediaType"], "digest": dig,
                                        "size": len(body)}
            if artifactType:
                referrer["artifactType"] = artifactType
            if doc.get("annotations"):
                referrer["annotations"] = doc["annotations"]
            self.referrers.setdefault(subject["digest"], []).append(referrer)
        if tag:
            self.tags[tag] = dig
        return dig

    def genManifest(self, config: dict[str, Any], layers: list[dict[str, Any]],
                    algo: str = "sha256", artifactType: str = "",
                    subject: dict[str, Any] | None = None,
                    annotations: dict[str, str] | None = None,
                    annotationUniq: bool = False, extraField: bool = False,
                    setData: bool = False, tag: str | None = None, **_: Any) -> str:
        doc: dict[str, Any] = {"schemaVersion": 2, "mediaType": MT_OCI_IMAGE}
        if artifactType:
            doc["artifactType"] = artifactType
        doc["config"] = config
        doc["layers"] = layers
        _decorate(doc, subject, annotations, annotationUniq, extraField)
        return self._finish(doc, algo, tag, subject, artifactType or config["mediaType"],
                            setData)

    def genManifestFull(self, layerCount: int = 2,
                        platform: dict[str, str] | None = None,
                        layerMediaType: str = "", layerBytes: bytes | None = None,
                        configMediaType: str = "", configBytes: bytes = b"",
                        **opts: Any) -> str:
        """
        An image (or artifact) manifest with its config and layers.
        """
        platform = platform or {"os": "linux", "architecture": "amd64"}
        compressed, uncompressed = [], []
        for n in range(layerCount):
            if layerMediaType == "" or layerMediaType.startswith(MT_OCI_LAYER_PRE):
                digC, digUC = self.genLayer(n, **opts)
            elif layerBytes is not None:
                digC = digUC = self.addBlob(layerBytes, descriptorMediaType=layerMediaType,
                                            **opts)
            else:
                digC = digUC = self.genBlob(descriptorMediaType=layerMediaType, **opts)[0]
            compressed.append(digC)
            uncompressed.append(digUC)
        if configMediaType in ("", MT_OCI_CONFIG):
            config = self.genConfig(platform, uncompressed, **opts)
        else:
            config = self.addBlob(configBytes, descriptorMediaType=configMediaType, **opts)
        return self.genManifest(dict(self.desc[config]),
                                [dict(self.desc[d]) for d in compressed], **opts)

    def genIndex(self, platforms: list[dict[str, str] | None], manifests: list[str],
                 algo: str = "sha256", artifactType: str = "",
                 subject: dict[str, Any] | None = None,
                 annotations: dict[str, str] | None = None, annotationUniq: bool = False,
                 extraField: bool = False, setData: bool = False,
                 tag: str | None = None, **_: Any) -> str:
        doc: dict[str, Any] = {"schemaVersion": 2, "mediaType": MT_OCI_INDEX}
        if artifactType:
            doc["artifactType"] = artifactType
        entries = []
        for platform, dig in zip(platforms, manifests, strict=True):
            entry = dict(self.desc[dig])
            if platform is not None:
                entry["platform"] = platform
            entries.append(entry)
        doc["manifests"] = entries
        _decorate(doc, subject, annotations, annotationUniq, extraField)
        return self._finish(doc, algo, tag, subject, artifactType, setData)

    def genIndexFull(self, platforms: list[dict[str, str]] | None = None,
                     **opts: Any) -> str:
        """
        An index of one image per platform; every option also applies to
        the images (as C{genIndexFull} passes its options on).
        """
        if platforms is None:
            platforms = [{"os": "linux", "architecture": "amd64"},
                         {"os": "linux", "architecture": "arm64"}]
        images = [self.genManifestFull(platform=p, **opts) for p in platforms]
        return self.genIndex(list(platforms), images, **opts)


def compact(doc: Any) -> bytes:
    """
    @return: C{doc} as compact JSON, as Go's C{json.Marshal} writes it.
    """
    return json.dumps(doc, separators=(",", ":")).encode()


def subjectOf(body: bytes) -> str | None:
    """
    Go's C{detectSubject}: the digest of a manifest's C{subject}, if any.
    """
    subject = json.loads(body).get("subject")
    return None if subject is None else subject["digest"]


def mediaTypeOf(body: bytes) -> str:
    """
    Go's C{detectMediaType}: a manifest's C{mediaType} (OCI image if none).
    """
    try:
        return str(json.loads(body).get("mediaType") or MT_OCI_IMAGE)
    except ValueError:
        return MT_OCI_IMAGE


AMD64 = {"os": "linux", "architecture": "amd64"}
ARM64 = {"os": "linux", "architecture": "arm64"}
CONFORMANCE_ANNOTATION = {"org.opencontainers.conformance": "hello conformance test"}


def generate(name: str) -> TestData:
    """
    Build one data set of C{runner.GenerateData} (C{conformance/run.go}),
    with every data option the suite enables by default (sparse and the
    C{tag} parameter are off by default and left out).
    """
    td = TestData(name)
    artifact = {"configMediaType": MT_OCI_EMPTY_JSON, "configBytes": b"{}", "layerCount": 1}
    if name == "image":
        td.genManifestFull(tag="image")
    elif name == "image-uncompressed":
        td.genManifestFull(tag="image-uncompressed", compress=False)
    elif name == "large-manifest":
        td.genManifestFull(tag="large-manifest", annotations={
            f"large-annotation-{i}": "A" * 10000 for i in range(390)})
    elif name == "index":
        td.genIndexFull(tag="index", platforms=[AMD64, ARM64])
    elif name == "nested-index":
        first = td.genIndexFull(platforms=[AMD64, ARM64])
        second = td.genIndexFull(platforms=[AMD64, ARM64])
        td.genIndex([None, None], [first, second], tag="index-of-index")
    elif name == "empty-index":
        td.genIndexFull(tag="index", platforms=[])
    elif name == "artifact":
        td.genManifestFull(tag="artifact", artifactType=MT_EXAMPLE_CONF1,
                           layerMediaType=MT_EXAMPLE_CONF1, **artifact)
    elif name == "artifact-index":
        td.genIndexFull(tag="artifact-index", platforms=[AMD64, ARM64],
                        artifactType=MT_EXAMPLE_CONF1, layerMediaType=MT_EXAMPLE_CONF1,
                        **artifact)
    elif name == "artifact-without-layers":
        td.genManifestFull(tag="artifact-without-layers", artifactType=MT_EXAMPLE_CONF1,
                           layerBytes=b"{}", layerMediaType=MT_OCI_EMPTY_JSON, **artifact)
    elif name == "artifacts-with-subject":
        subject = dict(td.desc[td.genManifestFull(tag="image")])
        td.genManifestFull(subject=subject)
        td.genManifestFull(artifactType=MT_EXAMPLE_CONF1, annotations=CONFORMANCE_ANNOTATION,
                           annotationUniq=True, layerMediaType=MT_EXAMPLE_CONF1,
                           subject=subject, tag="tagged-artifact1", **artifact)
        td.genManifestFull(artifactType=MT_EXAMPLE_CONF2, annotations=CONFORMANCE_ANNOTATION,
                           annotationUniq=True, layerMediaType=MT_OCTET_STREAM,
                           subject=subject, tag="tagged-artifact2", **artifact)
    elif name == "index-with-subject":
        subject = dict(td.desc[td.genIndexFull(tag="index")])
        td.genIndexFull(artifactType=MT_EXAMPLE_CONF1, annotations=CONFORMANCE_ANNOTATION,
                        annotationUniq=True, layerMediaType=MT_EXAMPLE_CONF1,
                        subject=subject, tag="tagged-artifact", **artifact)
    elif name == "missing-subject":
        subject = {"mediaType": MT_OCI_IMAGE, "size": 123,
                   "digest": digestOf(b"missing content")}
        td.genManifestFull(artifactType=MT_EXAMPLE_CONF1, annotations=CONFORMANCE_ANNOTATION,
                           annotationUniq=True, layerMediaType=MT_EXAMPLE_CONF1,
                           subject=subject, tag="tagged-artifact", **artifact)
    elif name == "data-field":
        td.genManifestFull(tag="data-field", setData=True)
    elif name == "non-distributable-layers":
        dig0 = digestOf(os.urandom(256))
        dig1 = digestOf(os.urandom(256))
        layers = [
            {"mediaType": MT_OCI_LAYER_ND_GZ, "digest": dig0, "size": 123456,
             "urls": ["https://store.example.com/blobs/sha256/" + dig0.split(":")[1]]},
            {"mediaType": MT_OCI_LAYER_ND, "digest": dig1, "size": 12345,
             "urls": ["https://store.example.com/blobs/sha256/" + dig1.split(":")[1]]},
        ]
        digC, digUC = td.genLayer(1)
        layers.append(dict(td.desc[digC]))
        config = td.genConfig(AMD64, [digestOf(os.urandom(256)), dig1, digUC])
        td.genManifest(dict(td.desc[config]), layers, tag="non-distributable-image")
    elif name == "custom-fields":
        td.genIndexFull(tag="custom-fields", platforms=[AMD64, ARM64], extraField=True)
    elif name == "no-layers":
        td.genManifestFull(tag="no-layers", layerCount=0)
    elif name == "sha512":
        td.genIndexFull(algo="sha512")
    elif name == "bad-digest-image":
        dig = td.genManifestFull()
        td.manifests[dig] += b"  "
        td.badDigest.add(dig)
    else:
        raise ValueError(name)
    return td


#: The data sets C{TestAll} pushes, lists, pulls, queries and deletes.
DATA_SETS = [
    "image", "image-uncompressed", "large-manifest", "index", "nested-index",
    "empty-index", "artifact", "artifact-index", "artifact-without-layers",
    "artifacts-with-subject", "index-with-subject", "missing-subject", "data-field",
    "non-distributable-layers", "custom-fields", "no-layers", "sha512", "bad-digest-image",
]
REFERRER_SETS = ["artifacts-with-subject", "index-with-subject", "missing-subject"]


# Blob operations (conformance/api.go)

def verifyLocation(client: Any, location: str | None, body: bytes) -> None:
    """
    C{BlobVerifyLocation}: the C{Location} of a finished upload serves the
    blob.
    """
    response = client.request("GET", relative(location))
    check(response, 200, what=f"GET {location}")
    assert response.body == body, "blob at Location differs"


def blobPostPut(client: Any, repo: str, dig: str, body: bytes,
                expectBadDigest: bool = False) -> Any:
    """
    C{BlobPostPut}: POST, then PUT the whole blob to the Location.
    """
    start = check(client.request("POST", f"/v2/{repo}/blobs/uploads/"), 202, what="POST")
    target = withParam(relative(start.header("Location")), "digest", dig)
    response = client.request("PUT", target, body, {"Content-Type": MT_OCTET_STREAM})
    if expectBadDigest:
        return check(response, 400, what="PUT (bad digest)")
    check(response, 201, what="PUT")
    verifyDigest(response, dig)
    verifyLocation(client, response.header("Location"), body)
    return response


def blobPostOnly(client: Any, repo: str, dig: str, body: bytes,
                 expectBadDigest: bool = False) -> Any:
    """
    C{BlobPostOnly}: a monolithic C{POST ?digest=} with the blob.  A 202
    falls back to a PUT, which the suite counts as unsupported (skipped):
    this registry must answer 201.
    """
    response = client.request("POST", f"/v2/{repo}/blobs/uploads/?{urlencode({'digest': dig})}",
                              body, {"Content-Type": MT_OCTET_STREAM})
    if expectBadDigest:
        check(response, 400, 202, what="POST (bad digest)")
        if response.code == 202:
            put = client.request("PUT", withParam(response.header("Location"), "digest", dig),
                                 body, {"Content-Type": MT_OCTET_STREAM})
            return check(put, 400, what="PUT (bad digest)")
        return response
    check(response, 201, what="POST with digest")
    expectHeader(response, "Location")
    verifyDigest(response, dig)
    verifyLocation(client, response.header("Location"), body)
    return response


def blobPatchChunked(client: Any, repo: str, dig: str, body: bytes,
                     putLastChunk: bool = False, outOfOrder: bool = False,
                     expectBadDigest: bool = False) -> Any:
    """
    C{BlobPatchChunked}: PATCH chunks with C{Content-Range}, following the
    latest C{Location}; C{outOfOrder} first sends a wrong chunk before each
    chunk (416) and recovers its position with a GET (204 and C{Range});
    C{putLastChunk} sends the last chunk in the closing PUT.

    @return: the closing PUT's response.
    """
    start = client.request("POST", f"/v2/{repo}/blobs/uploads/", b"")
    check(start, 202, what="POST")
    location = start.header("Location")
    chunkSize = len(body) // 3 + 1
    minimum = start.header("OCI-Chunk-Min-Length")
    if minimum:
        chunkSize = max(chunkSize, int(minimum))
    chunkSize = min(max(chunkSize, CHUNK_MIN), len(body))
    lastByte = -1
    final = None
    while lastByte < len(body) - 1:
        if outOfOrder:
            badStart = lastByte + 1 + chunkSize
            if badStart >= len(body):
                badStart = 0
            badLast = min(badStart + chunkSize - 1, len(body) - 1)
            target, method = relative(location), "PATCH"
            if putLastChunk and badLast == len(body) - 1:
                target, method = withParam(target, "digest", dig), "PUT"
            bad = client.request(method, target, body[badStart:badLast + 1], {
                "Content-Type": MT_OCTET_STREAM, "Content-Range": f"{badStart}-{badLast}"})
            check(bad, 416, what=f"out-of-order chunk {badStart}-{badLast}")
            location = bad.header("Location") or location
            status = client.request("GET", target)
            check(status, 204, what="GET upload status after 416")
            location = status.header("Location") or location
            rangeHeader = status.header("Range") or ""
            assert rangeHeader.startswith("0-"), f"Range without 0- prefix: {rangeHeader!r}"
            if lastByte >= 0:
                assert int(rangeHeader[2:]) == lastByte, (
                    f"Range {rangeHeader!r}, expected 0-{lastByte}")
        first = lastByte + 1
        lastByte = min(first + chunkSize - 1, len(body) - 1)
        headers = {"Content-Type": MT_OCTET_STREAM, "Content-Range": f"{first}-{lastByte}"}
        if putLastChunk and lastByte == len(body) - 1:
            final = client.request("PUT", withParam(location, "digest", dig),
                                   body[first:lastByte + 1], headers)
            if expectBadDigest:
                return check(final, 400, what="PUT last chunk (bad digest)")
            check(final, 201, what="PUT last chunk")
        else:
            response = client.request("PATCH", relative(location), body[first:lastByte + 1],
                                      headers)
            check(response, 202, what=f"PATCH {first}-{lastByte}")
            location = response.header("Location") or location
    if not putLastChunk:
        final = client.request("PUT", withParam(location, "digest", dig), b"",
                               {"Content-Type": MT_OCTET_STREAM})
        if expectBadDigest:
            return check(final, 400, what="PUT (bad digest)")
        check(final, 201, what="PUT")
    verifyDigest(final, dig)
    verifyLocation(client, final.header("Location"), body)
    return final


def blobPatchStream(client: Any, repo: str, dig: str, body: bytes,
                    expectBadDigest: bool = False) -> Any:
    """
    C{BlobPatchStream}: one PATCH of the whole blob with no
    C{Content-Length} (chunked transfer encoding), then a PUT with the
    digest.
    """
    start = check(client.request("POST", f"/v2/{repo}/blobs/uploads/", b""), 202, what="POST")
    patch = client.stream("PATCH", relative(start.header("Location")), body,
                          {"Content-Type": MT_OCTET_STREAM})
    check(patch, 202, what="streamed PATCH")
    put = client.request("PUT", withParam(patch.header("Location"), "digest", dig), b"",
                         {"Content-Type": MT_OCTET_STREAM})
    if expectBadDigest:
        return check(put, 400, what="PUT (bad digest)")
    check(put, 201, what="PUT")
    expectHeader(put, "Location")
    verifyDigest(put, dig)
    verifyLocation(client, put.header("Location"), body)
    return put


def blobMount(client: Any, repo: str, source: str, dig: str, body: bytes) -> int:
    """
    C{BlobMount}: C{POST ?mount=&from=} (no C{from} if C{source} is empty).
    A 202 falls back to a PUT of the blob.

    @return: the status of the POST (201 mounted, 202 fell back).
    """
    query = {"mount": dig}
    if source:
        query["from"] = source
    response = client.request("POST", f"/v2/{repo}/blobs/uploads/?{urlencode(query)}")
    check(response, 201, 202, what="POST mount")
    expectHeader(response, "Location")
    status = response.code
    if status == 202:
        response = client.request("PUT", withParam(response.header("Location"), "digest", dig),
                                  body, {"Content-Type": MT_OCTET_STREAM})
        check(response, 201, what="PUT after mount fell back")
    verifyDigest(response, dig)
    verifyLocation(client, response.header("Location"), body)
    return status


def blobPostCancel(client: Any, repo: str) -> Any:
    """
    C{BlobPostCancel}: POST, then DELETE the upload's Location (204).
    """
    start = check(client.request("POST", f"/v2/{repo}/blobs/uploads/"), 202, what="POST")
    return check(client.request("DELETE", relative(start.header("Location"))), 204,
                 what="DELETE upload")


def blobHeadExists(client: Any, repo: str, dig: str, body: bytes | None) -> Any:
    """
    C{BlobHeadExists}: 200, no body, C{Content-Length} and digest header.
    """
    response = check(client.request("HEAD", f"/v2/{repo}/blobs/{dig}"), 200, what="HEAD blob")
    assert response.body == b""
    if body is not None and (body or dig == digestOf(b"")):
        expectHeader(response, "Content-Length", str(len(body)))
    verifyDigest(response, dig)
    return response


def blobGetExistsFull(client: Any, repo: str, dig: str, body: bytes | None) -> Any:
    """
    C{BlobGetExistsFull}: 200 with the blob, its length and digest.
    """
    response = check(client.request("GET", f"/v2/{repo}/blobs/{dig}"), 200, what="GET blob")
    if body is not None and (body or dig == digestOf(b"")):
        assert response.body == body, "blob body differs"
        expectHeader(response, "Content-Length", str(len(body)))
    verifyDigest(response, dig)
    return response


def blobDelete(client: Any, repo: str, dig: str) -> Any:
    """
    C{TestDeleteBlob}: DELETE answers 202 (or 404 if gone; 405 would be
    unsupported), then (atomic) HEAD answers 404.
    """
    response = check(client.request("DELETE", f"/v2/{repo}/blobs/{dig}"), 202, 404,
                     what="DELETE blob")
    check(client.request("HEAD", f"/v2/{repo}/blobs/{dig}"), 404, what="HEAD deleted blob")
    return response


def blobRoundTrip(client: Any, repo: str, dig: str, body: bytes) -> None:
    """
    What C{TestBlobAPIs} runs after each push: HEAD, GET, DELETE.
    """
    blobHeadExists(client, repo, dig, body)
    blobGetExistsFull(client, repo, dig, body)
    check(client.request("DELETE", f"/v2/{repo}/blobs/{dig}"), 202, what="DELETE blob")
    check(client.request("HEAD", f"/v2/{repo}/blobs/{dig}"), 404, what="HEAD deleted blob")


# Manifest operations

def accept() -> dict[str, Any]:
    """
    The two C{Accept} headers of C{ManifestGetReq} and C{ManifestHeadReq}.
    """
    return {"Accept": [MT_OCI_INDEX, MT_OCI_IMAGE]}


def manifestPut(client: Any, repo: str, ref: str, dig: str, body: bytes,
                expectBadDigest: bool = False, referrers: bool = True) -> Any:
    """
    C{ManifestPut}: 201 with a C{Location} that serves the manifest, the
    digest header and (with the referrers API) C{OCI-Subject}.
    """
    mediaType = mediaTypeOf(body)
    response = client.request("PUT", f"/v2/{repo}/manifests/{ref}", body,
                              {"Content-Type": mediaType})
    if expectBadDigest:
        return check(response, 400, what=f"PUT manifest {ref} (bad digest)")
    check(response, 201, what=f"PUT manifest {ref}")
    subject = subjectOf(body)
    if referrers and subject is not None:
        expectHeader(response, "OCI-Subject", subject)
    verifyDigest(response, dig, required=False)
    got = client.request("GET", relative(response.header("Location")), headers=accept())
    check(got, 200, what="GET manifest Location")
    expectHeader(got, "Content-Type", mediaType)
    expectHeader(got, "Content-Length", str(len(body)))
    assert got.body == body, "manifest at Location differs"
    return response


def manifestGetExists(client: Any, repo: str, ref: str, dig: str, body: bytes,
                      method: str = "GET") -> Any:
    """
    C{ManifestGetExists} (C{ManifestHeadExists} for HEAD): 200, the media
    type, length, digest header, and the exact body (none for HEAD).
    """
    response = client.request(method, f"/v2/{repo}/manifests/{ref}", headers=accept())
    check(response, 200, what=f"{method} manifest {ref}")
    expectHeader(response, "Content-Type", mediaTypeOf(body))
    expectHeader(response, "Content-Length", str(len(body)))
    assert response.body == (body if method == "GET" else b""), "manifest body differs"
    verifyDigest(response, dig)
    return response


def manifestDelete(client: Any, repo: str, ref: str) -> Any:
    """
    C{TestDeleteTag} / C{TestDeleteManifest}: DELETE answers 202 (404 if
    gone; 400 and 405 would be unsupported), then (atomic) HEAD is 404.
    """
    response = check(client.request("DELETE", f"/v2/{repo}/manifests/{ref}"), 202, 404,
                     what=f"DELETE manifest {ref}")
    check(client.request("HEAD", f"/v2/{repo}/manifests/{ref}", headers=accept()), 404,
          what=f"HEAD deleted manifest {ref}")
    return response


def referrersList(client: Any, repo: str, dig: str,
                  artifactType: str | None = None) -> tuple[Any, dict[str, Any]]:
    """
    C{ReferrersList}: 200, an OCI index with the index media type.
    """
    path = f"/v2/{repo}/referrers/{dig}"
    if artifactType is not None:
        path += "?" + urlencode({"artifactType": artifactType})
    response = check(client.request("GET", path), 200, what=f"GET {path}")
    expectHeader(response, "Content-Type", MT_OCI_INDEX)
    index = json.loads(response.body)
    assert index.get("mediaType") == MT_OCI_INDEX and index.get("schemaVersion") == 2, (
        f"referrers response is not a valid OCI index: {index!r}")
    return response, index


def tagList(client: Any, repo: str, **params: str) -> list[str] | None:
    """
    C{TagList}: 200 with a tag list (or 404 for an empty repository).

    @return: the tags, or L{None} for a 404.
    """
    path = f"/v2/{repo}/tags/list" + (f"?{urlencode(params)}" if params else "")
    response = check(client.request("GET", path), 200, 404, what=f"GET {path}")
    if response.code == 404:
        return None
    return list(json.loads(response.body).get("tags") or [])


def pushBlobAny(client: Any, repo: str, dig: str, body: bytes) -> None:
    """
    C{TestPushBlobAny} once every API has been tried: POST+PUT.
    """
    blobPostPut(client, repo, dig, body)


def pushData(client: Any, td: TestData, repo: str = REPO1) -> None:
    """
    C{TestPush}: every blob, every manifest by digest in order, then every
    tag.
    """
    for dig, body in td.blobs.items():
        pushBlobAny(client, repo, dig, body)
    for dig in td.manOrder:
        manifestPut(client, repo, dig, dig, td.manifests[dig],
                    expectBadDigest=dig in td.badDigest)
    for tag, dig in td.tags.items():
        manifestPut(client, repo, tag, dig, td.manifests[dig])


def _decorate(doc: dict[str, Any], subject: dict[str, Any] | None,
              annotations: dict[str, str] | None, annotationUniq: bool,
              extraField: bool) -> None:
    """
    Add a manifest's optional parts as the suite's generators do: a
    subject, annotations (one of them unique, if asked), and an unknown
    field that the registry must keep byte for byte.
    """
    if subject is not None:
        doc["subject"] = subject
    annotations = dict(annotations or {})
    if annotationUniq:
        annotations["org.example." + secrets.token_hex(8)] = secrets.token_hex(8)
    if annotations:
        doc["annotations"] = annotations
    if extraField:
        doc["org.example.conformance." + secrets.token_hex(4)] = secrets.token_hex(8)
