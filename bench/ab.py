#!/usr/bin/env python3
"""
Before and after: two checkouts of txregistry side by side, in one run.

    python bench/ab.py BEFORE_DIR AFTER_DIR [--rounds 7] [--size 1GiB] [--instances 1]
                       [--metrics]

Not part of the test suite.  Both daemons run at once (each from its own
checkout, on the default configuration of L{streaming.Daemon}); the phases
alternate between them (A B, then B A), so that the machine's drift falls
on both:

  push-mono     a --size blob, POST ?digest= with the whole body, from the
                page cache (a new blob each time; sync(2) before, untimed);
                MB/s and the daemon's CPU seconds
  manifest GET  wrk, 16 keep-alive connections, --duration seconds; req/s,
                and the daemon's CPU microseconds per request (steadier than
                req/s where wrk and the daemon share 2 cores)

With --instances 2 (or more), each side runs that many daemons, started
A B B A, all measured in every round, in an order rotating by one each round: one daemon can be
faster than its twin for its whole life, by as much as the effect sought.
Prints each measurement and the medians.  A checkout is made with
C{git worktree add --detach DIR REV}.  With --metrics, the 'after' daemon
serves Prometheus metrics (C{http.debug.prometheus}): give the same checkout
twice to measure what metrics cost.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import streaming  # noqa: E402
from streaming import Connection, Daemon, freePort, parseSize  # noqa: E402

CHUNK = 16 * 1024 * 1024
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"


def cpuSeconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def startDaemon(tree: str, workdir: str, metrics: bool) -> Daemon:
    streaming.REPO_ROOT = tree      # read by Daemon.start only
    daemon = Daemon("txregistry", workdir)
    if metrics:
        with open(daemon.config, "a") as f:    # http is the last section
            f.write(f"  debug:\n    addr: 127.0.0.1:{freePort()}\n"
                    "    prometheus:\n      enabled: true\n")
    daemon.start()
    return daemon


def request(daemon: Daemon, method: str, path: str, body: bytes, contentType: str) -> None:
    conn = Connection("127.0.0.1", daemon.port)
    response = conn.request(method, path, body=body,
                            headers={"Content-Type": contentType})
    conn.close()
    if response.status != 201:
        raise RuntimeError(f"{method} {path}: {response.status}")


def pushImage(daemon: Daemon) -> str:
    """Push a config and a manifest; @return: the manifest's path."""
    config = b"{}"
    digest = "sha256:" + hashlib.sha256(config).hexdigest()
    request(daemon, "POST", f"/v2/bench/ab/blobs/uploads/?digest={digest}", config,
            "application/octet-stream")
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": MANIFEST_TYPE, "layers": [],
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": digest, "size": len(config)}}).encode()
    request(daemon, "PUT", "/v2/bench/ab/manifests/latest", manifest, MANIFEST_TYPE)
    return "/v2/bench/ab/manifests/latest"


def pushMono(daemon: Daemon, blob: str, size: int, serial: int) -> tuple[float, float]:
    """Push C{blob}, made new by C{serial}; @return: MB/s and daemon CPU s."""
    with open(blob, "r+b") as f:
        f.write(serial.to_bytes(8, "big"))
    digest = hashlib.sha256()
    with open(blob, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    subprocess.run(["sync"], check=True)

    def pieces() -> Iterator[bytes]:
        with open(blob, "rb") as f:
            while chunk := f.read(CHUNK):
                yield chunk

    cpu, start = cpuSeconds(daemon.pid), time.monotonic()
    conn = Connection("127.0.0.1", daemon.port)
    response = conn.request(
        "POST", f"/v2/bench/ab/blobs/uploads/?digest=sha256:{digest.hexdigest()}",
        body=pieces(), bodyLength=size)
    conn.close()
    elapsed = time.monotonic() - start
    if response.status != 201:
        raise RuntimeError(f"push: {response.status}")
    return size / elapsed / 1e6, cpuSeconds(daemon.pid) - cpu


def manifestGets(daemon: Daemon, path: str, duration: int) -> tuple[float, float]:
    """@return: req/s, and the daemon's CPU microseconds per request."""
    cpu = cpuSeconds(daemon.pid)
    out = subprocess.run(
        ["wrk", "-t2", "-c16", f"-d{duration}s", "-H", f"Accept: {MANIFEST_TYPE}",
         f"http://127.0.0.1:{daemon.port}{path}"],
        capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"manifest GET: errors\n{out}")
    cpu = cpuSeconds(daemon.pid) - cpu
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    count = re.search(r"(\d+) requests in", out)
    assert rate is not None and count is not None, out
    return float(rate.group(1)), cpu / int(count.group(1)) * 1e6


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("before", help="the checkout measured as 'before'")
    p.add_argument("after", help="the checkout measured as 'after'")
    p.add_argument("--rounds", type=int, default=7, help="alternations (7)")
    p.add_argument("--size", type=parseSize, default=1024 ** 3, help="blob size (1GiB)")
    p.add_argument("--duration", type=int, default=5, help="seconds per wrk run (5)")
    p.add_argument("--tmpdir", default=None, help="where the storage roots go")
    p.add_argument("--instances", type=int, default=1,
                   help="daemons per side, each measured every round (1)")
    p.add_argument("--metrics", action="store_true",
                   help="the 'after' daemon serves Prometheus metrics")
    args = p.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed (apt-get install wrk)")

    trees = {"before": os.path.abspath(args.before), "after": os.path.abspath(args.after)}
    work = tempfile.mkdtemp(prefix="txregistry-ab-", dir=args.tmpdir)
    blob = os.path.join(work, "blob")
    with open(blob, "wb") as f:
        for _ in range(args.size // CHUNK):
            f.write(os.urandom(CHUNK))
        f.write(os.urandom(args.size % CHUNK))
    # Each side's daemons, started A B B A ...: a daemon may be a few per
    # cent faster than its twin for the whole run (where the kernel put it),
    # so that with one daemon a side, that luck reads as a difference.
    daemons: list[tuple[str, Daemon]] = []
    pushes: dict[str, list[tuple[float, float]]] = {name: [] for name in trees}
    gets: dict[str, list[tuple[float, float]]] = {name: [] for name in trees}
    try:
        for i in range(args.instances):
            for name in list(trees) if i % 2 == 0 else list(trees)[::-1]:
                daemons.append((name, startDaemon(trees[name], os.path.join(work, f"{name}{i}"),
                                                  args.metrics and name == "after")))
        path = {daemon: pushImage(daemon) for _, daemon in daemons}
        serial = 0
        for r in range(args.rounds):
            for name, daemon in daemons[r % len(daemons):] + daemons[:r % len(daemons)]:
                serial += 1
                rate, cpu = pushMono(daemon, blob, args.size, serial)
                pushes[name].append((rate, cpu))
                rps, perRequest = manifestGets(daemon, path[daemon], args.duration)
                gets[name].append((rps, perRequest))
                print(f"round {r + 1} {name:6}  push-mono {rate:6.0f} MB/s "
                      f"(daemon CPU {cpu:.2f} s)  manifest GET {rps:7.0f} req/s "
                      f"({perRequest:.1f} CPU us each)", flush=True)
    finally:
        for _, daemon in daemons:
            daemon.stop()
        shutil.rmtree(work, ignore_errors=True)
    print()
    for name in trees:
        rates = [rate for rate, _ in pushes[name]]
        print(f"{name:6}  push-mono median {statistics.median(rates):.0f} MB/s "
              f"({', '.join(f'{x:.0f}' for x in rates)}), daemon CPU "
              f"{statistics.median(cpu for _, cpu in pushes[name]):.2f} s; manifest GET "
              f"median {statistics.median(rps for rps, _ in gets[name]):.0f} req/s "
              f"({', '.join(f'{rps:.0f}' for rps, _ in gets[name])}), "
              f"{statistics.median(us for _, us in gets[name]):.1f} CPU us each")


if __name__ == "__main__":
    main()
