"""
Fixtures for the TLS unit tests: a CA and certificates written to files.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.certs import CertificateAuthority


@pytest.fixture(scope="session")
def ca() -> CertificateAuthority:
    """
    A root CA shared by the session's tests.
    """
    return CertificateAuthority()


@pytest.fixture
def certdir(tmp_path: Path) -> Path:
    """
    A directory for the test's certificate files.
    """
    path = tmp_path / "certs"
    path.mkdir()
    return path
