"""
A stand-in for running calls in threads, for tests that decide when each
call runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred


class HeldRunner:
    """
    Runs nothing until told: each call waits in L{pending}.
    """

    def __init__(self) -> None:
        self.pending: list[tuple[Callable[[], Any], Deferred[None]]] = []

    def __call__(self, call: Callable[[], Any]) -> Deferred[None]:
        d: Deferred[None] = Deferred()
        self.pending.append((call, d))
        return d

    def runOne(self) -> None:
        call, d = self.pending.pop(0)
        call()
        d.callback(None)
