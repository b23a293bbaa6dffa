"""
Settings and fixtures shared by every test.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

REPO_ROOT = Path(__file__).resolve().parent.parent

settings.register_profile(
    "ci", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """
    Mark every test under C{tests/integration/} as C{integration}, so that
    C{pytest -m "not integration"} runs the fast tests alone.
    """
    integration = REPO_ROOT / "tests" / "integration"
    for item in items:
        if integration in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def repo_root() -> Path:
    """
    The root of the source tree.
    """
    return REPO_ROOT
