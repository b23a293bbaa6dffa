"""
Push and pull one blob over TLS with HTTP/1.1 and with HTTP/2, against a
real twistd, with curl as the client for both: is HTTP/2 as fast?

    python bench/http2.py [--size 512] [--runs 3]     # size in MiB

Run by hand; not part of the tests.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def freePort() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def startRegistry(work: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    key, cert = work / "key.pem", work / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    port = freePort()
    config = work / "config.yml"
    config.write_text(f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {work}/data\n"
                      "  maintenance:\n    uploadpurging:\n      enabled: false\n"
                      f"http:\n  addr: 127.0.0.1:{port}\n  secret: bench\n"
                      f"  tls:\n    certificate: {cert}\n    key: {key}\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    process = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.argv[0] = 'twistd'; "
         "from twisted.scripts.twistd import run; run()",
         "-n", "--pidfile=", "registry", "-c", str(config)],
        cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"https://127.0.0.1:{port}"
    for _ in range(100):
        if subprocess.run(["curl", "-sf", "--cacert", str(cert), url + "/v2/"],
                          capture_output=True).returncode == 0:
            break
        time.sleep(0.1)
    return process, url, cert


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=512, help="blob size in MiB")
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="txregistry-h2-") as tmp:
        work = Path(tmp)
        blob = work / "blob"
        with blob.open("wb") as f:
            for _ in range(options.size):
                f.write(os.urandom(1 << 20))
        digest = "sha256:" + hashlib.sha256(blob.read_bytes()).hexdigest()
        process, url, cert = startRegistry(work)
        figures: dict[tuple[str, str], list[float]] = {}
        try:
            for run in range(options.runs):
                for flag in ("--http1.1", "--http2"):
                    repo = f"bench/r{run}{flag.strip('-').replace('.', '')}"
                    push = timed(["curl", "-sf", flag, "--cacert", str(cert), "-X", "POST",
                                  "-H", "Content-Type: application/octet-stream",
                                  "--data-binary", f"@{blob}", "-o", "/dev/null",
                                  f"{url}/v2/{repo}/blobs/uploads/?digest={digest}"])
                    pull = timed(["curl", "-sf", flag, "--cacert", str(cert), "-o", "/dev/null",
                                  f"{url}/v2/{repo}/blobs/{digest}"])
                    figures.setdefault((flag, "push"), []).append(options.size / push)
                    figures.setdefault((flag, "pull"), []).append(options.size / pull)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(30)
    print(f"{options.size} MiB blob over TLS, curl, median of {options.runs} (MiB/s)")
    for phase in ("push", "pull"):
        h1 = statistics.median(figures[("--http1.1", phase)])
        h2 = statistics.median(figures[("--http2", phase)])
        print(f"  {phase}: HTTP/1.1 {h1:7.0f}   HTTP/2 {h2:7.0f}   ratio {h2 / h1:.2f}")


if __name__ == "__main__":
    main()
