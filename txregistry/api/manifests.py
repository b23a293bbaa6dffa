"""
Manifests: C{/v2/<name>/manifests/<tag or digest>}.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.web.iweb import IRequest

from txregistry.api.requests import (
    absoluteURL,
    checkName,
    header,
    parseDigest,
    readBody,
)
from txregistry.config.model import HTTPConfig, StorageConfig
from txregistry.digest import CANONICAL, Digest
from txregistry.errors import (
    DigestInvalid,
    ManifestInvalid,
    ManifestUnknown,
    Unsupported,
)
from txregistry.http.responses import respond
from txregistry.manifest import MAX_MANIFEST_SIZE, MEDIA_TYPES
from txregistry.reference import isValidTag
from txregistry.storage.registry import Registry


def parseReference(reference: str, pushing: bool = False) -> Digest | str:
    """
    @param pushing: whether the reference names where a manifest is pushed.
    @return: the L{Digest} or the tag C{reference} names.
    @raise DigestInvalid: for a malformed digest.
    @raise ManifestInvalid: for a malformed tag to push to.
    @raise ManifestUnknown: for a malformed tag otherwise: no manifest can
        have it (the spec's 404; distribution's C{TAG_INVALID} is not a spec
        code).
    """
    if ":" in reference:
        return parseDigest(reference)
    if not isValidTag(reference):
        error = ManifestInvalid if pushing else ManifestUnknown
        raise error({"tag": reference}, message="invalid tag")
    return reference


def _accepted(request: IRequest) -> set[str]:
    types: set[str] = set()
    for value in request.requestHeaders.getRawHeaders(b"accept", []):
        for item in value.decode("latin-1").split(","):
            types.add(item.split(";", 1)[0].strip().lower())
    return types


class ManifestHandlers:
    """
    Pushing, pulling and deleting manifests.
    """

    def __init__(self, registry: Registry, http: HTTPConfig,
                 storage: StorageConfig,
                 onPull: Callable[[str, str], None] | None = None) -> None:
        """
        @param http: the C{http} section (how URLs are written).
        @param storage: the C{storage} section (whether deletes are enabled).
        @param onPull: called with the repository and the tag of each
            manifest served to a C{GET} by tag, or L{None}.
        """
        self.registry = registry
        self.http = http
        self.storage = storage
        self.onPull = onPull

    async def get(self, request: IRequest, name: str, reference: str) -> bytes:
        """
        C{GET} and C{HEAD}: the manifest as pushed, if the client accepts its
        media type.
        """
        checkName(request, name)
        target = parseReference(reference)
        digest, payload, mediaType = await self.registry.manifests.resolve(name, target)
        accepted = _accepted(request) & (MEDIA_TYPES | {"*/*"})
        if accepted and mediaType not in accepted and "*/*" not in accepted:
            raise ManifestUnknown(
                {"mediaType": mediaType},
                message=f"manifest is a {mediaType}, which the Accept header excludes")
        if self.onPull is not None and isinstance(target, str) and request.method == b"GET":
            self.onPull(name, target)
        return respond(request, 200, {
            "Content-Type": mediaType,
            "Docker-Content-Digest": str(digest),
            "ETag": f'"{digest}"',
        }, payload)

    async def put(self, request: IRequest, name: str, reference: str) -> bytes:
        """
        C{PUT}: check and store a manifest, and tag it if the reference is a
        tag.
        """
        checkName(request, name)
        target = parseReference(reference, pushing=True)
        payload = await readBody(request, MAX_MANIFEST_SIZE)
        algorithm = target.algorithm if isinstance(target, Digest) else CANONICAL
        digest = Digest.of(payload, algorithm)
        if isinstance(target, Digest) and target != digest:
            raise DigestInvalid(str(target), message="the manifest does not match its digest")
        manifest = await self.registry.manifests.put(
            name, payload, header(request, "content-type"), digest,
            target if isinstance(target, str) else None)
        headers = {
            "Location": absoluteURL(request, self.http, f"/v2/{name}/manifests/{digest}"),
            "Docker-Content-Digest": str(digest),
        }
        if manifest.subject is not None:
            # The referrers API indexed it: OCI 1.1 clients then skip the
            # fallback tag schema.
            headers["OCI-Subject"] = str(manifest.subject.digest)
        return respond(request, 201, headers)

    async def delete(self, request: IRequest, name: str, reference: str) -> bytes:
        """
        C{DELETE}: by digest, the manifest and every tag naming it; by tag,
        only the tag.
        """
        checkName(request, name)
        target = parseReference(reference)
        if not self.storage.delete_enabled:
            raise Unsupported(message="deletes are disabled (storage.delete.enabled)")
        if isinstance(target, Digest):
            await self.registry.manifests.delete(name, target)
        elif not await self.registry.tags.untag(name, target):
            raise ManifestUnknown({"tag": target})
        return respond(request, 202)
