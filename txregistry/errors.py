"""
The errors of the OCI Distribution API, each with its code and HTTP status.

A handler raises a L{RegistryError}; the API turns it into the spec's JSON
body: C{{"errors": [{"code": ..., "message": ..., "detail": ...}]}}.
"""

from __future__ import annotations

import json
from typing import Any


class RegistryError(Exception):
    """
    An error the registry reports to its client.

    @cvar code: the spec's error code, e.g. C{"BLOB_UNKNOWN"}.
    @cvar status: the HTTP status of the response.
    @cvar message: the code's standard message.
    """

    code = "UNKNOWN"
    status = 500
    message = "unknown error"

    def __init__(self, detail: Any = None, *, message: str | None = None,
                 status: int | None = None,
                 headers: dict[bytes, bytes] | None = None) -> None:
        super().__init__(message or self.message, detail)
        self.detail = detail
        if message is not None:
            self.message = message
        if status is not None:
            self.status = status
        self.headers = headers or {}

    def body(self) -> bytes:
        """
        @return: the JSON error body of the spec.
        """
        entry: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.detail is not None:
            entry["detail"] = self.detail
        return json.dumps({"errors": [entry]}).encode("utf-8")


def _code(code: str, status: int, message: str) -> type[RegistryError]:
    return type(code, (RegistryError,), {
        "code": code, "status": status, "message": message,
        "__doc__": f"{code} ({status}): {message}."})


BlobUnknown = _code("BLOB_UNKNOWN", 404, "blob unknown to registry")
BlobUploadInvalid = _code("BLOB_UPLOAD_INVALID", 400, "blob upload invalid")
BlobUploadUnknown = _code("BLOB_UPLOAD_UNKNOWN", 404, "blob upload unknown to registry")
DigestInvalid = _code("DIGEST_INVALID", 400, "provided digest did not match uploaded content")
ManifestBlobUnknown = _code("MANIFEST_BLOB_UNKNOWN", 400, "manifest references a blob unknown to registry")
ManifestInvalid = _code("MANIFEST_INVALID", 400, "manifest invalid")
ManifestUnknown = _code("MANIFEST_UNKNOWN", 404, "manifest unknown")
NameInvalid = _code("NAME_INVALID", 400, "invalid repository name")
NameUnknown = _code("NAME_UNKNOWN", 404, "repository name not known to registry")
SizeInvalid = _code("SIZE_INVALID", 400, "provided length did not match content length")
Unauthorized = _code("UNAUTHORIZED", 401, "authentication required")
Denied = _code("DENIED", 403, "requested access to the resource is denied")
Unsupported = _code("UNSUPPORTED", 405, "The operation is unsupported.")
Unknown = _code("UNKNOWN", 500, "unknown error")
Unavailable = _code("UNAVAILABLE", 503, "service unavailable")
# 507 (RFC 4918): the storage is full.  The spec's list of codes binds 4xx
# bodies only; distribution's UNAVAILABLE says the registry cannot serve the
# request for now, which clients already know (docker: "unavailable").
StorageFull = _code("UNAVAILABLE", 507, "storage is full")
