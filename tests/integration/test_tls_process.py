"""
TLS served by a real C{twistd -n registry}: skopeo over TLS (and mutual
TLS), protocol versions, ALPN, SNI, and certificates reloaded on SIGHUP
without disturbing open connections or uploads in flight.

Each registry listens with TLS on one port and with plain HTTP on another
loopback port (C{http.endpoints}), which the harness waits on.  The
certificates are made by L{tests.certs}.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from cryptography import x509
from harness import (
    DOCKER_REGISTRY,
    OCILayout,
    Registries,
    RegistryProcess,
    assert_same_image,
    clean_environ,
    distribution_config,
    free_port,
    skopeo,
    twistd_command,
    txregistry_config,
    with_digest,
)

from tests.certs import CertificateAuthority, Issued


@dataclass
class TLSFiles:
    """
    The certificate files of one test.

    @ivar server: the default certificate and key (localhost, 127.0.0.1).
    @ivar other: a second certificate, for C{other.test} (SNI).
    @ivar client: a client certificate of the CA.
    @ivar certDir: a directory for skopeo's C{--*-cert-dir}: C{ca.crt}
        only.
    @ivar clientCertDir: C{ca.crt}, C{client.cert} and C{client.key}.
    """

    ca: CertificateAuthority
    directory: Path
    server: tuple[Path, Path]
    other: tuple[Path, Path]
    caFile: Path
    certDir: Path
    clientCertDir: Path

    def replaceServer(self, issued: Issued) -> None:
        """
        Overwrite the default certificate and key files, as certbot renews
        them (each file replaced by a rename).
        """
        cert, key = self.server
        for path, data in ((key, issued.keyPEM), (cert, issued.chainPEM)):
            temporary = path.with_suffix(".new")
            temporary.write_bytes(data)
            os.replace(temporary, path)


@pytest.fixture
def tls_files(tmp_path: Path) -> TLSFiles:
    """
    A CA, server certificates for localhost and other.test, and a client
    certificate, written under the test's temporary directory.
    """
    ca = CertificateAuthority()
    directory = tmp_path / "tls"
    server = ca.issue(["localhost"], ["127.0.0.1"]).write(directory, "server")
    other = ca.issue(["other.test"], []).write(directory, "other")
    caFile = ca.write(directory / "ca.pem")
    certDir = directory / "skopeo"
    ca.write(certDir / "ca.crt")
    clientCertDir = directory / "skopeo-client"
    ca.write(clientCertDir / "ca.crt")
    client = ca.issue(["client"], [], client=True)
    (clientCertDir / "client.cert").write_bytes(client.chainPEM)
    (clientCertDir / "client.key").write_bytes(client.keyPEM)
    return TLSFiles(ca, directory, server, other, caFile, certDir, clientCertDir)


@dataclass
class TLSRegistry:
    """
    A registry process with a TLS port beside its plain one.
    """

    process: RegistryProcess
    tlsPort: int

    @property
    def host(self) -> str:
        """C{localhost:PORT}, the TLS address as skopeo references want it."""
        return f"localhost:{self.tlsPort}"

    def hup(self) -> None:
        """Send SIGHUP to the process."""
        os.kill(self.process.pid, signal.SIGHUP)


def tls_section(files: TLSFiles, **extra: Any) -> dict[str, Any]:
    """
    @return: an C{http.tls} section serving C{files}: the default
        certificate and other.test's in C{certificates}.
    """
    cert, key = files.server
    otherCert, otherKey = files.other
    section: dict[str, Any] = {
        "certificate": str(cert),
        "key": str(key),
        "certificates": [{"certificate": str(otherCert), "key": str(otherKey)}],
    }
    section.update(extra)
    return section


def start_tls_txregistry(
    registries: Registries,
    files: TLSFiles,
    tls: dict[str, Any] | None = None,
    http: dict[str, Any] | None = None,
    listen: list[str] | None = None,
) -> TLSRegistry:
    """
    Start C{twistd -n registry} with C{http.tls} on a TLS port (a C{tls+}
    endpoint) and plain HTTP on another loopback port.

    @param tls: the C{http.tls} section (L{tls_section} by default).
    @param http: more keys of the C{http} section.
    @param listen: C{--listen} descriptions (the plain port's is added),
        replacing the configuration's endpoints.
    """
    workdir = registries.tmp_path / f"txregistry-tls-{len(registries.processes)}"
    workdir.mkdir(parents=True)
    root = workdir / "storage"
    root.mkdir()
    plainPort, tlsPort = free_port(), free_port()
    config = txregistry_config(root, plainPort)
    plain = f"tcp:{plainPort}:interface=127.0.0.1"
    config["http"]["tls"] = tls_section(files) if tls is None else tls
    config["http"]["endpoints"] = [f"tls+tcp:{tlsPort}:interface=127.0.0.1", plain]
    config["http"].update(http or {})
    path = workdir / "config.yml"
    path.write_text(yaml.safe_dump(config))
    argv = twistd_command() + [
        "-n", "--pidfile", str(workdir / "twistd.pid"), "registry", "-c", str(path),
    ]
    for description in [*listen, plain] if listen else []:
        argv += ["--listen", description]
    process = RegistryProcess(
        kind="txregistry", argv=argv, cwd=workdir, port=plainPort, root=root,
        log_path=workdir / "twistd.log", env=clean_environ(),
    )
    registries.processes.append(process)
    process.start()
    return TLSRegistry(process, tlsPort)


def start_tls_distribution(registries: Registries, files: TLSFiles, **tls: Any) -> TLSRegistry:
    """
    Start distribution's registry serving TLS with C{files}' default
    certificate (distribution has one listener: no plain port).
    """
    workdir = registries.tmp_path / f"distribution-tls-{len(registries.processes)}"
    workdir.mkdir(parents=True)
    root = workdir / "storage"
    root.mkdir()
    port = free_port()
    config = distribution_config(root, port)
    cert, key = files.server
    config["http"]["tls"] = {"certificate": str(cert), "key": str(key), **tls}
    path = workdir / "config.yml"
    path.write_text(yaml.safe_dump(config))
    process = RegistryProcess(
        kind="distribution", argv=[DOCKER_REGISTRY, "serve", str(path)], cwd=workdir,
        port=port, root=root, log_path=workdir / "registry.log", env=clean_environ(),
    )
    registries.processes.append(process)
    process._log = open(process.log_path, "ab")
    process.process = subprocess.Popen(
        process.argv, cwd=workdir, env=process.env, stdin=subprocess.DEVNULL,
        stdout=process._log, stderr=subprocess.STDOUT,
    )
    wait_for_tls(port, files, process)
    return TLSRegistry(process, port)


def wait_for_tls(port: int, files: TLSFiles, process: RegistryProcess, timeout: float = 30) -> None:
    """Wait until a TLS handshake succeeds on C{port}."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.process is not None and process.process.poll() is None, process.log()
        try:
            with connect(port, files):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"no TLS on port {port}:\n{process.log()}")


def client_context(files: TLSFiles, **settings: Any) -> ssl.SSLContext:
    """
    @return: a client context trusting the test CA; C{alpn}, C{minimum},
        C{maximum}, C{ciphers} (TLS 1.2), C{identity} (an L{Issued}) may be
        given.
    """
    context = ssl.create_default_context(cafile=str(files.caFile))
    if "alpn" in settings:
        context.set_alpn_protocols(settings["alpn"])
    if "maximum" in settings:
        if settings["maximum"] < ssl.TLSVersion.TLSv1_2:
            context.set_ciphers("DEFAULT:@SECLEVEL=0")
            context.minimum_version = ssl.TLSVersion.TLSv1
        context.maximum_version = settings["maximum"]
    if "minimum" in settings:
        context.minimum_version = settings["minimum"]
    if "ciphers" in settings:
        context.set_ciphers(settings["ciphers"])
    if "identity" in settings:
        issued: Issued = settings["identity"]
        cert, key = issued.write(files.directory / "python-client", "client")
        context.load_cert_chain(str(cert), str(key))
    return context


def connect(
    port: int, files: TLSFiles, serverName: str = "localhost", **settings: Any
) -> ssl.SSLSocket:
    """
    @return: a TLS socket to C{127.0.0.1:port}, handshake done.
    """
    context = client_context(files, **settings)
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        return context.wrap_socket(raw, server_hostname=serverName)
    except BaseException:
        raw.close()
        raise


def served_certificate(port: int, files: TLSFiles, serverName: str = "localhost") -> x509.Certificate:
    """
    @return: the certificate a new connection for C{serverName} is served.
    """
    with connect(port, files, serverName) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def https(registry: TLSRegistry, files: TLSFiles) -> http.client.HTTPSConnection:
    """
    @return: an HTTPS connection (not yet open) to the registry's TLS port.
    """
    return http.client.HTTPSConnection(
        "localhost", registry.tlsPort, context=client_context(files), timeout=30
    )


def request(
    conn: http.client.HTTPConnection, method: str, path: str, body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, http.client.HTTPResponse, bytes]:
    """
    One request on C{conn} (kept open).

    @return: the status, the response and its body.
    """
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    return response.status, response, response.read()


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 15) -> None:
    """Poll C{condition} until it holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def common_name(certificate: x509.Certificate) -> str:
    return certificate.subject.rfc4514_string()


# skopeo


@pytest.fixture(params=["txregistry", "distribution"])
def tls_registry_kind(request: pytest.FixtureRequest) -> str:
    """Each test using it runs against txregistry and, as a check on the
    test itself, distribution."""
    return str(request.param)


def test_skopeo_round_trip_over_tls(
    registries: Registries, tls_files: TLSFiles, single_image: OCILayout,
    tmp_path: Path, tls_registry_kind: str,
) -> None:
    """skopeo pushes and pulls an image over verified TLS (--dest/--src-cert-dir)."""
    if tls_registry_kind == "txregistry":
        registry = start_tls_txregistry(registries, tls_files)
    else:
        registry = start_tls_distribution(registries, tls_files)
    ref = f"docker://{registry.host}/demo/app:v1"
    certs = str(tls_files.certDir)
    skopeo("copy", "--dest-cert-dir", certs, f"oci:{single_image.path}:v1", ref)
    back = tmp_path / "back"
    skopeo("copy", "--src-cert-dir", certs, ref, f"oci:{back}:v1")
    assert_same_image(single_image.path, "v1", back, "v1")


def test_plain_http_on_tls_port(
    registries: Registries, tls_files: TLSFiles, tls_registry_kind: str
) -> None:
    """Plain HTTP sent to the TLS port gets Go's 400 naming the mistake, and the connection closes."""
    if tls_registry_kind == "txregistry":
        registry = start_tls_txregistry(registries, tls_files)
    else:
        registry = start_tls_distribution(registries, tls_files)
    with socket.create_connection(("127.0.0.1", registry.tlsPort), timeout=10) as raw:
        raw.sendall(b"GET /v2/ HTTP/1.1\r\nHost: localhost\r\n\r\n")
        answer = b""
        while chunk := raw.recv(65536):
            answer += chunk
    assert answer == (b"HTTP/1.0 400 Bad Request\r\n\r\n"
                      b"Client sent an HTTP request to an HTTPS server.\n")


def closed_after(raw: socket.socket | ssl.SSLSocket) -> float:
    """
    @return: the seconds until the server closes C{raw}, reading what it
        sends meanwhile.
    """
    started = time.monotonic()
    try:
        while raw.recv(65536):
            pass
    except (ssl.SSLError, ConnectionResetError):
        pass
    return time.monotonic() - started


def test_slow_handshake_and_preface_closed(registries: Registries, tls_files: TLSFiles) -> None:
    """Within http.headertimeout a TLS client must handshake, and an HTTP/2 one send its preface, or be closed."""
    registry = start_tls_txregistry(registries, tls_files, http={"headertimeout": "1s"})
    with socket.create_connection(("127.0.0.1", registry.tlsPort), timeout=10) as silent:
        assert closed_after(silent) < 3
    with socket.create_connection(("127.0.0.1", registry.tlsPort), timeout=10) as partial:
        partial.sendall(b"\x16\x03\x01")
        assert closed_after(partial) < 3
    with connect(registry.tlsPort, tls_files, alpn=["h2"]) as tls:
        assert tls.selected_alpn_protocol() == "h2"
        tls.sendall(b"PRI * HTTP/2.0\r\n")
        assert closed_after(tls) < 3
    with connect(registry.tlsPort, tls_files, alpn=["http/1.1"]) as tls:
        time.sleep(0.5)
        tls.sendall(b"GET /v2/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        assert tls.recv(65536).startswith(b"HTTP/1.1 200 ")


def test_skopeo_refuses_unknown_ca(
    registries: Registries, tls_files: TLSFiles, single_image: OCILayout
) -> None:
    """Without the CA, skopeo's verification of the server certificate fails."""
    registry = start_tls_txregistry(registries, tls_files)
    with pytest.raises(AssertionError, match="certificate"):
        skopeo("copy", f"oci:{single_image.path}:v1", f"docker://{registry.host}/demo/app:v1")


def test_skopeo_mutual_tls(
    registries: Registries, tls_files: TLSFiles, single_image: OCILayout,
    tls_registry_kind: str,
) -> None:
    """With clientcas, skopeo with a client certificate pushes; without one it is refused."""
    clientcas = [str(tls_files.caFile)]
    if tls_registry_kind == "txregistry":
        registry = start_tls_txregistry(
            registries, tls_files, tls=tls_section(tls_files, clientcas=clientcas))
    else:
        registry = start_tls_distribution(registries, tls_files, clientcas=clientcas)
    ref = f"docker://{registry.host}/demo/app:v1"
    skopeo("copy", "--dest-cert-dir", str(tls_files.clientCertDir),
           f"oci:{single_image.path}:v1", ref)
    with pytest.raises(AssertionError):
        skopeo("inspect", "--cert-dir", str(tls_files.certDir), ref)
    inspected = skopeo("inspect", "--cert-dir", str(tls_files.clientCertDir), ref)
    assert '"Name"' in inspected.stdout


def test_mutual_tls_refuses_python_client_without_cert(
    registries: Registries, tls_files: TLSFiles
) -> None:
    """A client without a certificate cannot get an answer; one with a CA certificate can."""
    registry = start_tls_txregistry(
        registries, tls_files, tls=tls_section(tls_files, clientcas=[str(tls_files.caFile)]))
    with pytest.raises((ssl.SSLError, ConnectionError)):
        with connect(registry.tlsPort, tls_files) as tls:
            # TLS 1.3: the refusal arrives after the client's handshake.
            tls.sendall(b"GET /v2/ HTTP/1.1\r\nHost: localhost\r\n\r\n")
            if not tls.recv(1024):
                raise ConnectionError("closed without an answer")
    identity = tls_files.ca.issue(["client"], [], client=True)
    with connect(registry.tlsPort, tls_files, identity=identity) as tls:
        tls.sendall(b"GET /v2/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        assert tls.recv(1024).startswith(b"HTTP/1.1 200")


# Versions, ALPN, SNI


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")
def test_tls_versions(registries: Registries, tls_files: TLSFiles) -> None:
    """TLS 1.0 and 1.1 are refused by the server; TLS 1.2 and 1.3 are served."""
    registry = start_tls_txregistry(registries, tls_files)
    for old in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
        with pytest.raises(ssl.SSLError, match="PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL"):
            connect(registry.tlsPort, tls_files, maximum=old).close()
    for version, name in ((ssl.TLSVersion.TLSv1_2, "TLSv1.2"), (ssl.TLSVersion.TLSv1_3, "TLSv1.3")):
        with connect(registry.tlsPort, tls_files, minimum=version, maximum=version) as tls:
            assert tls.version() == name


def test_cipher_suites_as_distribution_chooses(
    registries: Registries, tls_files: TLSFiles, tls_registry_kind: str
) -> None:
    """
    Python's client lists AES-256-GCM first; the server chooses AES-128-GCM
    (TLS 1.3 and 1.2), or ChaCha20-Poly1305 for a client listing it first.
    """
    if tls_registry_kind == "txregistry":
        registry = start_tls_txregistry(registries, tls_files)
    else:
        registry = start_tls_distribution(registries, tls_files)
    with connect(registry.tlsPort, tls_files) as tls:
        assert tls.cipher()[:2] == ("TLS_AES_128_GCM_SHA256", "TLSv1.3")
    tls12 = ssl.TLSVersion.TLSv1_2
    with connect(registry.tlsPort, tls_files, maximum=tls12) as tls:
        assert "-AES128-GCM-" in tls.cipher()[0]
    chachaFirst = "ECDHE+CHACHA20:ECDHE+AESGCM"
    with connect(registry.tlsPort, tls_files, maximum=tls12, ciphers=chachaFirst) as tls:
        assert "-CHACHA20-" in tls.cipher()[0]


def test_minimumtls13(registries: Registries, tls_files: TLSFiles) -> None:
    """With minimumtls tls1.3, a TLS 1.2 client is refused."""
    registry = start_tls_txregistry(
        registries, tls_files, tls=tls_section(tls_files, minimumtls="tls1.3"))
    with pytest.raises(ssl.SSLError):
        connect(registry.tlsPort, tls_files, maximum=ssl.TLSVersion.TLSv1_2).close()
    with connect(registry.tlsPort, tls_files) as tls:
        assert tls.version() == "TLSv1.3"


def test_alpn_negotiates_h2(registries: Registries, tls_files: TLSFiles) -> None:
    """ALPN picks h2 when offered, http/1.1 when only it is offered."""
    registry = start_tls_txregistry(registries, tls_files)
    with connect(registry.tlsPort, tls_files, alpn=["h2", "http/1.1"]) as tls:
        assert tls.selected_alpn_protocol() == "h2"
    with connect(registry.tlsPort, tls_files, alpn=["http/1.1"]) as tls:
        assert tls.selected_alpn_protocol() == "http/1.1"


def test_alpn_http2_disabled(registries: Registries, tls_files: TLSFiles) -> None:
    """With http.http2.disabled, ALPN picks http/1.1 even when h2 is offered."""
    registry = start_tls_txregistry(
        registries, tls_files, http={"http2": {"disabled": True}})
    with connect(registry.tlsPort, tls_files, alpn=["h2", "http/1.1"]) as tls:
        assert tls.selected_alpn_protocol() == "http/1.1"


def test_sni_certificate_per_name(registries: Registries, tls_files: TLSFiles) -> None:
    """other.test gets its certificate; localhost and unknown names the default."""
    registry = start_tls_txregistry(registries, tls_files)
    assert common_name(served_certificate(registry.tlsPort, tls_files, "other.test")) == "CN=other.test"
    assert common_name(served_certificate(registry.tlsPort, tls_files, "localhost")) == "CN=localhost"
    with pytest.raises(ssl.SSLCertVerificationError):
        served_certificate(registry.tlsPort, tls_files, "unknown.test")


def test_plain_listener_beside_tls(registries: Registries, tls_files: TLSFiles) -> None:
    """The plain loopback listener answers HTTP while the TLS one answers HTTPS."""
    registry = start_tls_txregistry(registries, tls_files)
    plain = http.client.HTTPConnection("127.0.0.1", registry.process.port, timeout=10)
    assert request(plain, "GET", "/v2/")[0] == 200
    secure = https(registry, tls_files)
    status, response, _ = request(secure, "GET", "/v2/")
    assert (status, response.getheader("Docker-Distribution-API-Version")) == (200, "registry/2.0")


def test_listen_ssl_description(registries: Registries, tls_files: TLSFiles) -> None:
    """--listen ssl:... (Twisted's own TLS endpoint) serves HTTPS end to end."""
    cert, key = tls_files.server
    port = free_port()
    start_tls_txregistry(
        registries, tls_files,
        listen=[f"ssl:{port}:interface=127.0.0.1:privateKey={key}:certKey={cert}"])
    conn = http.client.HTTPSConnection(
        "localhost", port, context=client_context(tls_files), timeout=10)
    assert request(conn, "GET", "/v2/")[0] == 200


def test_listen_tls_prefix(registries: Registries, tls_files: TLSFiles) -> None:
    """--listen tls+tcp:... serves HTTPS with http.tls (SNI included)."""
    port = free_port()
    start_tls_txregistry(
        registries, tls_files, listen=[f"tls+tcp:{port}:interface=127.0.0.1"])
    assert common_name(served_certificate(port, tls_files, "other.test")) == "CN=other.test"
    conn = http.client.HTTPSConnection(
        "localhost", port, context=client_context(tls_files), timeout=10)
    assert request(conn, "GET", "/v2/")[0] == 200


def test_bad_certificate_fails_start(registries: Registries, tls_files: TLSFiles, tmp_path: Path) -> None:
    """A key that is not the certificate's stops the start with the key's path."""
    cert, _ = tls_files.server
    _, otherKey = tls_files.other
    config = txregistry_config(tmp_path / "storage", free_port())
    config["http"]["tls"] = {"certificate": str(cert), "key": str(otherKey)}
    path = tmp_path / "bad.yml"
    path.write_text(yaml.safe_dump(config))
    result = subprocess.run(
        twistd_command() + ["-n", "--pidfile", "", "registry", "-c", str(path)],
        capture_output=True, text=True, timeout=60, env=clean_environ(), cwd=tmp_path,
    )
    assert result.returncode != 0
    assert "http.tls.key" in result.stdout + result.stderr


# SIGHUP


@pytest.fixture
def renewing(registries: Registries, tls_files: TLSFiles) -> Iterator[TLSRegistry]:
    """A TLS registry whose certificate files the test replaces."""
    yield start_tls_txregistry(registries, tls_files)


def renew(registry: TLSRegistry, tls_files: TLSFiles, names: list[str]) -> None:
    """
    Replace the server's certificate files with a new certificate for
    C{names}, send SIGHUP, and wait until new connections are served it.
    """
    renewed = tls_files.ca.issue(names, ["127.0.0.1"])
    tls_files.replaceServer(renewed)
    registry.hup()
    wait_for(
        lambda: served_certificate(registry.tlsPort, tls_files).serial_number
        == renewed.certificate.serial_number,
        "the renewed certificate",
    )


def test_sighup_reload_keeps_open_connections(renewing: TLSRegistry, tls_files: TLSFiles) -> None:
    """After SIGHUP a new connection sees the renewed certificate, while a
    connection opened before keeps working with the old one."""
    old = https(renewing, tls_files)
    assert request(old, "GET", "/v2/")[0] == 200
    assert old.sock is not None
    oldSerial = x509.load_der_x509_certificate(old.sock.getpeercert(True)).serial_number

    renew(renewing, tls_files, ["localhost", "renewed.test"])
    sock = old.sock
    assert request(old, "GET", "/v2/")[0] == 200
    assert old.sock is sock, "the old connection was reopened"
    assert x509.load_der_x509_certificate(old.sock.getpeercert(True)).serial_number == oldSerial
    assert "TLS certificates reloaded" in renewing.process.log()


def test_failed_reload_keeps_old_certificate(renewing: TLSRegistry, tls_files: TLSFiles) -> None:
    """A SIGHUP with a broken key file keeps the old certificate and logs an error."""
    before = served_certificate(renewing.tlsPort, tls_files).serial_number
    cert, key = tls_files.server
    tls_files.ca.issue(["localhost"], ["127.0.0.1"]).write(tls_files.directory, "server")
    key.write_text("-----BEGIN PRIVATE KEY-----\ntruncated\n")
    renewing.hup()
    wait_for(lambda: "not reloaded" in renewing.process.log(), "the reload error")
    assert served_certificate(renewing.tlsPort, tls_files).serial_number == before
    assert "http.tls.key" in renewing.process.log()


def test_upload_across_sighup(renewing: TLSRegistry, tls_files: TLSFiles) -> None:
    """A PATCH whose body is half sent when SIGHUP reloads the certificates
    completes, and the blob is committed with the right digest."""
    blob = os.urandom(4 * 1024 * 1024)
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    conn = https(renewing, tls_files)
    status, response, _ = request(conn, "POST", "/v2/demo/upload/blobs/uploads/")
    assert status == 202
    location = response.getheader("Location")
    assert location is not None

    parts = urlsplit(location)
    conn.putrequest("PATCH", f"{parts.path}?{parts.query}", skip_accept_encoding=True)
    conn.putheader("Content-Type", "application/octet-stream")
    conn.putheader("Content-Length", str(len(blob)))
    conn.endheaders()
    half = len(blob) // 2
    conn.send(blob[:half])

    renew(renewing, tls_files, ["localhost"])
    conn.send(blob[half:])
    response = conn.getresponse()
    response.read()
    assert response.status == 202, response.status
    assert response.getheader("Range") == f"0-{len(blob) - 1}"

    location = response.getheader("Location")
    assert location is not None
    status, _, _ = request(conn, "PUT", with_digest(location, digest), body=b"")
    assert status == 201
    status, _, body = request(https(renewing, tls_files), "GET", f"/v2/demo/upload/blobs/{digest}")
    assert status == 200 and hashlib.sha256(body).hexdigest() == digest.split(":")[1]
