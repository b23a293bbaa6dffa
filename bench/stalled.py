#!/usr/bin/env python3
"""
What stalled uploads cost the daemon: open many uploads that each send part
of a PATCH body and then stop sending, and measure the daemon's memory.

    python bench/stalled.py [--uploads 1000] [--sent 1.1MiB] [--compare-distribution]

Not part of the test suite.  See bench/README.rst.

For each daemon (txregistry, then distribution if asked): start it on a fresh
storage directory, read its RSS, then for each upload ``POST`` a new upload,
open a connection, send the head of a ``PATCH`` declaring ``--declared``
bytes and ``--sent`` bytes of its body, and leave the connection open.  Once
every upload has sent its part, wait for the daemon's RSS to settle, read
it again (``VmRSS``, and ``Rss`` / ``Anonymous`` of ``smaps_rollup``),
check how much of the sent data is stored in the uploads' files, and print
the difference per upload.  The exit status is 0 when txregistry's RSS
with every upload stalled is below ``--target`` (300 MiB).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from streaming import Daemon, MiB, log, once, parseSize, pathOf  # noqa: E402

REPOSITORY = "bench/stalled"


def raiseFileLimit(need: int) -> None:
    """
    Raise this process's open file limit (inherited by the daemons) to at
    least C{need}, up to the hard limit.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = need if hard == resource.RLIM_INFINITY else min(need, hard)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    if wanted < need:
        log(f"warning: the open file limit is {hard}, {need} wanted")


def memory(pid: int) -> dict[str, int]:
    """
    @return: C{VmRSS} and C{VmHWM} of C{/proc/<pid>/status}, C{Rss} and
        C{Anonymous} of C{/proc/<pid>/smaps_rollup} where there is one, in
        bytes.
    """
    out: dict[str, int] = {}
    for name, keys in (("status", ("VmRSS", "VmHWM")), ("smaps_rollup", ("Rss", "Anonymous"))):
        try:
            with open(f"/proc/{pid}/{name}") as f:
                for line in f:
                    key, _, value = line.partition(":")
                    if key in keys:
                        out[key] = int(value.split()[0]) * 1024
        except OSError:
            pass
    return out


def settle(pid: int, quiet: float, limit: float) -> int:
    """
    Wait until the daemon's RSS has not moved by more than 1 MiB for
    C{quiet} seconds (at most C{limit} seconds).

    @return: the settled VmRSS.
    """
    deadline = time.monotonic() + limit
    last, since = memory(pid)["VmRSS"], time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        rss = memory(pid)["VmRSS"]
        if abs(rss - last) > MiB:
            last, since = rss, time.monotonic()
        elif time.monotonic() - since >= quiet:
            break
    return memory(pid)["VmRSS"]


def storedBytes(root: str) -> int:
    """
    @return: the total size of the uploads' data files under C{root}.
    """
    uploads = os.path.join(root, "docker/registry/v2/repositories", REPOSITORY, "_uploads")
    total = 0
    for directory, _, names in os.walk(uploads):
        if "data" in names:
            total += os.stat(os.path.join(directory, "data")).st_size
    return total


def stall(daemon: Daemon, count: int, sent: int, declared: int) -> list[socket.socket]:
    """
    Open C{count} uploads, each with a PATCH that sends C{sent} of its
    C{declared} bytes and stalls.

    @return: the stalled connections.
    """
    body = os.urandom(sent)
    stalled = []
    for i in range(count):
        response = once("127.0.0.1", daemon.port, "POST", f"/v2/{REPOSITORY}/blobs/uploads/")
        if response.status != 202:
            raise RuntimeError(f"POST answered {response.status}: {response.body[:200]!r}")
        target = pathOf(response.headers["location"])
        sock = socket.create_connection(("127.0.0.1", daemon.port))
        sock.sendall(
            f"PATCH {target} HTTP/1.1\r\nHost: 127.0.0.1:{daemon.port}\r\n"
            f"Content-Type: application/octet-stream\r\n"
            f"Content-Length: {declared}\r\n\r\n".encode() + body)
        stalled.append(sock)
        if (i + 1) % 100 == 0:
            log(f"  {daemon.kind}: {i + 1} uploads stalled, "
                f"VmRSS {memory(daemon.pid)['VmRSS'] / MiB:.0f} MiB")
    return stalled


def measure(daemon: Daemon, args: argparse.Namespace) -> dict[str, float]:
    daemon.start()
    try:
        time.sleep(1)
        before = memory(daemon.pid)
        began = time.monotonic()
        stalled = stall(daemon, args.uploads, args.sent, args.declared)
        opened = time.monotonic() - began
        rss = settle(daemon.pid, args.quiet, args.settle)
        after = memory(daemon.pid)
        stored = storedBytes(daemon.root)
        for sock in stalled:
            sock.close()
        return {
            "before": before["VmRSS"] / MiB,
            "after": rss / MiB,
            "peak": after.get("VmHWM", 0) / MiB,
            "anonymous": after.get("Anonymous", 0) / MiB,
            "perUpload": (rss - before["VmRSS"]) / MiB / args.uploads,
            "stored": stored / (args.uploads * args.sent),
            "seconds": opened,
        }
    finally:
        daemon.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uploads", type=int, default=1000)
    parser.add_argument("--sent", type=parseSize, default=int(1.1 * MiB),
                        help="bytes of each PATCH body sent before the stall (1.1MiB)")
    parser.add_argument("--declared", type=parseSize, default=4 * MiB,
                        help="the Content-Length each PATCH declares (4MiB)")
    parser.add_argument("--compare-distribution", action="store_true",
                        help="also measure Debian's /usr/bin/docker-registry")
    parser.add_argument("--registry-cmd", default=None,
                        help="distribution's command (default /usr/bin/docker-registry)")
    parser.add_argument("--quiet", type=float, default=3.0,
                        help="seconds the RSS must stay still to count as settled")
    parser.add_argument("--settle", type=float, default=60.0,
                        help="the longest wait for the RSS to settle")
    parser.add_argument("--target", type=parseSize, default=300 * MiB)
    parser.add_argument("--tmpdir", default=None)
    args = parser.parse_args()
    if args.declared <= args.sent:
        parser.error("--declared must be larger than --sent")
    # A connection, an upload file and its direct descriptor per upload.
    raiseFileLimit(4 * args.uploads + 256)
    workdir = tempfile.mkdtemp(prefix="txregistry-stalled-", dir=args.tmpdir)
    kinds = ["txregistry"] + (["distribution"] if args.compare_distribution else [])
    results = {}
    try:
        for kind in kinds:
            daemon = Daemon(kind, os.path.join(workdir, kind), args.registry_cmd)
            log(f"{kind}: {args.uploads} uploads of {args.sent} bytes out of {args.declared}")
            results[kind] = measure(daemon, args)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"\n{args.uploads} stalled uploads, {args.sent / MiB:.2f} MiB sent each\n")
    header = ("daemon", "RSS idle", "RSS stalled", "peak RSS", "anonymous", "per upload",
              "stored", "open s")
    print("".join(f"{h:>13}" if i else f"{h:<14}" for i, h in enumerate(header)))
    for kind, r in results.items():
        cells = [f"{r[k]:.0f} MiB" for k in ("before", "after", "peak", "anonymous")]
        cells += [f"{r['perUpload']:.3f} MiB", f"{r['stored']:.0%}", f"{r['seconds']:.1f}"]
        print(f"{kind:<14}" + "".join(f"{c:>13}" for c in cells))
    ours = results["txregistry"]["after"] * MiB
    verdict = "PASS" if ours < args.target else "FAIL"
    print(f"\ntxregistry with every upload stalled: {ours / MiB:.0f} MiB "
          f"< {args.target / MiB:.0f} MiB: {verdict}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
