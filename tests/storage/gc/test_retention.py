"""
Tests for L{txregistry.storage.gc.retention.RetentionPolicy}: every
criterion, their combinations, ties, and tags never pulled.
"""

from __future__ import annotations

from datetime import timedelta

from txregistry.config.model import KeepTags, RetentionRule
from txregistry.digest import Digest
from txregistry.storage.gc.retention import RetentionPolicy, TagInfo

NOW = 1_000_000.0
HOUR = 3600.0
DIGEST = Digest.of(b"manifest")


def tag(name: str, pushedHoursAgo: float, pulledHoursAgo: float | None = None) -> TagInfo:
    return TagInfo(name, DIGEST, NOW - pushedHoursAgo * HOUR,
                   None if pulledHoursAgo is None else NOW - pulledHoursAgo * HOUR)


def deleted(rules: list[RetentionRule], tags: list[TagInfo],
            repository: str = "team/app") -> dict[str, str]:
    return RetentionPolicy(rules).tagsToDelete(repository, tags, NOW)


def keep(**entry: object) -> list[RetentionRule]:
    return [RetentionRule(keeptags=[KeepTags(**entry)])]  # type: ignore[arg-type]


TAGS = [
    tag("v1.0", 100, 1),
    tag("v1.1", 50),
    tag("v2.0", 10, 30),
    tag("latest", 5, 2),
    tag("dev-abc", 1),
]


def test_no_rule() -> None:
    """
    Without rules, or when no rule matches the repository, every tag and
    every untagged manifest is kept.
    """
    assert deleted([], TAGS) == {}
    assert deleted([RetentionRule(repositories=["other/*"], keeptags=[KeepTags()])],
                   TAGS) == {}
    assert RetentionPolicy([]).untaggedMaxAge("team/app") is None


def test_no_keeptags() -> None:
    """
    A rule without keeptags keeps every tag (it may still age out untagged
    manifests).
    """
    rules = [RetentionRule(untaggedolderthan=timedelta(hours=2))]
    assert deleted(rules, TAGS) == {}
    assert RetentionPolicy(rules).untaggedMaxAge("team/app") == 2 * HOUR


def test_patterns_only() -> None:
    """
    An entry with patterns and no criterion keeps every tag a pattern is
    found in (searched, not anchored: "test" is in "latest"); the others
    are deleted.
    """
    assert deleted(keep(patterns=["^v1", "test"]), TAGS) == {
        "v2.0": "retention: rule 1", "dev-abc": "retention: rule 1"}
    assert set(deleted(keep(patterns=["1"]), TAGS)) == {"v2.0", "latest", "dev-abc"}
    assert set(deleted(keep(patterns=["^v1$"]), TAGS)) == {t.name for t in TAGS}


def test_empty_entry() -> None:
    """
    An entry with neither patterns nor criteria keeps every tag.
    """
    assert deleted(keep(), TAGS) == {}


def test_most_recently_pushed() -> None:
    """
    mostrecentlypushed keeps the N tags pushed last.
    """
    assert set(deleted(keep(mostrecentlypushed=2), TAGS)) == {"v1.0", "v1.1", "v2.0"}
    assert deleted(keep(mostrecentlypushed=10), TAGS) == {}


def test_most_recently_pushed_among_patterns() -> None:
    """
    The count applies to the tags the entry's patterns match; the others
    are not kept by that entry.
    """
    assert set(deleted(keep(patterns=["^v"], mostrecentlypushed=1), TAGS)) == {
        "v1.0", "v1.1", "latest", "dev-abc"}


def test_most_recently_pulled() -> None:
    """
    mostrecentlypulled keeps the N tags pulled last; a tag never pulled
    never takes a place.
    """
    assert set(deleted(keep(mostrecentlypulled=2), TAGS)) == {
        "v1.1", "v2.0", "dev-abc"}
    assert set(deleted(keep(mostrecentlypulled=5), TAGS)) == {"v1.1", "dev-abc"}


def test_pushed_within() -> None:
    """
    pushedwithin keeps the tags pushed at most that long ago (inclusive).
    """
    assert set(deleted(keep(pushedwithin=timedelta(hours=10)), TAGS)) == {"v1.0", "v1.1"}


def test_pulled_within() -> None:
    """
    pulledwithin keeps the tags pulled at most that long ago; a tag never
    pulled is not kept by it, however recently it was pushed.
    """
    assert set(deleted(keep(pulledwithin=timedelta(hours=2)), TAGS)) == {
        "v1.1", "v2.0", "dev-abc"}


def test_no_pull_records() -> None:
    """
    With no pull recorded at all, pull criteria keep nothing, and push
    criteria of the same entry still keep what they select.
    """
    tags = [tag("a", 3), tag("b", 2), tag("c", 1)]
    assert set(deleted(keep(mostrecentlypulled=2, pulledwithin=timedelta(hours=24)),
                       tags)) == {"a", "b", "c"}
    assert set(deleted(keep(mostrecentlypulled=2, mostrecentlypushed=1), tags)) == {"a", "b"}


def test_criteria_ored() -> None:
    """
    Within an entry, a matching tag is kept if it meets any criterion.
    """
    entry = keep(mostrecentlypushed=1, pulledwithin=timedelta(hours=1),
                 pushedwithin=timedelta(hours=10))
    assert set(deleted(entry, TAGS)) == {"v1.1"}


def test_entries_ored() -> None:
    """
    A tag kept by any entry survives: release tags kept forever, the
    rest kept for two hours after their push.
    """
    rules = [RetentionRule(keeptags=[
        KeepTags(patterns=[r"^v\d+\.\d+$"]),
        KeepTags(pushedwithin=timedelta(hours=2))])]
    assert set(deleted(rules, TAGS)) == {"latest"}


def test_ties_kept() -> None:
    """
    Tags pushed (or pulled) at the same instant as the N-th are all kept.
    """
    tags = [tag("a", 3), tag("b", 2), tag("c", 2), tag("d", 1)]
    assert set(deleted(keep(mostrecentlypushed=2), tags)) == {"a"}
    tags = [tag("a", 9, 3), tag("b", 9, 1), tag("c", 9, 1), tag("d", 9)]
    assert set(deleted(keep(mostrecentlypulled=1), tags)) == {"a", "d"}


def test_future_times_kept() -> None:
    """
    A tag pushed "after" now (another clock ahead) is within any duration.
    """
    assert deleted(keep(pushedwithin=timedelta(hours=1)), [tag("a", -5)]) == {}


def test_first_matching_rule() -> None:
    """
    The first rule whose globs match a repository is the only one applied
    to it; rules are numbered from 1 in the reasons; a rule without globs
    matches every repository.
    """
    rules = [
        RetentionRule(repositories=["prod/**"]),
        RetentionRule(repositories=["team/*", "other"], keeptags=[KeepTags(patterns=["^v"])],
                      untaggedolderthan=timedelta(hours=1)),
        RetentionRule(keeptags=[KeepTags(mostrecentlypushed=1)]),
    ]
    policy = RetentionPolicy(rules)
    assert policy.tagsToDelete("prod/a/b", TAGS, NOW) == {}
    assert policy.untaggedMaxAge("prod/a/b") is None
    assert policy.tagsToDelete("team/app", TAGS, NOW) == {
        "latest": "retention: rule 2", "dev-abc": "retention: rule 2"}
    assert policy.untaggedMaxAge("other") == HOUR
    assert set(policy.tagsToDelete("team/app/web", TAGS, NOW).values()) == {"retention: rule 3"}
    assert set(policy.tagsToDelete("team/app/web", TAGS, NOW)) == {
        "v1.0", "v1.1", "v2.0", "latest"}
    assert policy.reason("other") == "retention: rule 2"
    assert policy.reason("prod/x") == "retention: rule 1"


def test_no_tags() -> None:
    """
    A repository without tags deletes none.
    """
    assert deleted(keep(mostrecentlypushed=1), []) == {}
