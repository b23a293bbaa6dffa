"""
All the stores of a registry on one storage driver.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from twisted.internet.interfaces import IReactorThreads
from twisted.internet.threads import deferToThreadPool

from txregistry.cache import CountedLookups
from txregistry.interfaces import IStorageDriver
from txregistry.storage.blobs import BlobStore
from txregistry.storage.gc.inflight import InFlight
from txregistry.storage.manifests import ManifestStore
from txregistry.storage.referrerlisting import Referrers
from txregistry.storage.referrers import ReferrerIndex
from txregistry.storage.tags import TagStore
from txregistry.storage.uploads import ThreadRunner, UploadStore
from txregistry.urlpolicy import URLPolicy


@dataclass
class Registry:
    """
    The blob, manifest, tag and upload stores sharing one driver, and the
    referrers listing.

    @ivar inflight: the pins of the pushes under way, shared by the stores
        and the online garbage collector.
    """

    driver: IStorageDriver
    blobs: BlobStore
    tags: TagStore
    manifests: ManifestStore
    uploads: UploadStore
    referrers: Referrers
    inflight: InFlight

    @classmethod
    def onDriver(cls, driver: IStorageDriver, clock: Any,
                 urls: URLPolicy | None = None,
                 inflight: InFlight | None = None) -> Registry:
        """
        @param clock: an L{IReactorTime}, for upload start times; if it is
            a reactor with threads, uploads are hashed in its thread pool.
        @param urls: what foreign layers may name.
        @param inflight: the pins shared with the online garbage collector,
            if it runs in this process.
        """
        inflight = inflight or InFlight()
        blobs = BlobStore(driver)
        tags = TagStore(driver)
        index = ReferrerIndex(driver)
        manifests = ManifestStore(blobs, tags, index, urls, inflight)
        uploads = UploadStore(blobs, clock, _threadRunner(clock), inflight)
        return cls(driver, blobs, tags, manifests, uploads, Referrers(index, manifests),
                   inflight)

    def caches(self) -> dict[str, CountedLookups]:
        """
        @return: the stores' caches, by name (a bounded set of names, for
            L{txregistry.metrics}).
        """
        return {**self.blobs.caches(), **self.manifests.caches()}


def _threadRunner(reactor: Any) -> ThreadRunner | None:
    if not IReactorThreads.providedBy(reactor):
        return None
    return lambda call: deferToThreadPool(reactor, reactor.getThreadPool(), call)
