"""
The OCI referrers API: C{/v2/<name>/referrers/<digest>}.
"""

from __future__ import annotations

import json

from twisted.web.iweb import IRequest

from txregistry.api.requests import checkName, parseDigest, queryArg
from txregistry.http.responses import respond
from txregistry.manifest import OCI_INDEX
from txregistry.storage.registry import Registry


class ReferrerHandlers:
    """
    Listing the manifests that refer to a manifest through their
    C{subject}.
    """

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    async def get(self, request: IRequest, name: str, digest: str) -> bytes:
        """
        C{GET}: an image index of the referrers of C{digest}, filtered by
        C{?artifactType=} if given (which C{OCI-Filters-Applied} then says).

        A digest nothing refers to, in a repository that may not even exist,
        has an empty index: the spec forbids a 404 from this endpoint.
        """
        checkName(request, name)
        subject = parseDigest(digest)
        artifactType = queryArg(request, "artifactType") or None
        descriptors = await self.registry.referrers.descriptors(name, subject, artifactType)
        headers = {"Content-Type": OCI_INDEX}
        if artifactType is not None:
            headers["OCI-Filters-Applied"] = "artifactType"
        body = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors}
        return respond(request, 200, headers, json.dumps(body).encode("utf-8"))
