"""
Tests that features not built yet are refused at start, each at its key.

When a feature is built, its case here moves to a test that it parses.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from txregistry.config import ConfigError, Configuration, load_config
from txregistry.config.unsupported import unsupported

#: The smallest valid configuration; tests append sections to it.
MINIMAL = "version: 0.1\nstorage:\n  inmemory:\n"

#: The type of the C{load} fixture (see C{conftest.py}).
Loader = Callable[..., Configuration]

CASES = [
    (
        "middleware:\n  storage:\n    - name: redirect\n      options:\n        baseurl: x\n",
        "middleware.storage: middleware is not supported yet",
    ),
    (
        "notifications:\n  endpoints:\n    - name: a\n      url: http://a\n",
        "notifications.endpoints: sending notifications is not supported yet",
    ),
    ("redis:\n  addrs: [localhost:6379]\n", "redis: using redis is not supported yet"),
    (
        "redis:\n  addr: localhost:6379\n  pool:\n    maxidle: 16\n",
        "redis: using redis is not supported yet",
    ),
    (
        "proxy:\n  remoteurl: https://registry-1.docker.io\n",
        "proxy.remoteurl: the pull-through cache is not supported yet",
    ),
    (
        "http:\n  tls:\n    letsencrypt:\n      cachefile: /c\n      email: a@b.c\n",
        "http.tls.letsencrypt: Let's Encrypt is not supported yet",
    ),
    ("http:\n  h2c:\n    enabled: true\n", "http.h2c.enabled: HTTP/2 over cleartext"),
    (
        "validation:\n  manifests:\n    indexes:\n      platforms: none\n",
        "validation.manifests.indexes.platforms: validating only some platforms",
    ),
    (
        "compatibility:\n  schema1:\n    enabled: true\n",
        "compatibility.schema1.enabled: serving schema1 manifests is not supported yet",
    ),
    (
        "log:\n  hooks:\n    - type: mail\n      levels: [panic]\n",
        "log.hooks: the mail log hook is not supported yet",
    ),
    ("log:\n  reportcaller: true\n", "log.reportcaller: reporting the caller"),
    ("reporting:\n  bugsnag:\n    apikey: k\n", "reporting: error reporting"),
    ("http:\n  prefix: /registry/\n", "http.prefix: serving under a path prefix"),
    (
        "policy:\n  repository:\n    classes: [image]\n",
        "policy.repository.classes: the repository class policy",
    ),
]

STORAGE_CASES = [
    (
        "s3:\n    bucket: b\n    region: us-east-1\n",
        "storage.s3: the 's3' storage driver is not supported yet",
    ),
    ("azure:\n    accountname: a\n", "storage.azure: the 'azure' storage driver"),
    ("gcs:\n    bucket: b\n", "storage.gcs: the 'gcs' storage driver"),
    ("swift:\n", "storage.swift: the 'swift' storage driver"),
    ("oss:\n", "storage.oss: the 'oss' storage driver"),
    (
        "inmemory:\n  cache:\n    blobdescriptor: redis\n",
        "storage.cache.blobdescriptor: the redis blob descriptor cache is not supported yet",
    ),
]


@pytest.mark.parametrize("section, message", CASES)
def test_unsupported_section(load: Loader, section: str, message: str) -> None:
    """A feature not built yet is refused at its key, saying so."""
    with pytest.raises(ConfigError) as info:
        load(MINIMAL + section)
    assert str(info.value).startswith(message)


@pytest.mark.parametrize("section, message", STORAGE_CASES)
def test_unsupported_storage(load: Loader, section: str, message: str) -> None:
    """A storage driver or storage feature not built yet is refused at its key."""
    with pytest.raises(ConfigError) as info:
        load("version: 0.1\nstorage:\n  " + section)
    assert str(info.value).startswith(message)


@pytest.mark.parametrize(
    "section",
    [
        "middleware:\n  storage:\n    - name: redirect\n      disabled: maybe\n",
        "notifications:\n  endpoints:\n    - name: a\n      url: http://a\n      timeout: soon\n",
        "redis:\n  dialtimeout: soon\n",
        "proxy:\n  remoteurl: https://r\n  ttl: long\n",
        "http:\n  tls:\n    minimumtls: tls9\n",
        "compatibility:\n  schema1:\n    enabled: true\n    signingkeyfile: [k]\n",
    ],
)
def test_unsupported_still_type_checked(load: Loader, section: str) -> None:
    """A bad value in an unsupported section is reported as a bad value first."""
    with pytest.raises(ConfigError) as info:
        load(MINIMAL + section)
    assert "not supported yet" not in str(info.value)


def test_maintenance_supported(load: Loader) -> None:
    """Upload purging and read-only mode parse, with distribution's defaults."""
    default = load(MINIMAL).storage.maintenance
    assert default.uploadpurging.enabled is True
    assert default.uploadpurging.interval == timedelta(hours=24)
    assert default.uploadpurging.dryrun is False
    assert default.readonly_enabled is False
    config = load(
        "version: 0.1\nstorage:\n  inmemory:\n  maintenance:\n"
        "    uploadpurging:\n      age: 1h\n    readonly:\n      enabled: true\n"
    )
    maintenance = config.storage.maintenance
    assert maintenance.uploadpurging.enabled is True
    assert maintenance.uploadpurging.age == timedelta(hours=1)
    assert maintenance.readonly_enabled is True
    assert list(unsupported(config)) == []


def test_unsupported_typo_is_typo(load: Loader) -> None:
    """A misspelt key in an unsupported section is reported as unknown."""
    with pytest.raises(ConfigError, match=r"^redis.adrs: unknown key"):
        load(MINIMAL + "redis:\n  adrs: [a:1]\n")


@pytest.mark.parametrize(
    "section",
    [
        "auth:\n",
        "auth: none\n",
        "middleware:\n  storage:\n    - name: redirect\n      disabled: true\n",
        "notifications:\n  endpoints:\n    - name: a\n      url: http://a\n      disabled: true\n",
        "health:\n  storagedriver:\n    enabled: false\n",
        "proxy:\n  ttl: 1h\n",
        "http:\n  http2:\n    disabled: false\n  h2c:\n    enabled: false\n",
        "validation:\n  manifests:\n    urls:\n      allow: []\n    indexes:\n      platforms: all\n",
        "compatibility:\n  schema1:\n    enabled: false\n",
        "storage:\n  cache:\n    blobdescriptor: inmemory\n",
    ],
)
def test_disabled_forms_accepted(load: Loader, section: str) -> None:
    """Empty, disabled or default forms of those sections are accepted."""
    if section.startswith("storage"):
        text = "version: 0.1\n" + section.replace(
            "storage:\n", "storage:\n  inmemory:\n"
        )
    else:
        text = MINIMAL + section
    config = load(text)
    assert list(unsupported(config)) == []


def test_unsupported_driver_from_environment() -> None:
    """REGISTRY_STORAGE=s3 is refused as an unsupported driver, naming the variable."""
    with pytest.raises(
        ConfigError,
        match=(
            r"^storage.s3: the 's3' storage driver is not supported yet "
            r"\(set by environment variable REGISTRY_STORAGE\)$"
        ),
    ):
        load_config(None, {"REGISTRY_STORAGE": "s3"})
