"""
Tests for L{txregistry.storage.driver.inmemory}.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_twisted

from txregistry.interfaces import IStorageDriver
from txregistry.storage.driver.inmemory import InMemoryDriver
from txregistry.storage.driver.testsuite import StorageDriverTests, assertHoldsNothing


class TestInMemoryDriver(StorageDriverTests):
    """
    The shared driver suite, over L{InMemoryDriver}.
    """

    def makeDriver(self, tmpPath: Path) -> IStorageDriver:
        return InMemoryDriver()

    @pytest_twisted.ensureDeferred
    async def test_redirectURL(self) -> None:
        """The in-memory driver has no URL to redirect to."""
        assert await self.driver.redirectURL("/t/file", "GET") is None

    @pytest_twisted.ensureDeferred
    async def test_leftoversDetected(self) -> None:
        """The suite's emptiness check fails while a file is stored."""
        await self.driver.putContent("/t/file", b"x")
        with pytest.raises(AssertionError, match="/t/file"):
            await assertHoldsNothing(self.driver)
        await self.driver.delete("/t")
        await assertHoldsNothing(self.driver)
