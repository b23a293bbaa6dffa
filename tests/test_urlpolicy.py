"""
Foreign layer URLs are checked as distribution checks them.
"""

import pytest

from txregistry.digest import Digest
from txregistry.errors import ManifestInvalid
from txregistry.manifest import OCI_MANIFEST, Descriptor, Manifest
from txregistry.urlpolicy import URLPolicy


@pytest.mark.parametrize(("url", "allowed"), [
    ("https://example.com/layer", True),
    ("http://example.com/layer", True),
    ("ftp://example.com/layer", False),
    ("https://example.com/layer#part", False),
    ("/relative/layer", False),
    ("https://", False),
])
def test_schemes(url: str, allowed: bool) -> None:
    """Without patterns, absolute http(s) URLs without fragments are allowed."""
    assert URLPolicy().allows(url) is allowed


def test_allowAndDeny() -> None:
    """A URL must match an allow pattern (when there are any) and no deny pattern."""
    policy = URLPolicy(allow=[r"^https://mcr\.microsoft\.com/", r"^https://good\."],
                       deny=[r"/forbidden/"])
    assert policy.allows("https://mcr.microsoft.com/layer")
    assert policy.allows("https://good.example/layer")
    assert not policy.allows("https://evil.example/layer")
    assert not policy.allows("https://good.example/forbidden/layer")


def test_checkManifest() -> None:
    """A manifest naming a refused URL in any layer is MANIFEST_INVALID."""
    digest = Digest.of(b"layer")
    layers = (Descriptor("application/vnd.oci.image.layer.v1.tar", digest, 5,
                         ("https://ok.example/l", "https://bad.example/l")),)
    manifest = Manifest(OCI_MANIFEST, None, layers, (), None, None, None)
    with pytest.raises(ManifestInvalid):
        URLPolicy(deny=["bad"]).check(manifest)
    URLPolicy(deny=["other"]).check(manifest)


def test_pushRefusesBadURL() -> None:
    """A manifest PUT whose foreign layer names a non-http URL is 400 MANIFEST_INVALID and stores nothing."""
    from tests.api.support import InMemoryRegistry, imageManifest

    registry = InMemoryRegistry()
    config = registry.pushBlob("app", b"{}")
    manifest = imageManifest(config, 2, [(Digest.of(b"foreign"), 7)])
    manifest["layers"][0]["urls"] = ["ftp://example.com/layer"]
    response = registry.pushManifest("app", "v1", manifest, manifest["mediaType"])
    assert (response.code, response.errorCodes) == (400, ["MANIFEST_INVALID"])
    assert registry.request("GET", "/v2/app/manifests/v1").code == 404
    manifest["layers"][0]["urls"] = ["https://example.com/layer"]
    assert registry.pushManifest("app", "v1", manifest, manifest["mediaType"]).code == 201
