"""
Online garbage collection under load, against a real C{twistd -n registry}:
the collector runs every second (grace period 2s) while four clients push
and pull images and indexes sharing layers, and delete some of them, for a
minute (C{TXREGISTRY_GC_STRESS_SECONDS} shortens it locally; CI runs the
minute); then again, for half as long, deleting untagged manifests, the
clients deleting tags rather than manifests.

Three clients speak raw HTTP (whole, chunked and mounted uploads, blobs and
an index's child manifests skipped when a C{HEAD} finds them, as real
clients do), the fourth is skopeo.  A client whose manifest push is refused
because something it relied on was collected meanwhile
(C{MANIFEST_BLOB_UNKNOWN}, an honest answer) pushes everything again and
retries.  What must hold:

  - every image or index that got a 201 and was not deleted pulls back
    intact (every digest verified), during the run and at the end;
  - the collector ran many times and deleted garbage while pushes went on;
  - once the clients stop and a run started after the grace period is
    over, the storage holds exactly what the clients' live images need:
    every unreferenced blob (and, deleting untagged manifests, every
    untagged manifest no index names) is gone, everything needed is there,
    and no C{_layers} link names a missing blob.
"""

from __future__ import annotations

import gzip
import http.client
import json
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from harness import (
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
    OCILayout,
    Registries,
    RegistryProcess,
    canonical_json,
    free_port,
    http_request,
    image_blobs,
    make_txregistry,
    sha256,
    skopeo,
    txregistry_config,
    with_digest,
)
from prometheus_client.parser import text_string_to_metric_families

#: How long the clients run; CI runs the full minute.
DURATION = float(os.environ.get("TXREGISTRY_GC_STRESS_SECONDS", "60"))
GRACE = 2.0
GC = {"enabled": True, "interval": "1s", "graceperiod": f"{GRACE:g}s"}
SHARED_REPOSITORIES = ["stress/shared-0", "stress/shared-1"]
V2 = "docker/registry/v2"


@dataclass(frozen=True)
class Image:
    """
    An image or an index: its manifest's bytes, the blobs it names (an
    image's config and layers), and the manifests it names (an index's).
    """

    manifest: bytes
    blobs: dict[str, bytes]
    children: tuple[Image, ...] = ()

    @property
    def digest(self) -> str:
        return sha256(self.manifest)

    @property
    def mediaType(self) -> str:
        return OCI_INDEX if self.children else OCI_MANIFEST

    def closure(self) -> set[str]:
        """
        @return: the digests of its manifest and of everything it needs.
        """
        return {self.digest, *self.blobs}.union(*(child.closure() for child in self.children))


def randomLayer(rng: random.Random, size: int) -> bytes:
    """
    @return: C{size} random bytes, gzipped (skopeo checks what it pushes).
    """
    return gzip.compress(rng.randbytes(size), mtime=0)


def makeImage(rng: random.Random, pool: list[bytes]) -> Image:
    """
    @return: an image of two layers of C{pool} (shared with other images)
        and one of its own, with a config of its own.
    """
    layers = rng.sample(pool, 2) + [randomLayer(rng, rng.randint(1, 96 * 1024))]
    config = canonical_json({"architecture": "amd64", "os": "linux",
                             "nonce": f"{rng.getrandbits(64):016x}",
                             "rootfs": {"type": "layers",
                                        "diff_ids": [sha256(layer) for layer in layers]}})
    manifest = canonical_json({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
        "layers": [{"mediaType": OCI_LAYER_GZIP, "digest": sha256(layer),
                    "size": len(layer)} for layer in layers]})
    return Image(manifest, {sha256(blob): blob for blob in [config, *layers]})


def makeIndex(rng: random.Random, pool: list[bytes]) -> Image:
    """
    @return: an index of two images of L{makeImage}.
    """
    children = (makeImage(rng, pool), makeImage(rng, pool))
    manifest = canonical_json({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": child.digest,
                       "size": len(child.manifest),
                       "platform": {"architecture": architecture, "os": "linux"}}
                      for child, architecture in zip(children, ["amd64", "arm64"],
                                                     strict=True)]})
    return Image(manifest, {}, children)


class Client:
    """
    A raw HTTP client on one kept-alive connection, reopened when the
    server closes it.
    """

    def __init__(self, server: RegistryProcess) -> None:
        self.server = server
        self.conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, Any, bytes]:
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.server.host, timeout=60)
            try:
                self.conn.request(method, path, body=body, headers=headers or {})
                response = self.conn.getresponse()
                return response.status, response.headers, response.read()
            except (ConnectionError, http.client.RemoteDisconnected,
                    http.client.CannotSendRequest):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")


def pathOf(location: str) -> str:
    parts = urlsplit(location)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


@dataclass
class Outcome:
    """
    What the clients saw.
    """

    lock: threading.Lock = field(default_factory=threading.Lock)
    alive: dict[tuple[str, str], Image] = field(default_factory=dict)
    pushed: int = 0
    deleted: int = 0
    pulled: int = 0
    refusedThenRetried: int = 0
    failedPushes: int = 0
    mounts: int = 0
    skipped: int = 0

    def count(self, name: str) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + 1)


class RawPusher:
    """
    One raw HTTP client: pushes images and indexes (uploading the blobs a
    C{HEAD} does not find, by whole, chunked or mounted uploads; an index's
    children by digest unless a C{HEAD} finds them), by tag, pulls back its
    own, deletes some (by digest, with an index's children; or, when the
    collector deletes untagged manifests, by untagging them) and pushes
    some deleted ones again.
    """

    def __init__(self, index: int, server: RegistryProcess, pool: list[bytes],
                 outcome: Outcome, rng: random.Random, untag: bool) -> None:
        self.index = index
        self.client = Client(server)
        self.pool = pool
        self.outcome = outcome
        self.rng = rng
        self.untag = untag
        self.mine: list[tuple[str, Image, str]] = []
        self.gone: list[tuple[str, Image]] = []
        self.known: dict[str, str] = {}     # blob -> a repository it was pushed to

    def pushBlob(self, repository: str, digest: str, data: bytes, force: bool) -> None:
        request = self.client.request
        if not force:
            status, _, _ = request("HEAD", f"/v2/{repository}/blobs/{digest}")
            if status == 200:
                self.outcome.count("skipped")
                return
        source = self.known.get(digest)
        style = self.rng.choice(["whole", "put", "chunked", "mount"])
        if style == "mount" and source is not None and source != repository:
            status, headers, body = request(
                "POST", f"/v2/{repository}/blobs/uploads/?mount={digest}&from={source}")
            if status == 201:
                self.outcome.count("mounts")
                return
            assert status == 202, (status, body)
        elif style == "whole" and len(data) <= 256 * 1024:
            status, _, body = request("POST", f"/v2/{repository}/blobs/uploads/?digest={digest}",
                                      data, {"Content-Type": "application/octet-stream"})
            assert status == 201, (status, body)
            self.known[digest] = repository
            return
        else:
            status, headers, body = request("POST", f"/v2/{repository}/blobs/uploads/")
            assert status == 202, (status, body)
        location = pathOf(headers["Location"])
        if style == "chunked" and len(data) > 1:
            half = len(data) // 2
            status, headers, body = request(
                "PATCH", location, data[:half],
                {"Content-Type": "application/octet-stream",
                 "Content-Range": f"0-{half - 1}"})
            assert status == 202, (status, body)
            location, data = pathOf(headers["Location"]), data[half:]
        status, _, body = request("PUT", with_digest(location, digest), data,
                                  {"Content-Type": "application/octet-stream"})
        assert status == 201, (status, body)
        self.known[digest] = repository

    def pushTree(self, repository: str, image: Image, reference: str, force: bool) -> bool:
        """
        Push an image (its blobs, then its manifest) or an index (its
        children, by digest, then its manifest) as C{reference}.

        @return: whether the manifest got its 201, or was refused for naming
            something missing (C{MANIFEST_BLOB_UNKNOWN}).
        """
        for child in image.children:
            if not force:
                status, _, _ = self.client.request(
                    "HEAD", f"/v2/{repository}/manifests/{child.digest}",
                    headers={"Accept": OCI_MANIFEST})
                if status == 200:
                    self.outcome.count("skipped")
                    continue
            if not self.pushTree(repository, child, child.digest, force):
                return False
        for digest, data in image.blobs.items():
            self.pushBlob(repository, digest, data, force)
        status, headers, body = self.client.request(
            "PUT", f"/v2/{repository}/manifests/{reference}", image.manifest,
            {"Content-Type": image.mediaType})
        if status == 201:
            assert headers["Docker-Content-Digest"] == image.digest
            return True
        assert status == 400 and b"MANIFEST_BLOB_UNKNOWN" in body, (status, body)
        return False

    def push(self, repository: str, image: Image) -> str | None:
        """
        Push an image or index by a new tag, pushing everything again (at
        most twice) if it is refused for naming something missing.

        @return: the tag, if it got its 201.
        """
        tag = f"t{self.index}-{self.rng.getrandbits(32):08x}"
        for attempt in range(3):
            if self.pushTree(repository, image, tag, force=attempt > 0):
                with self.outcome.lock:
                    self.outcome.alive[repository, image.digest] = image
                    self.outcome.pushed += 1
                return tag
            self.outcome.count("refusedThenRetried")
        self.outcome.count("failedPushes")
        return None

    def delete(self, repository: str, image: Image, tag: str) -> None:
        """
        Untag an image, or delete it (with an index's children) by digest.
        """
        targets = [tag] if self.untag else [image.digest] + [
            child.digest for child in image.children]
        for target in targets:
            status, _, body = self.client.request(
                "DELETE", f"/v2/{repository}/manifests/{target}")
            assert status == 202, (status, body)
        with self.outcome.lock:
            del self.outcome.alive[repository, image.digest]
            self.outcome.deleted += 1

    def step(self) -> None:
        roll = self.rng.random()
        if roll < 0.15 and self.gone:
            repository, image = self.gone.pop(self.rng.randrange(len(self.gone)))
        else:
            repository = self.rng.choice(SHARED_REPOSITORIES + [f"stress/raw-{self.index}"])
            image = (makeIndex if roll > 0.8 else makeImage)(self.rng, self.pool)
        tag = self.push(repository, image)
        if tag is not None:
            self.mine.append((repository, image, tag))
            pull(self.client, repository, image)
            self.outcome.count("pulled")
        if self.mine and self.rng.random() < 0.35:
            repository, image, tag = self.mine.pop(self.rng.randrange(len(self.mine)))
            self.delete(repository, image, tag)
            self.gone.append((repository, image))
        if self.mine:
            repository, image, _ = self.rng.choice(self.mine)
            pull(self.client, repository, image)
            self.outcome.count("pulled")


def pull(client: Client, repository: str, image: Image) -> None:
    """
    Pull an image or index by digest and check every byte against its
    digests.
    """
    status, _, body = client.request(
        "GET", f"/v2/{repository}/manifests/{image.digest}",
        headers={"Accept": image.mediaType})
    assert status == 200, (repository, image.digest, status, body)
    assert sha256(body) == image.digest
    for child in image.children:
        pull(client, repository, child)
    for digest in image.blobs:
        status, _, data = client.request("GET", f"/v2/{repository}/blobs/{digest}")
        assert status == 200, (repository, digest, status, data)
        assert sha256(data) == digest, (repository, digest)


class SkopeoPusher:
    """
    The skopeo client: copies images from an OCI layout sharing the pool's
    layers to the registry and back, and deletes some.
    """

    def __init__(self, server: RegistryProcess, pool: list[bytes], outcome: Outcome,
                 rng: random.Random, workdir: Path, untag: bool) -> None:
        self.server = server
        self.untag = untag
        self.pool = pool
        self.outcome = outcome
        self.rng = rng
        self.layout = OCILayout(workdir / "skopeo-source", rng)
        self.workdir = workdir
        self.mine: list[tuple[str, Image, str]] = []
        self.steps = 0

    def step(self) -> None:
        self.steps += 1
        image = makeImage(self.rng, self.pool)
        for data in image.blobs.values():
            self.layout.add_blob(data, OCI_LAYER_GZIP)
        ref = f"s{self.steps}"
        self.layout.tag(ref, self.layout.add_blob(image.manifest, OCI_MANIFEST))
        repository = self.rng.choice(SHARED_REPOSITORIES + ["stress/skopeo"])
        digestFile = self.workdir / "digest"
        skopeo("copy", "--preserve-digests", "--dest-tls-verify=false",
               "--digestfile", str(digestFile),
               f"oci:{self.layout.path}:{ref}",
               f"docker://{self.server.host}/{repository}:{ref}")
        assert digestFile.read_text().strip() == image.digest
        with self.outcome.lock:
            self.outcome.alive[repository, image.digest] = image
            self.outcome.pushed += 1
        self.mine.append((repository, image, ref))
        back = self.workdir / f"back-{self.steps}"
        skopeo("copy", "--src-tls-verify=false",
               f"docker://{self.server.host}/{repository}@{image.digest}", f"oci:{back}:x")
        assert set(image_blobs(back, image.digest)) == {image.digest, *image.blobs}
        self.outcome.count("pulled")
        if self.rng.random() < 0.35:
            repository, image, ref = self.mine.pop(self.rng.randrange(len(self.mine)))
            target = ref if self.untag else image.digest
            status, _, body = http_request(self.server.base_url, "DELETE",
                                           f"/v2/{repository}/manifests/{target}")
            assert status == 202, (status, body)
            with self.outcome.lock:
                del self.outcome.alive[repository, image.digest]
                self.outcome.deleted += 1


def scrape(debug: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    status, _, body = http_request(debug, "GET", "/metrics")
    assert status == 200
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body.decode())
            for s in family.samples}


def runsDone(debug: str) -> float:
    return scrape(debug).get(("registry_gc_runs_total", (("outcome", "done"),)), 0.0)


def storedBlobs(root: Path) -> set[str]:
    """
    @return: the digests of every blob under C{blobs/}.
    """
    return {f"sha256:{data.parent.name}"
            for data in (root / V2 / "blobs" / "sha256").glob("*/*/data")}


def referencedBlobs(root: Path) -> set[str]:
    """
    @return: the blobs the manifest revisions of every repository need
        (each manifest's own blob, its config and layers, an index's
        children), read from the storage root.
    """
    needed: set[str] = set()
    for link in (root / V2 / "repositories").glob("**/_manifests/revisions/sha256/*/link"):
        digest = link.read_text().strip()
        needed.add(digest)
        data = root / V2 / "blobs/sha256" / digest[7:9] / digest[7:] / "data"
        manifest = json.loads(data.read_bytes())
        needed.update(named["digest"] for named in [
            *manifest.get("manifests", []), *manifest.get("layers", []),
            *([manifest["config"]] if "config" in manifest else [])])
    return needed


def startCollecting(registries: Registries, root: Path, name: str,
                    gc: dict[str, Any], debugPort: int | None = None) -> RegistryProcess:
    """
    Start C{twistd -n registry} on C{root}, collecting garbage as C{gc}
    says, stopped with the test's other processes.

    @param name: a name for its working directory, unique in the test.
    @param debugPort: where its debug listener serves its metrics, if any.
    """
    root.mkdir(exist_ok=True)
    process = make_txregistry(registries.tmp_path / name, root)
    config = txregistry_config(root, process.port)
    config["storage"]["maintenance"] = {"gc": gc}
    if debugPort is not None:
        config["http"]["debug"] = {"addr": f"127.0.0.1:{debugPort}",
                                   "prometheus": {"enabled": True}}
    (process.cwd / "config.yml").write_text(yaml.safe_dump(config))
    registries.processes.append(process)
    return process.start()


@pytest.mark.parametrize("deleteUntagged", [False, True], ids=["revisions", "untagged"])
def test_onlineCollectionUnderLoad(registries: Registries, rng: random.Random,
                                   tmp_path: Path, deleteUntagged: bool) -> None:
    """Four clients push, pull and delete images and indexes sharing layers
    while the collector runs every second: every image acknowledged and
    not deleted pulls back intact, and at the end the storage holds exactly
    what they need."""
    debugPort = free_port()
    debug = f"http://127.0.0.1:{debugPort}"
    server = startCollecting(registries, registries.tmp_path / "storage", "collecting",
                             dict(GC, deleteuntagged=deleteUntagged), debugPort)
    # Long enough for garbage to outlive the grace period during the run.
    duration = max(10.0, DURATION / 2 if deleteUntagged else DURATION)
    pool = [randomLayer(rng, rng.choice([2048, 64 * 1024, 300 * 1024, 700 * 1024]))
            for _ in range(8)]
    outcome = Outcome()
    clients: list[Any] = [RawPusher(i, server, pool, outcome, random.Random(rng.random()),
                                    deleteUntagged) for i in range(3)]
    clients.append(SkopeoPusher(server, pool, outcome, random.Random(rng.random()), tmp_path,
                                deleteUntagged))
    stop = threading.Event()

    def work(client: Any) -> None:
        while not stop.is_set():
            client.step()

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(clients)) as threads:
        futures = [threads.submit(work, client) for client in clients]
        while time.monotonic() - started < duration and not any(f.done() for f in futures):
            time.sleep(0.2)
        stop.set()
    for future in futures:
        future.result()
    during = scrape(debug)

    # Every blob is now older than the grace period once it has passed; the
    # run after the one under way then starts after it, and finds them so.
    time.sleep(GRACE + 0.5)
    before = runsDone(debug)
    deadline = time.monotonic() + 60
    while runsDone(debug) < before + 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert runsDone(debug) >= before + 2, server.log()[-5000:]

    root = server.root
    referenced, stored = referencedBlobs(root), storedBlobs(root)
    assert referenced - stored == set()
    assert stored - referenced == set()
    assert referenced == set().union(*(image.closure() for image in outcome.alive.values()))
    for link in (root / V2 / "repositories").glob("*/*/_layers/sha256/*/link"):
        assert link.read_text().strip() in stored, link

    checker = Client(server)
    for (repository, _), image in sorted(outcome.alive.items()):
        pull(checker, repository, image)

    print(f"{duration:g}s: {outcome.pushed} pushed, {outcome.deleted} deleted, "
          f"{outcome.pulled} pulled, {outcome.mounts} mounted, {outcome.skipped} blobs "
          f"skipped (HEAD), {outcome.refusedThenRetried} pushes refused and retried, "
          f"{outcome.failedPushes} failed; "
          f"{during.get(('registry_gc_runs_total', (('outcome', 'done'),)), 0):g} runs, "
          f"{during.get(('registry_gc_deleted_blobs_total', ()), 0):g} blobs and "
          f"{during.get(('registry_gc_deleted_manifests_total', ()), 0):g} manifests "
          "deleted during the run")
    assert outcome.pushed >= 20 * duration / 60
    assert outcome.failedPushes == 0
    assert during[("registry_gc_runs_total", (("outcome", "done"),))] >= duration / 5
    assert during[("registry_gc_deleted_blobs_total", ())] > 0
    if deleteUntagged:
        assert during[("registry_gc_deleted_manifests_total", ())] > 0
    assert "Traceback" not in server.log()


def test_replicasTakeTurns(registries: Registries) -> None:
    """Two registries sharing a storage root, both collecting every second:
    they take turns through the lease file, and each run that finds it
    held is logged as skipped."""
    root = registries.tmp_path / "storage"
    replicas = [startCollecting(registries, root, name, GC) for name in ["one", "two"]]

    def lines(text: str) -> int:
        return sum(replica.log().count(text) for replica in replicas)

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (
            lines("garbage collection deleted") >= 4
            and lines("garbage collection skipped: another process holds") >= 1):
        time.sleep(0.2)
    assert lines("garbage collection deleted") >= 4, [r.log() for r in replicas]
    assert lines("garbage collection skipped: another process holds") >= 1
    assert "Traceback" not in "".join(replica.log() for replica in replicas)
