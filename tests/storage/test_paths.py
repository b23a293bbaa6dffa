"""
The storage layout is distribution's, path for path (plus txregistry's
referrers index, which distribution ignores).
"""

import pytest

from txregistry.digest import Digest
from txregistry.storage import paths

D = Digest("sha256", "ab" + "c" * 62)
E = Digest("sha512", "0f" * 64)
V2 = "/docker/registry/v2"
R = f"{V2}/repositories/library/ubuntu"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (paths.blobData(D), f"{V2}/blobs/sha256/ab/{D.hex}/data"),
        (paths.blobData(Digest("sha512", "0f" * 64)), f"{V2}/blobs/sha512/0f/{'0f' * 64}/data"),
        (paths.layerLink("library/ubuntu", D), f"{R}/_layers/sha256/{D.hex}/link"),
        (paths.manifestRevisionLink("library/ubuntu", D), f"{R}/_manifests/revisions/sha256/{D.hex}/link"),
        (paths.manifestRevision("library/ubuntu", D), f"{R}/_manifests/revisions/sha256/{D.hex}"),
        (paths.referrers("library/ubuntu", D), f"{R}/_manifests/referrers/sha256/{D.hex}"),
        (paths.referrer("library/ubuntu", D, E), f"{R}/_manifests/referrers/sha256/{D.hex}/sha512/{E.hex}"),
        (paths.referrerLink("library/ubuntu", D, E), f"{R}/_manifests/referrers/sha256/{D.hex}/sha512/{E.hex}/link"),
        (paths.tags("library/ubuntu"), f"{R}/_manifests/tags"),
        (paths.tagCurrentLink("library/ubuntu", "22.04"), f"{R}/_manifests/tags/22.04/current/link"),
        (paths.tagIndexLink("library/ubuntu", "22.04", D), f"{R}/_manifests/tags/22.04/index/sha256/{D.hex}/link"),
        (paths.uploadData("library/ubuntu", "u-1"), f"{R}/_uploads/u-1/data"),
        (paths.uploadStartedAt("library/ubuntu", "u-1"), f"{R}/_uploads/u-1/startedat"),
        (paths.repository("a"), f"{V2}/repositories/a"),
        (paths.pulledRecord("library/ubuntu", "22.04"), f"{R}/_txregistry/pulled/22.04"),
    ],
)
def test_layout(path, expected):
    """Each path function gives distribution's path for the same data."""
    assert path == expected
