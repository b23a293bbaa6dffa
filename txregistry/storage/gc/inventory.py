"""
What the registry holds, read for the garbage collector through
L{IStorageDriver} alone, in as few round trips as the driver allows, a
bounded number at a time: each repository's C{_layers} and
C{_manifests/revisions} links, its tags, every blob stored under
C{blobs/}, and the manifests, read and parsed in batches (C{getContents}).

The links' times matter only to a collector with a grace period or a
retention policy: it walks the link directories (C{walk} gives every
link's time in one call).  Without (offline), listing the directories of
the digests is enough, which reads a fraction of the directories; the
C{_layers} links are then listed only once the collector knows which
blobs it may delete (L{readLayers}), and the tags only if it deletes
untagged manifests.  Blobs
are listed, never stat-ed here: only the few the sweep would delete are,
right before it does (L{txregistry.storage.gc.sweep}).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Set
from dataclasses import dataclass, field
from typing import Any, TypeVar

from twisted.internet.defer import Deferred, DeferredSemaphore, gatherResults
from twisted.logger import Logger

from txregistry.digest import HEX, HEX_LENGTHS, Digest
from txregistry.interfaces import IStorageDriver
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
        modification time (0 if the times were not read).
    @ivar tags: each tag with the digest it names and its C{current} link's
        modification time (0 if the times were not read).
    @ivar layers: the blobs its C{_layers} links name, with the links'
        modification times (0 if the times were not read).
    @ivar pulled: when its tags were last pulled, those of tags since
        deleted included (L{txregistry.storage.pulls.readPulls}; read only
        for a retention policy).
    """

    name: str
    revisions: dict[Digest, float] = field(default_factory=dict)
    tags: dict[str, tuple[Digest, float]] = field(default_factory=dict)
    layers: dict[Digest, float] = field(default_factory=dict)
    pulled: dict[str, float] = field(default_factory=dict)


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
    blobs: set[Digest]


class Digests:
    """
    Digests read from paths and manifests, each made once: the same layer
    is named by many repositories' links and manifests, and a lookup costs
    less than checking and building it again.  One lives for one reading of
    the storage (not L{Digest.parse}'s cache, which so many distinct digests
    would only churn).
    """

    def __init__(self) -> None:
        self._known: dict[str, Digest] = {}
        self._named: dict[str, Digest] = {}

    def __call__(self, algorithm: str, hex: str) -> Digest | None:
        """
        @return: the digest named by C{algorithm} and C{hex} (path
            components, or the halves of a descriptor's digest), or L{None}
            if they name none.
        """
        known = self._known.get(hex)
        if known is not None and known.algorithm == algorithm:
            return known
        if HEX_LENGTHS.get(algorithm) != len(hex) or not HEX.fullmatch(hex):
            return None
        digest = self._known[hex] = Digest(algorithm, hex)
        return digest

    def named(self, text: str) -> Digest | None:
        """
        @return: the digest C{text} (C{algorithm:hex}) names, or L{None}
            if it names none.
        """
        digest = self._named.get(text)
        if digest is None:
            algorithm, _, hex = text.partition(":")
            digest = self(algorithm, hex)
            if digest is not None:
                self._named[text] = digest
        return digest


async def readLinks(driver: IStorageDriver, concurrency: int = 16,
                    times: bool = False, digests: Digests | None = None,
                    tags: bool = True) -> tuple[
        dict[str, RepositoryInventory], dict[str, dict[str, float]]]:
    """
    Read the C{_manifests/revisions} links of every repository, the names
    of its tags (not their index links, which the collector never needs)
    and, with their times, its C{_layers} links.

    @param times: whether the links' times are wanted: the link
        directories of each repository are walked then, C{concurrency}
        repositories at a time; else only the directories of digests are
        listed, every repository's at once, in batches (L{listAll}), and
        the C{_layers} links are left to L{readLayers}.
    @param tags: whether the tags are wanted (without times).
    @return: every repository with its revisions and, with C{times}, layer
        links (its C{tags} still empty), and the tags of each, to be read,
        with their C{current} links' modification times.
    """
    names = await _repositoryNames(driver, concurrency)
    digests = digests or Digests()
    if times:
        semaphore = DeferredSemaphore(concurrency)
        found = await gatherResults(
            [semaphore.run(_walkRepository, driver, name, digests) for name in names],
            consumeErrors=True)
    else:
        found = await _listRepositories(driver, names, concurrency, digests, tags)
    return ({repository.name: repository for repository, _ in found},
            {repository.name: tags for repository, tags in found if tags})


async def readLayers(driver: IStorageDriver, repositories: Iterable[RepositoryInventory],
                     wanted: Set[Digest], concurrency: int = 16) -> None:
    """
    Add to each repository's C{layers} (with the time 0) those of the
    C{wanted} blobs its C{_layers} links name: the links of a collector
    that reads no times (L{readLinks}), which only needs those of the blobs
    it may delete, and so makes no digest of the others.
    """
    byHex = {digest.hex: digest for digest in wanted}
    if not byHex:
        return
    found = list(repositories)
    listed = await listAll(driver, [f"{paths.repository(repository.name)}/_layers"
                                    for repository in found], concurrency)
    algorithms = [(i, algorithm) for i, children in enumerate(listed) for algorithm in children]
    below = await listAll(driver, [algorithm for _, algorithm in algorithms], concurrency)
    for (i, algorithm), children in zip(algorithms, below, strict=True):
        name, start, layers = _base(algorithm), len(algorithm) + 1, found[i].layers
        for child in children:
            digest = byHex.get(child[start:])
            if digest is not None and digest.algorithm == name:
                layers[digest] = 0.0


def _base(path: str) -> str:
    return path.rsplit("/", 1)[1]


async def listAll(driver: IStorageDriver, directories: list[str],
                  concurrency: int) -> list[list[str]]:
    """
    List C{directories}, L{BATCH} to a storage call, C{concurrency} calls
    at a time.

    @return: the children of each, in order (none for a missing one).
    """
    async def call(batch: list[str]) -> list[list[str]]:
        return [children or [] for children in await driver.lists(batch)]
    return await inBatches(directories, call, concurrency)


async def _repositoryNames(driver: IStorageDriver, concurrency: int) -> list[str]:
    """
    @return: the names of the directories below C{repositories/} with a
        C{_layers} or C{_manifests} directory, listing a level of the tree
        at a time.
    """
    names: list[str] = []
    level = [paths.REPOSITORIES]
    while level:
        below: list[str] = []
        for directory, children in zip(level, await listAll(driver, level, concurrency),
                                       strict=True):
            bases = [_base(child) for child in children]
            if "_layers" in bases or "_manifests" in bases:
                names.append(directory[len(paths.REPOSITORIES) + 1:])
            below.extend(child for child, base in zip(children, bases, strict=True)
                         if not base.startswith("_"))
        level = below
    return sorted(names)


async def _listRepositories(driver: IStorageDriver, names: list[str], concurrency: int,
                            digests: Digests, tags: bool
                            ) -> list[tuple[RepositoryInventory, dict[str, float]]]:
    """
    @return: each repository with its revisions (read by listing the
        directories of their digests, with the time 0), and its tag names
        (with the time 0) if C{tags}.
    """
    tops = [f"{paths.manifests(name)}/revisions" for name in names]
    if tags:
        tops += [paths.tags(name) for name in names]
    listed = await listAll(driver, tops, concurrency)
    algorithms = [(i, algorithm) for i, children in enumerate(listed[:len(names)])
                  for algorithm in children]
    below = await listAll(driver, [algorithm for _, algorithm in algorithms], concurrency)
    revisions: list[dict[Digest, float]] = [{} for _ in names]
    for (i, algorithm), children in zip(algorithms, below, strict=True):
        name, start, found = _base(algorithm), len(algorithm) + 1, revisions[i]
        for child in children:
            digest = digests(name, child[start:])
            if digest is not None:
                found[digest] = 0.0
    tagNames = listed[len(names):] or [[] for _ in names]
    return [(RepositoryInventory(name, revisions=revisions[n]),
             {_base(child): 0.0 for child in tagNames[n]})
            for n, name in enumerate(names)]


async def _walkRepository(driver: IStorageDriver, name: str,
                          digests: Digests) -> tuple[RepositoryInventory, dict[str, float]]:
    repository = RepositoryInventory(
        name, revisions=await _walkLinks(driver, f"{paths.manifests(name)}/revisions", digests),
        layers=await _walkLinks(driver, f"{paths.repository(name)}/_layers", digests))
    directory = paths.tags(name)
    tags: dict[str, float] = {}
    for info in await _orEmpty(driver.walk, directory):
        parts = info.path[len(directory) + 1:].split("/")
        if parts[1:] == ["current", "link"] and not info.isDir:
            tags[parts[0]] = info.modTime
    return repository, tags


async def _walkLinks(driver: IStorageDriver, directory: str,
                     digests: Digests) -> dict[Digest, float]:
    """
    @return: the digests of the C{<alg>/<hex>/link} files below
        C{directory}, with their times.
    """
    links = {}
    for info in await _orEmpty(driver.walk, directory):
        parts = info.path[len(directory) + 1:].split("/")
        if len(parts) == 3 and parts[2] == "link" and not info.isDir:
            digest = digests(parts[0], parts[1])
            if digest is not None:
                links[digest] = info.modTime
    return links


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
    chunks = list(_chunks(items))
    if len(chunks) == 1:
        return list(await call(chunks[0]))
    semaphore = DeferredSemaphore(concurrency)
    results = await gatherResults(
        [semaphore.run(call, chunk) for chunk in chunks], consumeErrors=True)
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


async def readBlobs(driver: IStorageDriver, concurrency: int = 16,
                    digests: Digests | None = None) -> set[Digest]:
    """
    List C{blobs/}, its C{<alg>/<xx>} directories in batches (L{listAll}).

    @return: the digest of every blob stored.
    """
    algorithms = (await listAll(driver, [paths.BLOBS], concurrency))[0]
    directories = [prefix for prefixes in await listAll(driver, algorithms, concurrency)
                   for prefix in prefixes]
    blobs = set()
    digests = digests or Digests()
    start = len(paths.BLOBS) + 1
    for children in await listAll(driver, directories, concurrency):
        for child in children:
            parts = child[start:].split("/")
            digest = digests(parts[0], parts[2])
            if digest is not None:
                blobs.add(digest)
    return blobs


async def _orEmpty(call: Callable[[str], Deferred[list[T]]], directory: str) -> list[T]:
    """
    @return: what C{call} (a driver's C{list} or C{walk}) answers for
        C{directory}, or nothing if there is no such directory.
    """
    try:
        return await call(directory)
    except PathNotFound:
        return []


def references(digest: Digest, payload: bytes, digests: Digests | None = None) -> References:
    """
    @return: what the manifest C{payload} refers to: the fields of an
        image manifest or an index (the registry checked the rest when it
        was pushed).  For a manifest of another shape (a schema 1 manifest,
        a malformed one), every digest it names under a C{digest} or
        C{blobSum} key, so that nothing it may need is collected.
    """
    digests = digests or Digests()
    try:
        body = json.loads(payload)
    except (ValueError, RecursionError):
        body = None
    found = _shaped(body, digests)
    if found is not None:
        return found
    log.info("manifest {digest} not understood: keeping every digest it names",
             digest=str(digest))
    named = tuple(_namedDigests(body, digests))
    return References(named, named, None, parsed=False)


def _shaped(body: Any, digests: Digests) -> References | None:
    """
    @return: the references of a schema 2 image manifest or index, or
        L{None} if C{body} is not one.
    """
    if not isinstance(body, dict) or body.get("schemaVersion") != 2:
        return None
    config, layers, children = body.get("config"), body.get("layers"), body.get("manifests")
    if config is not None:
        if not isinstance(layers, list) or children is not None:
            return None
        blobs = [_named(descriptor, digests) for descriptor in [config, *layers]]
        named: list[Digest | None] = []
    elif isinstance(children, list) and layers is None:
        blobs, named = [], [_named(descriptor, digests) for descriptor in children]
    else:
        return None
    subject = None if body.get("subject") is None else _named(body["subject"], digests)
    if None in blobs or None in named or (subject is None and body.get("subject") is not None):
        return None
    return References(tuple(blobs), tuple(named), subject)  # type: ignore[arg-type]


def _named(descriptor: Any, digests: Digests) -> Digest | None:
    """
    @return: the digest of a descriptor, or L{None} if it names none.
    """
    if not isinstance(descriptor, dict):
        return None
    text = descriptor.get("digest")
    return digests.named(text) if isinstance(text, str) else None


def _namedDigests(body: Any, digests: Digests) -> Iterator[Digest]:
    pending: list[Any] = [body]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                if key in ("digest", "blobSum") and isinstance(item, str):
                    digest = digests.named(item)
                    if digest is not None:
                        yield digest
                else:
                    pending.append(item)
        elif isinstance(value, list):
            pending.extend(value)


async def readManifests(driver: IStorageDriver, wanted: Iterable[Digest],
                        known: dict[Digest, References | None],
                        concurrency: int, digests: Digests | None = None) -> None:
    """
    Read and parse the manifests C{digests} not in C{known}, and the
    children of those (indexes may list manifests of other repositories),
    adding them to C{known}.
    """
    wanted = list({digest for digest in wanted if digest not in known})
    digests = digests or Digests()
    while wanted:
        async def read(batch: list[Digest]) -> list[bytes | None]:
            return list(await driver.getContents([paths.blobData(d) for d in batch]))

        contents: list[bytes | None] = await inBatches(wanted, read, concurrency)
        for digest, payload in zip(wanted, contents, strict=True):
            known[digest] = None if payload is None else references(digest, payload, digests)
        wanted = list({child for digest in wanted
                         for child in (known[digest] or References()).children
                         if child not in known})


async def readInventory(driver: IStorageDriver, concurrency: int = 16,
                        times: bool = False, tags: bool = True) -> Inventory:
    """
    Read everything the collector decides from, the blobs meanwhile.

    @param times: whether the links' times are wanted (see L{readLinks});
        without, no C{_layers} link is read (see L{readLayers}).
    @param tags: whether the tags are wanted (with C{times}, they are read
        anyway).
    """
    digests = Digests()
    blobs = Deferred.fromCoroutine(readBlobs(driver, concurrency, digests))
    repositories, tagNames = await readLinks(driver, concurrency, times, digests, tags)
    for name, found in (await readTags(driver, tagNames, concurrency)).items():
        repositories[name].tags = found
    manifests: dict[Digest, References | None] = {}
    await readManifests(driver, (digest for repository in repositories.values()
                                 for digest in repository.revisions), manifests, concurrency,
                        digests)
    return Inventory(repositories, manifests, await blobs)
