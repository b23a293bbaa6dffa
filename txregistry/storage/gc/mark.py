"""
The mark phase: which manifests every repository keeps, and which blobs
the kept manifests need.  A pure function of the inventory.

Without delete-untagged, every revision of every repository is a root, as
in distribution.  With it (or, for one repository, past the age its
retention policy gives untagged manifests), the roots are the tagged
manifests, the young ones and those the caller forces; a kept manifest then
keeps, within its repository and transitively, the children of an index
and its referrers (the manifests whose C{subject} it is).  What a kept
manifest needs is marked: its own blob, its config and layers, and its
children's, wherever they are listed from.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass, field
from datetime import timedelta

from txregistry.config.units import format_duration
from txregistry.digest import Digest
from txregistry.storage.gc.hooks import RetentionHook, TagInfo
from txregistry.storage.gc.inventory import Inventory, References, RepositoryInventory


@dataclass(frozen=True)
class Doomed:
    """
    A manifest or tag the collector deletes.

    @ivar repository: its repository.
    @ivar digest: the manifest (for a tag, the one it names).
    @ivar tag: the tag, or L{None} for a manifest.
    @ivar reason: why, as reported.
    """

    repository: str
    digest: Digest
    tag: str | None
    reason: str


@dataclass
class Marks:
    """
    The outcome of the mark phase.

    @ivar blobs: every blob a kept manifest needs.
    @ivar tags: the tags to delete (retention).
    @ivar manifests: the manifests to delete.
    """

    blobs: set[Digest] = field(default_factory=set)
    tags: list[Doomed] = field(default_factory=list)
    manifests: list[Doomed] = field(default_factory=list)


def mark(inventory: Inventory, *, now: float, deleteUntagged: bool = False,
         youngerThan: float = 0.0, retention: RetentionHook | None = None,
         forced: Mapping[str, Set[Digest]] | None = None) -> Marks:
    """
    Mark what the registry keeps.

    @param now: the time of the collection, in seconds since the epoch.
    @param deleteUntagged: whether untagged manifests are deleted (unless
        kept as children or referrers of kept manifests).
    @param youngerThan: a revision whose link was written at or after this
        time is a root whatever its tags.
    @param retention: the policy removing tags and old untagged manifests.
    @param forced: per repository, revisions that are roots whatever their
        tags (those re-pushed while the collector ran).
    """
    marks = Marks()
    visited: set[Digest] = set()
    for repository in inventory.repositories.values():
        kept = _keep(repository, inventory.manifests, marks, now=now,
                     deleteUntagged=deleteUntagged, youngerThan=youngerThan,
                     retention=retention,
                     forced=(forced or {}).get(repository.name, frozenset()))
        for digest in kept:
            _markManifest(digest, inventory.manifests, marks.blobs, visited)
    return marks


def _keep(repository: RepositoryInventory, manifests: Mapping[Digest, References | None],
          marks: Marks, *, now: float, deleteUntagged: bool, youngerThan: float,
          retention: RetentionHook | None, forced: Set[Digest]) -> set[Digest]:
    """
    @return: the manifests C{repository} keeps; those it does not are
        added to C{marks.manifests}, the tags retention removes to
        C{marks.tags}.
    """
    name = repository.name
    removed: dict[str, str] = {}
    maxAge = None
    aged = ""
    if retention is not None:
        removed = retention.tagsToDelete(
            name, [TagInfo(tag, digest, modTime, repository.pulled.get(tag))
                   for tag, (digest, modTime) in sorted(repository.tags.items())], now)
        maxAge = retention.untaggedMaxAge(name)
        if maxAge is not None:
            aged = (f"{retention.reason(name)}: untagged for more than "
                    f"{format_duration(timedelta(seconds=maxAge))}")
    for tag, reason in sorted(removed.items()):
        if tag in repository.tags:
            marks.tags.append(Doomed(name, repository.tags[tag][0], tag, reason))
    tagged = {digest for tag, (digest, _) in repository.tags.items() if tag not in removed}
    reasons: dict[Digest, str] = {}
    for digest, modTime in repository.revisions.items():
        if digest in tagged or digest in forced or modTime >= youngerThan:
            continue
        if deleteUntagged:
            reasons[digest] = "untagged"
        elif maxAge is not None and modTime < now - maxAge:
            reasons[digest] = aged
    if not reasons:
        return set(repository.revisions)
    kept = keptWith([digest for digest in repository.revisions if digest not in reasons],
                    repository, manifests)
    marks.manifests.extend(Doomed(name, digest, None, reason)
                           for digest, reason in sorted(reasons.items()) if digest not in kept)
    return kept


def keptWith(roots: Iterable[Digest], repository: RepositoryInventory,
             manifests: Mapping[Digest, References | None]) -> set[Digest]:
    """
    @return: the manifests of C{repository} that C{roots} keep: themselves
        and, transitively, the children of an index and the referrers of a
        kept manifest.
    """
    referrers: dict[Digest, list[Digest]] = {}
    for digest in repository.revisions:
        references = manifests.get(digest)
        if references is not None and references.subject is not None:
            referrers.setdefault(references.subject, []).append(digest)
    kept: set[Digest] = set()
    pending = list(roots)
    while pending:
        digest = pending.pop()
        if digest in kept:
            continue
        kept.add(digest)
        references = manifests.get(digest)
        if references is not None:
            pending.extend(child for child in references.children
                           if child in repository.revisions)
        pending.extend(referrers.get(digest, ()))
    return kept


def _markManifest(digest: Digest, manifests: Mapping[Digest, References | None],
                  marked: set[Digest], visited: set[Digest]) -> None:
    """
    Mark a kept manifest's blob and, transitively, what it needs.

    @param visited: the manifests already marked so.
    """
    pending = [digest]
    while pending:
        digest = pending.pop()
        if digest in visited:
            continue
        visited.add(digest)
        marked.add(digest)
        references = manifests.get(digest)
        if references is not None:
            marked.update(references.blobs)
            pending.extend(references.children)
