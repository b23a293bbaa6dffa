"""
Tests that the online collector applies C{storage.maintenance.retention}.
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactor

from tests.api.support import InMemoryRegistry
from tests.storage.gc.test_collector_retention import push, tagsOf
from tests.storage.gc.test_service import Observed
from txregistry.config import GCConfig, load_config
from txregistry.config.model import KeepTags, RetentionRule
from txregistry.service import makeService
from txregistry.storage.gc.retention import RetentionPolicy
from txregistry.storage.gc.service import CollectionService


def test_runsApplyRetention() -> None:
    """
    A run deletes the tags no rule keeps, and the manifests they leave
    untagged once older than the rule's age and the grace period.
    """
    registry = InMemoryRegistry()
    push(registry, "v1", "1")
    dev = push(registry, "dev", "dev")
    clock = Clock()
    clock.advance(time.time() + 3600)
    observed = Observed()
    rules = [RetentionRule(keeptags=[KeepTags(patterns=["^v"])],
                           untaggedolderthan=timedelta(minutes=30))]
    service = CollectionService.fromConfig(
        GCConfig(enabled=True, interval=timedelta(minutes=1),
                 graceperiod=timedelta(minutes=1)),
        registry.app.registry, clock, observed, RetentionPolicy.fromConfig(rules))
    service.delay = 0
    service.startService()
    clock.advance(1)                # the run takes the lease
    clock.advance(1)                # ... which settles
    [(_, _, _, report)] = observed.runs
    assert report is not None
    assert [(item.kind, item.tag or item.digest) for item in report.removed
            if item.kind in ("tag", "manifest")] == [("tag", "dev"), ("manifest", dev)]
    assert tagsOf(registry) == ["v1"]
    service.stopService()


def test_treePassesTheRules(tmp_path: Path) -> None:
    """
    The service tree gives the online collector the configured rules, and
    none when there are none.
    """
    path = tmp_path / "config.yml"
    for retention, policy in [("[{keeptags: [{patterns: ['^v']}]}]", True), ("[]", False)]:
        path.write_text("version: 0.1\nstorage:\n  inmemory:\n  maintenance:\n"
                        f"    gc: {{enabled: true}}\n    retention: {retention}\n"
                        "http:\n  addr: 127.0.0.1:0\n")
        tree = makeService(load_config(str(path), {}, cwd=str(tmp_path)), None,
                           MemoryReactor())
        [service] = [s for s in tree if isinstance(s, CollectionService)]
        assert isinstance(service.collector.retention, RetentionPolicy) is policy
