"""
Tests for C{storage.maintenance.retention}: how rules are read, and that a
bad one stops the start at its key.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from datetime import timedelta

import pytest

from txregistry.config import ConfigError, Configuration
from txregistry.config.model import KeepTags, RetentionRule

Loader = Callable[..., Configuration]

HEAD = "version: 0.1\nstorage:\n  inmemory:\n  maintenance:\n    retention:\n"


def test_absent(load: Loader) -> None:
    """
    Without the key, there is no rule.
    """
    assert load("version: 0.1\nstorage: inmemory\n").storage.maintenance.retention == []


def test_rules(load: Loader) -> None:
    """
    Every key of a rule is read, with its type; absent keys are None or empty.
    """
    config = load(HEAD + """\
      - repositories: ["team/**", "library/*"]
        keeptags:
          - patterns: ["^v[0-9]+\\\\."]
            mostrecentlypushed: 5
            mostrecentlypulled: 3
            pushedwithin: 720h
            pulledwithin: 24h
          - {}
        untaggedolderthan: 168h
      - untaggedolderthan: 0
""")
    assert config.storage.maintenance.retention == [
        RetentionRule(
            repositories=["team/**", "library/*"],
            keeptags=[
                KeepTags(patterns=["^v[0-9]+\\."], mostrecentlypushed=5, mostrecentlypulled=3,
                         pushedwithin=timedelta(hours=720), pulledwithin=timedelta(hours=24)),
                KeepTags(),
            ],
            untaggedolderthan=timedelta(hours=168)),
        RetentionRule(untaggedolderthan=timedelta(0)),
    ]


def test_environment(load: Loader) -> None:
    """
    A rule can be given by REGISTRY_* variables, as any other key.
    """
    config = load("version: 0.1\nstorage: inmemory\n", {
        "REGISTRY_STORAGE_MAINTENANCE_RETENTION": "[{repositories: [a/*], untaggedolderthan: 1h}]",
    })
    assert config.storage.maintenance.retention == [
        RetentionRule(repositories=["a/*"], untaggedolderthan=timedelta(hours=1))]


@pytest.mark.parametrize("rule, message", [
    ("- repositories: ['a/[b']\n",
     "storage.maintenance.retention[0].repositories[0]: has a '[' at 2 that is never closed"),
    ("- repositories: ['']\n",
     "storage.maintenance.retention[0].repositories[0]: must not be empty"),
    ("- keeptags: [{patterns: ['(v']}]\n",
     "storage.maintenance.retention[0].keeptags[0].patterns[0]: not a regular expression"),
    ("- keeptags: [{mostrecentlypushed: -1}]\n",
     "storage.maintenance.retention[0].keeptags[0].mostrecentlypushed: must be an integer >= 1"),
    ("- keeptags: [{mostrecentlypulled: 0}]\n",
     "storage.maintenance.retention[0].keeptags[0].mostrecentlypulled: must be an integer >= 1"),
    ("- keeptags: [{pushedwithin: -1h}]\n",
     "storage.maintenance.retention[0].keeptags[0].pushedwithin: must not be negative"),
    ("- keeptags: [{pulledwithin: 0s}]\n",
     "storage.maintenance.retention[0].keeptags[0].pulledwithin: must be positive"),
    ("- untaggedolderthan: 7d\n",
     "storage.maintenance.retention[0].untaggedolderthan: must be a duration"),
    ("- {}\n- keeptags: []\n",
     "storage.maintenance.retention[1].keeptags: must list an entry; omit it to keep every tag"),
    ("- keeptags: [{mostrecent: 1}]\n",
     "storage.maintenance.retention[0].keeptags[0].mostrecent: unknown key"),
    ("- keeptags: {patterns: [a]}\n",
     "storage.maintenance.retention[0].keeptags: must be a list"),
    ("repositories: [a]\n", "storage.maintenance.retention: must be a list"),
])
def test_invalid(load: Loader, rule: str, message: str) -> None:
    """
    A bad glob, regular expression, count or duration, or a malformed rule,
    is refused with its key's path.
    """
    with pytest.raises(ConfigError) as raised:
        load(HEAD + textwrap.indent(rule, "      "))
    assert str(raised.value).startswith(message)
