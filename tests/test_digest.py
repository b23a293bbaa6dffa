"""
Digests parse strictly and hash as their algorithm says.
"""

import hashlib

import pytest

from txregistry.digest import Digest, InvalidDigest
from txregistry.reference import isValidName, isValidTag


def test_parseRoundTrip():
    """A sha256 and a sha512 digest parse and print back unchanged."""
    for data in ("sha256:" + "a" * 64, "sha512:" + "0" * 128):
        assert str(Digest.parse(data)) == data


@pytest.mark.parametrize("text", [
    "", "sha256", "sha256:", ":abc", "sha256:" + "A" * 64, "sha256:" + "a" * 63,
    "sha256:" + "g" * 64, "md5:" + "a" * 32, "sha256:" + "a" * 64 + "\n",
    "sha512:" + "a" * 64, "SHA256:" + "a" * 64,
])
def test_parseRejects(text):
    """Malformed digests and unsupported algorithms raise InvalidDigest."""
    with pytest.raises(InvalidDigest):
        Digest.parse(text)


def test_of():
    """Digest.of hashes with the named algorithm."""
    assert Digest.of(b"x").hex == hashlib.sha256(b"x").hexdigest()
    assert Digest.of(b"x", "sha512").hex == hashlib.sha512(b"x").hexdigest()


@pytest.mark.parametrize(("name", "valid"), [
    ("a", True), ("library/ubuntu", True), ("a.b_c__d--e/f", True), ("a" * 255, True),
    ("a" * 256, False), ("A", False), ("a/", False), ("/a", False), ("a//b", False),
    ("..", False), ("a/../b", False), ("a/./b", False), ("a_", False), ("a___b", False),
    ("a%2Fb", False), ("a\n", False), ("", False),
])
def test_names(name, valid):
    """Repository names follow distribution's grammar and length limit."""
    assert isValidName(name) is valid


@pytest.mark.parametrize(("tag", "valid"), [
    ("latest", True), ("v1.0-rc_1", True), ("_x", True), ("a" * 128, True),
    ("a" * 129, False), (".x", False), ("-x", False), ("a/b", False), ("", False), ("x\n", False),
])
def test_tags(tag, valid):
    """Tags follow the OCI grammar."""
    assert isValidTag(tag) is valid
