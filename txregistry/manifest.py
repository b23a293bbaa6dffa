"""
Parsing and checking the manifest formats the registry stores: the OCI
image manifest and index, and Docker's schema 2 manifest and manifest list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from txregistry.digest import Digest, InvalidDigest
from txregistry.errors import ManifestInvalid
from txregistry.jsonparse import InvalidJSON, parseJSON

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
IMAGE_TYPES = frozenset([OCI_MANIFEST, DOCKER_MANIFEST])
INDEX_TYPES = frozenset([OCI_INDEX, DOCKER_LIST])
MEDIA_TYPES = IMAGE_TYPES | INDEX_TYPES

MAX_MANIFEST_SIZE = 4 * 1024 * 1024


@dataclass(frozen=True)
class Descriptor:
    """
    A reference from a manifest to content.
    """

    mediaType: str
    digest: Digest
    size: int
    urls: tuple[str, ...] = ()


@dataclass(frozen=True)
class Manifest:
    """
    A parsed manifest.

    @ivar mediaType: one of L{MEDIA_TYPES}.
    @ivar config: an image manifest's config blob; L{None} for an index.
    @ivar layers: an image manifest's layers; empty for an index.
    @ivar manifests: the manifests an index lists; empty for an image.
    @ivar subject: the manifest this one refers to, if any.
    @ivar artifactType: the manifest's C{artifactType}, if it has one.
    @ivar annotations: the manifest's own C{annotations} (empty if none).
    """

    mediaType: str
    config: Descriptor | None
    layers: tuple[Descriptor, ...]
    manifests: tuple[Descriptor, ...]
    subject: Descriptor | None
    artifactType: str | None = None
    annotations: dict[str, str] = field(default_factory=dict, hash=False)


def _bareType(contentType: str | None) -> str | None:
    if contentType is None:
        return None
    return contentType.split(";", 1)[0].strip().lower() or None


def _descriptor(value: Any, where: str) -> Descriptor:
    if not isinstance(value, dict):
        raise ManifestInvalid(f"{where}: a descriptor must be an object")
    mediaType, digest, size = value.get("mediaType"), value.get("digest"), value.get("size")
    urls = value.get("urls", [])
    if not isinstance(mediaType, str) or not mediaType:
        raise ManifestInvalid(f"{where}.mediaType: must be a string")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ManifestInvalid(f"{where}.size: must be a non-negative integer")
    if not isinstance(digest, str):
        raise ManifestInvalid(f"{where}.digest: must be a string")
    try:
        parsed = Digest.parse(digest)
    except InvalidDigest as e:
        raise ManifestInvalid(f"{where}.digest: {e}") from None
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
        raise ManifestInvalid(f"{where}.urls: must be a list of strings")
    return Descriptor(mediaType, parsed, size, tuple(urls))


def _descriptors(body: dict[str, Any], key: str) -> tuple[Descriptor, ...]:
    values = body.get(key)
    if not isinstance(values, list):
        raise ManifestInvalid(f"{key}: must be a list")
    return tuple(_descriptor(v, f"{key}[{i}]") for i, v in enumerate(values))


def _artifactType(body: dict[str, Any]) -> str | None:
    value = body.get("artifactType")
    if value is not None and not isinstance(value, str):
        raise ManifestInvalid("artifactType: must be a string")
    return value or None


def _annotations(body: dict[str, Any]) -> dict[str, str]:
    value = body.get("annotations")
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ManifestInvalid("annotations: must be an object of strings")
    return value


def sniffMediaType(body: dict[str, Any]) -> str | None:
    """
    @return: the media type a manifest declares, else the OCI type its
        shape implies (OCI manifests may omit C{mediaType}).
    """
    declared = body.get("mediaType")
    if isinstance(declared, str):
        return declared
    if "manifests" in body:
        return OCI_INDEX
    if "config" in body:
        return OCI_MANIFEST
    return None


def parseManifest(payload: bytes, contentType: str | None) -> Manifest:
    """
    Parse and check a manifest as pushed.

    @param payload: the bytes pushed.
    @param contentType: the request's C{Content-Type}.
    @raise ManifestInvalid: if the manifest is malformed, of an unsupported
        type, or of a type other than its C{Content-Type}.
    """
    try:
        body = parseJSON(payload)
    except InvalidJSON as e:
        raise ManifestInvalid(f"not JSON: {e}") from None
    if not isinstance(body, dict):
        raise ManifestInvalid("a manifest must be a JSON object")
    if body.get("schemaVersion") != 2:
        raise ManifestInvalid("schemaVersion: must be 2")
    declared = body.get("mediaType")
    if declared is not None and not isinstance(declared, str):
        raise ManifestInvalid("mediaType: must be a string")
    header = _bareType(contentType)
    if declared is not None and header in MEDIA_TYPES and header != declared:
        raise ManifestInvalid(
            f"mediaType {declared} does not match Content-Type {header}")
    if declared is None and header in (DOCKER_MANIFEST, DOCKER_LIST):
        raise ManifestInvalid(f"mediaType: required in a {header}")
    mediaType = declared or (header if header in MEDIA_TYPES else sniffMediaType(body))
    if mediaType not in MEDIA_TYPES:
        raise ManifestInvalid(f"unsupported manifest media type: {mediaType}")
    subject = body.get("subject")
    parsedSubject = None if subject is None else _descriptor(subject, "subject")
    artifactType, annotations = _artifactType(body), _annotations(body)
    if mediaType in IMAGE_TYPES:
        config = _descriptor(body.get("config"), "config")
        return Manifest(mediaType, config, _descriptors(body, "layers"), (), parsedSubject,
                        artifactType, annotations)
    return Manifest(mediaType, None, (), _descriptors(body, "manifests"), parsedSubject,
                    artifactType, annotations)
