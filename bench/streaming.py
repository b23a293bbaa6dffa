#!/usr/bin/env python3
"""
Streaming benchmark of txregistry: push and pull one big blob through a real
daemon and measure what the daemon costs while doing it.

    python bench/streaming.py [--size 2GiB] [--runs 3] [--compare-distribution]

Not part of the test suite.  See bench/README.rst for what every figure means.

Every run starts a fresh daemon on a fresh storage directory (under --tmpdir,
default the system temporary directory), then:

  push-mono     POST /v2/<name>/blobs/uploads/?digest=<d>, whole body, with
                Content-Length (blob A)
  push-chunked  POST, PATCHes of --chunk bytes with Content-Range, then
                PUT <location>?digest=<d> with no body (blob B)
  pull          GET of blob A, streamed, sha256 verified
  pull-range    GET of blob A with Range: bytes=<a>-<b>, verified

The blobs are never held in memory nor written to a file by the client: they
are generated deterministically in --chunk pieces from a seeded random
buffer, rotated by a per-piece offset so that no two pieces (nor their 4 KiB
blocks) are equal; a first pass computes the sha256, a second pass streams
the same bytes.  The client speaks HTTP/1.1 over raw sockets so that it knows
when the last byte of a body was handed to the kernel (end of sendall) and
when the first byte of the answer came back.
"""

from __future__ import annotations

import argparse
import atexit
import hashlib
import os
import random
import re
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field

MiB = 1024 * 1024
GiB = 1024 * MiB
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Targets.
RSS_LIMIT_MIB = 150
DISK_WRITE_RATIO = 1.2          # 1.2 GiB for a 1 GiB monolithic push
FINAL_PUT_LIMIT_S = 1.0


# --------------------------------------------------------------------------
# Deterministic blob content.

class Blob:
    """
    C{size} bytes made of pieces of C{chunk} bytes: piece M{i} is a fixed
    random buffer (from C{seed}) rotated by an offset derived from M{i}, its
    first 8 bytes replaced by M{i}.  The offsets are odd, so no 4 KiB block
    of one piece lines up with a block of another.
    """

    def __init__(self, seed: int, size: int, chunk: int) -> None:
        self.seed = seed
        self.size = size
        self.chunk = chunk
        self._base = random.Random(seed).randbytes(chunk)
        self.digest: str | None = None

    def piece(self, i: int) -> bytes:
        k = (i * 1_000_003 + 4099) % (self.chunk - 8)
        data = i.to_bytes(8, "big") + self._base[k + 8:] + self._base[:k]
        remaining = self.size - i * self.chunk
        return data if remaining >= self.chunk else data[:remaining]

    def pieces(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The bytes [start, end) in pieces (aligned on the chunk size)."""
        end = self.size if end is None else end
        i = start // self.chunk
        while i * self.chunk < end:
            data = self.piece(i)
            lo = max(start - i * self.chunk, 0)
            hi = min(end - i * self.chunk, len(data))
            yield data if (lo, hi) == (0, len(data)) else data[lo:hi]
            i += 1

    def sha256(self, start: int = 0, end: int | None = None) -> str:
        h = hashlib.sha256()
        for data in self.pieces(start, end):
            h.update(data)
        return h.hexdigest()

    def computeDigest(self) -> str:
        if self.digest is None:
            self.digest = "sha256:" + self.sha256()
        return self.digest

    path: str | None = None

    def materialize(self, directory: str) -> None:
        """
        Write the blob to a file in C{directory} (and compute its digest), so
        that the clients send it with sendfile(2): building pieces costs the
        client a CPU core's worth of copies, which the daemons, on the same
        2 cores, would pay for.
        """
        fd, path = tempfile.mkstemp(prefix="blob-", dir=directory)
        h = hashlib.sha256()
        with os.fdopen(fd, "wb") as f:
            for data in self.pieces():
                h.update(data)
                f.write(data)
        self.path, self.digest = path, "sha256:" + h.hexdigest()

    def remove(self) -> None:
        if self.path is not None:
            os.unlink(self.path)
            self.path = None

    def body(self, start: int = 0, end: int | None = None) -> FileRange | Iterator[bytes]:
        """The bytes [start, end), from the file if there is one."""
        end = self.size if end is None else end
        if self.path is not None:
            return FileRange(self.path, start, end - start)
        return self.pieces(start, end)

    def ranges(self) -> Iterator[tuple[int, int]]:
        """[start, end) of every piece, in order."""
        for start in range(0, self.size, self.chunk):
            yield start, min(start + self.chunk, self.size)


@dataclass
class FileRange:
    """A request body sent from a file: with sendfile(2), or over TLS in 1 MiB reads."""
    path: str
    offset: int
    count: int

    #: What a TLS socket is given per call.
    TLS_PIECE = 1024 * 1024

    def sendTo(self, sock: socket.socket) -> None:
        with open(self.path, "rb") as f:
            if not isinstance(sock, ssl.SSLSocket):
                sock.sendfile(f, self.offset, self.count)
                return
            # SSLSocket.sendfile() sends 8 KiB at a time, in 8 KiB records:
            # twice the records a Go client (docker, skopeo) sends, each
            # costing both ends a call.
            piece = memoryview(bytearray(self.TLS_PIECE))
            f.seek(self.offset)
            left = self.count
            while left:
                n = f.readinto(piece[:min(left, len(piece))])
                if not n:
                    raise EOFError(f"{self.path} ended {left} bytes early")
                sock.sendall(piece[:n])
                left -= n


def blobDirectory(need: int, fallback: str) -> str:
    """/dev/shm if it has room for C{need} bytes, else C{fallback}."""
    shm = "/dev/shm"
    if os.path.isdir(shm) and shutil.disk_usage(shm).free > need + 256 * MiB:
        return shm
    return fallback


# --------------------------------------------------------------------------
# A raw-socket HTTP/1.1 client.

class HTTPError(Exception):
    pass


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes = b""
    # time.monotonic() at: the end of sendall of the last request byte, the
    # first response byte, the end of the response.
    sentAt: float = 0.0
    firstByteAt: float = 0.0
    doneAt: float = 0.0
    sendError: str | None = None
    bodyLength: int = 0
    bodyDigest: str | None = None

    @property
    def latency(self) -> float:
        """Seconds from the last byte sent to the first byte received."""
        return self.firstByteAt - self.sentAt


class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buf = bytearray()

    def close(self) -> None:
        self.sock.close()

    def _fill(self) -> bool:
        data = self.sock.recv(1024 * 1024)
        if not data:
            return False
        self._buf += data
        return True

    def _readline(self) -> bytes:
        while True:
            i = self._buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self._buf[:i])
                del self._buf[:i + 2]
                return line
            if not self._fill():
                raise HTTPError("connection closed in the response head")

    def request(self, method: str, target: str, headers: dict[str, str] | None = None,
                body: Iterator[bytes] | bytes | FileRange | None = None,
                bodyLength: int | None = None,
                hashBody: bool = False, keepBody: bool = True) -> Response:
        headers = dict(headers or {})
        headers.setdefault("Host", "{}:{}".format(*self.sock.getpeername()[:2]))
        if isinstance(body, bytes):
            bodyLength = len(body)
            body = iter([body])
        elif isinstance(body, FileRange):
            bodyLength = body.count
        if bodyLength is not None:
            headers["Content-Length"] = str(bodyLength)
        elif method in ("POST", "PUT", "PATCH"):
            headers["Content-Length"] = "0"
        head = f"{method} {target} HTTP/1.1\r\n"
        head += "".join("{}: {}\r\n".format(*kv) for kv in headers.items()) + "\r\n"
        sendError = None
        try:
            self.sock.sendall(head.encode("latin-1"))
            if isinstance(body, FileRange):
                body.sendTo(self.sock)
            else:
                for data in body or ():
                    self.sock.sendall(data)
        except OSError as e:
            # The server answered (and closed) before taking the whole body.
            sendError = repr(e)
        sentAt = time.monotonic()
        if not self._buf and not self._fill():
            raise HTTPError(f"connection closed before any response byte ({sendError})")
        firstByteAt = time.monotonic()
        status = self._readline().split(b" ", 2)
        resp = Response(int(status[1]), {}, sentAt=sentAt, firstByteAt=firstByteAt,
                        sendError=sendError)
        while True:
            line = self._readline()
            if not line:
                break
            k, _, v = line.decode("latin-1").partition(":")
            resp.headers[k.strip().lower()] = v.strip()
        hasher = hashlib.sha256() if hashBody else None
        kept = bytearray()

        def consume(data: bytes | bytearray | memoryview) -> None:
            resp.bodyLength += len(data)
            if hasher is not None:
                hasher.update(data)
            if keepBody:
                kept.extend(data)

        if method == "HEAD" or resp.status in (204, 304) or 100 <= resp.status < 200:
            pass
        elif "content-length" in resp.headers:
            remaining = int(resp.headers["content-length"])
            if self._buf:
                take = bytes(self._buf[:remaining])
                del self._buf[:len(take)]
                consume(take)
                remaining -= len(take)
            view = bytearray(4 * MiB)
            mv = memoryview(view)
            while remaining > 0:
                n = self.sock.recv_into(mv, min(len(view), remaining))
                if n == 0:
                    raise HTTPError("connection closed in the response body")
                consume(mv[:n])
                remaining -= n
        elif resp.headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int(self._readline().split(b";")[0], 16)
                if size == 0:
                    while self._readline():
                        pass
                    break
                while len(self._buf) < size + 2:
                    if not self._fill():
                        raise HTTPError("connection closed in a chunk")
                consume(bytes(self._buf[:size]))
                del self._buf[:size + 2]
        else:
            while self._fill():
                pass
            consume(bytes(self._buf))
            self._buf.clear()
        resp.doneAt = time.monotonic()
        resp.body = bytes(kept)
        if hasher is not None:
            resp.bodyDigest = "sha256:" + hasher.hexdigest()
        return resp


def once(host: str, port: int, *args, **kwargs) -> Response:
    """One request on its own connection."""
    conn = Connection(host, port)
    try:
        return conn.request(*args, **kwargs)
    finally:
        conn.close()


# --------------------------------------------------------------------------
# Watching the daemon.

def procStatus(pid: int) -> dict[str, int]:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                k, v = line.split(":")
                out[k] = int(v.split()[0]) * 1024
    return out


def procIO(pid: int) -> dict[str, int]:
    with open(f"/proc/{pid}/io") as f:
        return {k: int(v) for k, v in (line.split(": ") for line in f)}


def resetPeak(pid: int) -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class Sampler(threading.Thread):
    """Samples VmRSS every C{interval} seconds; keeps the maximum since mark()."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.maxRSS = 0
        self.lifetimeMax = 0
        self._halt = threading.Event()

    def mark(self) -> None:
        self.maxRSS = 0

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                rss = procStatus(self.pid)["VmRSS"]
            except (OSError, KeyError):
                return
            self.maxRSS = max(self.maxRSS, rss)
            self.lifetimeMax = max(self.lifetimeMax, rss)
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()


# --------------------------------------------------------------------------
# Daemons.

def freePort() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Daemon:
    def __init__(self, kind: str, workdir: str, registryCmd: str | None = None) -> None:
        self.kind = kind
        self.workdir = workdir
        self.port = freePort()
        self.root = os.path.join(workdir, "storage")
        os.makedirs(self.root)
        self.config = os.path.join(workdir, "config.yml")
        with open(self.config, "w") as f:
            f.write("version: 0.1\n"
                    "log:\n  level: warn\n  accesslog:\n    disabled: true\n"
                    f"storage:\n  filesystem:\n    rootdirectory: {self.root}\n"
                    f"http:\n  addr: 127.0.0.1:{self.port}\n")
        if kind == "txregistry":
            twistd = os.path.join(os.path.dirname(sys.executable), "twistd")
            if not os.path.exists(twistd):
                twistd = shutil.which("twistd") or "twistd"
            self.argv = [twistd, "-n", "--pidfile=", "registry",
                         "--listen", f"tcp:{self.port}:interface=127.0.0.1",
                         "-c", self.config]
        elif kind == "distribution":
            self.argv = [registryCmd or "/usr/bin/docker-registry", "serve", self.config]
        else:
            self.argv = registryCmd.replace("{config}", self.config).replace(
                "{port}", str(self.port)).split()
        self.log = os.path.join(workdir, "daemon.log")
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = REPO_ROOT + os.pathsep + env.get("PYTHONPATH", "")
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(self.argv, cwd=self.workdir, env=env,
                                         stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.proc.returncode} at start:\n{self.logTail()}")
            try:
                if self.ready():
                    return
            except (OSError, HTTPError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.kind} did not answer GET /v2/ in 30 s:\n{self.logTail()}")
            time.sleep(0.1)

    def ready(self) -> bool:
        """Whether the daemon answers GET /v2/."""
        return once("127.0.0.1", self.port, "GET", "/v2/").status == 200

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def logTail(self, n: int = 4000) -> str:
        try:
            with open(self.log, "rb") as f:
                return f.read()[-n:].decode("utf-8", "replace")
        except OSError:
            return ""


# --------------------------------------------------------------------------
# Phases.

@dataclass
class Row:
    daemon: str
    run: int
    phase: str
    size: int
    seconds: float
    peakRSS: int            # bytes: max of VmHWM (reset at phase start) and samples
    diskWrite: int          # bytes: write_bytes delta
    finalLatency: float | None = None   # seconds
    ok: bool = True
    note: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def mbps(self) -> float:
        return self.size / 1e6 / self.seconds if self.seconds > 0 else 0.0


def pathOf(location: str) -> str:
    u = urllib.parse.urlsplit(location)
    return u.path + ("?" + u.query if u.query else "")


def withQuery(target: str, **params: str) -> str:
    sep = "&" if "?" in target else "?"
    return target + sep + urllib.parse.urlencode(params)


class Bench:
    def __init__(self, daemon: Daemon, run: int, args: argparse.Namespace) -> None:
        self.d = daemon
        self.run = run
        self.args = args
        self.host = "127.0.0.1"
        self.rows: list[Row] = []
        self.sampler = Sampler(daemon.pid)
        self.sampler.start()
        self.canReset = resetPeak(daemon.pid)

    def _begin(self) -> tuple[float, dict]:
        self.canReset = resetPeak(self.d.pid) and self.canReset
        self.sampler.mark()
        return time.monotonic(), procIO(self.d.pid)

    def _end(self, phase: str, size: int, began: tuple[float, dict], seconds: float | None = None,
             **kw) -> Row:
        t0, io0 = began
        elapsed = time.monotonic() - t0 if seconds is None else seconds
        time.sleep(0.1)  # let the sampler see the end of the phase
        io1 = procIO(self.d.pid)
        st = procStatus(self.d.pid)
        peak = max(self.sampler.maxRSS, st["VmHWM"] if self.canReset else 0, st["VmRSS"])
        row = Row(self.d.kind, self.run, phase, size, elapsed, peak,
                  io1["write_bytes"] - io0["write_bytes"], **kw)
        row.extra.update({k: io1[k] - io0[k] for k in
                          ("rchar", "wchar", "read_bytes", "cancelled_write_bytes")})
        row.extra["rss_end"] = st["VmRSS"]
        self.rows.append(row)
        log(f"  {phase:<13} {describe(row)}")
        return row

    def pushMono(self, blob: Blob, name: str) -> Row:
        digest = blob.computeDigest()
        began = self._begin()
        resp = once(self.host, self.d.port, "POST",
                    withQuery(f"/v2/{name}/blobs/uploads/", digest=digest),
                    {"Content-Type": "application/octet-stream"},
                    blob.body(), bodyLength=blob.size)
        phase = "push-mono"
        latency = resp.latency
        note = ""
        if resp.status == 202 and self.d.kind != "txregistry":
            # distribution 2.8 does not take a blob in the POST: it answers
            # 202 (without reading the body); finish with a monolithic PUT.
            phase = "push-mono*"
            note = "POST ?digest= answered 202: POST then monolithic PUT"
            began = self._begin()
            resp = once(self.host, self.d.port, "PUT",
                        withQuery(pathOf(resp.headers["location"]), digest=digest),
                        {"Content-Type": "application/octet-stream"},
                        blob.body(), bodyLength=blob.size)
            latency = resp.latency
        ok = resp.status == 201 and resp.headers.get("docker-content-digest") == digest
        if not ok:
            note = f"status {resp.status} {resp.body[:300]!r} {resp.sendError or ''}"
        return self._end(phase, blob.size, began, finalLatency=latency, ok=ok, note=note)

    def pushChunked(self, blob: Blob, name: str) -> Row:
        digest = blob.computeDigest()
        began = self._begin()
        conn = Connection(self.host, self.d.port)
        try:
            resp = conn.request("POST", f"/v2/{name}/blobs/uploads/")
            if resp.status != 202:
                raise HTTPError(f"POST: {resp.status} {resp.body[:300]!r}")
            location = pathOf(resp.headers["location"])
            patchLatencies = []
            for offset, end in blob.ranges():
                resp = conn.request("PATCH", location, {
                    "Content-Type": "application/octet-stream",
                    "Content-Range": f"{offset}-{end - 1}",
                }, blob.body(offset, end))
                if resp.status != 202:
                    raise HTTPError(f"PATCH at {offset}: {resp.status} {resp.body[:300]!r} "
                                    f"{resp.sendError}")
                patchLatencies.append(resp.latency)
                location = pathOf(resp.headers["location"])
                if resp.headers.get("connection", "").lower() == "close":
                    conn.close()
                    conn = Connection(self.host, self.d.port)
            resp = conn.request("PUT", withQuery(location, digest=digest))
        finally:
            conn.close()
        ok = resp.status == 201 and resp.headers.get("docker-content-digest") == digest
        note = "" if ok else f"PUT: status {resp.status} {resp.body[:300]!r}"
        row = self._end("push-chunked", blob.size, began, finalLatency=resp.latency, ok=ok,
                        note=note)
        row.extra["patch_latency_max_ms"] = max(patchLatencies) * 1000
        row.extra["patch_latency_median_ms"] = statistics.median(patchLatencies) * 1000
        row.extra["patches"] = len(patchLatencies)
        return row

    def pull(self, blob: Blob, name: str) -> Row:
        digest = blob.computeDigest()
        began = self._begin()
        resp = once(self.host, self.d.port, "GET", f"/v2/{name}/blobs/{digest}",
                    hashBody=True, keepBody=False)
        ok = (resp.status == 200 and resp.bodyLength == blob.size
              and resp.bodyDigest == digest)
        note = "" if ok else (f"status {resp.status}, {resp.bodyLength} bytes, "
                                     f"{resp.bodyDigest}")
        row = self._end("pull", resp.bodyLength, began, ok=ok, note=note)
        row.extra["ttfb_ms"] = resp.latency * 1000
        return row

    def pullRange(self, blob: Blob, name: str) -> Row:
        digest = blob.computeDigest()
        length = min(self.args.range_length, blob.size // 2)
        start = blob.size // 2 + 12345 if blob.size > 2 * 12345 else 0
        start = min(start, blob.size - length)
        end = start + length            # exclusive
        expected = "sha256:" + blob.sha256(start, end)
        began = self._begin()
        resp = once(self.host, self.d.port, "GET", f"/v2/{name}/blobs/{digest}",
                    {"Range": f"bytes={start}-{end - 1}"},
                    hashBody=True, keepBody=False)
        ok = (resp.status == 206 and resp.bodyLength == length and resp.bodyDigest == expected
              and resp.headers.get("content-range", "").startswith(f"bytes {start}-{end - 1}/"))
        note = "" if ok else (
            f"status {resp.status}, {resp.bodyLength} bytes, "
            f"Content-Range {resp.headers.get('content-range')!r}")
        row = self._end("pull-range", resp.bodyLength, began, ok=ok, note=note)
        row.extra["ttfb_ms"] = resp.latency * 1000
        return row

    def finish(self) -> dict:
        """
        Lifetime figures of the daemon, before it is stopped.  VmHWM is reset
        at the start of every phase, so the lifetime peak is the largest of
        the phases' peaks, the samples and the last VmHWM.
        """
        st = procStatus(self.d.pid)
        self.sampler.stop()
        peak = max([st["VmHWM"], self.sampler.lifetimeMax] + [r.peakRSS for r in self.rows])
        return {"VmHWM": peak, "sampledMax": self.sampler.lifetimeMax,
                "resetWorked": self.canReset}


# --------------------------------------------------------------------------
# Output.

def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def fmtSize(n: int) -> str:
    for unit, f in (("GiB", GiB), ("MiB", MiB), ("KiB", 1024)):
        if n >= f:
            v = n / f
            return (f"{int(v)} {unit}") if v == int(v) else (f"{v:.2f} {unit}")
    return f"{n} B"


def describe(r: Row) -> str:
    s = f"{fmtSize(r.size)} in {r.seconds:.2f} s, {r.mbps:.0f} MB/s, peak RSS {r.peakRSS / MiB:.0f} MiB, disk write {r.diskWrite / MiB:.0f} MiB"
    if r.finalLatency is not None:
        s += ", final answer after %.0f ms" % (r.finalLatency * 1000)
    if not r.ok:
        s += "  ERROR: " + r.note
    return s


def parseSize(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(i?)B?\s*", text, re.I)
    if not m:
        raise argparse.ArgumentTypeError(f"bad size: {text!r}")
    base = 1024 if m.group(3) or not m.group(2) else 1000
    power = " KMGT".index(m.group(2).upper() or " ")
    return int(float(m.group(1)) * base ** power)


def printTable(rows: list[Row]) -> None:
    header = ("daemon", "run", "phase", "size", "seconds", "MB/s", "peak RSS MiB",
              "disk write MiB", "final-PUT ms", "other")
    lines = []
    for r in rows:
        other = []
        if "patch_latency_max_ms" in r.extra:
            other.append(f"{r.extra['patches']} PATCHes, answer after last byte: median "
                         f"{r.extra['patch_latency_median_ms']:.0f} ms, max "
                         f"{r.extra['patch_latency_max_ms']:.0f} ms")
        if "ttfb_ms" in r.extra:
            other.append("first byte after {:.0f} ms".format(r.extra["ttfb_ms"]))
        if r.extra.get("read_bytes", 0) >= MiB:
            other.append("disk read %.0f MiB" % (r.extra["read_bytes"] / MiB))
        if not r.ok:
            other.append("ERROR " + r.note)
        lines.append((r.daemon, str(r.run), r.phase, fmtSize(r.size), f"{r.seconds:.2f}",
                      f"{r.mbps:.0f}", "%.1f" % (r.peakRSS / MiB), "%.0f" % (r.diskWrite / MiB),
                      "%.0f" % (r.finalLatency * 1000) if r.finalLatency is not None else "-",
                      "; ".join(other)))
    widths = [max(len(x[i]) for x in lines + [header]) for i in range(len(header))]
    fmt = "  ".join(f"%-{w}s" if i in (0, 2, 9) else f"%{w}s"
                    for i, w in enumerate(widths))
    print(fmt % header)
    print("  ".join("-" * w for w in widths))
    for line in lines:
        print(fmt % line)


def verdicts(rows: list[Row], lifetimes: list[tuple[str, int, dict]], daemon: str) -> bool:
    rows = [r for r in rows if r.daemon == daemon]
    allOK = True

    def say(ok: bool, what: str) -> None:
        nonlocal allOK
        allOK &= ok
        print("{}  {}".format("PASS" if ok else "FAIL", what))

    print(f"\nTargets ({daemon}, worst of {len({r.run for r in rows})} run(s)):")
    say(all(r.ok for r in rows), "every request succeeded and every digest/range matched")
    hwm = max(lt["VmHWM"] for d, _, lt in lifetimes if d == daemon)
    sampled = max(lt["sampledMax"] for d, _, lt in lifetimes if d == daemon)
    say(hwm < RSS_LIMIT_MIB * MiB,
        f"daemon peak RSS over push + pull: VmHWM/VmRSS {hwm / MiB:.1f} MiB "
        f"(sampled VmRSS max {sampled / MiB:.1f} MiB) < {RSS_LIMIT_MIB} MiB")
    mono = [r for r in rows if r.phase.startswith("push-mono")]
    if mono:
        worst = max(mono, key=lambda r: r.diskWrite / r.size)
        say(worst.diskWrite < DISK_WRITE_RATIO * worst.size,
            f"monolithic push disk write: {worst.diskWrite / MiB:.0f} MiB for {fmtSize(worst.size)} (x{worst.diskWrite / worst.size:.3f}) < x{DISK_WRITE_RATIO:.1f} (1.2 GiB per GiB)")
    finals = [r for r in rows if r.finalLatency is not None]
    for phase in sorted({r.phase for r in finals}):
        worst = max((r for r in finals if r.phase == phase), key=lambda r: r.finalLatency)
        say(worst.finalLatency < FINAL_PUT_LIMIT_S,
            f"{phase}: answer {worst.finalLatency * 1000:.0f} ms after the last body byte < {FINAL_PUT_LIMIT_S * 1000:.0f} ms")
    return allOK


# --------------------------------------------------------------------------

def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=parseSize, default=2 * GiB,
                   help="blob size (2GiB, 512MiB, 1000MB, bytes; default 2GiB)")
    p.add_argument("--runs", type=int, default=1, help="runs, each on a fresh daemon")
    p.add_argument("--chunk", type=parseSize, default=16 * MiB,
                   help="PATCH size and generator piece size (default 16MiB)")
    p.add_argument("--range-length", type=parseSize, default=64 * MiB,
                   help="bytes asked for by the Range pull (default 64MiB)")
    p.add_argument("--tmpdir", default=None,
                   help="where the daemon's storage goes (default: system temp dir)")
    p.add_argument("--compare-distribution", action="store_true",
                   help="also run the phases against /usr/bin/docker-registry serve")
    p.add_argument("--registry-cmd", default=None,
                   help="benchmark this command instead of txregistry ({config} and "
                        "{port} are substituted), e.g. '/usr/bin/docker-registry serve {config}'")
    p.add_argument("--keep", action="store_true", help="keep the storage directories")
    args = p.parse_args()

    tmp = args.tmpdir or tempfile.gettempdir()
    free = shutil.disk_usage(tmp).free
    need = 2 * args.size + 256 * MiB
    if free < need:
        log(f"not enough space in {tmp}: {fmtSize(free)} free, {fmtSize(need)} needed")
        return 2

    kinds = ["custom" if args.registry_cmd else "txregistry"]
    if args.compare_distribution:
        kinds.append("distribution")

    log(f"blob size {fmtSize(args.size)}, pieces of {fmtSize(args.chunk)}; computing digests...")
    t = time.monotonic()
    blobA = Blob(0xB10B_A, args.size, args.chunk)
    blobB = Blob(0xB10B_B, args.size, args.chunk)
    blobs = blobDirectory(2 * args.size, tmp)
    for blob in (blobA, blobB):
        blob.materialize(blobs)
    atexit.register(blobA.remove)
    atexit.register(blobB.remove)
    log(f"  A {blobA.computeDigest()}\n  B {blobB.computeDigest()}  ({time.monotonic() - t:.1f} s, "
        f"files in {blobs})")

    rows: list[Row] = []
    lifetimes: list[tuple[str, int, dict]] = []
    for run in range(1, args.runs + 1):
        for kind in kinds:
            workdir = tempfile.mkdtemp(prefix="txregistry-bench-", dir=tmp)
            daemon = Daemon(kind, workdir, args.registry_cmd if kind != "txregistry" else None)
            log(f"run {run}, {kind} (in {workdir}): {' '.join(daemon.argv)}")
            try:
                daemon.start()
                rss = procStatus(daemon.pid)["VmRSS"] / MiB
                log(f"  started, pid {daemon.pid}, RSS {rss:.1f} MiB")
                b = Bench(daemon, run, args)
                try:
                    b.pushMono(blobA, "bench/mono")
                    b.pushChunked(blobB, "bench/chunked")
                    b.pull(blobA, "bench/mono")
                    b.pullRange(blobA, "bench/mono")
                finally:
                    rows.extend(b.rows)
                    lifetimes.append((kind, run, b.finish()))
            except Exception as e:
                log(f"  FAILED: {e!r}\n--- daemon log ---\n{daemon.logTail()}")
                rows.append(Row(kind, run, "aborted", 0, 0, 0, 0, ok=False, note=repr(e)))
            finally:
                daemon.stop()
                if args.keep:
                    log(f"  kept {workdir}")
                else:
                    shutil.rmtree(workdir, ignore_errors=True)

    print()
    print(f"blob {fmtSize(args.size)} ({args.size} bytes), PATCH size {fmtSize(args.chunk)}, "
          f"range {fmtSize(args.range_length)}; Python {sys.version.split()[0]}, "
          f"{os.cpu_count() or 0} CPU(s)")
    printTable(rows)
    ok = True
    for kind in kinds:
        if any(r.daemon == kind for r in rows) and any(d == kind for d, _, _ in lifetimes):
            ok &= verdicts(rows, lifetimes, kind)
        else:
            print(f"\nFAIL  {kind}: no run completed")
            ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
