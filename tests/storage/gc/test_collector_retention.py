"""
Tests of retention applied by L{GarbageCollector}: the tags a rule
removes, the untagged manifests it ages out (but the children and referrers
of kept manifests), the pull records it decides from, and dry runs.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from tests.api.helpers import OCI_INDEX, OCI_MANIFEST, result, snapshot
from tests.api.support import InMemoryRegistry, imageManifest
from txregistry.config.model import KeepTags, RetentionRule
from txregistry.digest import Digest
from txregistry.storage import paths
from txregistry.storage.gc.collector import GarbageCollector, Report
from txregistry.storage.gc.retention import RetentionPolicy
from txregistry.storage.pulls import PullRecorder

NAME = "team/app"
DAY = 86400.0


def push(registry: InMemoryRegistry, reference: str, seed: str, name: str = NAME,
         subject: Digest | None = None) -> Digest:
    """
    Push an image of one layer of its own (and the shared empty config).

    @return: the manifest's digest.
    """
    config = registry.pushBlob(name, b"{}")
    layer = registry.pushBlob(name, f"layer {seed}".encode())
    manifest = imageManifest(config, 2, [(layer, len(f"layer {seed}"))])
    if subject is not None:
        manifest["subject"] = {"mediaType": OCI_MANIFEST, "digest": str(subject), "size": 1}
    response = registry.pushManifest(name, reference, manifest, OCI_MANIFEST)
    assert response.code == 201, response.body
    return Digest.parse(response.header("Docker-Content-Digest") or "")


def pushIndex(registry: InMemoryRegistry, reference: str, children: list[Digest]) -> Digest:
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": str(child), "size": 1,
         "platform": {"os": "linux", "architecture": f"arch{n}"}}
        for n, child in enumerate(children)]}
    response = registry.request("PUT", f"/v2/{NAME}/manifests/{reference}",
                                json.dumps(index).encode(), {"Content-Type": OCI_INDEX})
    assert response.code == 201, response.body
    return Digest.parse(response.header("Docker-Content-Digest") or "")


def collect(registry: InMemoryRegistry, rules: list[RetentionRule], after: float = 0.0,
            dryRun: bool = False) -> Report:
    """
    Collect with C{rules}, C{after} seconds from now.
    """
    clock = Clock()
    clock.advance(time.time() + after)
    collector = GarbageCollector(registry.driver, clock, retention=RetentionPolicy(rules))
    return result(Deferred.fromCoroutine(collector.collect(dryRun=dryRun)))


def tagsOf(registry: InMemoryRegistry, name: str = NAME) -> list[str]:
    return registry.request("GET", f"/v2/{name}/tags/list").json()["tags"] or []


def removed(report: Report, kind: str) -> dict[Any, str]:
    return {item.tag if kind == "tag" else item.digest: item.reason
            for item in report.removed if item.kind == kind}


def test_tags_and_their_images() -> None:
    """
    The tags a rule does not keep are deleted, with the rule named; with
    untaggedolderthan, the manifests they named and their blobs go too, while
    a manifest another kept tag names stays.
    """
    registry = InMemoryRegistry()
    v1 = push(registry, "v1", "1")
    push(registry, "v1-again", "1")
    dev = push(registry, "dev", "dev")
    rules = [RetentionRule(repositories=["team/*"], keeptags=[KeepTags(patterns=["^v"])],
                           untaggedolderthan=timedelta(0))]
    report = collect(registry, rules, after=1)
    assert removed(report, "tag") == {"dev": "retention: rule 1"}
    assert removed(report, "manifest") == {
        dev: "retention: rule 1: untagged for more than 0s"}
    assert report.blobs == 2  # the dev manifest and its layer
    assert tagsOf(registry) == ["v1", "v1-again"]
    assert registry.request("GET", f"/v2/{NAME}/manifests/{v1}").code == 200
    assert registry.request("GET", f"/v2/{NAME}/manifests/{dev}").code == 404


def test_dry_run() -> None:
    """
    A dry run reports the same and changes nothing.
    """
    registry = InMemoryRegistry()
    push(registry, "v1", "1")
    dev = push(registry, "dev", "dev")
    rules = [RetentionRule(keeptags=[KeepTags(patterns=["^v"])],
                           untaggedolderthan=timedelta(0))]
    before = snapshot(registry.driver)
    report = collect(registry, rules, after=1, dryRun=True)
    assert report.dryRun
    assert removed(report, "tag") == {"dev": "retention: rule 1"}
    assert list(removed(report, "manifest")) == [dev]
    assert report.blobs == 2
    assert snapshot(registry.driver) == before


def test_tags_only() -> None:
    """
    Without untaggedolderthan (or delete-untagged), only the tags go: the
    manifests stay, by digest.
    """
    registry = InMemoryRegistry()
    dev = push(registry, "dev", "dev")
    report = collect(registry, [RetentionRule(keeptags=[KeepTags(patterns=["^v"])])])
    assert removed(report, "tag") == {"dev": "retention: rule 1"}
    assert report.manifests == report.blobs == 0
    assert registry.request("GET", f"/v2/{NAME}/manifests/{dev}").code == 200


def test_untagged_age() -> None:
    """
    An untagged manifest is deleted only once its revision is older than
    untaggedolderthan; repositories no rule matches keep theirs.
    """
    registry = InMemoryRegistry(delete_enabled=True)
    orphan = push(registry, "orphan", "o")
    other = push(registry, "orphan", "p", name="other/app")
    for name in (NAME, "other/app"):
        assert registry.request("DELETE", f"/v2/{name}/manifests/orphan").code == 202
    rules = [RetentionRule(repositories=["team/**"], untaggedolderthan=timedelta(days=1))]
    assert collect(registry, rules, after=DAY - 60).manifests == 0
    report = collect(registry, rules, after=DAY + 60)
    assert removed(report, "manifest") == {
        orphan: "retention: rule 1: untagged for more than 24h"}
    assert registry.request("GET", f"/v2/other/app/manifests/{other}").code == 200


def test_children_and_referrers_kept() -> None:
    """
    Aging out untagged manifests keeps the children of a kept index and
    the referrers of kept manifests, and deletes a referrer whose subject
    goes.
    """
    registry = InMemoryRegistry(delete_enabled=True)
    children = [push(registry, "tmp", seed) for seed in ("amd", "arm")]
    index = pushIndex(registry, "v1", children)
    signature = push(registry, "tmp", "sig", subject=index)
    orphan = push(registry, "tmp", "orphan")
    orphanSignature = push(registry, "tmp", "orphan-sig", subject=orphan)
    assert registry.request("DELETE", f"/v2/{NAME}/manifests/tmp").code == 202
    report = collect(registry, [RetentionRule(untaggedolderthan=timedelta(hours=1))],
                     after=2 * 3600)
    assert set(removed(report, "manifest")) == {orphan, orphanSignature}
    for digest in (*children, index, signature):
        assert registry.request("GET", f"/v2/{NAME}/manifests/{digest}").code == 200


def test_pulls_recorded() -> None:
    """
    The recorded pulls decide pulledwithin: the tag pulled is kept, the tag
    never pulled is deleted.
    """
    registry = InMemoryRegistry()
    recorder = PullRecorder(registry.driver, registry.clock)
    registry.app.manifests.onPull = recorder.pulled
    push(registry, "pulled", "a")
    push(registry, "idle", "b")
    assert registry.request("GET", f"/v2/{NAME}/manifests/pulled").code == 200
    assert result(recorder.flush()) == 1
    rules = [RetentionRule(keeptags=[KeepTags(pulledwithin=timedelta(hours=1))])]
    assert removed(collect(registry, rules, after=60), "tag") == {"idle": "retention: rule 1"}
    assert removed(collect(registry, rules, after=2 * 3600), "tag") == {
        "pulled": "retention: rule 1"}


def test_pull_records_forgotten() -> None:
    """
    A collection deletes the pull records of the tags it deletes and of
    tags deleted since, and keeps the others; a dry run keeps them all.
    """
    registry = InMemoryRegistry(delete_enabled=True)
    recorder = PullRecorder(registry.driver, registry.clock)
    for tag in ("v1", "dev", "gone"):
        push(registry, tag, tag)
        recorder.pulled(NAME, tag)
    result(recorder.flush())
    assert registry.request("DELETE", f"/v2/{NAME}/manifests/gone").code == 202

    def records() -> list[str]:
        listed = result(registry.driver.list(paths.pulledRecords(NAME)))
        return [path.rsplit("/", 1)[1] for path in listed]

    rules = [RetentionRule(keeptags=[KeepTags(patterns=["^v"])])]
    collect(registry, rules, after=1, dryRun=True)
    assert records() == ["dev", "gone", "v1"]
    collect(registry, rules, after=1)
    assert records() == ["v1"]
