"""
Retention rules (C{storage.maintenance.retention}, a txregistry extension
shaped after Zot's retention policies): which tags the garbage collector
deletes, and after how long it deletes untagged manifests.

The rules are tried in order; the first whose C{repositories} globs match a
repository (L{txregistry.reference.compileNameGlob}; a rule without globs
matches every repository) is the one rule applied to it, and a repository
no rule matches keeps everything.  Within that rule:

  - without C{keeptags}, every tag is kept;
  - with it, a tag is kept if at least one of its entries keeps it, and
    deleted otherwise.  An entry considers the tags matching one of its
    C{patterns} (regular expressions searched in the tag, as Zot's: anchor
    them with C{^} and C{$} to match whole tags; no patterns: every tag),
    and keeps those that meet at least one of its criteria:
    C{mostrecentlypushed: N} (the N most recently pushed of those tags),
    C{mostrecentlypulled: N} (the N most recently pulled of those that were
    ever pulled), C{pushedwithin: D}, C{pulledwithin: D}; an entry with no
    criterion keeps every tag its patterns match.  Tags tied with the N-th
    (pushed or pulled at the same instant) are all kept, so that a rule
    never picks among them arbitrarily;
  - C{untaggedolderthan: D} deletes the manifests no tag names whose
    revision link is older than D, as delete-untagged would (the children
    of kept indexes and the referrers of kept manifests stay).

A tag's push time is that of its C{current} link (when it was last
pointed at a manifest); its pull time is the last C{GET} of the manifest by
that tag that the registry recorded (L{txregistry.storage.pulls}), or none.
Rules are numbered from 1 in the order written, and a tag a rule deletes is
reported with the reason C{"retention: rule N"}.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from txregistry.config.model import KeepTags, RetentionRule
from txregistry.reference import compileNameGlob
from txregistry.storage.gc.hooks import TagInfo

__all__ = ["RetentionPolicy", "TagInfo"]


class _Entry:
    """
    One C{keeptags} entry, its patterns compiled.
    """

    def __init__(self, entry: KeepTags) -> None:
        self.patterns = [re.compile(pattern) for pattern in entry.patterns]
        self.entry = entry
        self.criteria = any(criterion is not None for criterion in (
            entry.mostrecentlypushed, entry.mostrecentlypulled, entry.pushedwithin,
            entry.pulledwithin))

    def matches(self, tag: str) -> bool:
        return not self.patterns or any(pattern.search(tag) for pattern in self.patterns)

    def kept(self, tags: list[TagInfo], now: float) -> set[str]:
        """
        @return: the names of the C{tags} this entry keeps.
        """
        matching = [tag for tag in tags if self.matches(tag.name)]
        if not self.criteria:
            return {tag.name for tag in matching}
        entry = self.entry
        pushed = {tag.name: tag.pushedAt for tag in matching}
        pulled = {tag.name: tag.pulledAt for tag in matching if tag.pulledAt is not None}
        kept: set[str] = set()
        if entry.pushedwithin is not None:
            kept.update(_since(pushed, now - entry.pushedwithin.total_seconds()))
        if entry.pulledwithin is not None:
            kept.update(_since(pulled, now - entry.pulledwithin.total_seconds()))
        if entry.mostrecentlypushed is not None:
            kept.update(_mostRecent(pushed, entry.mostrecentlypushed))
        if entry.mostrecentlypulled is not None:
            kept.update(_mostRecent(pulled, entry.mostrecentlypulled))
        return kept


def _since(times: dict[str, float], start: float) -> list[str]:
    """
    @return: the names whose time is C{start} or later.
    """
    return [name for name, time in times.items() if time >= start]


def _mostRecent(times: dict[str, float], count: int) -> list[str]:
    """
    @return: the C{count} names with the latest times, and those tied with
        the last of them.
    """
    latest = sorted(times.values(), reverse=True)[:count]
    return _since(times, latest[-1]) if latest else []


class _Rule:
    """
    One rule, its globs and patterns compiled.
    """

    def __init__(self, number: int, rule: RetentionRule) -> None:
        self.reason = f"retention: rule {number}"
        self.globs = [compileNameGlob(glob) for glob in rule.repositories]
        self.keeptags = None if rule.keeptags is None else [
            _Entry(entry) for entry in rule.keeptags]
        self.untaggedMaxAge = (None if rule.untaggedolderthan is None
                               else rule.untaggedolderthan.total_seconds())

    def applies(self, repository: str) -> bool:
        return not self.globs or any(glob.fullmatch(repository) for glob in self.globs)


class RetentionPolicy:
    """
    The retention rules of a configuration, as the garbage collector asks
    them (see the module's docstring for what they mean).  Pure: it decides
    from what it is given, and reads no storage.
    """

    def __init__(self, rules: Sequence[RetentionRule]) -> None:
        """
        @param rules: C{storage.maintenance.retention}, validated (globs and
            patterns compile) by L{txregistry.config}.
        """
        self._rules = [_Rule(number, rule) for number, rule in enumerate(rules, 1)]
        self._chosen: dict[str, _Rule | None] = {}

    @classmethod
    def fromConfig(cls, rules: Sequence[RetentionRule]) -> RetentionPolicy | None:
        """
        @param rules: C{storage.maintenance.retention}.
        @return: the policy of C{rules}, or L{None} if there are none.
        """
        return cls(rules) if rules else None

    def _ruleFor(self, repository: str) -> _Rule | None:
        if repository not in self._chosen:
            self._chosen[repository] = next(
                (rule for rule in self._rules if rule.applies(repository)), None)
        return self._chosen[repository]

    def tagsToDelete(self, repository: str, tags: list[TagInfo],
                     now: float) -> dict[str, str]:
        """
        @param tags: every tag of C{repository}.
        @param now: the time of the collection, in seconds since the epoch.
        @return: the tags to delete, each with the reason reported
            (C{"retention: rule N"}).
        """
        rule = self._ruleFor(repository)
        if rule is None or rule.keeptags is None:
            return {}
        kept: set[str] = set()
        for entry in rule.keeptags:
            kept |= entry.kept(tags, now)
        return {tag.name: rule.reason for tag in tags if tag.name not in kept}

    def untaggedMaxAge(self, repository: str) -> float | None:
        """
        @return: the age, in seconds, past which an untagged manifest of
            C{repository} is deleted, or L{None} if its rule (or the lack of
            one) keeps them.
        """
        rule = self._ruleFor(repository)
        return None if rule is None else rule.untaggedMaxAge

    def reason(self, repository: str) -> str:
        """
        @return: the reason reported for what the rule applied to
            C{repository} deletes (C{"retention: rule N"}).
        """
        rule = self._ruleFor(repository)
        return "retention" if rule is None else rule.reason
