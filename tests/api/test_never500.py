"""
Whatever a client sends, the registry answers with a 4xx or a success,
never a 5xx, and its errors are the spec's JSON.
"""

from __future__ import annotations

import json
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.support import InMemoryRegistry, imageManifest
from txregistry.digest import Digest

BLOB = Digest.of(b"layer data")
CONFIG = Digest.of(b"{}")
MANIFEST = imageManifest(CONFIG, 2, [(BLOB, 10)])
MANIFEST_DIGEST = Digest.of(json.dumps(MANIFEST).encode())


def knownRegistry() -> InMemoryRegistry:
    """
    @return: a new registry (deletes enabled) holding C{known/repo}: a
        layer, a config and a manifest, tagged C{v1}.
    """
    registry = InMemoryRegistry(delete_enabled=True)
    assert registry.pushBlob("known/repo", b"layer data") == BLOB
    assert registry.pushBlob("known/repo", b"{}") == CONFIG
    response = registry.pushManifest("known/repo", "v1", MANIFEST, MANIFEST["mediaType"])
    assert response.code == 201, response.body
    assert response.headers.getRawHeaders("Docker-Content-Digest") == [str(MANIFEST_DIGEST)]
    return registry


text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20)
names = st.sampled_from(["known/repo", "other", "UPPER", "a/../b", "a//b", "-x", "a" * 300]) | text
digests = st.sampled_from([str(BLOB), str(CONFIG), str(MANIFEST_DIGEST), "sha512:" + "0" * 128, "sha256:zz",
                           "md5:abc", str(Digest.of(b"missing"))]) | text
references = st.sampled_from(["v1", "latest", "-bad", "x" * 200]) | digests
segments = st.one_of(
    st.builds(lambda n, d: f"{n}/blobs/{d}", names, digests),
    st.builds(lambda n: f"{n}/blobs/uploads/", names),
    st.builds(lambda n, u: f"{n}/blobs/uploads/{u}", names, text),
    st.builds(lambda n, r: f"{n}/manifests/{r}", names, references),
    st.builds(lambda n: f"{n}/tags/list", names),
    st.builds(lambda n, d: f"{n}/referrers/{d}", names, digests),
    st.just("_catalog"),
    text,
)
queries = st.dictionaries(st.sampled_from(["n", "last", "digest", "mount", "from", "_state",
                                           "artifactType"]), text | digests, max_size=3)
headers = st.dictionaries(
    st.sampled_from(["Content-Range", "Range", "Content-Type", "Accept", "If-None-Match"]),
    st.sampled_from(["0-9", "bytes=0-", "bytes=-5", "5-1", "garbage", "bytes=99999-",
                     "application/vnd.oci.image.manifest.v1+json", "*/*"]) | text,
    max_size=3)
bodies = st.sampled_from([b"", json.dumps(MANIFEST).encode(), b"{", b"[]",
                          b'{"schemaVersion": 2}']) | st.binary(max_size=64)


exchanges = st.tuples(st.sampled_from(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]),
                      segments, queries, headers, bodies)


def test_knownImageIsServed() -> None:
    """
    The registry each example starts from serves the known image by tag and
    by digest, and its blobs: the names and digests the examples draw reach
    stored content.
    """
    registry = knownRegistry()
    for path in ["known/repo/manifests/v1", f"known/repo/manifests/{MANIFEST_DIGEST}",
                 f"known/repo/blobs/{BLOB}", f"known/repo/blobs/{CONFIG}"]:
        assert registry.request("GET", "/v2/" + path).code == 200, path


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(exchanges, min_size=1, max_size=3))
def test_neverServerError(sequence: list[tuple[str, str, dict[str, str], dict[str, str], bytes]]) -> None:
    """
    Random sequences of requests over every route, each on a registry of its
    own holding a known image, never get a 5xx, and their errors are JSON
    error bodies.
    """
    registry = knownRegistry()
    for method, segment, query, requestHeaders, body in sequence:
        path = "/v2/" + quote(segment, safe="/:@")
        if query:
            path += "?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items())
        safeHeaders = {k: v for k, v in requestHeaders.items() if v.isprintable() and v.isascii()}
        response = registry.request(method, path,
                                    body if method in ("POST", "PUT", "PATCH") else None,
                                    safeHeaders)
        assert response.code < 500, (method, path, response.body[:300])
        if response.code >= 400 and method != "HEAD":
            assert "errors" in json.loads(response.body), (method, path, response.body[:300])
