"""
Fixtures for the auth tests: a test PKI, htpasswd files and registries
with each provider, all in memory.
"""

from __future__ import annotations

from pathlib import Path

import bcrypt
import pytest

from tests.tokenserver import TestPKI


def htpasswdLine(user: str, password: str) -> str:
    """
    @return: an htpasswd line for C{user} with a (cheap, cost 4) bcrypt hash.
    """
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()
    return f"{user}:{hashed}\n"


@pytest.fixture(scope="session")
def pki() -> TestPKI:
    """
    A root CA, an intermediate and a token signing certificate.
    """
    return TestPKI.create()


@pytest.fixture
def htpasswdPath(tmp_path: Path) -> Path:
    """
    An htpasswd file with C{alice:secret} and C{bob:hunter2}.
    """
    path = tmp_path / "htpasswd"
    path.write_text(htpasswdLine("alice", "secret") + htpasswdLine("bob", "hunter2"))
    return path
