"""
Bounded in-memory caches for what never changes once stored.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, Protocol, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class CountedLookups(Protocol):
    """
    A cache counting its lookups, as plain numbers (read by
    L{txregistry.metrics} when scraped, so that counting costs a lookup an
    addition).

    @ivar hits: the lookups that found an entry.
    @ivar misses: those that did not.
    """

    hits: int
    misses: int


class LRUCache(Generic[K, V]):
    """
    A least-recently-used cache bounded by the summed sizes of its values;
    a L{CountedLookups}.

    @param capacity: the most the sizes may add up to.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._size = 0
        self.hits = 0
        self.misses = 0

    def get(self, key: K) -> V | None:
        """
        @return: the value cached for C{key}, or L{None}.
        """
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        self.hits += 1
        self._entries.move_to_end(key)
        return entry[0]

    def put(self, key: K, value: V, size: int) -> None:
        """
        Cache C{value} (of C{size}) for C{key}, evicting the least recently
        used entries past the capacity.  A value larger than the whole
        capacity is not cached.
        """
        if size > self.capacity:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self._size -= old[1]
        self._entries[key] = (value, size)
        self._size += size
        while self._size > self.capacity:
            _, (_, evicted) = self._entries.popitem(last=False)
            self._size -= evicted

    def discard(self, key: K) -> None:
        """
        Drop the value cached for C{key}, if any.
        """
        old = self._entries.pop(key, None)
        if old is not None:
            self._size -= old[1]
