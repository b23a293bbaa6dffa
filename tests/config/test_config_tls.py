"""
Tests for C{http.tls} in the configuration: distribution's keys, the
C{certificates} extension (SNI), and the C{tls+} endpoint prefix.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.certs import CertificateAuthority
from txregistry.config import ConfigError, Configuration

Loader = Callable[..., Configuration]

MINIMAL = "version: 0.1\nstorage:\n  inmemory:\n"


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    """A CA for the module's certificates."""
    return CertificateAuthority()


@pytest.fixture
def files(tmp_path: Path, ca: CertificateAuthority) -> Path:
    """
    C{tmp_path} holding server.crt/.key, a.crt/.key, b.crt/.key and ca.pem.
    """
    for stem, names in (("server", ["registry.test"]), ("a", ["a.test"]), ("b", ["b.test"])):
        ca.issue(names).write(tmp_path, stem)
    ca.write(tmp_path / "ca.pem")
    return tmp_path


def tls(body: str) -> str:
    """@return: a configuration whose http section is C{body}, indented."""
    return MINIMAL + "http:\n" + "".join(f"  {line}\n" for line in body.splitlines())


def test_relativePathsResolved(load: Loader, files: Path) -> None:
    """Relative certificate paths are resolved against the working directory."""
    config = load(tls("tls:\n  certificate: server.crt\n  key: server.key"))
    assert config.http.tls is not None
    assert config.http.tls.certificate == str(files / "server.crt")
    assert config.http.tls.key == str(files / "server.key")


def test_defaults(load: Loader, files: Path) -> None:
    """minimumtls defaults to tls1.2, clientauth to empty without clientcas."""
    config = load(tls("tls:\n  certificate: server.crt\n  key: server.key"))
    assert config.http.tls is not None
    assert (config.http.tls.minimumtls, config.http.tls.clientauth) == ("tls1.2", "")


def test_clientcasDefaultRequireAndVerify(load: Loader, files: Path) -> None:
    """clientcas without clientauth means require-and-verify-client-cert."""
    config = load(tls("tls:\n  certificate: server.crt\n  key: server.key\n  clientcas: [ca.pem]"))
    assert config.http.tls is not None
    assert config.http.tls.clientauth == "require-and-verify-client-cert"
    assert config.http.tls.clientcas == [str(files / "ca.pem")]


def test_clientauthWithoutClientcas(load: Loader, files: Path) -> None:
    """clientauth without clientcas is refused at http.tls.clientauth."""
    with pytest.raises(ConfigError) as info:
        load(tls("tls:\n  certificate: server.crt\n  key: server.key\n"
                 "  clientauth: verify-client-cert-if-given"))
    assert info.value.path == "http.tls.clientauth"


def test_unknownNamesAtStart(start: Loader, files: Path) -> None:
    """An unknown clientauth, minimumtls or cipher suite fails the start at
    its key (checked by txregistry.tls.options.check_config)."""
    for setting, path in (
        ("clientcas: [ca.pem]\n  clientauth: maybe", "http.tls.clientauth"),
        ("minimumtls: ssl3", "http.tls.minimumtls"),
        ("ciphersuites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, ECDHE-RSA-AES128-SHA]",
         "http.tls.ciphersuites[1]"),
    ):
        with pytest.raises(ConfigError) as info:
            start(tls(f"tls:\n  certificate: server.crt\n  key: server.key\n  {setting}"))
        assert info.value.path == path


def test_minimumtlsValues(start: Loader, files: Path) -> None:
    """tls1.0 to tls1.3 are accepted."""
    for version in ("tls1.0", "tls1.1", "tls1.2", "tls1.3"):
        config = start(tls(f"tls:\n  certificate: server.crt\n  key: server.key\n  minimumtls: {version}"))
        assert config.http.tls is not None and config.http.tls.minimumtls == version


def test_missingCertificateFile(start: Loader, files: Path) -> None:
    """A certificate file that does not exist fails at start at http.tls.certificate."""
    with pytest.raises(ConfigError) as info:
        start(tls("tls:\n  certificate: gone.crt\n  key: server.key"))
    assert info.value.path == "http.tls.certificate"
    assert "gone.crt" in info.value.reason


def test_keyRequired(start: Loader, files: Path) -> None:
    """A certificate without a key fails at http.tls.key."""
    with pytest.raises(ConfigError) as info:
        start(tls("tls:\n  certificate: server.crt"))
    assert info.value.path == "http.tls.key"


def test_certificateRequiredForOtherKeys(load: Loader, files: Path) -> None:
    """TLS settings without any certificate are refused at http.tls.certificate."""
    with pytest.raises(ConfigError) as info:
        load(tls("tls:\n  minimumtls: tls1.3"))
    assert info.value.path == "http.tls.certificate"


def test_emptySectionIsPlainHTTP(load: Loader) -> None:
    """An empty tls section leaves TLS off, as distribution does."""
    config = load(tls("tls: {}"))
    assert config.http.tls is None
    assert config.listen_endpoints() == ["tcp:5000:interface=127.0.0.1"]


def test_certificatesExtension(load: Loader, files: Path) -> None:
    """http.tls.certificates lists more pairs, each with its own key path."""
    config = load(tls("tls:\n  certificate: server.crt\n  key: server.key\n  certificates:\n"
                      "    - {certificate: a.crt, key: a.key}\n    - {certificate: b.crt, key: b.key}"))
    assert config.http.tls is not None
    identities = config.http.tls.identities()
    assert [Path(i.certificate).name for i in identities] == ["server.crt", "a.crt", "b.crt"]
    assert identities[2].keys == ("http", "tls", "certificates", 1)


def test_certificatesAlone(load: Loader, files: Path) -> None:
    """certificates without certificate/key is enough; the first is the default."""
    config = load(tls("tls:\n  certificates:\n    - {certificate: a.crt, key: a.key}"))
    assert config.http.tls is not None
    assert config.listen_endpoints() == ["tls+tcp:5000:interface=127.0.0.1"]


def test_certificatesEntryErrorsNamed(load: Loader, start: Loader, files: Path) -> None:
    """A bad entry of certificates is named with its index."""
    with pytest.raises(ConfigError) as info:
        start(tls("tls:\n  certificate: server.crt\n  key: server.key\n  certificates:\n"
                 "    - {certificate: a.crt, key: a.key}\n    - {certificate: b.crt, key: a.key}"))
    assert info.value.path == "http.tls.certificates[1].key"
    with pytest.raises(ConfigError) as info:
        load(tls("tls:\n  certificates:\n    - {certificate: a.crt}"))
    assert info.value.path == "http.tls.certificates[0].key"
    with pytest.raises(ConfigError) as info:
        load(tls("tls:\n  certificates:\n    - {certificate: a.crt, key: a.key, chain: c}"))
    assert info.value.path == "http.tls.certificates[0].chain"


def test_addrWithTLS(load: Loader, files: Path) -> None:
    """http.addr with http.tls listens with TLS there."""
    config = load(tls("addr: :5443\ntls:\n  certificate: server.crt\n  key: server.key"))
    assert config.listen_endpoints() == ["tls+tcp:5443"]


def test_endpointsWithTLSPrefix(load: Loader, files: Path) -> None:
    """http.endpoints may mix tls+ endpoints and plain ones."""
    config = load(tls("tls:\n  certificate: server.crt\n  key: server.key\n"
                      "endpoints: ['tls+tcp:5443', 'tcp:5000:interface=127.0.0.1']"))
    assert config.listen_endpoints() == ["tls+tcp:5443", "tcp:5000:interface=127.0.0.1"]


def test_tlsPrefixWithoutTLS(load: Loader) -> None:
    """A tls+ endpoint without http.tls is refused at its index."""
    with pytest.raises(ConfigError) as info:
        load(tls("endpoints: ['tcp:5000', 'tls+tcp:5443']"))
    assert info.value.path == "http.endpoints[1]"


def test_tlsUnusedByEndpoints(load: Loader, files: Path) -> None:
    """http.tls with endpoints none of which uses it is refused at http.tls."""
    with pytest.raises(ConfigError) as info:
        load(tls("tls:\n  certificate: server.crt\n  key: server.key\nendpoints: ['tcp:5000']"))
    assert info.value.path == "http.tls"
    assert "tls+" in info.value.reason


def test_environmentSetsCertificate(load: Loader, files: Path) -> None:
    """REGISTRY_HTTP_TLS_CERTIFICATE and _KEY turn TLS on."""
    config = load(MINIMAL, {
        "REGISTRY_HTTP_TLS_CERTIFICATE": str(files / "server.crt"),
        "REGISTRY_HTTP_TLS_KEY": str(files / "server.key"),
    })
    assert config.listen_endpoints() == ["tls+tcp:5000:interface=127.0.0.1"]


def test_environmentBadFileNamesVariable(start: Loader, files: Path) -> None:
    """A bad file set from the environment is reported at start with the variable's name."""
    with pytest.raises(ConfigError) as info:
        start(MINIMAL, {
            "REGISTRY_HTTP_TLS_CERTIFICATE": str(files / "server.crt"),
            "REGISTRY_HTTP_TLS_KEY": str(files / "a.key"),
        })
    assert info.value.path == "http.tls.key"
    assert "REGISTRY_HTTP_TLS_KEY" in str(info.value)


def test_etcConfigExampleParses(load: Loader, files: Path) -> None:
    """The commented http.tls example of etc/config.yml, uncommented, is valid."""
    text = (Path(__file__).parents[2] / "etc" / "config.yml").read_text()
    lines = text.splitlines()
    start = lines.index("  # tls:")
    example = []
    for line in lines[start:]:
        if not line.startswith("  # "):
            break
        example.append(line[4:])
    body = "\n".join(example)
    for name, replacement in (
        ("cert.pem", "server.crt"), ("key.pem", "server.key"),
        ("mirror.example.com.pem", "a.crt"), ("mirror.example.com.key", "a.key"),
        ("client-ca.pem", "ca.pem"),
    ):
        body = body.replace(f"/etc/txregistry/{name}", str(files / replacement))
    config = load(tls(body))
    assert config.http.tls is not None
    assert len(config.http.tls.identities()) == 2
    assert config.http.tls.clientauth == "require-and-verify-client-cert"
