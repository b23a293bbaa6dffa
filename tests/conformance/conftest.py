"""
Fixtures for the conformance tests: an in-memory registry with deletes
enabled, and (for C{test_process.py}) the real-process fixtures of
C{tests/integration/conftest.py}, re-exported here.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from tests.conformance.clients import MemoryClient

_INTEGRATION = Path(__file__).resolve().parent.parent / "integration"
if str(_INTEGRATION) not in sys.path:
    # The integration conftest imports its helpers as the top-level module
    # "harness", as pytest's rootdir-less import of that directory allows.
    sys.path.insert(0, str(_INTEGRATION))

_spec = importlib.util.spec_from_file_location(
    "tests_integration_conftest", _INTEGRATION / "conftest.py")
assert _spec is not None and _spec.loader is not None
_integration = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_integration)

# Re-exported for test_process.py.  Not system_programs: it is autouse and
# would fail the in-memory tests where skopeo is missing.
registries = _integration.registries
txregistry_server = _integration.txregistry_server
pytest_runtest_makereport = _integration.pytest_runtest_makereport


@pytest.fixture
def client() -> MemoryClient:
    """
    A fresh in-memory registry with deletes enabled.
    """
    return MemoryClient()
