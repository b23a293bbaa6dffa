"""
Content digests (C{algorithm:hex}) and incremental hashing.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache

# The OCI grammar, plus the registered algorithms' exact hex lengths.
_GRAMMAR = re.compile(r"^([a-z0-9]+(?:[.+_-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$")
HEX = re.compile(r"[0-9a-f]+")
HEX_LENGTHS = {"sha256": 64, "sha512": 128}
CANONICAL = "sha256"


class InvalidDigest(ValueError):
    """
    A string is not a digest of a supported algorithm.
    """


@dataclass(frozen=True, order=True)
class Digest:
    """
    A content digest.

    @ivar algorithm: C{"sha256"} or C{"sha512"}.
    @ivar hex: the lowercase hex encoding of the hash.
    """

    algorithm: str
    hex: str

    @classmethod
    def parse(cls, text: str) -> Digest:
        """
        @raise InvalidDigest: if C{text} is malformed or of an unsupported
            algorithm.
        """
        return _parse(text)

    @classmethod
    def of(cls, data: bytes, algorithm: str = CANONICAL) -> Digest:
        """
        @return: the digest of C{data}.
        """
        return cls(algorithm, hashlib.new(algorithm, data).hexdigest())

    def hasher(self):  # type: ignore[no-untyped-def]
        """
        @return: a new C{hashlib} object of this digest's algorithm.
        """
        return hashlib.new(self.algorithm)

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    def __hash__(self) -> int:
        # The hex alone tells digests apart (their algorithms' lengths
        # differ), and hashing it, cached in the string, is cheaper than
        # hashing a tuple of both: digests key many sets and mappings.
        return hash(self.hex)


# Digests are parsed on every pull (links, paths): the last ones are kept.
@lru_cache(maxsize=4096)
def _parse(text: str) -> Digest:
    match = _GRAMMAR.fullmatch(text)
    if match is None:
        raise InvalidDigest(f"malformed digest: {text!r}")
    algorithm, encoded = match.groups()
    length = HEX_LENGTHS.get(algorithm)
    if length is None:
        raise InvalidDigest(f"unsupported digest algorithm: {algorithm}")
    if len(encoded) != length or not HEX.fullmatch(encoded):
        raise InvalidDigest(f"invalid {algorithm} hex: {encoded!r}")
    return Digest(algorithm, encoded)
