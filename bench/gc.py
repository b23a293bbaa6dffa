#!/usr/bin/env python3
"""
Garbage collection, txregistry against distribution, on copies of one root.

    python bench/gc.py [--repositories 2000] [--manifests 20000] [--seed 1]
                       [--root ROOT] [--rounds 3] [--modes plain,untagged]
                       [--tmpdir /dev/shm] [--txregistry-tree DIR]

Not part of the test suite.  Generates a root with C{bench/gcgen.py} (or
takes C{--root}, which is never modified), then, for every round and mode
(C{plain}: C{garbage-collect CONFIG}; C{untagged}: with
C{--delete-untagged}), copies the root twice with C{cp -a} (untimed) and
runs on one copy

    /usr/bin/docker-registry garbage-collect [--delete-untagged] CONFIG

and on the other

    python -m txregistry.cli garbage-collect [--delete-untagged] CONFIG

(C{PYTHONPATH} set to C{--txregistry-tree}, default this checkout), one
after the other, alternating which goes first.  Each is timed from start
to exit (wall), with its user + system CPU from C{getrusage(RUSAGE_CHILDREN)};
its output goes to a file in the work directory (distribution prints every
blob it marks).  Caches are dropped before each run when running as root
on a disk; on tmpfs (the default C{--tmpdir}, as the disk of the machine
this was written on creates inodes 30 times slower) or as another user the
cache is warm.

Printed: every run, the medians per mode and collector, the ratio
txregistry / distribution (wall and CPU; the target is a wall ratio of at
most 1/3), whether both left the same set of C{blobs/sha256/*/*}
directories (the difference, if any, with what each blob is in the
original root), the C{_layers} links each left naming a deleted blob, and,
for a generated root, whether each left what C{gcgen.py} expects of it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gcgen  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KINDS = ("distribution", "txregistry")
V2 = gcgen.V2
TARGET = 1 / 3          # txregistry's wall time / distribution's, at most
FLAG = {"plain": [], "untagged": ["--delete-untagged"]}
#: What gcgen expects each collector to leave, per mode.
EXPECTED = {("distribution", "plain"): "plain", ("txregistry", "plain"): "plain",
            ("distribution", "untagged"): "untagged-distribution",
            ("txregistry", "untagged"): "untagged"}


@dataclass
class Run:
    kind: str
    mode: str
    round: int
    wall: float
    cpu: float
    blobs: set[str]
    danglingLinks: int
    status: int
    output: str


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def fsType(path: str) -> str:
    return subprocess.run(["stat", "-f", "-c", "%T", path],
                          capture_output=True, text=True).stdout.strip()


def writeConfig(path: str, root: str) -> None:
    with open(path, "w") as f:
        f.write("version: 0.1\nlog:\n  level: warn\n"
                f"storage:\n  filesystem:\n    rootdirectory: {root}\n"
                "  delete:\n    enabled: true\n"
                "http:\n  addr: 127.0.0.1:5000\n  secret: bench-gc\n")


def command(kind: str, mode: str, config: str, tree: str) -> tuple[list[str], dict]:
    """@return: the command line and environment of one collector."""
    env = dict(os.environ)
    if kind == "distribution":
        return ["/usr/bin/docker-registry", "garbage-collect", *FLAG[mode], config], env
    env["PYTHONPATH"] = tree + os.pathsep + env.get("PYTHONPATH", "")
    return [sys.executable, "-m", "txregistry.cli", "garbage-collect", *FLAG[mode], config], env


def blobsIn(root: str) -> set[str]:
    """The digests of the C{blobs/sha256/*/*} directories under C{root}."""
    base = os.path.join(root, V2, "blobs", "sha256")
    found = set()
    for prefix in os.listdir(base):
        found.update("sha256:" + h for h in os.listdir(os.path.join(base, prefix)))
    return found


def layerLinks(root: str) -> list[str]:
    """The digests named by every C{_layers} link directory under C{root}."""
    found = []
    for directory, subdirs, _ in os.walk(os.path.join(root, V2, "repositories")):
        if os.path.basename(directory) == "_layers":
            for alg in subdirs:
                found.extend(f"{alg}:{h}" for h in os.listdir(os.path.join(directory, alg)))
            subdirs[:] = []
        elif os.path.basename(directory) in ("_manifests", "_uploads"):
            subdirs[:] = []
    return found


def dropCaches(storage: str) -> str:
    """Drop the page cache if that is possible and meaningful; @return: how."""
    if fsType(storage) == "tmpfs":
        return "warm cache (tmpfs)"
    if os.geteuid() != 0:
        return "warm cache (not root)"
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")
    return "caches dropped"


def runOnce(kind: str, mode: str, round: int, pristine: str, workdir: str,
            tree: str) -> Run:
    copy = os.path.join(workdir, kind)
    shutil.rmtree(copy, ignore_errors=True)
    subprocess.run(["cp", "-a", pristine, copy], check=True)
    config = os.path.join(workdir, f"{kind}.yml")
    writeConfig(config, copy)
    argv, env = command(kind, mode, config, tree)
    output = os.path.join(workdir, f"{kind}-{mode}-{round}.out")
    dropCaches(workdir)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    with open(output, "wb") as out:
        status = subprocess.run(argv, env=env, cwd=workdir, stdout=out,
                                stderr=subprocess.STDOUT).returncode
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    blobs = blobsIn(copy)
    dangling = sum(1 for d in layerLinks(copy) if d not in blobs)
    shutil.rmtree(copy)
    return Run(kind, mode, round, wall, cpu, blobs, dangling, status, output)


def tail(path: str, n: int = 5) -> str:
    with open(path, "rb") as f:
        lines = f.read()[-20000:].decode("utf-8", "replace").splitlines()
    return "\n".join("      " + line for line in lines[-n:])


# --------------------------------------------------------------------------
# What a blob is, read from the original root.

class Catalogue:
    """The manifests of a root and what refers to each blob."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.base = os.path.join(root, V2)
        self.manifests: dict[str, dict] = {}
        self.users: dict[str, list[tuple[str, str, str]]] = {}   # blob -> (role, manifest, repo)
        self.status: dict[tuple[str, str], str] = {}             # (repo, manifest) -> status
        self.states: dict[str, set[str]] = {}                    # manifest -> its statuses
        self.linked: Counter[str] = Counter()
        self.scan()

    def read(self, digest: str) -> dict | None:
        if digest not in self.manifests:
            path = os.path.join(self.root, gcgen.blobPath(digest))
            try:
                with open(path, "rb") as f:
                    self.manifests[digest] = json.loads(f.read())
            except (OSError, ValueError):
                self.manifests[digest] = {}
        return self.manifests[digest] or None

    def scan(self) -> None:
        repositories = os.path.join(self.base, "repositories")
        for directory, subdirs, _ in os.walk(repositories):
            if "_manifests" in subdirs:
                self.repository(os.path.relpath(directory, repositories), directory)
            for d in [d for d in subdirs if d.startswith("_")]:
                subdirs.remove(d)
        for digest in layerLinks(self.root):
            self.linked[digest] += 1

    def repository(self, name: str, directory: str) -> None:
        revisions = [f"sha256:{h}" for h in listdir(
            os.path.join(directory, "_manifests", "revisions", "sha256"))]
        tagged = set()
        tags = os.path.join(directory, "_manifests", "tags")
        for tag in listdir(tags):
            try:
                with open(os.path.join(tags, tag, "current", "link")) as f:
                    tagged.add(f.read().strip())
            except OSError:
                pass
        parents: dict[str, str] = {}
        subjects: dict[str, str] = {}
        for digest in revisions:
            body = self.read(digest) or {}
            for child in body.get("manifests", ()):
                parents[child["digest"]] = digest
                self.users.setdefault(child["digest"], []).append(("child", digest, name))
            if "subject" in body:
                subjects[digest] = body["subject"]["digest"]
            if "config" in body:
                self.users.setdefault(body["config"]["digest"], []).append(
                    ("config", digest, name))
            for layer in body.get("layers", ()):
                self.users.setdefault(layer["digest"], []).append(("layer", digest, name))

        def kind(digest: str) -> str:
            body = self.read(digest) or {}
            return "index" if "manifests" in body else "referrer" if "subject" in body else "image"

        def status(digest: str, depth: int = 0) -> str:
            if digest in tagged:
                return f"tagged {kind(digest)}"
            if digest not in revisions:
                return f"deleted {kind(digest)}"
            if depth < 4 and digest in parents:
                return f"untagged {kind(digest)} child of {a(status(parents[digest], depth + 1))}"
            if depth < 4 and digest in subjects:
                return f"untagged referrer of {a(status(subjects[digest], depth + 1))}"
            return f"untagged {kind(digest)}"

        for digest in revisions:
            self.status[(name, digest)] = status(digest)
            self.states.setdefault(digest, set()).add(status(digest))

    def describe(self, digest: str) -> str:
        body = self.read(digest) if self.isManifest(digest) else None
        if body and ("layers" in body or "manifests" in body):
            states = sorted(self.states.get(digest, ())) or ["deleted everywhere"]
            return f"manifest: {', '.join(states)}"
        uses = sorted({f"{role} of {a(self.status.get((repo, m), 'deleted manifest'))}"
                       for role, m, repo in self.users.get(digest, ())})
        if uses:
            return "; ".join(uses)
        links = self.linked[digest]
        return f"unreferenced blob ({links} _layers links)" if links else "unreferenced blob"

    def isManifest(self, digest: str) -> bool:
        path = os.path.join(self.root, gcgen.blobPath(digest))
        try:
            with open(path, "rb") as f:
                return f.read(1) == b"{"
        except OSError:
            return False


def a(phrase: str) -> str:
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def explain(catalogue: Catalogue, digests: set[str], indent: str = "    ") -> str:
    kinds = Counter(catalogue.describe(d) for d in digests)
    return "\n".join(f"{indent}{n:6}  {kind}" for kind, n in kinds.most_common())


# --------------------------------------------------------------------------

def report(runs: list[Run], pristine: str, summary: gcgen.Summary | None) -> bool:
    ok = True
    print("\nruns (seconds; cpu = user + system of the collector process):")
    for r in runs:
        print(f"  round {r.round}  {r.mode:8}  {r.kind:12}  wall {r.wall:7.2f}  "
              f"cpu {r.cpu:7.2f}  blobs left {len(r.blobs):6}"
              + ("" if r.status == 0 else f"  EXIT {r.status}"))
    print("\nmedians:")
    print(f"  {'mode':8}  {'collector':12}  {'wall s':>8}  {'cpu s':>8}  "
          f"{'wall ratio':>10}  {'cpu ratio':>9}  {'speed-up':>8}  target")
    for mode in dict.fromkeys(r.mode for r in runs):
        medians = {}
        for kind in KINDS:
            mine = [r for r in runs if r.mode == mode and r.kind == kind]
            medians[kind] = (statistics.median(r.wall for r in mine),
                             statistics.median(r.cpu for r in mine))
        d, t = medians["distribution"], medians["txregistry"]
        wallRatio, cpuRatio = t[0] / d[0], t[1] / d[1]
        passed = wallRatio <= TARGET
        ok &= passed
        print(f"  {mode:8}  {'distribution':12}  {d[0]:8.2f}  {d[1]:8.2f}")
        print(f"  {mode:8}  {'txregistry':12}  {t[0]:8.2f}  {t[1]:8.2f}  {wallRatio:10.3f}  "
              f"{cpuRatio:9.3f}  {d[0] / t[0]:7.2f}x  {'PASS' if passed else 'FAIL'}")
    catalogue: Catalogue | None = None
    print("\nblobs left:")
    for mode in dict.fromkeys(r.mode for r in runs):
        byKind = {kind: [r for r in runs if r.mode == mode and r.kind == kind] for kind in KINDS}
        for kind, mine in byKind.items():
            if any(r.blobs != mine[0].blobs for r in mine):
                print(f"  {mode}: {kind} left different blobs in different rounds")
                ok = False
        d, t = byKind["distribution"][0], byKind["txregistry"][0]
        print(f"  {mode}: _layers links naming a deleted blob: distribution {d.danglingLinks}, "
              f"txregistry {t.danglingLinks}")
        if d.blobs == t.blobs:
            print(f"  {mode}: the same {len(d.blobs)} blobs")
        else:
            catalogue = catalogue or Catalogue(pristine)
            onlyD, onlyT = d.blobs - t.blobs, t.blobs - d.blobs
            print(f"  {mode}: DIFFERENT: {len(onlyT)} blobs left by txregistry only, "
                  f"{len(onlyD)} by distribution only")
            if onlyT:
                print(f"   left by txregistry only (deleted by distribution):\n"
                      f"{explain(catalogue, onlyT)}")
            if onlyD:
                print(f"   left by distribution only (deleted by txregistry):\n"
                      f"{explain(catalogue, onlyD)}")
        if summary is not None:
            for kind, mine in byKind.items():
                expected = summary.keep[EXPECTED[(kind, mode)]]
                left = mine[0].blobs
                if left == expected:
                    print(f"  {mode}: {kind} left what gcgen expects of it "
                          f"({len(summary.blobs) - len(left)} blobs deleted)")
                    continue
                if kind == "txregistry":
                    ok = False
                catalogue = catalogue or Catalogue(pristine)
                print(f"  {mode}: {kind} did NOT leave what gcgen expects:")
                if expected - left:
                    print(f"   deleted, expected kept:\n{explain(catalogue, expected - left)}")
                if left - expected:
                    print(f"   kept, expected deleted:\n{explain(catalogue, left - expected)}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1].strip(),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", help="collect copies of this root instead of generating one")
    parser.add_argument("--repositories", type=int, default=2000)
    parser.add_argument("--manifests", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--modes", default="plain,untagged",
                        help="comma-separated: plain, untagged (default both)")
    parser.add_argument("--tmpdir", default="/dev/shm" if os.path.isdir("/dev/shm") else None,
                        help="where the roots go (default /dev/shm)")
    parser.add_argument("--txregistry-tree", default=REPO_ROOT,
                        help="the txregistry checkout to run (default this one)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    options = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)     # in order with the progress on stderr
    modes = options.modes.split(",")
    if not set(modes) <= set(FLAG):
        parser.error(f"--modes: {options.modes}")
    workdir = tempfile.mkdtemp(prefix="bench-gc-", dir=options.tmpdir)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))     # clean up on kill
    try:
        summary = None
        if options.root:
            pristine = os.path.abspath(options.root)
        else:
            pristine = os.path.join(workdir, "pristine")
            summary = gcgen.generate(gcgen.parseOptions(
                [pristine, "--repositories", str(options.repositories),
                 "--manifests", str(options.manifests), "--seed", str(options.seed)]))
        log(f"work directory {workdir}: {dropCaches(workdir)}")
        runs = []
        for round in range(1, options.rounds + 1):
            for i, mode in enumerate(modes):
                order = KINDS if (round + i) % 2 else KINDS[::-1]
                for kind in order:
                    log(f"round {round} {mode}: {kind}")
                    run = runOnce(kind, mode, round, pristine, workdir, options.txregistry_tree)
                    if run.status != 0:
                        log(f"{kind} exited with {run.status}:\n{tail(run.output)}")
                    runs.append(run)
        ok = report(runs, pristine, summary)
        return 0 if ok and all(r.status == 0 for r in runs) else 1
    finally:
        if options.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
