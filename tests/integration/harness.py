"""
Helpers for the integration tests: free ports, registry processes (txregistry
under C{twistd}, and distribution's C{docker-registry}), skopeo, and OCI image
layouts built from random data.

These tests drive real processes over real loopback sockets; nothing here
touches the reactor.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import yaml

import txregistry

#: Where distribution's registry is installed by Debian's C{docker-registry}.
DOCKER_REGISTRY = "/usr/bin/docker-registry"

#: The directory holding the C{txregistry} package (and, beside it, the
#: C{twisted/plugins/} directory with our plugin) that the tests import: the
#: source tree, or an installed site-packages.
CODE_ROOT = str(Path(txregistry.__file__).resolve().parent.parent)

#: Exit statuses of a server stopped cleanly by SIGTERM: twistd shuts down,
#: then re-raises the signal so that its parent sees it (status -15); Go's
#: registry exits 0 or, likewise, by the signal.
CLEAN_EXITS = (0, -signal.SIGTERM)

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"


def free_port() -> int:
    """
    Find a TCP port free on 127.0.0.1 right now.

    @return: the port number.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_is_free(port: int) -> bool:
    """
    @return: whether C{port} can be bound on 127.0.0.1.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def clean_environ(**extra: str) -> dict[str, str]:
    """
    The environment for a child process: ours without C{REGISTRY_*}
    overrides (which both registries would obey), with C{CODE_ROOT} first on
    C{PYTHONPATH} so that twistd finds the txregistry under test and its
    plugin.

    @param extra: variables to add.
    @return: a new environment mapping.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    pythonpath = [CODE_ROOT]
    if env.get("PYTHONPATH"):
        pythonpath.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(pythonpath)
    env.update(extra)
    return env


def twistd_command() -> list[str]:
    """
    @return: the argv prefix running the C{twistd} of the Python running the
        tests.
    """
    beside = Path(sys.executable).parent / "twistd"
    if beside.exists():
        return [str(beside)]
    return [
        sys.executable,
        "-c",
        "import sys; sys.argv[0] = 'twistd'; "
        "from twisted.scripts.twistd import run; run()",
    ]


def http_request(
    base_url: str,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30,
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """
    Make one HTTP/1.1 request on a new connection.

    @param base_url: C{http://host:port}.
    @return: the status, the headers and the whole body.
    """
    hostport = base_url.split("://", 1)[1]
    conn = http.client.HTTPConnection(hostport, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


def with_digest(location: str, digest: str) -> str:
    """
    The request target completing an upload: its C{Location} (an absolute
    URL or a path) with C{digest=} added to the query.
    """
    parts = urlsplit(location)
    query = f"{parts.query}&" if parts.query else ""
    return f"{parts.path}?{query}{urlencode({'digest': digest})}"


def push_blob(server: Any, name: str, data: bytes) -> dict[str, Any]:
    """
    Push a blob to repository C{name} of a L{RegistryProcess} with a POST
    and a PUT.

    @return: its descriptor, less the media type.
    """
    status, headers, _ = http_request(server.base_url, "POST", f"/v2/{name}/blobs/uploads/", b"")
    assert status == 202
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    status, _, body = http_request(
        server.base_url, "PUT", with_digest(headers["Location"], digest), data,
        {"Content-Type": "application/octet-stream"})
    assert status == 201, body
    return {"digest": digest, "size": len(data)}


def wait_until_serving(
    base_url: str, process: subprocess.Popen[bytes] | None, timeout: float = 30
) -> None:
    """
    Wait until C{GET /v2/} gets any HTTP answer.

    @param process: the server process, whose early exit fails the wait.
    @raise RuntimeError: on timeout or if the process exits.
    """
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with status {process.returncode}")
        try:
            http_request(base_url, "GET", "/v2/", timeout=2)
            return
        except (OSError, http.client.HTTPException) as e:
            last = e
        time.sleep(0.1)
    raise RuntimeError(f"{base_url} did not answer GET /v2/ in {timeout}s: {last}")


@dataclass
class RegistryProcess:
    """
    A registry server running as a child process.

    @ivar kind: C{"txregistry"} or C{"distribution"}.
    @ivar base_url: C{http://127.0.0.1:PORT}.
    @ivar host: C{127.0.0.1:PORT}, as skopeo references want it.
    @ivar root: the storage root directory.
    @ivar log_path: where its standard output and error go.
    """

    kind: str
    argv: list[str]
    cwd: Path
    port: int
    root: Path
    log_path: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    _log: Any = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 30) -> RegistryProcess:
        """
        Start the process and wait until it answers C{GET /v2/}.

        @raise RuntimeError: if it does not; the process is stopped then.
        """
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            self.argv,
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_serving(self.base_url, self.process, timeout)
        except BaseException as e:
            self.stop()
            raise RuntimeError(f"{self.kind} failed to start: {e}\n{self.log()}") from e
        return self

    def stop(self, timeout: float = 15) -> int | None:
        """
        Stop the process: SIGTERM, then SIGKILL after C{timeout} seconds.
        Safe to call twice.

        @return: its exit status, or L{None} if it was never started.
        """
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
        return self.process.returncode

    def log(self) -> str:
        """
        @return: what the process printed so far.
        """
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""


def txregistry_config(root: Path, port: int) -> dict[str, Any]:
    """
    @return: a distribution-format configuration for txregistry.
    """
    return {
        "version": 0.1,
        "storage": {
            "filesystem": {"rootdirectory": str(root)},
            "delete": {"enabled": True},
        },
        # One secret for every process of a test, as replicas sharing a
        # storage root must have: upload URLs stay valid across restarts.
        "http": {"addr": f"127.0.0.1:{port}", "secret": "integration-tests"},
    }


def distribution_config(root: Path, port: int) -> dict[str, Any]:
    """
    @return: a configuration for distribution 2.x: filesystem storage at
        C{root}, deletes enabled, no auth, no cache, no health checks.
    """
    return {
        "version": 0.1,
        "log": {"level": "info"},
        "storage": {
            "filesystem": {"rootdirectory": str(root)},
            "delete": {"enabled": True},
        },
        "http": {
            "addr": f"127.0.0.1:{port}",
            "secret": "integration-tests-only",
        },
    }


def make_txregistry(
    workdir: Path, root: Path, http: dict[str, Any] | None = None
) -> RegistryProcess:
    """
    Prepare (not start) C{twistd -n registry -c CONFIG --listen ...} on a
    free loopback port, serving C{root}.

    @param workdir: a directory of its own for the config, log and pid file.
    @param http: more keys of the configuration's C{http} section.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    settings = txregistry_config(root, port)
    settings["http"].update(http or {})
    config = workdir / "config.yml"
    config.write_text(yaml.safe_dump(settings))
    argv = twistd_command() + [
        "-n",
        "--pidfile",
        str(workdir / "twistd.pid"),
        "registry",
        "-c",
        str(config),
        "--listen",
        f"tcp:{port}:interface=127.0.0.1",
    ]
    return RegistryProcess(
        kind="txregistry",
        argv=argv,
        cwd=workdir,
        port=port,
        root=root,
        log_path=workdir / "twistd.log",
        env=clean_environ(),
    )


def make_distribution(workdir: Path, root: Path) -> RegistryProcess:
    """
    Prepare (not start) C{docker-registry serve CONFIG} on a free loopback
    port, serving C{root}.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = workdir / "config.yml"
    config.write_text(yaml.safe_dump(distribution_config(root, port)))
    return RegistryProcess(
        kind="distribution",
        argv=[DOCKER_REGISTRY, "serve", str(config)],
        cwd=workdir,
        port=port,
        root=root,
        log_path=workdir / "registry.log",
        env=clean_environ(),
    )


class Registries:
    """
    Starts registry processes for one test and stops them all after it.
    """

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.processes: list[RegistryProcess] = []

    def _workdir(self, kind: str) -> Path:
        return self.tmp_path / f"{kind}-{len(self.processes)}"

    def _root(self, root: Path | None) -> Path:
        if root is None:
            root = self.tmp_path / f"storage-{len(self.processes)}"
        root.mkdir(parents=True, exist_ok=True)
        return root

    def txregistry(
        self, root: Path | None = None, http: dict[str, Any] | None = None
    ) -> RegistryProcess:
        """
        Start C{twistd -n registry} serving C{root} (a new directory if
        L{None}) and wait until it answers.

        @param http: more keys of the configuration's C{http} section.
        """
        process = make_txregistry(self._workdir("txregistry"), self._root(root), http)
        self.processes.append(process)
        return process.start()

    def distribution(self, root: Path | None = None) -> RegistryProcess:
        """
        Start distribution's C{docker-registry serve} serving C{root} (a new
        directory if L{None}) and wait until it answers.
        """
        process = make_distribution(self._workdir("distribution"), self._root(root))
        self.processes.append(process)
        return process.start()

    def start(self, kind: str, root: Path | None = None) -> RegistryProcess:
        """
        Start a registry of the given kind (C{txregistry}, C{distribution}).
        """
        return {"txregistry": self.txregistry, "distribution": self.distribution}[kind](
            root
        )

    def stop_all(self) -> None:
        for process in self.processes:
            process.stop()


def skopeo(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """
    Run skopeo (with C{--insecure-policy}, so no policy file is needed).

    @raise AssertionError: if it fails; the message holds its output.
    """
    argv = ["skopeo", "--insecure-policy", *args]
    result = subprocess.run(
        argv,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=clean_environ(),
    )
    if result.returncode != 0:
        raise AssertionError(
            f"{' '.join(argv)} exited {result.returncode}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result


def sha256(data: bytes) -> str:
    """
    @return: C{sha256:<hex>} of C{data}.
    """
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(obj: Any) -> bytes:
    """
    @return: C{obj} as compact JSON with sorted keys.
    """
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def random_layer(rng: Any, files: int = 3, size: int = 64 * 1024) -> tuple[bytes, str]:
    """
    Make a gzip-compressed tar layer of random files.

    @param rng: a L{random.Random}.
    @return: the compressed layer and the digest of the uncompressed tar
        (its DiffID).
    """
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for i in range(files):
            data = rng.randbytes(rng.randint(1, size))
            info = tarfile.TarInfo(f"data/file-{i}-{rng.getrandbits(32):08x}")
            info.size = len(data)
            info.mtime = 0
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    tar_bytes = raw.getvalue()
    return gzip.compress(tar_bytes, mtime=0), sha256(tar_bytes)


class OCILayout:
    """
    An OCI image layout directory being written: C{oci-layout},
    C{index.json} and C{blobs/sha256/...}.

    @ivar path: the directory.
    """

    def __init__(self, path: Path, rng: Any) -> None:
        self.path = path
        self.rng = rng
        self.refs: list[dict[str, Any]] = []
        (path / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)

    def add_blob(self, data: bytes, media_type: str) -> dict[str, Any]:
        """
        Store a blob.

        @return: its OCI descriptor.
        """
        digest = sha256(data)
        (self.path / "blobs" / "sha256" / digest.split(":", 1)[1]).write_bytes(data)
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    def add_image(self, architecture: str = "amd64", layers: int = 2) -> dict[str, Any]:
        """
        Store an image of random gzip layers, its config and its manifest.

        @return: the manifest's descriptor (with its platform).
        """
        layer_descriptors = []
        diff_ids = []
        for _ in range(layers):
            blob, diff_id = random_layer(self.rng)
            layer_descriptors.append(self.add_blob(blob, OCI_LAYER_GZIP))
            diff_ids.append(diff_id)
        config = {
            "created": "2024-01-01T00:00:00Z",
            "architecture": architecture,
            "os": "linux",
            "config": {
                "Env": ["PATH=/usr/bin:/bin"],
                "Cmd": ["/bin/true"],
                "Labels": {"test.nonce": f"{self.rng.getrandbits(64):016x}"},
            },
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created": "2024-01-01T00:00:00Z"} for _ in diff_ids],
        }
        config_descriptor = self.add_blob(canonical_json(config), OCI_CONFIG)
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": config_descriptor,
            "layers": layer_descriptors,
        }
        descriptor = self.add_blob(canonical_json(manifest), OCI_MANIFEST)
        descriptor["platform"] = {"architecture": architecture, "os": "linux"}
        return descriptor

    def add_index(self, manifests: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """
        Store an OCI image index of the given manifests.

        @return: the index's descriptor.
        """
        index = {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": list(manifests),
        }
        return self.add_blob(canonical_json(index), OCI_INDEX)

    def tag(self, ref: str, descriptor: dict[str, Any]) -> None:
        """
        Name C{descriptor} C{ref} in C{index.json} and write the layout files.
        """
        entry = {k: v for k, v in descriptor.items() if k != "platform"}
        entry["annotations"] = {"org.opencontainers.image.ref.name": ref}
        self.refs.append(entry)
        (self.path / "oci-layout").write_text(
            json.dumps({"imageLayoutVersion": "1.0.0"})
        )
        (self.path / "index.json").write_text(
            json.dumps({"schemaVersion": 2, "manifests": self.refs}, indent=2)
        )


def read_blob(layout: Path, digest: str) -> bytes:
    """
    @return: a blob of an OCI layout, checked against its digest.
    """
    algorithm, hexdigest = digest.split(":", 1)
    data = (layout / "blobs" / algorithm / hexdigest).read_bytes()
    assert sha256(data) == digest, f"{layout}: blob {digest} is corrupt"
    return data


def resolve_ref(layout: Path, ref: str) -> dict[str, Any]:
    """
    @return: the descriptor named C{ref} in a layout's C{index.json}.
    """
    index = json.loads((layout / "index.json").read_text())
    for entry in index["manifests"]:
        if entry.get("annotations", {}).get("org.opencontainers.image.ref.name") == ref:
            return dict(entry)
    raise AssertionError(f"{layout}: no reference {ref!r} in {index}")


def image_blobs(layout: Path, digest: str) -> dict[str, bytes]:
    """
    Every blob reachable from a manifest or index, by digest.

    @return: a mapping of digest to bytes, including the top one.
    """
    found: dict[str, bytes] = {}

    def walk(d: str) -> None:
        data = read_blob(layout, d)
        found[d] = data
        document = json.loads(data)
        for child in document.get("manifests", []):
            walk(child["digest"])
        if "config" in document:
            found[document["config"]["digest"]] = read_blob(
                layout, document["config"]["digest"]
            )
        for layer in document.get("layers", []):
            found[layer["digest"]] = read_blob(layout, layer["digest"])

    walk(digest)
    return found


def assert_same_image(a: Path, ref_a: str, b: Path, ref_b: str) -> None:
    """
    Assert that reference C{ref_a} of layout C{a} and C{ref_b} of C{b} name
    the same manifest (or index) and that every blob they reach is
    byte-for-byte the same.
    """
    top_a = resolve_ref(a, ref_a)
    top_b = resolve_ref(b, ref_b)
    assert top_a["digest"] == top_b["digest"], (top_a, top_b)
    assert top_a["mediaType"] == top_b["mediaType"], (top_a, top_b)
    blobs_a = image_blobs(a, top_a["digest"])
    blobs_b = image_blobs(b, top_b["digest"])
    assert sorted(blobs_a) == sorted(blobs_b)
    for digest, data in blobs_a.items():
        assert blobs_b[digest] == data, f"blob {digest} differs"


def layer_blobs(layout: Path, ref: str) -> dict[str, bytes]:
    """
    @return: the layer blobs of the single-image reference C{ref}, by digest.
    """
    manifest = json.loads(read_blob(layout, resolve_ref(layout, ref)["digest"]))
    return {
        layer["digest"]: read_blob(layout, layer["digest"])
        for layer in manifest["layers"]
    }


def dir_contents(path: Path) -> dict[str, bytes]:
    """
    @return: the files of a skopeo C{dir:} image (C{manifest.json}, blobs by
        hex digest, C{version}), by name.
    """
    return {p.name: p.read_bytes() for p in sorted(path.iterdir()) if p.is_file()}


def remove_tree(path: Path) -> None:
    """
    Remove a directory tree if present.
    """
    shutil.rmtree(path, ignore_errors=True)
