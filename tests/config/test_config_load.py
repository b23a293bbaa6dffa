"""
Tests for L{txregistry.config.load_config}: files, the embedded default,
unknown keys and bad values.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from txregistry.config import ConfigError, Configuration, load_config

#: The smallest valid configuration; tests append sections to it.
MINIMAL = "version: 0.1\nstorage:\n  inmemory:\n"

#: The type of the C{load} fixture (see C{conftest.py}).
Loader = Callable[..., Configuration]

ETC_CONFIG = Path(__file__).parents[2] / "etc" / "config.yml"

FULL = """\
version: 0.1
log:
  level: DEBUG
  formatter: json
  fields:
    service: registry
    port: 5000
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: data/registry
    maxthreads: 25
  delete:
    enabled: true
  redirect:
    disable: true
  cache:
    blobdescriptor: inmemory
    blobdescriptorsize: 0
  tag:
    concurrencylimit: 8
  maintenance:
    uploadpurging:
      enabled: false
      age: 72h
      interval: 1h30m
      dryrun: true
    readonly:
      enabled: false
http:
  addr: :5001
  net: tcp
  prefix: /
  host: https://registry.example.com:5000
  secret: 0123
  relativeurls: true
  draintimeout: 0s
  headers:
    X-Content-Type-Options: [nosniff]
    Strict-Transport-Security: [max-age=31536000, includeSubDomains]
  http2:
    disabled: true
  h2c:
    enabled: false
  endpoints:
    - tcp:5002
    - unix:/tmp/registry.sock
notifications:
  events:
    includereferences: true
  endpoints:
    - name: off
      url: https://listener.example.com/event
      disabled: true
      timeout: 500ms
      threshold: 5
      backoff: 2s
health:
  storagedriver:
    enabled: false
    interval: 30s
    threshold: 3
proxy:
  ttl: 24h
catalog:
  maxentries: 200
compatibility:
  schema1:
    enabled: false
validation:
  disabled: true
"""


def test_default(tmp_path: Path) -> None:
    """Without a file, the embedded default applies, its root made absolute."""
    config = load_config(None, {}, cwd=str(tmp_path))
    assert config.version == "0.1"
    assert config.storage.driver == "filesystem"
    assert config.storage.filesystem is not None
    assert config.storage.filesystem.rootdirectory == str(tmp_path / "txregistry-data")
    assert config.storage.filesystem.maxthreads == 100
    assert config.storage.filesystem.uploadmemory == 128 * 1024 * 1024
    assert config.storage.delete_enabled is False
    assert config.http.addr == "127.0.0.1:5000"
    assert config.log.level == "info"
    assert config.listen_endpoints() == ["tcp:5000:interface=127.0.0.1"]


def test_default_uses_process_cwd() -> None:
    """Without cwd, the default root is under the process's working directory."""
    config = load_config(None, {})
    assert config.storage.filesystem is not None
    assert config.storage.filesystem.rootdirectory == os.path.join(
        os.getcwd(), "txregistry-data"
    )


def test_full_file(load: Loader, tmp_path: Path) -> None:
    """Every supported key of a complete file lands in its typed field."""
    config = load(FULL)
    assert config.log.level == "debug"
    assert config.log.formatter == "json"
    assert config.log.fields == {"service": "registry", "port": "5000"}
    assert config.log.accesslog_disabled is True
    storage = config.storage
    assert storage.filesystem is not None
    assert storage.filesystem.rootdirectory == str(tmp_path / "data" / "registry")
    assert storage.filesystem.maxthreads == 25
    assert (storage.delete_enabled, storage.redirect_disable) == (True, True)
    assert storage.cache_blobdescriptor == "inmemory"
    assert storage.cache_blobdescriptorsize == 0
    assert storage.tag_concurrencylimit == 8
    purging = storage.maintenance.uploadpurging
    assert purging.age == timedelta(hours=72)
    assert purging.interval == timedelta(hours=1, minutes=30)
    assert purging.dryrun is True
    http = config.http
    assert (http.addr, http.net, http.prefix) == (":5001", "tcp", "/")
    assert http.host == "https://registry.example.com:5000"
    assert http.secret == "0123"
    assert http.relativeurls is True
    assert http.draintimeout == timedelta(0)
    assert http.headers == {
        "X-Content-Type-Options": ["nosniff"],
        "Strict-Transport-Security": ["max-age=31536000", "includeSubDomains"],
    }
    assert http.http2_disabled is True
    assert config.listen_endpoints() == ["tcp:5002", "unix:/tmp/registry.sock"]
    assert config.notifications.events_includereferences is True
    assert config.notifications.endpoints[0].timeout == timedelta(milliseconds=500)
    assert config.health.storagedriver_interval == timedelta(seconds=30)
    assert config.proxy.ttl == timedelta(hours=24)
    assert config.catalog.maxentries == 200
    assert config.validation.disabled is True


def test_etc_config_parses() -> None:
    """The example etc/config.yml is valid for this version."""
    config = load_config(str(ETC_CONFIG), {})
    assert config.storage.filesystem is not None
    assert config.storage.filesystem.rootdirectory == "/var/lib/txregistry"
    assert config.storage.maintenance.uploadpurging.enabled is True
    assert config.listen_endpoints() == ["tcp:5000:interface=127.0.0.1"]


def test_minimal_defaults(load: Loader) -> None:
    """A file with only version and storage gets distribution's defaults."""
    config = load(MINIMAL)
    assert config.storage.driver == "inmemory"
    assert config.storage.filesystem is None
    assert config.storage.maintenance.uploadpurging.age == timedelta(hours=168)
    assert config.log.formatter == "text"
    assert config.http.net == "tcp"
    assert config.http.secret is None
    assert config.catalog.maxentries == 1000


def test_filesystem_default_root(load: Loader) -> None:
    """A filesystem section without rootdirectory uses distribution's default."""
    config = load("version: 0.1\nstorage:\n  filesystem:\n")
    assert config.storage.filesystem is not None
    assert config.storage.filesystem.rootdirectory == "/var/lib/registry"


def test_string_forms(load: Loader) -> None:
    """storage: inmemory is read as a driver section without parameters."""
    assert load("version: 0.1\nstorage: inmemory\n").storage.driver == "inmemory"


def test_legacy_loglevel(load: Loader) -> None:
    """The deprecated top-level loglevel applies when log.level is absent."""
    assert load(MINIMAL + "loglevel: warn\n").log.level == "warn"
    assert load(MINIMAL + "loglevel: warn\nlog:\n  level: error\n").log.level == "error"


def test_validation_enabled_is_deprecated_disabled(load: Loader) -> None:
    """validation.enabled: false, when disabled is absent, disables validation."""
    assert load(MINIMAL + "validation:\n  enabled: false\n").validation.disabled is True
    assert load(MINIMAL + "validation:\n  enabled: true\n").validation.disabled is False


def test_catalog_non_positive_means_default(load: Loader) -> None:
    """catalog.maxentries of zero or less means 1000, as in distribution."""
    assert load(MINIMAL + "catalog:\n  maxentries: -1\n").catalog.maxentries == 1000


@pytest.mark.parametrize("version", ["0.2", "1.0", "'0.10'", "[0.1]"])
def test_bad_version(load: Loader, version: str) -> None:
    """A version other than 0.1 is refused."""
    with pytest.raises(ConfigError, match=r"^version: must be 0\.1"):
        load(f"version: {version}\nstorage: inmemory\n")


def test_version_required(load: Loader) -> None:
    """A file without version is refused."""
    with pytest.raises(ConfigError, match="^version: is required"):
        load("storage: inmemory\n")


def test_storage_required(load: Loader) -> None:
    """A file without storage is refused."""
    with pytest.raises(ConfigError, match="^storage: is required"):
        load("version: 0.1\n")


def test_two_drivers(load: Loader) -> None:
    """Two storage drivers are refused, naming both."""
    with pytest.raises(
        ConfigError, match="^storage: .*exactly one.*filesystem, inmemory"
    ):
        load("version: 0.1\nstorage:\n  filesystem:\n  inmemory:\n")


def test_unknown_driver(load: Loader) -> None:
    """A storage driver distribution does not know is an unknown key."""
    with pytest.raises(
        ConfigError, match="^storage.filesystems: unknown storage driver"
    ):
        load("version: 0.1\nstorage:\n  filesystems:\n")


def test_missing_file(tmp_path: Path) -> None:
    """A file that cannot be read is a ConfigError naming it."""
    with pytest.raises(ConfigError, match="cannot read configuration file"):
        load_config(str(tmp_path / "absent.yml"), {})


@pytest.mark.parametrize(
    "text, message",
    [
        ("version: [0.1\n", "not valid YAML"),
        ("version: 0.1\nversion: 0.1\nstorage: inmemory\n", "duplicate key 'version'"),
        ("- version\n", "mapping at its top level"),
    ],
)
def test_bad_document(load: Loader, text: str, message: str) -> None:
    """Invalid YAML, a repeated key or a non-mapping document is refused."""
    with pytest.raises(ConfigError, match=message):
        load(text)


@pytest.mark.parametrize(
    "section, path",
    [
        ("versions: 0.1\n", "versions"),
        ("log:\n  levle: info\n", "log.levle"),
        (
            "storage:\n  inmemory:\n  delete:\n    enable: true\n",
            "storage.delete.enable",
        ),
        ("storage:\n  inmemory:\n    size: 1\n", "storage.inmemory.size"),
        (
            "storage:\n  inmemory:\n  maintenance:\n    uploadpurging:\n      agee: 1h\n",
            "storage.maintenance.uploadpurging.agee",
        ),
        (
            "http:\n  tls:\n    letsencrypt:\n      mail: a@b.c\n",
            "http.tls.letsencrypt.mail",
        ),
        (
            "notifications:\n  endpoints:\n    - name: a\n      url: http://a\n      timeuot: 1s\n",
            r"notifications.endpoints\[0\].timeuot",
        ),
        ("auth:\n  htpasswd:\n    paht: /x\n", "auth.htpasswd.paht"),
        ("health:\n  tcp:\n    - addr: a:1\n      uri: x\n", r"health.tcp\[0\].uri"),
    ],
)
def test_unknown_keys(load: Loader, section: str, path: str) -> None:
    """An unknown key at any depth is refused with its dotted path."""
    text = "version: 0.1\n" + section
    if not section.startswith("storage"):
        text += "storage: inmemory\n"
    with pytest.raises(ConfigError, match=f"^{path}: unknown key"):
        load(text)


def test_unknown_key_suggestion(load: Loader) -> None:
    """An unknown key close to a known one suggests it."""
    with pytest.raises(ConfigError, match=r"did you mean 'rootdirectory'\?"):
        load("version: 0.1\nstorage:\n  filesystem:\n    rootdir: /x\n")


@pytest.mark.parametrize(
    "section, message",
    [
        (
            "storage:\n  filesystem:\n    maxthreads: ten\n",
            "^storage.filesystem.maxthreads: must be an integer >= 25, got 'ten'$",
        ),
        (
            "storage:\n  filesystem:\n    maxthreads: 10\n",
            "^storage.filesystem.maxthreads: must be an integer >= 25, got 10$",
        ),
        (
            "storage:\n  filesystem:\n    maxthreads: true\n",
            "^storage.filesystem.maxthreads: must be an integer",
        ),
        (
            "storage:\n  filesystem:\n    uploadmemory: 1MiB\n",
            "^storage.filesystem.uploadmemory: must be at least 2MiB$",
        ),
        (
            "storage:\n  filesystem:\n    uploadmemory: lots\n",
            "^storage.filesystem.uploadmemory: ",
        ),
        (
            "storage:\n  filesystem:\n    rootdirectory: [a]\n",
            "^storage.filesystem.rootdirectory: must be a string, got a list",
        ),
        (
            "storage:\n  inmemory:\n  delete:\n    enabled: sometimes\n",
            "^storage.delete.enabled: must be true or false, got 'sometimes'",
        ),
        (
            "storage:\n  inmemory:\n  delete: true\n",
            "^storage.delete: must be a mapping",
        ),
        (
            "storage:\n  inmemory:\n  maintenance:\n    uploadpurging:\n      age: 7d\n",
            "^storage.maintenance.uploadpurging.age: must be a duration",
        ),
        (
            "storage:\n  inmemory:\n  cache:\n    blobdescriptor: memcached\n",
            "^storage.cache.blobdescriptor: must be one of inmemory, redis",
        ),
        (
            "log:\n  level: verbose\n",
            "^log.level: must be one of error, warn, info, debug",
        ),
        (
            "log:\n  formatter: xml\n",
            "^log.formatter: must be one of text, json, logstash",
        ),
        ("log:\n  fields: [a]\n", "^log.fields: must be a mapping"),
        ("http:\n  net: udp\n", "^http.net: must be one of tcp, unix"),
        ("http:\n  addr: 5000\n", "^http.addr: must be HOST:PORT"),
        ("http:\n  addr: ':99999'\n", "^http.addr: port must be a number"),
        (
            "http:\n  draintimeout: 60\n",
            "^http.draintimeout: must be a duration with a unit",
        ),
        ("http:\n  headers:\n    X-A: nosniff\n", r"^http.headers.X-A: must be a list"),
        ("http:\n  prefix: registry/\n", "^http.prefix: must start with '/'"),
        ("http:\n  host: registry.example.com\n", "^http.host: must be an absolute"),
        ("http:\n  host: https://u@registry.example.com\n", "^http.host: must be an absolute"),
        ("http:\n  host: https://registry.example.com/?a=b\n", "^http.host: must be an absolute"),
        ("http:\n  host: https://registry example\n", "^http.host: must be an absolute"),
        ("http:\n  host: 'https://[::1'\n", "^http.host: must be an absolute"),
        ("http:\n  endpoints: tcp:5000\n", "^http.endpoints: must be a list"),
        (
            "validation:\n  manifests:\n    indexes:\n      platforms: some\n",
            "^validation.manifests.indexes.platforms: must be one of all, none, list",
        ),
        ("proxy:\n  ttl: forever\n", "^proxy.ttl: must be a duration"),
        (
            "notifications:\n  endpoints:\n    - url: http://a\n",
            r"^notifications.endpoints\[0\].name: is required",
        ),
        ("redis:\n  db: zero\n", "^redis.db: must be an integer"),
        (
            "auth:\n  htpasswd:\n  token:\n",
            "^auth: must configure exactly one provider",
        ),
        ("auth:\n  ldap:\n", "^auth.ldap: unknown auth provider"),
        (
            "middleware:\n  registry:\n    - options: {}\n",
            r"^middleware.registry\[0\].name",
        ),
    ],
)
def test_bad_values(load: Loader, section: str, message: str) -> None:
    """A value of the wrong type or out of range is refused with its path."""
    text = "version: 0.1\n" + section
    if not section.startswith("storage"):
        text += "storage: inmemory\n"
    with pytest.raises(ConfigError, match=message):
        load(text)


def test_error_attributes(load: Loader) -> None:
    """A ConfigError carries the key's path apart from the reason."""
    with pytest.raises(ConfigError) as info:
        load("version: 0.1\nstorage:\n  filesystem:\n    maxthreads: ten\n")
    assert info.value.keys == ("storage", "filesystem", "maxthreads")
    assert info.value.path == "storage.filesystem.maxthreads"
    assert info.value.reason == "must be an integer >= 25, got 'ten'"


def test_urlPatterns(load: Loader) -> None:
    """validation.manifests.urls allow and deny load as regular expressions; a bad one names its entry."""
    config = load("version: 0.1\nstorage:\n  inmemory: {}\nvalidation:\n  manifests:\n    urls:\n      allow: ['^https://good/']\n      deny: ['bad']\n")
    assert config.validation.manifests_urls_allow == ["^https://good/"]
    assert config.validation.manifests_urls_deny == ["bad"]
    with pytest.raises(ConfigError, match=r"^validation.manifests.urls.deny\[1\]: not a regular expression"):
        load("version: 0.1\nstorage:\n  inmemory: {}\nvalidation:\n  manifests:\n    urls:\n      deny: ['ok', '(unclosed']\n")


def test_maxTags(load: Loader) -> None:
    """tags.maxtags (a txregistry extension) loads, defaults to 0, and must not be negative."""
    base = "version: 0.1\nstorage:\n  inmemory: {}\n"
    assert load(base).tags.maxtags == 0
    assert load(base + "tags:\n  maxtags: 50\n").tags.maxtags == 50
    assert load(base, {"REGISTRY_TAGS_MAXTAGS": "7"}).tags.maxtags == 7
    with pytest.raises(ConfigError, match=r"^tags.maxtags:"):
        load(base + "tags:\n  maxtags: -1\n")


def test_upload_memory(load: Loader) -> None:
    """storage.filesystem.uploadmemory takes a size, from the file or the environment."""
    config = load("version: 0.1\nstorage:\n  filesystem:\n    uploadmemory: 64MiB\n")
    assert config.storage.filesystem is not None
    assert config.storage.filesystem.uploadmemory == 64 * 1024 * 1024
    config = load("version: 0.1\nstorage:\n  filesystem:\n",
                  {"REGISTRY_STORAGE_FILESYSTEM_UPLOADMEMORY": "1GiB"})
    assert config.storage.filesystem is not None
    assert config.storage.filesystem.uploadmemory == 1024 ** 3
