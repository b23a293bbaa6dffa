"""
Fixtures of the storage tests.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from twisted.python.threadpool import ThreadPool


@pytest.fixture
def pool() -> Iterator[ThreadPool]:
    """
    A started thread pool for the driver, stopped after the test.
    """
    pool = ThreadPool(minthreads=0, maxthreads=4, name="test-uploadmemory")
    pool.start()
    yield pool
    pool.stop()
