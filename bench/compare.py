#!/usr/bin/env python3
"""
Side-by-side benchmark of txregistry against distribution (Debian's
docker-registry 2.8) on loopback.

    python bench/compare.py [--size 1GiB] [--runs 3] [--tls] [--no-http] [--metrics]

Not part of the test suite.  See docs/benchmarks.rst for what every figure
means and for results.

For every transport (plain HTTP; TLS too with --tls) and every run, both
daemons are started fresh (filesystem storage, fresh roots side by side in
--tmpdir), then every phase is run against one and right after against the
other (A B, and B A on the next run, so neither always goes first; sync(2)
before each, untimed, so that neither pays for the other's dirty pages):

  push-mono     POST, then PUT <location>?digest= with the whole blob (blob A)
  push-chunked  POST, PATCHes of --chunk bytes with Content-Range, then
                PUT <location>?digest= without body (blob B)
  pull          GET of blob A with the raw-socket Python client, sha256 checked
                (no target: the client, hashing, is as slow as both daemons)
  pull-curl     GET of blob A with curl -o /dev/null (HTTP/1.1)
  image-push    50 x 4 KiB layers + config (HEAD, POST, PUT each) + PUT of an
                OCI manifest, sequential on one keep-alive connection
  image-pull    GET of the manifest, the config and the layers, same way
  small         manifest GET and 4 KiB blob GET with wrk, manifest HEAD with
                curl --parallel (wrk 4.1 hangs on HEAD), at 1, 16 and 64
                keep-alive connections

The figures are the medians of --runs runs; the ratio column is always the
advantage of txregistry: txregistry / distribution for throughputs and
request rates, distribution / txregistry for times, latencies, memory and
bytes written, so > 1 means txregistry is better.
"""

from __future__ import annotations

import argparse
import atexit
import datetime
import hashlib
import json
import os
import random
import re
import resource
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import streaming  # noqa: E402
from streaming import (  # noqa: E402
    Blob,
    Connection,
    GiB,
    HTTPError,
    MiB,
    Response,
    Sampler,
    fmtSize,
    freePort,
    log,
    parseSize,
    pathOf,
    procIO,
    procStatus,
    resetPeak,
    withQuery,
)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.dirname(os.path.abspath(__file__))
KINDS = ("txregistry", "distribution")
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
CLK_TCK = os.sysconf("SC_CLK_TCK")

# Targets (txregistry / distribution).
PUSH_RATIO = 3.0
PULL_RATIO = {"http": 1.2, "tls": 0.8}
SMALL_RATIO = 3.0               # req/s at 16 and 64 connections, one process
SMALL_RATIO_WORKERS = 5.0       # the same with http.workers: 2
IMAGE_TIME_RATIO = 0.7          # wall time of the 50-layer push + pull
RSS_LIMIT_MIB = 150


# --------------------------------------------------------------------------
# Client over HTTP or TLS.

class Conn(Connection):
    """L{streaming.Connection}, optionally over TLS (HTTP/1.1, no ALPN)."""

    def __init__(self, host: str, port: int, context: ssl.SSLContext | None = None) -> None:
        super().__init__(host, port)
        if context is not None:
            self.sock = context.wrap_socket(self.sock, server_hostname=host)


def once(host: str, port: int, context: ssl.SSLContext | None, *args, **kwargs) -> Response:
    conn = Conn(host, port, context)
    try:
        return conn.request(*args, **kwargs)
    finally:
        conn.close()


# --------------------------------------------------------------------------
# Daemons.

def daemonCPU(pid: int) -> float:
    """User + system CPU seconds of the process (all threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


class Daemon(streaming.Daemon):
    """
    A registry process as bench/streaming.py runs one, with this benchmark's
    configuration and, with C{--tls}, served over TLS.
    """

    def __init__(self, kind: str, workdir: str, tls: tuple[str, str] | None,
                 registryCmd: str, workers: int = 1, metrics: bool = False) -> None:
        self.kind = kind
        self.workdir = workdir
        self.port = freePort()
        self.root = os.path.join(workdir, "storage")
        os.makedirs(self.root)
        self.config = os.path.join(workdir, "config.yml")
        text = ("version: 0.1\n"
                "log:\n  level: warn\n  accesslog:\n    disabled: true\n"
                f"storage:\n  filesystem:\n    rootdirectory: {self.root}\n"
                "  delete:\n    enabled: true\n")
        if kind == "txregistry":
            text += "  maintenance:\n    uploadpurging:\n      enabled: false\n"
        text += f"http:\n  addr: 127.0.0.1:{self.port}\n  secret: bench-{kind}\n"
        if kind == "txregistry" and workers > 1:
            text += f"  workers: {workers}\n"
        if kind == "txregistry" and metrics:
            text += (f"  debug:\n    addr: 127.0.0.1:{freePort()}\n"
                     "    prometheus:\n      enabled: true\n")
        if tls:
            text += f"  tls:\n    certificate: {tls[0]}\n    key: {tls[1]}\n"
        with open(self.config, "w") as f:
            f.write(text)
        if kind == "txregistry":
            self.argv = [sys.executable, "-c", "import sys; sys.argv[0] = 'twistd'; "
                         "from twisted.scripts.twistd import run; run()",
                         "-n", "--pidfile=", "registry", "-c", self.config]
        else:
            self.argv = [registryCmd, "serve", self.config]
        self.log = os.path.join(workdir, "daemon.log")
        self.proc: subprocess.Popen | None = None

    def start(self, context: ssl.SSLContext | None) -> None:  # type: ignore[override]
        self.context = context
        super().start()

    def ready(self) -> bool:
        return once("127.0.0.1", self.port, self.context, "GET", "/v2/").status == 200


# --------------------------------------------------------------------------
# Measurements.

@dataclass
class Metric:
    """One figure of one phase of one daemon in one run."""
    transport: str
    phase: str
    name: str
    unit: str
    higherIsBetter: bool
    daemon: str
    run: int
    value: float


@dataclass
class Image:
    name: str
    layers: list[bytes]
    config: bytes
    manifest: bytes = b""
    digests: dict[bytes, str] = field(default_factory=dict)

    @classmethod
    def make(cls, name: str, count: int, size: int, seed: int) -> Image:
        rnd = random.Random(seed)
        layers = [rnd.randbytes(size) for _ in range(count)]
        sha = lambda b: "sha256:" + hashlib.sha256(b).hexdigest()  # noqa: E731
        config = json.dumps({
            "architecture": "amd64", "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [sha(b) for b in layers]},
            "config": {}}).encode()
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": sha(config), "size": len(config)},
            "layers": [{"mediaType": OCI_LAYER, "digest": sha(b), "size": len(b)}
                       for b in layers]}, indent=3).encode()
        return cls(name, layers, config, manifest)

    def blobs(self) -> list[tuple[str, bytes]]:
        return [("sha256:" + hashlib.sha256(b).hexdigest(), b)
                for b in [self.config] + self.layers]

    @property
    def manifestDigest(self) -> str:
        return "sha256:" + hashlib.sha256(self.manifest).hexdigest()


class Bench:
    """The phases against one daemon."""

    def __init__(self, d: Daemon, transport: str, run: int, args: argparse.Namespace,
                 context: ssl.SSLContext | None, cafile: str | None,
                 out: list[Metric], failures: list[str]) -> None:
        self.d = d
        self.transport = transport
        self.run = run
        self.args = args
        self.context = context
        self.cafile = cafile
        self.out = out
        self.failures = failures
        self.host = "127.0.0.1"
        self.scheme = "https" if context else "http"
        self.base = f"{self.scheme}://{self.host}:{d.port}"
        self.sampler = Sampler(d.pid)
        self.sampler.start()
        self.canReset = resetPeak(d.pid)
        self.lastRate: dict[int, float] = {}     # GET req/s by connections

    def conn(self) -> Conn:
        return Conn(self.host, self.d.port, self.context)

    def once(self, *args, **kwargs) -> Response:
        return once(self.host, self.d.port, self.context, *args, **kwargs)

    def metric(self, phase: str, name: str, unit: str, higher: bool, value: float) -> None:
        self.out.append(Metric(self.transport, phase, name, unit, higher, self.d.kind,
                               self.run, value))

    def fail(self, phase: str, what: str) -> None:
        msg = f"{self.transport} run {self.run} {self.d.kind} {phase}: {what}"
        log("  ERROR " + msg)
        self.failures.append(msg)

    # -- phase bookkeeping: wall time, daemon CPU, peak RSS, disk writes

    def begin(self) -> dict:
        self.canReset = resetPeak(self.d.pid) and self.canReset
        self.sampler.mark()
        ru = resource.getrusage(resource.RUSAGE_SELF)
        ruc = resource.getrusage(resource.RUSAGE_CHILDREN)
        return {"t": time.monotonic(), "io": procIO(self.d.pid), "cpu": daemonCPU(self.d.pid),
                "client": ru.ru_utime + ru.ru_stime + ruc.ru_utime + ruc.ru_stime}

    def end(self, phase: str, began: dict, size: int | None = None,
            clientCPU: bool = False) -> float:
        elapsed = time.monotonic() - began["t"]
        ru = resource.getrusage(resource.RUSAGE_SELF)
        ruc = resource.getrusage(resource.RUSAGE_CHILDREN)
        client = ru.ru_utime + ru.ru_stime + ruc.ru_utime + ruc.ru_stime - began["client"]
        cpu = daemonCPU(self.d.pid) - began["cpu"]
        time.sleep(0.05)    # let the sampler see the end of the phase
        io1 = procIO(self.d.pid)
        st = procStatus(self.d.pid)
        peak = max(self.sampler.maxRSS, st["VmHWM"] if self.canReset else 0, st["VmRSS"])
        written = io1["write_bytes"] - began["io"]["write_bytes"]
        if size is not None:
            self.metric(phase, "MB/s", "MB/s", True, size / 1e6 / elapsed)
        else:
            self.metric(phase, "wall time", "s", False, elapsed)
        self.metric(phase, "daemon CPU", "s", False, cpu)
        if clientCPU:
            self.metric(phase, "client CPU", "% of a core", False, 100 * client / elapsed)
        self.metric(phase, "peak RSS", "MiB", False, peak / MiB)
        self.metric(phase, "disk write", "MiB", False, written / MiB)
        log(f"  {self.d.kind:<12} {phase:<13} {elapsed:7.2f} s"
            + (f" {size / 1e6 / elapsed:7.0f} MB/s" if size else "")
            + f", daemon CPU {cpu:.2f} s, client CPU {client:.2f} s, "
              f"peak RSS {peak / MiB:.0f} MiB, disk write {written / MiB:.0f} MiB")
        return elapsed

    # -- phases

    def pushMono(self, blob: Blob, name: str) -> None:
        digest = blob.computeDigest()
        began = self.begin()
        conn = self.conn()
        try:
            resp = conn.request("POST", f"/v2/{name}/blobs/uploads/")
            if resp.status != 202:
                return self.fail("push-mono", f"POST {resp.status} {resp.body[:200]!r}")
            if resp.headers.get("connection", "").lower() == "close":
                conn.close()
                conn = self.conn()
            resp = conn.request("PUT", withQuery(pathOf(resp.headers["location"]), digest=digest),
                                {"Content-Type": "application/octet-stream"},
                                blob.body(), bodyLength=blob.size)
        finally:
            conn.close()
        if resp.status != 201 or resp.headers.get("docker-content-digest") != digest:
            return self.fail("push-mono", f"PUT {resp.status} {resp.body[:200]!r} "
                                          f"{resp.sendError or ''}")
        self.end("push-mono", began, blob.size)

    def pushChunked(self, blob: Blob, name: str) -> None:
        digest = blob.computeDigest()
        began = self.begin()
        conn = self.conn()
        try:
            resp = conn.request("POST", f"/v2/{name}/blobs/uploads/")
            if resp.status != 202:
                return self.fail("push-chunked", f"POST {resp.status}")
            location = pathOf(resp.headers["location"])
            for offset, end in blob.ranges():
                resp = conn.request("PATCH", location, {
                    "Content-Type": "application/octet-stream",
                    "Content-Range": f"{offset}-{end - 1}"}, blob.body(offset, end))
                if resp.status != 202:
                    return self.fail("push-chunked", f"PATCH at {offset}: {resp.status} "
                                                     f"{resp.body[:200]!r}")
                location = pathOf(resp.headers["location"])
                if resp.headers.get("connection", "").lower() == "close":
                    conn.close()
                    conn = self.conn()
            resp = conn.request("PUT", withQuery(location, digest=digest))
        finally:
            conn.close()
        if resp.status != 201 or resp.headers.get("docker-content-digest") != digest:
            return self.fail("push-chunked", f"PUT {resp.status} {resp.body[:200]!r}")
        self.end("push-chunked", began, blob.size)

    def pull(self, blob: Blob, name: str) -> None:
        digest = blob.computeDigest()
        began = self.begin()
        resp = self.once("GET", f"/v2/{name}/blobs/{digest}", hashBody=True, keepBody=False)
        if resp.status != 200 or resp.bodyLength != blob.size or resp.bodyDigest != digest:
            return self.fail("pull", f"{resp.status}, {resp.bodyLength} bytes, "
                                     f"{resp.bodyDigest}")
        self.end("pull", began, blob.size, clientCPU=True)

    def pullCurl(self, blob: Blob, name: str) -> None:
        digest = blob.computeDigest()
        cmd = ["curl", "-s", "--http1.1", "-o", "/dev/null", "-w", "%{http_code} %{size_download}"]
        if self.cafile:
            cmd += ["--cacert", self.cafile]
        cmd.append(f"{self.base}/v2/{name}/blobs/{digest}")
        began = self.begin()
        out = subprocess.run(cmd, capture_output=True, text=True).stdout.split()
        if out != ["200", str(blob.size)]:
            return self.fail("pull-curl", f"curl said {out}")
        self.end("pull-curl", began, blob.size, clientCPU=True)

    def imagePush(self, image: Image) -> None:
        began = self.begin()
        conn = self.conn()
        try:
            for digest, data in image.blobs():
                resp = conn.request("HEAD", f"/v2/{image.name}/blobs/{digest}")
                if resp.status != 404:
                    return self.fail("image-push", f"HEAD {digest}: {resp.status}")
                resp = conn.request("POST", f"/v2/{image.name}/blobs/uploads/")
                if resp.status != 202:
                    return self.fail("image-push", f"POST: {resp.status}")
                resp = conn.request("PUT", withQuery(pathOf(resp.headers["location"]),
                                                     digest=digest),
                                    {"Content-Type": "application/octet-stream"}, data)
                if resp.status != 201:
                    return self.fail("image-push", f"PUT {digest}: {resp.status} "
                                                   f"{resp.body[:200]!r}")
                if resp.headers.get("connection", "").lower() == "close":
                    conn.close()
                    conn = self.conn()
            resp = conn.request("PUT", f"/v2/{image.name}/manifests/latest",
                                {"Content-Type": OCI_MANIFEST}, image.manifest)
            if resp.status != 201 or resp.headers.get("docker-content-digest") != \
                    image.manifestDigest:
                return self.fail("image-push", f"PUT manifest: {resp.status} "
                                               f"{resp.body[:300]!r}")
        finally:
            conn.close()
        self.end("image-push", began)

    def imagePull(self, image: Image) -> None:
        began = self.begin()
        conn = self.conn()
        try:
            resp = conn.request("GET", f"/v2/{image.name}/manifests/latest",
                                {"Accept": OCI_MANIFEST})
            if resp.status != 200 or resp.body != image.manifest:
                return self.fail("image-pull", f"GET manifest: {resp.status}")
            manifest = json.loads(resp.body)
            for desc in [manifest["config"]] + manifest["layers"]:
                resp = conn.request("GET", f"/v2/{image.name}/blobs/{desc['digest']}",
                                    hashBody=True)
                if resp.status != 200 or resp.bodyDigest != desc["digest"]:
                    return self.fail("image-pull", f"GET {desc['digest']}: {resp.status}")
                if resp.headers.get("connection", "").lower() == "close":
                    conn.close()
                    conn = self.conn()
        finally:
            conn.close()
        self.end("image-pull", began)

    def wrk(self, what: str, path: str, connections: int) -> None:
        phase = f"{what} c={connections}"
        cmd = ["wrk", f"-t{1 if connections == 1 else 2}", f"-c{connections}", "--latency",
               "-H", f"Accept: {OCI_MANIFEST}"]
        url = self.base + path
        if what.endswith("HEAD"):
            return self.curlLoad(phase, url, connections)
        if self.args.warmup > 0:
            subprocess.run(cmd + [f"-d{self.args.warmup}s", url], capture_output=True)
        began = self.begin()
        res = subprocess.run(cmd + [f"-d{self.args.duration}s", url],
                             capture_output=True, text=True)
        out = res.stdout
        m = re.search(r"Requests/sec:\s+([\d.]+)", out)
        lat = {p: parseDuration(v) for p, v in
               re.findall(r"^\s+(50|99)(?:\.000)?%\s+(\S+)", out, re.M)}
        errs = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        sock = re.search(r"Socket errors: (.*)", out)
        if not m or res.returncode != 0 or errs or "50" not in lat or float(m.group(1)) == 0:
            return self.fail(phase, f"wrk: {out[-600:]} {res.stderr[-300:]}")
        if sock:
            log(f"  note: {self.d.kind} {phase}: socket errors: {sock.group(1)}")
        rps = float(m.group(1))
        self.lastRate[connections] = rps
        self.smallPhaseDone(phase, began, rps, lat)

    def curlLoad(self, phase: str, url: str, connections: int) -> None:
        """
        HEAD load with curl: wrk 4.1 waits for the body announced by the
        Content-Length of a HEAD response, and hangs.  curl --parallel keeps
        C{connections} keep-alive HTTP/1.1 connections busy with a fixed
        number of requests (the rate of the GET phase before it times
        --duration) and prints each transfer's time.
        """
        rate = self.lastRate.get(connections, 1000.0)
        count = max(200, int(rate * self.args.duration))
        cfg = os.path.join(self.d.workdir, "curl-urls.cfg")
        with open(cfg, "w") as f:
            f.write(f'url = "{url}"\noutput = "/dev/null"\n' * count)
        cmd = ["curl", "-s", "--http1.1", "-I", "-H", f"Accept: {OCI_MANIFEST}",
               "--parallel", "--parallel-immediate", "--parallel-max", str(connections),
               "-w", "%{http_code} %{time_total}\n"]
        if self.cafile:
            cmd += ["--cacert", self.cafile]
        if self.args.warmup > 0:
            with open(cfg + ".warm", "w") as f:
                f.write(f'url = "{url}"\noutput = "/dev/null"\n'
                        * max(50, int(rate * self.args.warmup)))
            subprocess.run(cmd + ["-K", cfg + ".warm"], capture_output=True)
        began = self.begin()
        res = subprocess.run(cmd + ["-K", cfg], capture_output=True, text=True)
        elapsed = time.monotonic() - began["t"]
        answers = [line.split() for line in res.stdout.splitlines() if line.strip()]
        bad = [a for a in answers if a[0] != "200"]
        if len(answers) != count or bad:
            return self.fail(phase, f"curl: {len(answers)} answers of {count}, "
                                    f"{len(bad)} not 200: {bad[:3]}")
        times = sorted(float(a[1]) * 1000 for a in answers)
        lat = {"50": times[len(times) // 2], "99": times[min(len(times) - 1,
                                                           int(len(times) * 0.99))]}
        self.smallPhaseDone(phase, began, count / elapsed, lat)

    def smallPhaseDone(self, phase: str, began: dict, rps: float, lat: dict) -> None:
        self.metric(phase, "req/s", "req/s", True, rps)
        self.metric(phase, "p50", "ms", False, lat["50"])
        self.metric(phase, "p99", "ms", False, lat["99"])
        cpu = daemonCPU(self.d.pid) - began["cpu"]
        st = procStatus(self.d.pid)
        peak = max(self.sampler.maxRSS, st["VmHWM"] if self.canReset else 0, st["VmRSS"])
        self.metric(phase, "daemon CPU", "s", False, cpu)
        self.metric(phase, "peak RSS", "MiB", False, peak / MiB)
        log(f"  {self.d.kind:<12} {phase:<18} {rps:9.0f} req/s, p50 {lat['50']:.2f} ms, "
            f"p99 {lat['99']:.2f} ms, daemon CPU {cpu:.1f} s, peak RSS {peak / MiB:.0f} MiB")

    def finish(self) -> None:
        st = procStatus(self.d.pid)
        self.sampler.stop()
        self.metric("lifetime", "peak RSS", "MiB", False,
                    max(st["VmHWM"], self.sampler.lifetimeMax) / MiB)


def parseDuration(text: str) -> float:
    """wrk's 1.23ms / 456.00us / 1.20s, in milliseconds."""
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        return float("nan")
    return float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[m.group(2)]


# --------------------------------------------------------------------------

def probeMonolithicPost(d: Daemon, context: ssl.SSLContext | None) -> str:
    """What the daemon does with POST ?digest= and a body (OCI's single POST)."""
    data = b"probe" * 100
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    resp = once("127.0.0.1", d.port, context, "POST",
                withQuery("/v2/bench/probe/blobs/uploads/", digest=digest),
                {"Content-Type": "application/octet-stream"}, data)
    if resp.status == 201:
        return "201: blob stored in one request"
    head = once("127.0.0.1", d.port, context, "HEAD", f"/v2/bench/probe/blobs/{digest}")
    return (f"{resp.status}: body {'ignored' if head.status == 404 else 'stored'}, "
            "upload session opened")


def makeCert(workdir: str) -> tuple[str, str]:
    key, cert = os.path.join(workdir, "key.pem"), os.path.join(workdir, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", key, "-out", cert, "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


def runTransport(transport: str, args: argparse.Namespace, blobs: tuple[Blob, Blob],
                 image: Image, out: list[Metric], failures: list[str],
                 notes: dict[str, str]) -> None:
    blobA, blobB = blobs
    top = tempfile.mkdtemp(prefix="txregistry-compare-", dir=args.tmpdir)
    try:
        context = cafile = tls = None
        if transport == "tls":
            tls = makeCert(top)
            cafile = tls[0]
            context = ssl.create_default_context(cafile=cafile)
        for run in range(1, args.runs + 1):
            order = list(KINDS) if run % 2 else list(reversed(KINDS))
            log(f"== {transport}, run {run}/{args.runs} (order: {', '.join(order)})")
            daemons = {}
            benches: dict[str, Bench] = {}
            try:
                for kind in order:
                    workdir = os.path.join(top, f"run{run}-{kind}")
                    os.makedirs(workdir)
                    d = daemons[kind] = Daemon(kind, workdir, tls, args.registry_cmd,
                                                     args.workers, args.metrics)
                    d.start(context)
                    log(f"  {kind} pid {d.pid} on {d.port}: {' '.join(d.argv[-4:])}")
                    if run == 1:
                        notes[f"{transport} {kind} POST ?digest="] = probeMonolithicPost(d, context)
                    benches[kind] = Bench(d, transport, run, args, context, cafile, out, failures)

                def each(fn, *a, order=order, benches=benches) -> None:
                    for kind in order:
                        # Write back what the previous phase left dirty in
                        # the page cache, so that neither daemon pays for the
                        # other's writes.
                        os.sync()
                        try:
                            fn(benches[kind], *a)
                        except (OSError, HTTPError, KeyError, ValueError) as e:
                            benches[kind].fail(fn.__name__, repr(e))

                if not args.skip_blobs:
                    each(Bench.pushMono, blobA, "bench/mono")
                    each(Bench.pushChunked, blobB, "bench/chunked")
                    each(Bench.pull, blobA, "bench/mono")
                    each(Bench.pullCurl, blobA, "bench/mono")
                each(Bench.imagePush, image)
                each(Bench.imagePull, image)
                small = image.blobs()[1][0]
                for what, path in (("manifest GET", f"/v2/{image.name}/manifests/latest"),
                                   ("manifest HEAD (curl)", f"/v2/{image.name}/manifests/latest"),
                                   ("4 KiB blob GET", f"/v2/{image.name}/blobs/{small}")):
                    for c in args.connections:
                        if args.profile and (transport, run, what, c) == args.profileAt:
                            profile(benches["txregistry"], what, path, c, args)
                        each(Bench.wrk, what, path, c)
                for b in benches.values():
                    b.finish()
            finally:
                for d in daemons.values():
                    d.stop()
                for d in daemons.values():
                    shutil.rmtree(d.workdir, ignore_errors=True)
    finally:
        shutil.rmtree(top, ignore_errors=True)


def profile(b: Bench, what: str, path: str, c: int, args: argparse.Namespace) -> None:
    """Record txregistry with py-spy during one wrk phase (not measured)."""
    outfile = os.path.abspath(args.profile)
    log(f"  py-spy on txregistry during {what} c={c} -> {outfile}")
    spy = subprocess.Popen(["py-spy", "record", "-p", str(b.d.pid), "-f", "raw", "-o", outfile,
                            "--nonblocking", "-d", str(args.duration + 1)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)
    cmd = ["wrk", f"-t{1 if c == 1 else 2}", f"-c{c}", f"-d{args.duration}s",
           "-H", f"Accept: {OCI_MANIFEST}"]
    subprocess.run(cmd + [b.base + path], capture_output=True)
    spy.wait()


# --------------------------------------------------------------------------
# Report.

def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def fmtNum(v: float) -> str:
    if v != v:
        return "-"
    if abs(v) >= 100:
        return f"{v:.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def report(out: list[Metric], failures: list[str], notes: dict[str, str],
           args: argparse.Namespace) -> bool:
    keys: list[tuple[str, str, str]] = []
    for m in out:
        k = (m.transport, m.phase, m.name)
        if k not in keys:
            keys.append(k)
    values: dict[tuple[str, str, str, str], list[float]] = {}
    meta: dict[tuple[str, str, str], Metric] = {}
    for m in out:
        values.setdefault((m.transport, m.phase, m.name, m.daemon), []).append(m.value)
        meta[(m.transport, m.phase, m.name)] = m

    def med(t: str, phase: str, name: str, kind: str) -> float:
        return median(values.get((t, phase, name, kind), []))

    def ratio(t: str, phase: str, name: str) -> float:
        tx, dist = med(t, phase, name, "txregistry"), med(t, phase, name, "distribution")
        if meta[(t, phase, name)].higherIsBetter:
            return tx / dist if dist else float("nan")
        return dist / tx if tx else float("nan")

    # Targets: (transport, phase, name) -> (minimum ratio, label)
    verdicts: list[tuple[bool, str]] = []
    targets: dict[tuple[str, str, str], float] = {}
    for t in sorted({k[0] for k in keys}):
        for phase in ("push-mono", "push-chunked"):
            targets[(t, phase, "MB/s")] = PUSH_RATIO
        # The pull is curl's: the Python client (which hashes what it
        # gets) is bound by its own CPU at about the speed of both daemons.
        targets[(t, "pull-curl", "MB/s")] = PULL_RATIO[t]
        for what in ("manifest GET", "manifest HEAD (curl)", "4 KiB blob GET"):
            for c in (16, 64):
                targets[(t, f"{what} c={c}", "req/s")] = (
                    SMALL_RATIO if args.workers == 1 else SMALL_RATIO_WORKERS)
        targets[(t, "image push+pull", "wall time")] = 1 / IMAGE_TIME_RATIO

    # Derived row: image push + pull.
    for t in sorted({k[0] for k in keys}):
        for kind in KINDS:
            push = values.get((t, "image-push", "wall time", kind), [])
            pull = values.get((t, "image-pull", "wall time", kind), [])
            if push and pull and len(push) == len(pull):
                values[(t, "image push+pull", "wall time", kind)] = [
                    a + b for a, b in zip(push, pull, strict=True)]
        if (t, "image-pull", "wall time") in meta:
            i = keys.index((t, "image-pull", "wall time"))
            keys.insert(i + 1, (t, "image push+pull", "wall time"))
            meta[(t, "image push+pull", "wall time")] = meta[(t, "image-pull", "wall time")]

    header = ("transport", "phase", "figure", "txregistry", "distribution", "ratio", "target")
    lines = []
    for k in keys:
        t, phase, name = k
        if name in ("daemon CPU", "disk write") and not args.verbose and \
                not phase.startswith(("push", "pull", "image")):
            continue
        m = meta[k]
        r = ratio(*k)
        target = ""
        if k in targets:
            ok = r >= targets[k]
            if name == "wall time":
                target = f"time <= {IMAGE_TIME_RATIO}x (ratio >= {targets[k]:.2f}): " \
                         + ("PASS" if ok else "FAIL")
            else:
                target = f">= {targets[k]}: " + ("PASS" if ok else "FAIL")
            verdicts.append((ok, f"{t} {phase} {name}: ratio {fmtNum(r)} (target {targets[k]:.2f})"))
        lines.append((t, phase, name if name == m.unit else f"{name} ({m.unit})", fmtNum(med(t, phase, name, "txregistry")),
                      fmtNum(med(t, phase, name, "distribution")), fmtNum(r), target))
    # Peak RSS of txregistry: the worst over every phase of every run.
    for t in sorted({k[0] for k in keys}):
        peaks = [m.value for m in out if m.transport == t and m.daemon == "txregistry"
                 and m.name == "peak RSS"]
        dpeaks = [m.value for m in out if m.transport == t and m.daemon == "distribution"
                  and m.name == "peak RSS"]
        if peaks:
            ok = max(peaks) < RSS_LIMIT_MIB
            verdicts.append((ok, f"{t} txregistry peak RSS, worst phase of every run: "
                                 f"{max(peaks):.0f} MiB < {RSS_LIMIT_MIB} MiB"))
            lines.append((t, "all phases, worst run", "peak RSS (MiB)", fmtNum(max(peaks)),
                          fmtNum(max(dpeaks)) if dpeaks else "-",
                          fmtNum(max(dpeaks) / max(peaks)) if dpeaks else "-",
                          f"< {RSS_LIMIT_MIB} MiB: " + ("PASS" if ok else "FAIL")))
    verdicts.append((not failures, f"every request succeeded ({len(failures)} failure(s))"))

    print()
    print(f"txregistry vs distribution ({subprocess.run([args.registry_cmd, '--version'], capture_output=True, text=True).stdout.strip()}), "
          f"{datetime.datetime.now().isoformat(timespec='minutes')}, "
          f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    print(f"blob {fmtSize(args.size)}, PATCH {fmtSize(args.chunk)}, image {args.layers} x "
          f"{fmtSize(args.layer_size)}, wrk {args.warmup} s warm-up + {args.duration} s; "
          f"medians of {args.runs} run(s)")
    print("ratio: txregistry/distribution for MB/s and req/s, distribution/txregistry for "
          "times, latencies, CPU, RSS and bytes written: > 1 means txregistry is better")
    for k, v in notes.items():
        print(f"  {k}: {v}")
    print()
    widths = [max(len(x[i]) for x in lines + [header]) for i in range(len(header))]
    fmt = "  ".join(f"%-{w}s" if i in (0, 1, 2, 6) else f"%{w}s" for i, w in enumerate(widths))
    print(fmt % header)
    print("  ".join("-" * w for w in widths))
    for line in lines:
        print((fmt % line).rstrip())
    print()
    for ok, what in verdicts:
        print(("PASS  " if ok else "FAIL  ") + what)
    for f in failures:
        print("  error: " + f)
    if args.json:
        with open(args.json, "w") as f:
            json.dump([m.__dict__ for m in out], f, indent=1)
    return all(ok for ok, _ in verdicts)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=parseSize, default=GiB, help="big blob size (default 1GiB)")
    p.add_argument("--runs", type=int, default=3, help="runs per transport (default 3)")
    p.add_argument("--chunk", type=parseSize, default=16 * MiB, help="PATCH size (16MiB)")
    p.add_argument("--layers", type=int, default=50, help="layers of the image (50)")
    p.add_argument("--workers", type=int, default=1,
                   help="txregistry's http.workers (1); targets are then those for 2 workers")
    p.add_argument("--layer-size", type=parseSize, default=4096, help="layer size (4KiB)")
    p.add_argument("--duration", type=int, default=5, help="seconds per wrk measurement (5)")
    p.add_argument("--warmup", type=int, default=1, help="seconds of wrk warm-up (1)")
    p.add_argument("--connections", type=lambda s: [int(x) for x in s.split(",")],
                   default=[1, 16, 64], help="wrk connection counts (1,16,64)")
    p.add_argument("--metrics", action="store_true",
                   help="txregistry serves Prometheus metrics (http.debug.prometheus)")
    p.add_argument("--tls", action="store_true", help="also run everything over TLS")
    p.add_argument("--no-http", action="store_true", help="skip plain HTTP (with --tls)")
    p.add_argument("--skip-blobs", action="store_true", help="skip the big-blob phases")
    p.add_argument("--tmpdir", default=None, help="where the storage roots go")
    p.add_argument("--registry-cmd", default="/usr/bin/docker-registry",
                   help="distribution's binary (default /usr/bin/docker-registry)")
    p.add_argument("--profile", default=None, metavar="FILE",
                   help="record txregistry with py-spy (raw format) during one extra, "
                        "unmeasured wrk phase, see --profile-at")
    p.add_argument("--profile-at", default="manifest GET,16",
                   help="the wrk phase to profile: 'what,connections' (manifest GET,16)")
    p.add_argument("--json", default=None, help="also write every measurement to this file")
    p.add_argument("-v", "--verbose", action="store_true", help="every figure in the table")
    args = p.parse_args()
    what, c = args.profile_at.rsplit(",", 1)
    transports = ([] if args.no_http else ["http"]) + (["tls"] if args.tls else [])
    args.profileAt = (transports[0] if transports else "http", 1, what, int(c))

    tmp = args.tmpdir or tempfile.gettempdir()
    need = 4 * args.size + 256 * MiB
    if not args.skip_blobs and shutil.disk_usage(tmp).free < need:
        log(f"not enough space in {tmp}: {fmtSize(need)} needed")
        return 2
    log(f"blobs of {fmtSize(args.size)}; computing digests...")
    blobs = (Blob(0xB10B_A, args.size, args.chunk), Blob(0xB10B_B, args.size, args.chunk))
    if not args.skip_blobs:
        directory = streaming.blobDirectory(2 * args.size, tmp)
        for b in blobs:
            b.materialize(directory)
            atexit.register(b.remove)
    image = Image.make("bench/image", args.layers, args.layer_size, 0x1A4E5)
    out: list[Metric] = []
    failures: list[str] = []
    notes: dict[str, str] = {}
    started = time.monotonic()
    for t in transports:
        runTransport(t, args, blobs, image, out, failures, notes)
    log(f"done in {time.monotonic() - started:.0f} s")
    return 0 if report(out, failures, notes, args) else 1


if __name__ == "__main__":
    sys.exit(main())
