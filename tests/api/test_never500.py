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

REGISTRY = InMemoryRegistry(delete_enabled=True)
BLOB = REGISTRY.pushBlob("known/repo", b"layer data")
CONFIG = REGISTRY.pushBlob("known/repo", b"{}")
MANIFEST = imageManifest(CONFIG, 2, [(BLOB, 10)])
REGISTRY.pushManifest("known/repo", "v1", MANIFEST, MANIFEST["mediaType"])

text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20)
names = st.sampled_from(["known/repo", "other", "UPPER", "a/../b", "a//b", "-x", "a" * 300]) | text
digests = st.sampled_from([str(BLOB), str(CONFIG), "sha512:" + "0" * 128, "sha256:zz",
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


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]),
       segments, queries, headers, bodies)
def test_neverServerError(method: str, segment: str, query: dict[str, str],
                          requestHeaders: dict[str, str], body: bytes) -> None:
    """Random requests over every route never get a 5xx, and their errors are JSON error bodies."""
    path = "/v2/" + quote(segment, safe="/:@")
    if query:
        path += "?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items())
    safeHeaders = {k: v for k, v in requestHeaders.items() if v.isprintable() and v.isascii()}
    response = REGISTRY.request(method, path, body if method in ("POST", "PUT", "PATCH") else None,
                                safeHeaders)
    assert response.code < 500, (method, path, response.body[:300])
    if response.code >= 400 and method != "HEAD" and response.code not in (308,):
        assert "errors" in json.loads(response.body), (method, path, response.body[:300])
