"""
Raw HTTP exchanges over a real socket, checked against the Docker Registry
HTTP API V2 / OCI Distribution specification.  Each test also runs against
distribution, which proves the expectation right.
"""

from __future__ import annotations

import hashlib
import json

from harness import RegistryProcess, http_request, with_digest

UNKNOWN_DIGEST = "sha256:" + "0" * 64


def test_base_get(any_registry: RegistryProcess) -> None:
    """GET /v2/ answers 200 with the API version header and a JSON body."""
    status, headers, body = http_request(any_registry.base_url, "GET", "/v2/")
    assert status == 200
    assert headers["Docker-Distribution-API-Version"] == "registry/2.0"
    assert headers["Content-Type"].startswith("application/json")
    assert json.loads(body) == {}


def test_base_head(any_registry: RegistryProcess) -> None:
    """HEAD /v2/ answers 200 with the API version header and no body."""
    status, headers, body = http_request(any_registry.base_url, "HEAD", "/v2/")
    assert status == 200
    assert headers["Docker-Distribution-API-Version"] == "registry/2.0"
    assert body == b""


def test_unknown_blob_error_body(any_registry: RegistryProcess) -> None:
    """GET of an unknown blob answers 404 with a BLOB_UNKNOWN error list."""
    status, headers, body = http_request(
        any_registry.base_url, "GET", f"/v2/demo/app/blobs/{UNKNOWN_DIGEST}"
    )
    assert status == 404
    assert headers["Content-Type"].startswith("application/json")
    assert headers["Docker-Distribution-API-Version"] == "registry/2.0"
    errors = json.loads(body)["errors"]
    assert [e["code"] for e in errors] == ["BLOB_UNKNOWN"]
    assert isinstance(errors[0]["message"], str) and errors[0]["message"]


def test_unknown_blob_head(any_registry: RegistryProcess) -> None:
    """HEAD of an unknown blob answers 404 with no body."""
    status, _, body = http_request(
        any_registry.base_url, "HEAD", f"/v2/demo/app/blobs/{UNKNOWN_DIGEST}"
    )
    assert status == 404
    assert body == b""


def test_unknown_manifest_error_body(any_registry: RegistryProcess) -> None:
    """GET of an unknown tag answers 404 with MANIFEST_UNKNOWN."""
    status, _, body = http_request(
        any_registry.base_url, "GET", "/v2/demo/app/manifests/nope"
    )
    assert status == 404
    assert [e["code"] for e in json.loads(body)["errors"]] == ["MANIFEST_UNKNOWN"]


def test_monolithic_blob_upload(any_registry: RegistryProcess) -> None:
    """POST then PUT ?digest= stores a blob that GET returns byte for byte."""
    data = b"hello, registry\n" * 1000
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    status, headers, _ = http_request(
        any_registry.base_url, "POST", "/v2/demo/app/blobs/uploads/", body=b""
    )
    assert status == 202
    assert headers["Docker-Upload-UUID"]
    status, headers, _ = http_request(
        any_registry.base_url,
        "PUT",
        with_digest(headers["Location"], digest),
        body=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert status == 201
    assert headers["Docker-Content-Digest"] == digest

    status, headers, body = http_request(
        any_registry.base_url, "GET", f"/v2/demo/app/blobs/{digest}"
    )
    assert status == 200
    assert body == data
    assert headers["Docker-Content-Digest"] == digest
