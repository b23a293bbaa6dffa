"""
Turn a loaded configuration tree into a L{Configuration}.

Each C{_parse_*} function reads one section through a L{Section}, which
refuses unknown keys and values of the wrong type, naming the key's path.
Nothing here decides whether a feature is built: see L{unsupported}.
Nothing here loads a file or builds an endpoint either: the subsystems that
own them check those when the service is built.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import TypeVar
from urllib.parse import urlsplit

from txregistry.baseurl import isValidAuthority
from txregistry.config._reader import Section, as_string, describe
from txregistry.config._yaml import resolved
from txregistry.config.environ import SECTIONS, STORAGE_GENERIC_KEYS
from txregistry.config.errors import ConfigError
from txregistry.config.listen import listen_endpoint
from txregistry.config.model import (
    TLS_PREFIX,
    AuthConfig,
    CatalogConfig,
    CompatibilityConfig,
    Configuration,
    DebugConfig,
    FilesystemConfig,
    GCConfig,
    HealthCheck,
    HealthConfig,
    HTTPConfig,
    KeepTags,
    LetsEncryptConfig,
    LogConfig,
    LogHook,
    MaintenanceConfig,
    MiddlewareEntry,
    NotificationEndpoint,
    NotificationsConfig,
    ProxyConfig,
    RedisConfig,
    ReportingConfig,
    RetentionRule,
    StorageConfig,
    TagsConfig,
    TLSCertificateConfig,
    TLSConfig,
    UploadPurgingConfig,
    ValidationConfig,
)
from txregistry.reference import compileNameGlob

#: A default duration: one, or none.
_Duration = TypeVar("_Duration", timedelta, None)

#: The one configuration version distribution defines.
VERSION = "0.1"

_LOG_LEVELS = ("error", "warn", "info", "debug")

#: The storage drivers distribution knows, whether or not txregistry has them.
KNOWN_DRIVERS = ("filesystem", "inmemory", "s3", "azure", "gcs", "swift", "oss")
#: Two direct-I/O buffers.
_MIN_UPLOAD_MEMORY = 2 * 1024 * 1024

#: The keys of each C{auth} provider.
_AUTH_PROVIDERS: Mapping[str, tuple[str, ...]] = {
    "silly": ("realm", "service"),
    "token": (
        "realm",
        "service",
        "issuer",
        "rootcertbundle",
        "autoredirect",
        "autoredirectpath",
        "signingalgorithms",
        "jwks",
    ),
    "htpasswd": ("realm", "path"),
    "none": (),
}

#: The keys of C{redis} (distribution 2.x and 3.x) and how to read them.
_REDIS_KEYS: Mapping[str, str] = {
    "addr": "string",
    "addrs": "strings",
    "username": "string",
    "password": "string",
    "db": "integer",
    "clientname": "string",
    "sentinelusername": "string",
    "sentinelpassword": "string",
    "mastername": "string",
    "protocol": "integer",
    "maxretries": "integer",
    "minretrybackoff": "duration",
    "maxretrybackoff": "duration",
    "dialtimeout": "duration",
    "readtimeout": "duration",
    "writetimeout": "duration",
    "pooltimeout": "duration",
    "poolsize": "integer",
    "poolfifo": "boolean",
    "minidleconns": "integer",
    "maxidleconns": "integer",
    "maxactiveconns": "integer",
    "connmaxidletime": "duration",
    "connmaxlifetime": "duration",
    "maxredirects": "integer",
    "readonly": "boolean",
    "routebylatency": "boolean",
    "routerandomly": "boolean",
    "tls": "section",
    "pool": "section",
}


def expand_string_forms(tree: dict[str, object]) -> None:
    """
    Rewrite, in place, the short forms C{storage: inmemory} and C{auth:
    htpasswd} into C{{inmemory: null}} and C{{htpasswd: null}}, as
    distribution accepts them.

    @param tree: the loaded document.
    """
    for key in ("storage", "auth"):
        value = tree.get(key)
        if isinstance(value, str):
            tree[key] = {str(value): None}


def parse_configuration(tree: object, cwd: str) -> Configuration:
    """
    Read a whole configuration document.

    @param tree: the loaded document, with environment overrides applied.
    @param cwd: the directory relative paths are resolved against.
    @return: the configuration.
    @raise ConfigError: for the first unknown key or invalid value found.
    """
    root = Section((), tree, SECTIONS)
    expand_string_forms(root.value)
    version = root.raw("version")
    if version is None:
        raise ConfigError(("version",), f"is required and must be {VERSION}")
    if not isinstance(version, str) or str(version) != VERSION:
        raise ConfigError(("version",), f"must be {VERSION}, got {describe(version)}")
    return Configuration(
        version=VERSION,
        log=_parse_log(root),
        storage=_parse_storage(root, cwd),
        http=_parse_http(root, cwd),
        validation=_parse_validation(
            root.section("validation", ("enabled", "disabled", "manifests"))
        ),
        auth=_parse_auth(root, cwd),
        middleware=_parse_middleware(
            root.section("middleware", ("registry", "repository", "storage"))
        ),
        notifications=_parse_notifications(
            root.section("notifications", ("events", "endpoints"))
        ),
        redis=_parse_redis(root),
        health=_parse_health(
            root.section("health", ("storagedriver", "file", "http", "tcp"))
        ),
        proxy=_parse_proxy(
            root.section(
                "proxy",
                ("remoteurl", "username", "password", "ttl", "exec", "remotenamespace"),
            )
        ),
        compatibility=_parse_compatibility(root.section("compatibility", ("schema1",))),
        catalog=_parse_catalog(root.section("catalog", ("maxentries",))),
        tags=TagsConfig(maxtags=root.section("tags", ("maxtags",)).integer("maxtags", 0, minimum=0)),
        reporting=_parse_reporting(root.section("reporting", ("bugsnag", "newrelic"))),
        policy_repository_classes=root.section("policy", ("repository",))
        .section("repository", ("classes",))
        .string_list("classes"),
    )


def _parse_log(root: Section) -> LogConfig:
    log = root.section(
        "log", ("level", "formatter", "fields", "accesslog", "hooks", "reportcaller")
    )
    legacy = _log_level(root, "loglevel", "info")
    hooks = [
        _parse_log_hook(hook)
        for hook in log.sections("hooks", ("type", "disabled", "levels", "options"))
    ]
    return LogConfig(
        level=_log_level(log, "level", legacy),
        formatter=log.string("formatter", "text", ("text", "json", "logstash")),
        fields=log.string_map("fields"),
        accesslog_disabled=log.section("accesslog", ("disabled",)).boolean(
            "disabled", False
        ),
        hooks=hooks,
        reportcaller=log.boolean("reportcaller", False),
    )


def _log_level(section: Section, key: str, default: str) -> str:
    level = section.string(key, None)
    if level is None:
        return default
    if level.lower() not in _LOG_LEVELS:
        raise ConfigError(
            section.path(key), f"must be one of {', '.join(_LOG_LEVELS)}, got {level!r}"
        )
    return level.lower()


def _parse_log_hook(hook: Section) -> LogHook:
    options = hook.section("options", ("smtp", "from", "to"))
    smtp = options.section("smtp", ("addr", "username", "password", "insecure"))
    parsed: dict[str, object] = {
        "smtp": {
            "addr": smtp.string("addr", ""),
            "username": smtp.string("username", ""),
            "password": smtp.string("password", ""),
            "insecure": smtp.boolean("insecure", False),
        },
        "from": options.string("from", ""),
        "to": options.string_list("to"),
    }
    return LogHook(
        type=hook.string("type", ""),
        disabled=hook.boolean("disabled", False),
        levels=hook.string_list("levels"),
        options=parsed,
    )


def _parse_storage(root: Section, cwd: str) -> StorageConfig:
    if not root.has("storage"):
        raise ConfigError(
            ("storage",), "is required: configure exactly one storage driver"
        )
    storage = root.section("storage", None)
    drivers = [key for key in storage.value if key not in STORAGE_GENERIC_KEYS]
    if len(drivers) != 1:
        given = ", ".join(drivers) if drivers else "none"
        raise ConfigError(
            ("storage",),
            f"must configure exactly one storage driver, got {given} "
            "(to switch drivers from the environment, set REGISTRY_STORAGE=<driver>)",
        )
    driver = drivers[0]
    if driver not in KNOWN_DRIVERS:
        raise ConfigError(
            storage.path(driver),
            f"unknown storage driver {driver!r}; known drivers: {', '.join(KNOWN_DRIVERS)}",
        )
    filesystem = None
    parameters: dict[str, object] = {}
    if driver == "filesystem":
        filesystem = _parse_filesystem(
            storage.section("filesystem", ("rootdirectory", "maxthreads", "uploadmemory")),
            cwd,
        )
    elif driver == "inmemory":
        storage.section("inmemory", ())
    else:
        parameters = storage.section(driver, None).value

    cache = storage.section(
        "cache", ("blobdescriptor", "layerinfo", "blobdescriptorsize")
    )
    blobdescriptor = cache.string("blobdescriptor", None, ("inmemory", "redis"))
    if blobdescriptor is None:
        blobdescriptor = cache.string("layerinfo", None, ("inmemory", "redis"))
    maintenance = storage.section(
        "maintenance", ("uploadpurging", "readonly", "gc", "retention"))
    purging = maintenance.section(
        "uploadpurging", ("enabled", "age", "interval", "dryrun")
    )
    gc = maintenance.section(
        "gc", ("enabled", "interval", "graceperiod", "deleteuntagged", "dryrun")
    )
    return StorageConfig(
        driver=driver,
        filesystem=filesystem,
        delete_enabled=storage.section("delete", ("enabled",)).boolean(
            "enabled", False
        ),
        redirect_disable=storage.section("redirect", ("disable",)).boolean(
            "disable", False
        ),
        cache_blobdescriptor=blobdescriptor,
        cache_blobdescriptorsize=cache.integer("blobdescriptorsize", 10000, minimum=0),
        maintenance=MaintenanceConfig(
            retention=_parse_retention(maintenance),
            uploadpurging=UploadPurgingConfig(
                enabled=purging.boolean("enabled", True),
                age=purging.duration("age", timedelta(hours=168)),
                interval=purging.duration("interval", timedelta(hours=24)),
                dryrun=purging.boolean("dryrun", False),
            ),
            readonly_enabled=maintenance.section("readonly", ("enabled",)).boolean(
                "enabled", False
            ),
            gc=GCConfig(
                enabled=gc.boolean("enabled", False),
                interval=_positive(gc, "interval", timedelta(hours=1)),
                graceperiod=gc.duration("graceperiod", timedelta(hours=1)),
                deleteuntagged=gc.boolean("deleteuntagged", False),
                dryrun=gc.boolean("dryrun", False),
            ),
        ),
        tag_concurrencylimit=storage.section("tag", ("concurrencylimit",)).integer(
            "concurrencylimit", 0, minimum=0
        ),
        parameters=parameters,
    )


def _positive(section: Section, key: str, default: _Duration) -> timedelta | _Duration:
    """
    @return: the duration at C{key}, or C{default} if it is absent.
    @raise ConfigError: if it is 0.
    """
    value = section.duration(key, default)
    if value is not None and not value:
        raise ConfigError(section.path(key), "must be positive")
    return value


def _parse_filesystem(section: Section, cwd: str) -> FilesystemConfig:
    rootdirectory = section.string("rootdirectory", "/var/lib/registry")
    if not rootdirectory:
        raise ConfigError(section.path("rootdirectory"), "must not be empty")
    return FilesystemConfig(
        rootdirectory=os.path.normpath(
            os.path.join(cwd, os.path.expanduser(rootdirectory))
        ),
        maxthreads=section.integer("maxthreads", 100, minimum=25),
        uploadmemory=_uploadMemory(section),
    )


def _uploadMemory(section: Section) -> int:
    default = FilesystemConfig.uploadmemory
    size = section.size("uploadmemory", default)
    if size < _MIN_UPLOAD_MEMORY:
        raise ConfigError(section.path("uploadmemory"), "must be at least 2MiB")
    return size


def _parse_auth(root: Section, cwd: str) -> AuthConfig | None:
    auth = root.section("auth", None)
    if not auth.value:
        return None
    providers = list(auth.value)
    if len(providers) > 1:
        raise ConfigError(
            ("auth",),
            f"must configure exactly one provider, got {', '.join(providers)}",
        )
    provider = providers[0]
    if provider not in _AUTH_PROVIDERS:
        raise ConfigError(
            auth.path(provider),
            f"unknown auth provider {provider!r}; known providers: "
            f"{', '.join(_AUTH_PROVIDERS)}",
        )
    section = auth.section(provider, _AUTH_PROVIDERS[provider])
    parameters: dict[str, object] = {}
    if provider == "silly":
        for key in ("realm", "service"):
            parameters[key] = _required_string(section, key)
    elif provider == "htpasswd":
        parameters["realm"] = _required_string(section, "realm")
        parameters["path"] = _auth_file(section, "path", cwd, required=True)
    elif provider == "token":
        parameters.update(_parse_token_auth(section, cwd))
    return AuthConfig(provider=provider, parameters=parameters)


def _auth_file(section: Section, key: str, cwd: str, required: bool) -> str:
    """
    Read the path of a file the auth provider loads (the provider loads it
    when the service is built).
    """
    value = section.string(key, "")
    if not value:
        if required:
            raise ConfigError(section.path(key), "is required")
        return ""
    return os.path.normpath(os.path.join(cwd, os.path.expanduser(value)))


def _parse_token_auth(section: Section, cwd: str) -> dict[str, object]:
    parameters: dict[str, object] = {
        key: _required_string(section, key) for key in ("realm", "issuer", "service")
    }
    for key in ("rootcertbundle", "jwks"):
        parameters[key] = _auth_file(section, key, cwd, required=False)
    if not parameters["rootcertbundle"] and not parameters["jwks"]:
        raise ConfigError(
            section.path("rootcertbundle"), "is required unless jwks is given"
        )
    parameters["autoredirect"] = section.boolean("autoredirect", False)
    parameters["autoredirectpath"] = section.string("autoredirectpath", "")
    parameters["signingalgorithms"] = section.string_list("signingalgorithms")
    return parameters


def _parse_middleware(section: Section) -> dict[str, list[MiddlewareEntry]]:
    middleware: dict[str, list[MiddlewareEntry]] = {}
    for kind in section.value:
        entries = []
        for entry in section.sections(kind, ("name", "disabled", "options")):
            name = entry.string("name", None)
            if not name:
                raise ConfigError(entry.path("name"), "is required")
            entries.append(
                MiddlewareEntry(
                    name=name,
                    disabled=entry.boolean("disabled", False),
                    options=entry.section("options", None).value,
                )
            )
        if entries:
            middleware[kind] = entries
    return middleware


def _parse_reporting(section: Section) -> ReportingConfig:
    bugsnag = section.section("bugsnag", ("apikey", "releasestage", "endpoint"))
    newrelic = section.section("newrelic", ("licensekey", "name", "verbose"))
    return ReportingConfig(
        bugsnag={key: bugsnag.string(key, "") for key in bugsnag.value},
        newrelic={
            key: newrelic.boolean(key, False)
            if key == "verbose"
            else newrelic.string(key, "")
            for key in newrelic.value
        },
    )


def _is_base_url(url: str) -> bool:
    """
    @return: whether C{url} can be C{http.host}: an absolute http or https
        URL whose host is valid, with no user, query or fragment.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return (parts.scheme in ("http", "https") and isValidAuthority(parts.netloc)
            and not parts.query and not parts.fragment)


def _parse_http(root: Section, cwd: str) -> HTTPConfig:
    http = root.section(
        "http",
        (
            "addr",
            "net",
            "prefix",
            "host",
            "secret",
            "relativeurls",
            "draintimeout",
            "tls",
            "headers",
            "debug",
            "http2",
            "h2c",
            "endpoints",
            "workers",
            "headertimeout",
            "maxconnections",
        ),
    )
    net = http.string("net", "tcp", ("tcp", "unix", "")) or "tcp"
    addr = http.string("addr", HTTPConfig.addr)
    listen_endpoint(net, addr)
    prefix = http.string("prefix", "")
    if prefix and not prefix.startswith("/"):
        raise ConfigError(http.path("prefix"), f"must start with '/', got {prefix!r}")
    host = http.string("host", None)
    if host is not None and not _is_base_url(host):
        raise ConfigError(
            http.path("host"),
            "must be an absolute http:// or https:// URL, with no user, query "
            f"or fragment, got {host!r}",
        )
    http2_disabled = http.section("http2", ("disabled",)).boolean("disabled", False)
    tls = _parse_tls(http, cwd)
    endpoints = http.string_list("endpoints")
    for index, description in enumerate(endpoints):
        if description.startswith(TLS_PREFIX) and tls is None:
            raise ConfigError(
                http.path("endpoints") + (index,),
                f"{description!r} asks for http.tls, which is not configured",
            )
    if (
        tls is not None
        and endpoints
        and not any(description.startswith(TLS_PREFIX) for description in endpoints)
    ):
        raise ConfigError(
            http.path("tls"),
            "is configured but no listener uses it: http.endpoints replaces "
            f"http.addr; write {TLS_PREFIX}<description> (e.g. {TLS_PREFIX}tcp:5443) "
            "for an endpoint served with http.tls",
        )
    headertimeout = http.duration("headertimeout", HTTPConfig.headertimeout)
    if not headertimeout:
        raise ConfigError(http.path("headertimeout"), "must be longer than 0")
    return HTTPConfig(
        addr=addr,
        net=net,
        prefix=prefix,
        host=host,
        secret=http.string("secret", None) or None,
        relativeurls=http.boolean("relativeurls", False),
        draintimeout=http.duration("draintimeout", timedelta(0)),
        headers=http.headers("headers"),
        endpoints=endpoints,
        http2_disabled=http2_disabled,
        h2c_enabled=http.section("h2c", ("enabled",)).boolean("enabled", False),
        tls=tls,
        debug=_parse_debug(http),
        workers=http.integer("workers", 1, minimum=1),
        headertimeout=headertimeout,
        maxconnections=http.integer("maxconnections", HTTPConfig.maxconnections, minimum=1),
    )


def _parse_tls(http: Section, cwd: str) -> TLSConfig | None:
    """
    Read C{http.tls}: its names and files are checked by L{txregistry.tls}
    when the service is built.

    @return: L{None} if the section is absent, or configures neither a
        certificate nor Let's Encrypt (distribution then serves plain HTTP
        too).
    """
    if not http.has("tls"):
        return None
    tls = http.section(
        "tls",
        (
            "certificate",
            "key",
            "clientcas",
            "clientauth",
            "minimumtls",
            "ciphersuites",
            "letsencrypt",
            "certificates",
        ),
    )
    letsencrypt = None
    if tls.has("letsencrypt"):
        section = tls.section(
            "letsencrypt", ("cachefile", "email", "hosts", "directoryurl")
        )
        letsencrypt = LetsEncryptConfig(
            cachefile=section.string("cachefile", ""),
            email=section.string("email", ""),
            hosts=section.string_list("hosts"),
            directoryurl=section.string("directoryurl", ""),
        )

    def path(section: Section, key: str) -> str:
        value = section.string(key, "")
        if not value:
            return ""
        return os.path.normpath(os.path.join(cwd, os.path.expanduser(value)))

    certificates = []
    for entry in tls.sections("certificates", ("certificate", "key")):
        for key in ("certificate", "key"):
            if not entry.string(key, ""):
                raise ConfigError(entry.path(key), "is required")
        certificates.append(
            TLSCertificateConfig(
                path(entry, "certificate"), path(entry, "key"), tuple(entry.keys)
            )
        )
    clientcas = tls.string_list("clientcas")
    clientauth = tls.string("clientauth", "")
    if clientauth and not clientcas:
        raise ConfigError(
            tls.path("clientauth"),
            "needs http.tls.clientcas (distribution would silently skip client "
            "authentication)",
        )
    config = TLSConfig(
        certificate=path(tls, "certificate"),
        key=path(tls, "key"),
        clientcas=[
            os.path.normpath(os.path.join(cwd, os.path.expanduser(ca)))
            for ca in clientcas
        ],
        clientauth=clientauth or ("require-and-verify-client-cert" if clientcas else ""),
        minimumtls=tls.string("minimumtls", "") or "tls1.2",
        ciphersuites=tls.string_list("ciphersuites"),
        letsencrypt=letsencrypt,
        certificates=certificates,
    )
    if letsencrypt is not None:
        return config  # refused as not supported yet
    if not config.certificate and not config.key and not certificates:
        others = [key for key in tls.value if tls.raw(key) not in (None, "", [])]
        if others:
            raise ConfigError(
                tls.path("certificate"),
                f"is required when http.tls sets {', '.join(sorted(others))}",
            )
        return None
    if not config.certificate and config.key:
        raise ConfigError(tls.path("certificate"), "is required with http.tls.key")
    return config


def _parse_debug(http: Section) -> DebugConfig | None:
    if not http.has("debug"):
        return None
    debug = http.section("debug", ("addr", "prometheus"))
    prometheus = debug.section("prometheus", ("enabled", "path"))
    addr = debug.string("addr", "")
    if addr:
        try:
            listen_endpoint("tcp", addr)
        except ConfigError as e:
            raise ConfigError(debug.path("addr"), e.reason) from None
    return DebugConfig(
        addr=addr,
        prometheus_enabled=prometheus.boolean("enabled", False),
        prometheus_path=prometheus.string("path", "/metrics"),
    )


def _parse_notifications(section: Section) -> NotificationsConfig:
    endpoints = []
    for entry in section.sections(
        "endpoints",
        (
            "name",
            "disabled",
            "url",
            "headers",
            "timeout",
            "threshold",
            "backoff",
            "ignoredmediatypes",
            "ignore",
        ),
    ):
        ignore = entry.section("ignore", ("mediatypes", "actions"))
        endpoints.append(
            NotificationEndpoint(
                name=_required_string(entry, "name"),
                url=_required_string(entry, "url"),
                disabled=entry.boolean("disabled", False),
                headers=entry.headers("headers"),
                timeout=entry.duration("timeout", timedelta(seconds=1)),
                threshold=entry.integer("threshold", 10, minimum=0),
                backoff=entry.duration("backoff", timedelta(seconds=1)),
                ignoredmediatypes=entry.string_list("ignoredmediatypes"),
                ignore_mediatypes=ignore.string_list("mediatypes"),
                ignore_actions=ignore.string_list("actions"),
            )
        )
    events = section.section("events", ("includereferences",))
    return NotificationsConfig(
        events_includereferences=events.boolean("includereferences", False),
        endpoints=endpoints,
    )


def _required_string(section: Section, key: str) -> str:
    value = section.string(key, "")
    if not value:
        raise ConfigError(section.path(key), "is required")
    return value


def _parse_redis(root: Section) -> RedisConfig | None:
    if not root.has("redis"):
        return None
    redis = root.section("redis", tuple(_REDIS_KEYS))
    options: dict[str, object] = {}
    for key, kind in _REDIS_KEYS.items():
        if not redis.has(key) or key in ("addr", "addrs"):
            continue
        if kind == "string":
            options[key] = redis.string(key, "")
        elif kind == "integer":
            options[key] = redis.integer(key, 0, minimum=0)
        elif kind == "boolean":
            options[key] = redis.boolean(key, False)
        elif kind == "duration":
            options[key] = redis.duration(key, timedelta(0))
        elif key == "tls":
            tls = redis.section("tls", ("enabled", "certificate", "key", "clientcas"))
            options[key] = {
                "enabled": tls.boolean("enabled", False),
                "certificate": tls.string("certificate", ""),
                "key": tls.string("key", ""),
                "clientcas": tls.string_list("clientcas"),
            }
        else:
            pool = redis.section("pool", ("maxidle", "maxactive", "idletimeout"))
            options[key] = {
                "maxidle": pool.integer("maxidle", 0, minimum=0),
                "maxactive": pool.integer("maxactive", 0, minimum=0),
                "idletimeout": pool.duration("idletimeout", timedelta(0)),
            }
    addrs = redis.string_list("addrs")
    if redis.has("addr"):
        addrs.insert(0, redis.string("addr", ""))
    return RedisConfig(addrs=addrs, options=options)


def _parse_health(section: Section) -> HealthConfig:
    driver = section.section("storagedriver", ("enabled", "interval", "threshold"))
    checks = []
    for kind, target, extra in (
        ("file", "file", ()),
        ("http", "uri", ("headers", "statuscode", "timeout")),
        ("tcp", "addr", ("timeout",)),
    ):
        for entry in section.sections(kind, (target, "interval", "threshold", *extra)):
            checks.append(
                HealthCheck(
                    kind=kind,
                    target=_health_target(entry, kind, target),
                    interval=entry.duration("interval", timedelta(seconds=10)),
                    threshold=entry.integer("threshold", 0, minimum=0),
                    timeout=entry.duration("timeout", None),
                    statuscode=entry.integer("statuscode", 200, minimum=100),
                    headers=entry.headers("headers"),
                )
            )
    return HealthConfig(
        storagedriver_enabled=driver.boolean("enabled", False),
        storagedriver_interval=driver.duration("interval", timedelta(seconds=10)),
        storagedriver_threshold=driver.integer("threshold", 0, minimum=0),
        checks=checks,
    )


def _health_target(entry: Section, kind: str, key: str) -> str:
    value = _required_string(entry, key)
    if kind == "tcp":
        try:
            listen_endpoint("tcp", value)
        except ConfigError as e:
            raise ConfigError(entry.path(key), e.reason) from None
    elif kind == "http":
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(
                entry.path(key), f"must be an absolute http:// or https:// URL, got {value!r}"
            )
    return value


def _parse_proxy(section: Section) -> ProxyConfig:
    execution = section.section("exec", ("command", "lifetime"))
    remoteurl = section.string("remoteurl", None) or None
    if remoteurl is not None:
        parts = urlsplit(remoteurl)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(
                section.path("remoteurl"),
                f"must be an absolute http:// or https:// URL, got {remoteurl!r}",
            )
    return ProxyConfig(
        remoteurl=remoteurl,
        username=section.string("username", None),
        password=section.string("password", None),
        ttl=section.duration("ttl", None),
        exec_command=execution.string("command", None),
        exec_lifetime=execution.duration("lifetime", None),
        remotenamespace=section.string("remotenamespace", None),
    )


def _parse_compatibility(section: Section) -> CompatibilityConfig:
    schema1 = section.section("schema1", ("enabled", "signingkeyfile"))
    return CompatibilityConfig(
        schema1_enabled=schema1.boolean("enabled", False),
        schema1_signingkeyfile=schema1.string("signingkeyfile", None),
    )


def _parse_catalog(section: Section) -> CatalogConfig:
    value = section.raw("maxentries")
    number = resolved(value)
    if isinstance(number, int) and not isinstance(number, bool) and number <= 0:
        return CatalogConfig()  # distribution: "empty or negative" means the default
    return CatalogConfig(maxentries=section.integer("maxentries", 1000))


def _patterns(section: Section, key: str) -> list[str]:
    """
    @return: the regular expressions listed at C{key}.
    @raise ConfigError: naming the entry that does not compile.
    """
    patterns = section.string_list(key)
    for index, pattern in enumerate(patterns):
        try:
            re.compile(pattern)
        except re.error as e:
            raise ConfigError(section.path(key) + (index,),
                              f"not a regular expression: {e}") from None
    return patterns


def _parse_validation(section: Section) -> ValidationConfig:
    disabled = section.boolean("disabled", False)
    if section.has("enabled") and not section.has("disabled"):
        disabled = not section.boolean("enabled", True)
    manifests = section.section("manifests", ("urls", "indexes"))
    urls = manifests.section("urls", ("allow", "deny"))
    indexes = manifests.section("indexes", ("platforms", "platformlist"))
    platforms = indexes.string("platforms", "all", ("all", "none", "list"))
    platformlist = [
        (
            as_string(entry.path("os"), entry.raw("os") or ""),
            as_string(entry.path("architecture"), entry.raw("architecture") or ""),
        )
        for entry in indexes.sections("platformlist", ("os", "architecture"))
    ]
    return ValidationConfig(
        disabled=disabled,
        manifests_urls_allow=_patterns(urls, "allow"),
        manifests_urls_deny=_patterns(urls, "deny"),
        manifests_indexes_platforms=platforms,
        manifests_indexes_platformlist=platformlist,
    )


def _parse_retention(maintenance: Section) -> list[RetentionRule]:
    """
    Read C{storage.maintenance.retention}, a txregistry extension (see
    L{txregistry.storage.gc.retention} for what the rules mean).
    """
    rules = []
    for rule in maintenance.sections(
            "retention", ("repositories", "keeptags", "untaggedolderthan")):
        globs = rule.string_list("repositories")
        for index, glob in enumerate(globs):
            try:
                compileNameGlob(glob)
            except ValueError as e:
                raise ConfigError(rule.path("repositories") + (index,), str(e)) from None
        keeptags = None
        if rule.has("keeptags"):
            keeptags = [_parse_keeptags(entry) for entry in rule.sections("keeptags", (
                "patterns", "mostrecentlypushed", "mostrecentlypulled", "pushedwithin",
                "pulledwithin"))]
            if not keeptags:
                raise ConfigError(rule.path("keeptags"),
                                  "must list an entry; omit it to keep every tag")
        rules.append(RetentionRule(repositories=globs, keeptags=keeptags,
                                   untaggedolderthan=rule.duration("untaggedolderthan", None)))
    return rules


def _parse_keeptags(entry: Section) -> KeepTags:
    return KeepTags(
        patterns=_patterns(entry, "patterns"),
        mostrecentlypushed=_count(entry, "mostrecentlypushed"),
        mostrecentlypulled=_count(entry, "mostrecentlypulled"),
        pushedwithin=_positive(entry, "pushedwithin", None),
        pulledwithin=_positive(entry, "pulledwithin", None),
    )


def _count(entry: Section, key: str) -> int | None:
    return entry.integer(key, 0, minimum=1) if entry.has(key) else None
