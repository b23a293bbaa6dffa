"""
The error codes the registry can put in an error body.
"""

from __future__ import annotations

import txregistry.api.app  # noqa: F401  (defines the handlers' own errors)
from txregistry.errors import RegistryError

#: The error codes of the OCI Distribution Specification v1.1.
SPEC_CODES = frozenset([
    "BLOB_UNKNOWN", "BLOB_UPLOAD_INVALID", "BLOB_UPLOAD_UNKNOWN", "DIGEST_INVALID",
    "MANIFEST_BLOB_UNKNOWN", "MANIFEST_INVALID", "MANIFEST_UNKNOWN", "NAME_INVALID",
    "NAME_UNKNOWN", "SIZE_INVALID", "UNAUTHORIZED", "DENIED", "UNSUPPORTED",
    "TOOMANYREQUESTS"])

#: Codes outside the spec's table kept on purpose: C{UNKNOWN} for a 500,
#: distribution's C{UNAVAILABLE} for the 507 of a full storage (the table
#: has no code for a server-side condition).
KEPT = frozenset(["UNKNOWN", "UNAVAILABLE"])


def _subclasses(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub} | _subclasses(sub)
    return found


def test_onlySpecCodes() -> None:
    """Every error the registry defines carries a spec code (or one of the few kept on purpose)."""
    codes = {error.code for error in _subclasses(RegistryError)}
    assert codes - SPEC_CODES - KEPT == set()
    assert {"RANGE_INVALID", "TAG_INVALID", "PAGINATION_NUMBER_INVALID"} & codes == set()
