"""
A registry on the in-memory driver for the garbage collector's tests: its
files can be aged, and actions run in the middle of a collection.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Coroutine
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from zope.interface import implementer

from tests.api.helpers import OCI_INDEX, OCI_MANIFEST, result, snapshot
from tests.api.support import InMemoryRegistry, imageManifest
from txregistry.digest import Digest
from txregistry.interfaces import FileInfo, IStorageDriver
from txregistry.storage import paths
from txregistry.storage.driver.base import CheckedDriver
from txregistry.storage.driver.inmemory import InMemoryDriver
from txregistry.storage.gc.collector import GarbageCollector, Report


def run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """
    @return: the result of a coroutine on the in-memory driver (whose
        operations complete at once).
    """
    return result(Deferred.fromCoroutine(coroutine))


#: How old L{AgedDriver.age} makes files by default: an hour.
OLD = 3600.0


@implementer(IStorageDriver)
class AgedDriver:
    """
    A driver whose files can be made to look older than they are (until
    they are written again), and which runs actions right after it lists a
    directory (C{walk} or C{list}), before it answers.
    """

    def __init__(self, driver: Any) -> None:
        self._driver = driver
        self._times: dict[str, float] = {}
        #: Actions run (once) right after a C{(method, path)} call.
        self.after: dict[tuple[str, str], list[Callable[[], object]]] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._driver, name)

    def age(self, seconds: float = OLD, below: str = "/") -> None:
        """
        Make every file below C{below} look C{seconds} older.
        """
        for info in result(self._driver.walk(below)):
            if not info.isDir:
                self._times[info.path] = self._aged(info).modTime - seconds

    def _aged(self, info: FileInfo) -> FileInfo:
        modTime = self._times.get(info.path)
        return info if modTime is None else dataclasses.replace(info, modTime=modTime)

    def _written(self, path: str) -> None:
        for aged in [p for p in self._times if p == path or p.startswith(path + "/")]:
            del self._times[aged]

    def stat(self, path: str) -> Deferred[FileInfo]:
        return self._driver.stat(path).addCallback(self._aged)

    def _then(self, method: str, path: str, answer: Any) -> Any:
        """
        Run the actions due after C{method(path)}, then give its answer (or
        failure).
        """
        for action in self.after.pop((method, path), []):
            action()
        return answer

    def walk(self, path: str) -> Deferred[list[FileInfo]]:
        return self._driver.walk(path).addCallback(
            lambda infos: [self._aged(info) for info in infos]).addBoth(
            lambda answer: self._then("walk", path, answer))

    def list(self, path: str) -> Deferred[list[str]]:
        return self._driver.list(path).addBoth(lambda answer: self._then("list", path, answer))

    def stats(self, paths: list[str]) -> Deferred[list[FileInfo | None]]:
        return self._driver.stats(paths).addCallback(
            lambda infos: [None if info is None else self._aged(info) for info in infos])

    def lists(self, paths: list[str]) -> Deferred[list[list[str] | None]]:
        def then(answer: Any) -> Any:
            for path in paths:
                self._then("list", path, None)
            return answer
        return self._driver.lists(paths).addBoth(then)

    def deleteAll(self, paths: list[str]) -> Deferred[list[bool]]:
        for path in paths:
            self._written(path)
        return self._driver.deleteAll(paths)

    def putContent(self, path: str, content: bytes, durable: bool = True) -> Deferred[None]:
        self._written(path)
        return self._driver.putContent(path, content, durable)

    def writer(self, path: str, append: bool = False) -> Any:
        self._written(path)
        return self._driver.writer(path, append)

    def move(self, source: str, dest: str) -> Deferred[None]:
        self._written(dest)
        return self._driver.move(source, dest)

    def delete(self, path: str) -> Deferred[None]:
        self._written(path)
        return self._driver.delete(path)


def imageOf(*blobs: bytes, subject: tuple[Digest, int] | None = None) -> dict[str, Any]:
    """
    @return: the manifest of an image of config C{blobs[0]} and layers
        C{blobs[1:]}, referring to C{subject} (a digest and size) if given.
    """
    digests = [Digest.of(blob) for blob in blobs]
    manifest = imageManifest(digests[0], len(blobs[0]),
                             [(d, len(b)) for d, b in zip(digests[1:], blobs[1:], strict=True)])
    if subject is not None:
        manifest["subject"] = {"mediaType": OCI_MANIFEST, "digest": str(subject[0]),
                               "size": subject[1]}
    return manifest


class Registry(InMemoryRegistry):
    """
    An in-memory registry (deletes enabled) on an L{AgedDriver}.
    """

    driver: AgedDriver

    def __init__(self) -> None:
        super().__init__(driver=AgedDriver(CheckedDriver(InMemoryDriver())), delete_enabled=True)

    @property
    def stores(self) -> Any:
        """
        @return: the L{txregistry.storage.registry.Registry} the API serves.
        """
        return self.app.manifests.registry

    def image(self, name: str, reference: str, *blobs: bytes,
              subject: tuple[Digest, int] | None = None) -> tuple[Digest, list[Digest]]:
        """
        Push an image of config C{blobs[0]} and layers C{blobs[1:]}.

        @return: its manifest's digest, and the digests of C{blobs}.
        """
        digests = [self.pushBlob(name, blob) for blob in blobs]
        return self.manifest(name, reference, imageOf(*blobs, subject=subject),
                             OCI_MANIFEST), digests

    def index(self, name: str, reference: str, *children: Digest) -> Digest:
        """
        Push an index of manifests already pushed.

        @return: its digest.
        """
        manifest = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": str(child),
             "size": len(self.stores.blobs.knownContent(child)
                         or result(self.driver.getContent(paths.blobData(child))))}
            for child in children]}
        return self.manifest(name, reference, manifest, OCI_INDEX)

    def manifest(self, name: str, reference: str, manifest: dict[str, Any],
                 mediaType: str) -> Digest:
        """
        Push a manifest by tag, or by its digest if C{reference} is empty.

        @return: its digest.
        """
        digest = Digest.of(json.dumps(manifest).encode())
        response = self.pushManifest(name, reference or str(digest), manifest, mediaType)
        assert response.code == 201, response.body
        return digest

    def size(self, digest: Digest) -> int:
        """
        @return: the size of a stored blob.
        """
        return len(result(self.driver.getContent(paths.blobData(digest))))

    def deleteManifest(self, name: str, digest: Digest) -> None:
        """
        Delete a manifest through the API.
        """
        assert self.request("DELETE", f"/v2/{name}/manifests/{digest}").code == 202

    def stored(self) -> set[Digest]:
        """
        @return: the digests of every blob stored.
        """
        return {Digest(path.split("/")[-4], path.split("/")[-2]) for path in self.files()
                if path.startswith(paths.BLOBS)}

    def files(self) -> dict[str, bytes]:
        """
        @return: every file stored, by path.
        """
        return snapshot(self.driver)

    def collect(self, graceperiod: float = 0.0, **options: Any) -> Report:
        """
        Age every file by L{OLD}, and collect once at the present time.

        @param options: the collector's other arguments (C{inflight},
            C{retention}, C{forget}) and C{collect}'s (C{dryRun},
            C{deleteUntagged}).
        """
        self.driver.age()
        return self.collectNow(graceperiod, **options)

    def collectNow(self, graceperiod: float = 0.0, **options: Any) -> Report:
        """
        Collect once at the present time, without ageing the files.
        """
        flags = {key: options.pop(key) for key in ("dryRun", "deleteUntagged")
                 if key in options}
        clock = Clock()
        clock.advance(time.time())
        collector = GarbageCollector(self.driver, clock, graceperiod=graceperiod, **options)
        return run(collector.collect(**flags))
