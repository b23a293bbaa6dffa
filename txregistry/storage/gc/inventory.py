"""
What the registry holds, read for the garbage collector through
L{IStorageDriver} alone, in as few round trips as the driver allows: one
C{walk} of C{repositories/} for every link of every repository, one C{walk}
of C{blobs/} for every blob with its size and age, and the tags' and
manifests' contents read in batches (C{getContents}), a bounded number of
batches at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from twisted.internet.defer import DeferredSemaphore, gatherResults
from twisted.logger import Logger

from txregistry.digest import Digest, InvalidDigest
from txregistry.errors import ManifestInvalid
from txregistry.interfaces import IStorageDriver
from txregistry.jsonparse import InvalidJSON, parseJSON
from txregistry.manifest import parseManifest
from txregistry.storage import paths
from txregistry.storage.driver.errors import PathNotFound
from txregistry.storage.links import parseLink

log = Logger()
T = TypeVar("T")
R = TypeVar("R")

#: How many small files one C{getContents} call reads.
BATCH = 512


@dataclass
class RepositoryInventory:
    """
    The links of one repository.

    @ivar revisions: its manifests, each with its revision link's
        modification time.
    @ivar tags: each tag with the digest it names and its C{current} link's
        modification time.
    @ivar layers: the blobs its C{_layers} links name, with the links'
        modification times.
    """

    name: str
    revisions: dict[Digest, float] = field(default_factory=dict)
    tags: dict[str, tuple[Digest, float]] = field(default_factory=dict)
    layers: dict[Digest, float] = field(default_factory=dict)


@dataclass(frozen=True)
class References:
    """
    What a stored manifest refers to.

    @ivar blobs: the blobs it needs: an image's config and layers.
    @ivar children: the manifests an index lists.
    @ivar subject: the manifest it refers to as an OCI referrer.
    @ivar parsed: whether it was understood; a manifest that was not keeps
        every digest it names, as C{blobs} and C{children}.
    """

    blobs: tuple[Digest, ...] = ()
    children: tuple[Digest, ...] = ()
    subject: Digest | None = None
    parsed: bool = True


@dataclass(frozen=True)
class BlobInfo:
    """
    A stored blob: its C{data} file's size and modification time.
    """

    size: int
    modTime: float


@dataclass
class Inventory:
    """
    Everything the collector decides from.

    @ivar repositories: by name.
    @ivar manifests: the references of every manifest a repository links
        or an index lists; L{None} for one whose blob is not stored.
    @ivar blobs: every stored blob.
    """

    repositories: dict[str, RepositoryInventory]
    manifests: dict[Digest, References | None]
    blobs: dict[Digest, BlobInfo]


def _digest(algorithm: str, hex: str) -> Digest | None:
    try:
        return Digest.parse(f"{algorithm}:{hex}")
    except InvalidDigest:
        return None


async def readLinks(driver: IStorageDriver) -> tuple[
        dict[str, RepositoryInventory], dict[str, dict[str, float]]]:
    """
    Walk C{repositories/} once.

    @return: every repository with its revisions and layer links (its
        C{tags} still empty), and the tags of each, to be read, with their
        C{current} links' modification times.
    """
    try:
        infos = await driver.walk(paths.REPOSITORIES)
    except PathNotFound:
        return {}, {}
    repositories: dict[str, RepositoryInventory] = {}
    tags: dict[str, dict[str, float]] = {}
    prefix = len(paths.REPOSITORIES) + 1
    for info in infos:
        if info.isDir or not info.path.endswith("/link"):
            continue
        parts = info.path[prefix:].split("/")
        at = next((i for i, part in enumerate(parts) if part.startswith("_")), None)
        if not at:
            continue
        name, kind, rest = "/".join(parts[:at]), parts[at], parts[at + 1:]
        if kind == "_layers" and len(rest) == 3:
            digest = _digest(rest[0], rest[1])
            if digest is not None:
                _repository(repositories, name).layers[digest] = info.modTime
        elif kind == "_manifests" and len(rest) == 4 and rest[0] == "revisions":
            digest = _digest(rest[1], rest[2])
            if digest is not None:
                _repository(repositories, name).revisions[digest] = info.modTime
        elif kind == "_manifests" and len(rest) == 4 and rest[0] == "tags" \
                and rest[2] == "current":
            _repository(repositories, name)
            tags.setdefault(name, {})[rest[1]] = info.modTime
    return repositories, tags


def _repository(repositories: dict[str, RepositoryInventory],
                name: str) -> RepositoryInventory:
    repository = repositories.get(name)
    if repository is None:
        repository = repositories[name] = RepositoryInventory(name)
    return repository


def _chunks(items: list[T], size: int = BATCH) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


async def inBatches(items: list[T], call: Callable[[list[T]], Any],
                    concurrency: int) -> list[R]:
    """
    Call C{call} on batches of L{BATCH} C{items}, at most C{concurrency} at
    a time.

    @param call: returns an awaitable of a list per batch.
    @return: the concatenated results, in order.
    """
    semaphore = DeferredSemaphore(concurrency)
    results = await gatherResults(
        [semaphore.run(call, chunk) for chunk in _chunks(items)], consumeErrors=True)
    return [item for result in results for item in result]


async def readTags(driver: IStorageDriver, tags: dict[str, dict[str, float]],
                   concurrency: int) -> dict[str, dict[str, tuple[Digest, float]]]:
    """
    Read the C{current} link of every tag.

    @return: per repository, each tag with the digest it names and its
        link's modification time (a tag whose link is missing or corrupt
        is left out).
    """
    wanted = [(name, tag, modTime) for name, names in tags.items()
              for tag, modTime in names.items()]
    links = [paths.tagCurrentLink(name, tag) for name, tag, _ in wanted]

    async def read(batch: list[str]) -> list[bytes | None]:
        return list(await driver.getContents(batch))

    found: dict[str, dict[str, tuple[Digest, float]]] = {}
    contents: list[bytes | None] = await inBatches(links, read, concurrency)
    for (name, tag, modTime), link, content in zip(wanted, links, contents, strict=True):
        digest = parseLink(content, link)
        if digest is not None:
            found.setdefault(name, {})[tag] = (digest, modTime)
    return found


async def readBlobs(driver: IStorageDriver) -> dict[Digest, BlobInfo]:
    """
    Walk C{blobs/} once.

    @return: every stored blob.
    """
    try:
        infos = await driver.walk(paths.BLOBS)
    except PathNotFound:
        return {}
    blobs = {}
    prefix = len(paths.BLOBS) + 1
    for info in infos:
        if info.isDir:
            continue
        parts = info.path[prefix:].split("/")
        if len(parts) == 4 and parts[3] == "data":
            digest = _digest(parts[0], parts[2])
            if digest is not None:
                blobs[digest] = BlobInfo(info.size, info.modTime)
    return blobs


def references(digest: Digest, payload: bytes) -> References:
    """
    @return: what the manifest C{payload} refers to; for one that
        txregistry does not parse (a schema 1 manifest, a malformed one),
        every digest it names under a C{digest} or C{blobSum} key, so that
        nothing it may need is collected.
    """
    try:
        manifest = parseManifest(payload, None)
    except ManifestInvalid as e:
        log.info("manifest {digest} not understood ({reason}): keeping what it names",
                 digest=str(digest), reason=str(e))
        named = tuple(_namedDigests(payload))
        return References(named, named, None, parsed=False)
    blobs = [layer.digest for layer in manifest.layers]
    if manifest.config is not None:
        blobs.insert(0, manifest.config.digest)
    return References(tuple(blobs), tuple(child.digest for child in manifest.manifests),
                      None if manifest.subject is None else manifest.subject.digest)


def _namedDigests(payload: bytes) -> Iterator[Digest]:
    try:
        body = parseJSON(payload)
    except InvalidJSON:
        return
    pending: list[Any] = [body]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                if key in ("digest", "blobSum") and isinstance(item, str):
                    try:
                        yield Digest.parse(item)
                    except InvalidDigest:
                        pass
                else:
                    pending.append(item)
        elif isinstance(value, list):
            pending.extend(value)


async def readManifests(driver: IStorageDriver, digests: Iterable[Digest],
                        known: dict[Digest, References | None],
                        concurrency: int) -> None:
    """
    Read and parse the manifests C{digests} not in C{known}, and the
    children of those (indexes may list manifests of other repositories),
    adding them to C{known}.
    """
    wanted = sorted({digest for digest in digests if digest not in known})
    while wanted:
        async def read(batch: list[Digest]) -> list[bytes | None]:
            return list(await driver.getContents([paths.blobData(d) for d in batch]))

        contents: list[bytes | None] = await inBatches(wanted, read, concurrency)
        for digest, payload in zip(wanted, contents, strict=True):
            known[digest] = None if payload is None else references(digest, payload)
        wanted = sorted({child for digest in wanted
                         for child in (known[digest] or References()).children
                         if child not in known})


async def readInventory(driver: IStorageDriver, concurrency: int = 16) -> Inventory:
    """
    Read everything the collector decides from.
    """
    repositories, tagNames = await readLinks(driver)
    for name, tags in (await readTags(driver, tagNames, concurrency)).items():
        repositories[name].tags = tags
    manifests: dict[Digest, References | None] = {}
    await readManifests(driver, (digest for repository in repositories.values()
                                 for digest in repository.revisions), manifests, concurrency)
    return Inventory(repositories, manifests, await readBlobs(driver))
