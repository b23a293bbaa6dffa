#!/usr/bin/env python3
"""
Generate a registry root for garbage collection benchmarks, directly on the
filesystem, in distribution's layout (L{txregistry.storage.paths}).

    python bench/gcgen.py ROOT [--repositories 2000] [--manifests 20000] [--seed 1]
                               [--validate]

Not part of the test suite.  ROOT must not exist or be empty; the registry's
C{rootdirectory} is ROOT (the data goes to C{ROOT/docker/registry/v2}).

What is written, as pushes through the API would leave it:

  - images, Docker schema 2 or OCI (one format per repository): a config
    and gzipped tar layers (a few KiB of random bytes each, valid tars,
    C{diff_ids} right), on one of C{--bases} base images whose layers many
    repositories share; consecutive images of a repository share a layer;
  - C{--indexes} multi-arch indexes (OCI index or Docker manifest list) of
    2 or 3 untagged platform manifests;
  - C{--referrers} untagged OCI 1.1 referrers (signatures, SBOMs: an image
    manifest with C{artifactType}, the empty config and C{subject}), with
    txregistry's referrers index links;
  - C{--copies} images pushed again into another repository;
  - blobs under C{blobs/}, a C{_layers} link for every config and layer in
    every repository that uploaded it, a revision link per manifest, tags
    (C{current} and C{index} links): C{latest} follows every push, a
    version tag is given to a fraction C{--tagged} of the pushes (and
    sometimes moved to a rebuild), so older pushes end up untagged;

and the garbage a collector must find:

  - C{--deleted} manifests deleted as the API's C{DELETE} does (revision
    link and the tags pointing at it removed, blobs left);
  - the untagged manifests (garbage with C{--delete-untagged});
  - C{--orphans} blobs uploaded and never referenced, most with a
    C{_layers} link in one repository.

File modification times are the simulated push times, spread over the last
C{--days} days.  Every choice comes from C{random.Random(--seed)}: the same
arguments write the same bytes.  It prints what it wrote and the expected
garbage: with and without C{--delete-untagged}, for txregistry's collector
(the children of kept indexes and the referrers of kept manifests are kept)
and for distribution's (which deletes them, and, for the children, their
layers).

With C{--validate}, the root is then served by Debian's C{docker-registry
serve} and by C{twistd registry} (one after the other, delete enabled), and
a few images are pulled from each with C{skopeo copy} (digests verified):
tagged images of both formats, a multi-arch index with C{--all}, an
untagged manifest by digest, a referrer (and txregistry's referrers API
must list it); a deleted manifest must not be found.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from random import Random

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
ARTIFACT_TYPES = ("application/vnd.dev.cosign.artifact.sig.v1+json", "application/spdx+json")
ARCHES = ("amd64", "arm64", "ppc64le")
V2 = "docker/registry/v2"
DAY = 86400


@dataclass
class Blob:
    digest: str
    size: int
    kind: str           # "layer", "config", "manifest", "index", "referrer", "empty", "payload"


@dataclass
class Layer:
    digest: str
    size: int
    diffID: str


@dataclass
class Manifest:
    digest: str
    kind: str                       # "image", "index", "child", "referrer"
    mediaType: str
    blobs: list[str]                # config and layers (images), [] for indexes
    children: list[str] = field(default_factory=list)
    subject: str | None = None


@dataclass
class Repository:
    name: str
    oci: bool
    revisions: dict[str, float] = field(default_factory=dict)     # digest -> push time
    layers: dict[str, float] = field(default_factory=dict)        # digest -> link time
    tags: dict[str, str] = field(default_factory=dict)            # tag -> current digest
    history: dict[str, dict[str, float]] = field(default_factory=dict)  # tag -> digests
    tagTimes: dict[str, float] = field(default_factory=dict)      # tag -> current's time
    referrers: dict[str, list[str]] = field(default_factory=dict)  # subject -> referrers
    deleted: set[str] = field(default_factory=set)


@dataclass
class Summary:
    """What L{Generator.run} wrote and what a collector should delete."""
    root: str
    blobs: dict[str, Blob]
    manifests: dict[str, Manifest]
    repositories: list[Repository]
    orphans: int
    files: int
    directories: int
    seconds: float
    modelled: float     # seconds spent before writing
    #: mode -> the blobs a collector must leave (mode: "plain",
    #: "untagged" for txregistry's --delete-untagged, "untagged-distribution")
    keep: dict[str, set[str]]

    def garbage(self, mode: str) -> set[str]:
        return set(self.blobs) - self.keep[mode]

    def bytes(self, digests: Iterable[str]) -> int:
        return sum(self.blobs[d].size for d in digests)


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical(value: object) -> bytes:
    return json.dumps(value).encode()


class Writer:
    """
    Collects the files to write under a root, then writes them from a pool
    of threads: creating inodes is most of the time, and the kernel creates
    them in parallel.
    """

    def __init__(self, root: str, threads: int = 2) -> None:
        self.root = root
        self.threads = threads
        self.pending: list[tuple[str, bytes, int]] = []
        self.empty: list[str] = []
        self.files = 0
        self.directories = 0

    def write(self, relative: str, data: bytes, mtime: float) -> None:
        self.pending.append((relative, data, int(mtime * 1e9)))

    def link(self, relative: str, digest: str, mtime: float) -> None:
        self.write(relative + "/link", digest.encode(), mtime)

    def directory(self, relative: str) -> None:
        """Create C{relative} even if no file is written below it."""
        self.empty.append(relative)

    def flush(self) -> None:
        directories: set[str] = set()
        for relative in [p for p, _, _ in self.pending] + [e + "/" for e in self.empty]:
            parent = os.path.dirname(relative)
            while parent and parent not in directories:
                directories.add(parent)
                parent = os.path.dirname(parent)
        levels: dict[int, list[str]] = {}
        for d in directories:
            levels.setdefault(d.count("/"), []).append(d)
        with ThreadPoolExecutor(self.threads) as pool:
            for depth in sorted(levels):
                list(pool.map(self._mkdirs, chunks(sorted(levels[depth]), 512)))
            list(pool.map(self._files, chunks(self.pending, 512)))
        self.files += len(self.pending)
        self.directories += len(directories)
        self.pending, self.empty = [], []

    def _mkdirs(self, relatives: list[str]) -> None:
        for relative in relatives:
            try:
                os.mkdir(os.path.join(self.root, relative))
            except FileExistsError:
                pass

    def _files(self, batch: list[tuple[str, bytes, int]]) -> None:
        for relative, data, ns in batch:
            fd = os.open(os.path.join(self.root, relative),
                         os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                os.write(fd, data)
                os.utime(fd, ns=(ns, ns))
            finally:
                os.close(fd)


def chunks(items: list, size: int) -> Iterable[list]:
    return (items[i:i + size] for i in range(0, len(items), size))


def hexOf(digest: str) -> str:
    return digest.split(":", 1)[1]


def blobPath(digest: str) -> str:
    h = hexOf(digest)
    return f"{V2}/blobs/sha256/{h[:2]}/{h}/data"


class Generator:
    def __init__(self, root: str, options: argparse.Namespace) -> None:
        self.options = options
        self.rng = Random(options.seed)
        self.writer = Writer(root, options.threads)
        self.now = options.now
        self.blobs: dict[str, Blob] = {}
        self.manifests: dict[str, Manifest] = {}
        self.layerInfo: dict[str, Layer] = {}
        self.bases: list[dict[str, list[Layer]]] = []
        self.images: list[tuple[Repository, str]] = []   # pushed images, to copy
        self.serial = 0

    # -- blobs ---------------------------------------------------------------

    def putBlob(self, data: bytes, kind: str, mtime: float) -> str:
        digest = sha256(data)
        if digest not in self.blobs:
            self.blobs[digest] = Blob(digest, len(data), kind)
            self.writer.write(blobPath(digest), data, mtime)
        return digest

    def newLayer(self, low: int, high: int, mtime: float) -> Layer:
        self.serial += 1
        content = self.rng.randbytes(self.rng.randint(low, high))
        info = tarfile.TarInfo(f"opt/layer{self.serial}/file")
        info.size, info.mtime, info.mode = len(content), 1700000000, 0o644
        tar = info.tobuf(tarfile.USTAR_FORMAT) + content
        tar += bytes(-len(tar) % 512) + bytes(1024)
        data = gzip.compress(tar, compresslevel=0, mtime=0)     # random: stored
        layer = Layer(self.putBlob(data, "layer", mtime), len(data), sha256(tar))
        self.layerInfo[layer.digest] = layer
        return layer

    def baseLayers(self, arch: str) -> list[Layer]:
        base = self.rng.choice(self.bases)
        if arch not in base:
            t = self.now - self.options.days * DAY
            base[arch] = [self.newLayer(2048, 16384, t)
                          for _ in range(self.rng.randint(1, 4))]
        return base[arch]

    # -- manifests -----------------------------------------------------------

    def putManifest(self, repo: Repository, body: dict, kind: str, blobs: list[str],
                    t: float, children: list[str] | None = None,
                    subject: str | None = None) -> str:
        data = canonical(body)
        digest = self.putBlob(data, "referrer" if kind == "referrer" else
                              "index" if kind == "index" else "manifest", t)
        self.manifests.setdefault(
            digest, Manifest(digest, kind, body["mediaType"], blobs, children or [], subject))
        repo.revisions.setdefault(digest, t)
        return digest

    def linkLayer(self, repo: Repository, digest: str, t: float) -> None:
        repo.layers.setdefault(digest, t)

    def image(self, repo: Repository, t: float, arch: str, kind: str,
              carried: list[Layer]) -> tuple[str, int, list[Layer]]:
        """Push an image; @return: its digest, size and its own layers."""
        own = [self.newLayer(256, 4096, t) for _ in range(self.rng.randint(1, 3))]
        layers = self.baseLayers(arch) + carried + own
        config = {
            "architecture": arch, "os": "linux",
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t)),
            "config": {"Env": ["PATH=/usr/local/bin:/usr/bin:/bin"],
                       "Cmd": [f"/opt/{repo.name.replace('/', '-')}"],
                       "Labels": {"build": str(self.serial)}},
            "rootfs": {"type": "layers", "diff_ids": [layer.diffID for layer in layers]},
            "history": [{"created_by": f"layer {i}"} for i in range(len(layers))],
        }
        configData = canonical(config)
        configDigest = self.putBlob(configData, "config", t)
        mediaTypes = (OCI_MANIFEST, OCI_CONFIG, OCI_LAYER) if repo.oci else \
            (DOCKER_MANIFEST, DOCKER_CONFIG, DOCKER_LAYER)
        body = {
            "schemaVersion": 2, "mediaType": mediaTypes[0],
            "config": {"mediaType": mediaTypes[1], "digest": configDigest,
                       "size": len(configData)},
            "layers": [{"mediaType": mediaTypes[2], "digest": layer.digest, "size": layer.size}
                       for layer in layers],
        }
        for digest in [configDigest] + [layer.digest for layer in layers]:
            self.linkLayer(repo, digest, t)
        digest = self.putManifest(repo, body, kind, [configDigest] + [x.digest for x in layers], t)
        return digest, len(canonical(body)), own

    def index(self, repo: Repository, t: float, carried: list[Layer]) -> str:
        children = []
        for arch in ARCHES[:self.rng.randint(2, 3)]:
            digest, size, _ = self.image(repo, t, arch, "child", carried if arch == "amd64" else [])
            children.append({
                "mediaType": OCI_MANIFEST if repo.oci else DOCKER_MANIFEST,
                "digest": digest, "size": size,
                "platform": {"architecture": arch, "os": "linux"}})
        body = {"schemaVersion": 2, "mediaType": OCI_INDEX if repo.oci else DOCKER_LIST,
                "manifests": children}
        return self.putManifest(repo, body, "index", [], t,
                                children=[c["digest"] for c in children])

    def referrer(self, repo: Repository, t: float, subject: str) -> str:
        empty = self.putBlob(b"{}", "empty", t)
        artifactType = self.rng.choice(ARTIFACT_TYPES)
        payload = json.dumps({"subject": subject, "serial": self.serial,
                              "signature": self.rng.randbytes(48).hex()}).encode()
        self.serial += 1
        payloadDigest = self.putBlob(payload, "payload", t)
        self.linkLayer(repo, empty, t)
        self.linkLayer(repo, payloadDigest, t)
        body = {
            "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifactType,
            "config": {"mediaType": OCI_EMPTY, "digest": empty, "size": 2, "data": "e30="},
            "layers": [{"mediaType": artifactType, "digest": payloadDigest,
                        "size": len(payload)}],
            "subject": {"mediaType": self.manifests[subject].mediaType, "digest": subject,
                        "size": self.blobs[subject].size},
            "annotations": {"org.opencontainers.image.created":
                            time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))},
        }
        digest = self.putManifest(repo, body, "referrer", [empty, payloadDigest], t,
                                  subject=subject)
        repo.referrers.setdefault(subject, []).append(digest)
        return digest

    def copy(self, repo: Repository, t: float) -> str | None:
        """Push an image of another repository into C{repo}."""
        candidates = [(r, d) for r, d in self.images[-200:] if r is not repo]
        if not candidates:
            return None
        source, digest = self.rng.choice(candidates)
        for blob in self.manifests[digest].blobs:
            self.linkLayer(repo, blob, t)
        repo.revisions.setdefault(digest, t)
        return digest

    # -- tags ----------------------------------------------------------------

    def tag(self, repo: Repository, name: str, digest: str, t: float) -> None:
        repo.tags[name] = digest
        repo.tagTimes[name] = t
        repo.history.setdefault(name, {})[digest] = t

    # -- the plan ------------------------------------------------------------

    def budgets(self) -> list[int]:
        """Manifests per repository: skewed, at least 1, summing to --manifests."""
        n, total = self.options.repositories, self.options.manifests
        weights = [min(self.rng.paretovariate(1.3), 40.0) for _ in range(n)]
        scale = (total - n) / sum(weights)
        counts = [1 + int(w * scale) for w in weights]
        for i in self.rng.sample(range(n), total - sum(counts)) if total > sum(counts) else ():
            counts[i] += 1
        return counts

    def names(self) -> list[str]:
        names = []
        for i in range(self.options.repositories):
            team = f"team{i % 97:02d}"
            names.append(f"{team}/app{i:04d}" if i % 5 else f"{team}/sub/svc{i:04d}"
                         if i % 10 == 0 else f"lib{i:04d}")
        return names

    def run(self) -> Summary:
        start = time.monotonic()
        o = self.options
        self.bases = [{} for _ in range(o.bases)]
        budgets = self.budgets()
        total = sum(budgets)
        repos = [Repository(name, self.rng.random() < 0.5) for name in self.names()]
        pIndex = o.indexes / total
        pReferrer = o.referrers / total
        pCopy = o.copies / total
        for repo, budget in zip(repos, budgets, strict=True):
            t = self.now - o.days * DAY * self.rng.uniform(0.3, 1.0)
            step = (self.now - 3600 - t) / max(budget, 1)
            carried: list[Layer] = []
            tops: list[str] = []
            version = 0
            left = budget
            while left > 0:
                t += step * self.rng.uniform(0.5, 1.0)
                roll = self.rng.random()
                if roll < pReferrer and tops:
                    self.referrer(repo, t, self.rng.choice(tops[-5:]))
                    left -= 1
                    continue
                if roll < pReferrer + pCopy and (digest := self.copy(repo, t)):
                    left -= 1
                elif roll < pReferrer + pCopy + pIndex and left >= 4:
                    digest = self.index(repo, t, carried)
                    left -= 1 + len(self.manifests[digest].children)
                else:
                    digest, _, own = self.image(repo, t, "amd64", "image", carried)
                    carried = own[:1] if self.rng.random() < 0.7 else []
                    self.images.append((repo, digest))
                    left -= 1
                tops.append(digest)
                self.tag(repo, "latest", digest, t)
                if self.rng.random() < o.tagged:
                    if version and self.rng.random() < 0.2:
                        self.tag(repo, f"1.{version}", digest, t)     # a rebuild
                    else:
                        version += 1
                        self.tag(repo, f"1.{version}", digest, t)
        self.delete(repos)
        orphans = self.orphans(repos)
        for repo in repos:
            self.writeRepository(repo)
        self.modelled = time.monotonic() - start
        self.writer.flush()
        summary = Summary(self.writer.root, self.blobs, self.manifests, repos, orphans,
                          self.writer.files, self.writer.directories, 0.0, self.modelled, {})
        summary.keep = expectations(summary)
        summary.seconds = time.monotonic() - start
        return summary

    def delete(self, repos: list[Repository]) -> None:
        """Delete --deleted manifests as the API does: revision and tags."""
        candidates = [(repo, digest) for repo in repos for digest in repo.revisions
                      if self.manifests[digest].kind in ("image", "index")]
        for repo, digest in self.rng.sample(candidates, min(self.options.deleted, len(candidates))):
            del repo.revisions[digest]
            repo.deleted.add(digest)
            for name in [n for n, d in repo.tags.items() if d == digest]:
                del repo.tags[name], repo.history[name], repo.tagTimes[name]

    def orphans(self, repos: list[Repository]) -> int:
        """Blobs uploaded and never referenced, most with a C{_layers} link."""
        for _ in range(self.options.orphans):
            t = self.now - self.options.days * DAY * self.rng.random()
            layer = self.newLayer(256, 4096, t)
            if self.rng.random() < 0.8:
                self.linkLayer(self.rng.choice(repos), layer.digest, t)
        return self.options.orphans

    def writeRepository(self, repo: Repository) -> None:
        w = self.writer
        base = f"{V2}/repositories/{repo.name}"
        for digest, t in repo.layers.items():
            w.link(f"{base}/_layers/sha256/{hexOf(digest)}", digest, t)
        for digest, t in repo.revisions.items():
            w.link(f"{base}/_manifests/revisions/sha256/{hexOf(digest)}", digest, t)
        w.directory(f"{base}/_manifests/tags")     # left by the API when the last tag goes
        for name, history in repo.history.items():
            for digest, t in history.items():
                w.link(f"{base}/_manifests/tags/{name}/index/sha256/{hexOf(digest)}", digest, t)
            w.link(f"{base}/_manifests/tags/{name}/current", repo.tags[name], repo.tagTimes[name])
        for subject, referrers in repo.referrers.items():
            for digest in referrers:
                if digest in repo.revisions:
                    w.link(f"{base}/_manifests/referrers/sha256/{hexOf(subject)}"
                           f"/sha256/{hexOf(digest)}", digest, repo.revisions[digest])


def expectations(summary: Summary) -> dict[str, set[str]]:
    """
    The blobs each collector must leave: C{plain} (every revision is a root:
    both collectors), C{untagged} (txregistry's C{--delete-untagged}: tagged
    manifests, with the children of kept indexes and the referrers of kept
    manifests), C{untagged-distribution} (distribution 2.8's: tagged
    manifests, their config and layers, the manifest blobs of an index's
    children but not the children's config and layers).
    """
    manifests = summary.manifests

    def own(digest: str) -> list[str]:
        m = manifests[digest]
        return [digest] + m.blobs + m.children

    plain: set[str] = set()
    untagged: set[str] = set()
    distribution: set[str] = set()
    for repo in summary.repositories:
        tagged = set(repo.tags.values())
        for digest in repo.revisions:
            plain.update(own(digest))
            if digest in tagged:
                distribution.update(own(digest))
        kept, todo = set(), list(tagged)
        while todo:
            digest = todo.pop()
            if digest in kept or digest not in repo.revisions:
                continue
            kept.add(digest)
            todo.extend(manifests[digest].children)
            todo.extend(repo.referrers.get(digest, ()))
        for digest in kept:
            untagged.update(own(digest))
    return {"plain": plain, "untagged": untagged, "untagged-distribution": distribution}


def fmtBytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError


def report(s: Summary) -> str:
    kinds: dict[str, list[int]] = {}
    for blob in s.blobs.values():
        entry = kinds.setdefault(blob.kind, [0, 0])
        entry[0] += 1
        entry[1] += blob.size
    byKind: dict[str, int] = {}
    for m in s.manifests.values():
        byKind[m.kind] = byKind.get(m.kind, 0) + 1
    revisions = sum(len(r.revisions) for r in s.repositories)
    tagged = sum(len(set(r.tags.values())) for r in s.repositories)
    lines = [
        f"wrote {s.root} in {s.seconds:.1f} s ({s.modelled:.1f} s generating, "
        f"{s.seconds - s.modelled:.1f} s writing): {s.files} files, {s.directories} directories",
        f"  repositories        {len(s.repositories)}",
        f"  manifests           {len(s.manifests)} distinct: "
        + ", ".join(f"{n} {k}" for k, n in sorted(byKind.items())),
        f"  revision links      {revisions} ({tagged} tagged, {revisions - tagged} untagged), "
        f"{sum(len(r.deleted) for r in s.repositories)} deleted",
        f"  tags                {sum(len(r.tags) for r in s.repositories)} "
        f"({sum(len(h) for r in s.repositories for h in r.history.values())} index links)",
        f"  _layers links       {sum(len(r.layers) for r in s.repositories)}",
        f"  blobs               {len(s.blobs)}, {fmtBytes(s.bytes(s.blobs))}: "
        + ", ".join(f"{n} {k} ({fmtBytes(b)})" for k, (n, b) in sorted(kinds.items())),
        f"  orphan blobs        {s.orphans}",
        "expected garbage (blobs):",
    ]
    for mode, label in (("plain", "garbage-collect (both)"),
                        ("untagged", "--delete-untagged, txregistry"),
                        ("untagged-distribution", "--delete-untagged, distribution")):
        g = s.garbage(mode)
        lines.append(f"  {label:34} {len(g):6} blobs {fmtBytes(s.bytes(g)):>10}")
    extra = s.garbage("untagged-distribution") - s.garbage("untagged")
    if extra:
        counted: dict[str, int] = {}
        for d in extra:
            counted[s.blobs[d].kind] = counted.get(s.blobs[d].kind, 0) + 1
        lines.append("  distribution deletes beyond txregistry (children's layers and "
                     "configs, referrers): " + ", ".join(f"{n} {k}" for k, n in sorted(counted.items())))
    return "\n".join(lines)


# --------------------------------------------------------------------------
# --validate: serve the root with both registries and pull with skopeo.

def serveConfig(root: str, port: int, workdir: str, kind: str) -> str:
    path = os.path.join(workdir, f"{kind}.yml")
    text = ("version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n"
            f"storage:\n  filesystem:\n    rootdirectory: {root}\n"
            "  delete:\n    enabled: true\n")
    if kind == "txregistry":
        text += "  maintenance:\n    uploadpurging:\n      enabled: false\n"
    text += f"http:\n  addr: 127.0.0.1:{port}\n  secret: gcgen-{kind}\n"
    with open(path, "w") as f:
        f.write(text)
    return path


def pulls(s: Summary) -> list[tuple[str, str, str]]:
    """A few (description, reference, expectation) to check."""
    rng = Random(0)
    picks: list[tuple[str, str, str]] = []

    def pick(what: str, found: Iterable[tuple[Repository, str]], ref: str, expect: str,
             n: int = 1) -> None:
        found = list(found)
        for repo, x in rng.sample(found, min(n, len(found))):
            sep = "@" if x.startswith("sha256:") else ":"
            picks.append((what, f"{repo.name}{sep}{x}", expect))

    def top(repo: Repository, kind: str, oci: bool) -> Iterable[tuple[Repository, str]]:
        if repo.oci == oci:
            for tag, d in repo.tags.items():
                if s.manifests[d].kind == kind:
                    yield repo, tag

    repos = s.repositories
    pick("docker image by tag", (x for r in repos for x in top(r, "image", False)), "", "ok", 2)
    pick("OCI image by tag", (x for r in repos for x in top(r, "image", True)), "", "ok", 2)
    pick("OCI index --all", (x for r in repos for x in top(r, "index", True)), "", "all")
    pick("manifest list --all", (x for r in repos for x in top(r, "index", False)), "", "all")
    pick("untagged image by digest",
         ((r, d) for r in repos for d in r.revisions
          if d not in r.tags.values() and s.manifests[d].kind == "image"), "", "ok")
    pick("referrer by digest", ((r, d) for r in repos for d in r.revisions
                                if s.manifests[d].kind == "referrer"), "", "raw")
    pick("deleted manifest", ((r, d) for r in repos for d in r.deleted
                              if d not in r.revisions), "", "missing")
    return picks


def skopeo(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(["skopeo", "--insecure-policy"] + args,
                          capture_output=True, text=True, timeout=120)


def listsReferrer(port: int, ref: str, s: Summary) -> bool:
    """Whether txregistry's referrers API lists the referrer C{ref}."""
    name, digest = ref.split("@")
    subject = s.manifests[digest].subject
    url = f"http://127.0.0.1:{port}/v2/{name}/referrers/{subject}"
    with urllib.request.urlopen(url, timeout=30) as response:
        index = json.loads(response.read())
    return digest in [m["digest"] for m in index["manifests"]]


def validate(s: Summary, root: str) -> bool:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import streaming  # noqa: E402 -- bench/streaming.py: the daemons

    ok = True
    workdir = tempfile.mkdtemp(prefix="gcgen-validate-")
    try:
        for kind in ("distribution", "txregistry"):
            daemon = streaming.Daemon(kind, os.path.join(workdir, kind))
            daemon.config = serveConfig(os.path.abspath(root), daemon.port, daemon.workdir, kind)
            if kind == "txregistry":
                daemon.argv[-1] = daemon.config
            else:
                daemon.argv = ["/usr/bin/docker-registry", "serve", daemon.config]
            daemon.start()
            try:
                for what, ref, expect in pulls(s):
                    src = f"docker://127.0.0.1:{daemon.port}/{ref}"
                    dest = os.path.join(workdir, "pulled")
                    shutil.rmtree(dest, ignore_errors=True)
                    tls = "--src-tls-verify=false"
                    if expect == "ok":
                        r = skopeo(["copy", tls, src, f"dir:{dest}"])
                    elif expect == "all":
                        r = skopeo(["copy", "--all", tls, src, f"oci:{dest}"])
                    else:
                        r = skopeo(["inspect", "--raw", "--tls-verify=false", src])
                    good = (r.returncode != 0) if expect == "missing" else (r.returncode == 0)
                    if good and expect == "raw" and kind == "txregistry":
                        good = listsReferrer(daemon.port, ref, s)
                    ok &= good
                    detail = "" if good else ": " + (r.stderr.strip().splitlines() or [""])[-1]
                    print(f"  {kind:12} {'ok  ' if good else 'FAIL'} {what:26} {ref}{detail}")
            finally:
                daemon.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return ok


PROPORTIONS = {"indexes": 0.005, "referrers": 0.01, "copies": 0.025, "deleted": 0.05,
               "orphans": 0.05}


def parseOptions(argv: list[str] | None = None) -> argparse.Namespace:
    """
    @return: the options of C{argv} (default C{sys.argv}), the counts left
        out proportional to C{--manifests}.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1].strip(),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root", metavar="ROOT")
    parser.add_argument("--repositories", type=int, default=2000)
    parser.add_argument("--manifests", type=int, default=20000,
                        help="manifests pushed, deleted ones included (default 20000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--bases", type=int, default=40, help="base images (default 40)")
    for name, what in (
            ("indexes", "multi-arch indexes"),
            ("referrers", "referrers"),
            ("copies", "images pushed again into another repository"),
            ("deleted", "manifests deleted through the API"),
            ("orphans", "blobs uploaded and never referenced")):
        parser.add_argument(f"--{name}", type=int, default=None, metavar="N",
                            help=f"{what}, about (default {PROPORTIONS[name]:.1%} of --manifests)")
    parser.add_argument("--tagged", type=float, default=0.7,
                        help="fraction of pushes given a version tag (default 0.7)")
    parser.add_argument("--days", type=float, default=180,
                        help="the pushes are spread over this many days (default 180)")
    parser.add_argument("--now", type=float, default=None,
                        help="the time of the last push (default: now; fixed for identical "
                        "modification times)")
    parser.add_argument("--threads", type=int, default=2,
                        help="threads writing the files (default 2)")
    parser.add_argument("--validate", action="store_true",
                        help="serve the root with docker-registry and twistd registry "
                        "and pull a few images from each with skopeo")
    options = parser.parse_args(argv)
    for name, proportion in PROPORTIONS.items():
        if getattr(options, name) is None:
            setattr(options, name, round(proportion * options.manifests))
    if options.now is None:
        options.now = time.time()
    if os.path.exists(options.root) and os.listdir(options.root):
        parser.error(f"{options.root} is not empty")
    return options


def generate(options: argparse.Namespace) -> Summary:
    """Write the root the options describe and print what was written."""
    os.makedirs(options.root, exist_ok=True)
    summary = Generator(options.root, options).run()
    print(report(summary), flush=True)
    return summary


def main() -> int:
    options = parseOptions()
    summary = generate(options)
    if options.validate:
        print("validating (skopeo pulls):")
        if not validate(summary, options.root):
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
