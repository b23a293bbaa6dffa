"""
The parsed configuration: one frozen dataclass per section of C{config.yml}.

Attribute names follow distribution's keys, with nested keys joined by
underscores (C{log.accesslog.disabled} is L{LogConfig.accesslog_disabled}).
Every field has a default, so tests may build a L{Configuration} directly;
the defaults are distribution's, except where noted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from txregistry.config.listen import listen_endpoint

#: The prefix of an endpoint description served with C{http.tls}
#: (C{tls+tcp:5443}); a txregistry extension, as Twisted's own C{tls:}
#: endpoint takes a directory of PEM files.
TLS_PREFIX = "tls+"


@dataclass(frozen=True)
class LogHook:
    """
    One entry of C{log.hooks} (distribution only knows C{type: mail}).

    @ivar options: the hook's C{options} mapping, type-checked.
    """

    type: str = ""
    disabled: bool = False
    levels: list[str] = field(default_factory=list)
    options: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class LogConfig:
    """
    The C{log} section (and the deprecated top-level C{loglevel}).

    @ivar level: C{error}, C{warn}, C{info} or C{debug}.
    @ivar formatter: C{text}, C{json} or C{logstash}.
    @ivar fields: static fields added to every log event.
    @ivar accesslog_disabled: C{log.accesslog.disabled}.
    @ivar hooks: C{log.hooks} (not supported yet).
    @ivar reportcaller: C{log.reportcaller} (not supported yet).
    """

    level: str = "info"
    formatter: str = "text"
    fields: dict[str, str] = field(default_factory=dict)
    accesslog_disabled: bool = False
    hooks: list[LogHook] = field(default_factory=list)
    reportcaller: bool = False


@dataclass(frozen=True)
class FilesystemConfig:
    """
    C{storage.filesystem}.

    @ivar rootdirectory: an absolute path (relative paths in the file are
        resolved against the working directory when the configuration is
        loaded).
    @ivar maxthreads: the size of the thread pool for blocking file calls.
    @ivar uploadmemory: the bytes uploads in flight may hold together
        (received data waiting for the disk or the digest, and direct-I/O
        buffers).
    """

    rootdirectory: str = "/var/lib/registry"
    maxthreads: int = 100
    uploadmemory: int = 128 * 1024 * 1024


@dataclass(frozen=True)
class UploadPurgingConfig:
    """
    C{storage.maintenance.uploadpurging}, with distribution's defaults:
    uploads older than a week are purged once a day.
    """

    enabled: bool = True
    age: timedelta = timedelta(hours=168)
    interval: timedelta = timedelta(hours=24)
    dryrun: bool = False


@dataclass(frozen=True)
class GCConfig:
    """
    C{storage.maintenance.gc} (a txregistry extension): online garbage
    collection every C{interval}, sparing blobs younger than C{graceperiod}.
    """

    enabled: bool = False
    interval: timedelta = timedelta(hours=1)
    graceperiod: timedelta = timedelta(hours=1)
    deleteuntagged: bool = False
    dryrun: bool = False


@dataclass(frozen=True)
class MaintenanceConfig:
    """
    C{storage.maintenance}.
    """

    uploadpurging: UploadPurgingConfig = field(default_factory=UploadPurgingConfig)
    gc: GCConfig = field(default_factory=GCConfig)
    readonly_enabled: bool = False
    retention: list[RetentionRule] = field(default_factory=list)


@dataclass(frozen=True)
class KeepTags:
    """
    One entry of a retention rule's C{keeptags}: the tags matching
    C{patterns} (every tag if empty) are kept if they meet one of the
    criteria set, or all of them if none is set (see
    L{txregistry.storage.gc.retention}).
    """

    patterns: list[str] = field(default_factory=list)
    mostrecentlypushed: int | None = None
    mostrecentlypulled: int | None = None
    pushedwithin: timedelta | None = None
    pulledwithin: timedelta | None = None


@dataclass(frozen=True)
class RetentionRule:
    """
    One entry of C{storage.maintenance.retention} (a txregistry extension).

    @ivar repositories: globs of the repositories it applies to (every
        repository if empty).
    @ivar keeptags: L{None} to keep every tag.
    @ivar untaggedolderthan: delete untagged manifests older than this.
    """

    repositories: list[str] = field(default_factory=list)
    keeptags: list[KeepTags] | None = None
    untaggedolderthan: timedelta | None = None


@dataclass(frozen=True)
class StorageConfig:
    """
    The C{storage} section.

    @ivar driver: the name of the one configured driver (C{filesystem},
        C{inmemory}, or an unsupported one such as C{s3}).
    @ivar filesystem: the driver's settings when C{driver} is C{filesystem}.
    @ivar parameters: the raw parameters of a driver that has no typed
        section here (the cloud drivers, not supported yet).
    @ivar cache_blobdescriptor: C{inmemory}, C{redis} or L{None}.
    @ivar cache_blobdescriptorsize: entries kept by the C{inmemory} cache (0:
        no limit).
    @ivar tag_concurrencylimit: C{storage.tag.concurrencylimit} (0: the
        implementation chooses).
    """

    driver: str = "inmemory"
    filesystem: FilesystemConfig | None = None
    delete_enabled: bool = False
    redirect_disable: bool = False
    cache_blobdescriptor: str | None = None
    maintenance: MaintenanceConfig = field(default_factory=MaintenanceConfig)
    cache_blobdescriptorsize: int = 10000
    tag_concurrencylimit: int = 0
    parameters: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class LetsEncryptConfig:
    """
    C{http.tls.letsencrypt} (not supported yet).
    """

    cachefile: str = ""
    email: str = ""
    hosts: list[str] = field(default_factory=list)
    directoryurl: str = ""


@dataclass(frozen=True)
class TLSCertificateConfig:
    """
    One certificate and its key: C{http.tls.certificate} and C{.key}, or an
    entry of C{http.tls.certificates} (a txregistry extension).

    @ivar certificate: an absolute path to a PEM file holding the
        certificate, optionally followed by its chain.
    @ivar key: an absolute path to the PEM private key.
    @ivar keys: the configuration path of this pair (C{("http", "tls")} or
        C{("http", "tls", "certificates", 2)}), for error messages.
    """

    certificate: str
    key: str
    keys: tuple[str | int, ...] = ("http", "tls")


@dataclass(frozen=True)
class TLSConfig:
    """
    C{http.tls}: the registry serves TLS on C{http.addr} (or on the
    C{tls+} entries of C{http.endpoints}).

    @ivar certificate: C{http.tls.certificate} (absolute); empty when only
        C{certificates} is given.
    @ivar key: C{http.tls.key} (absolute).
    @ivar certificates: txregistry's extension C{http.tls.certificates}:
        more certificates, each chosen when a client asks for one of the
        DNS names of its subjectAltName (SNI).
    @ivar clientcas: CA files (absolute) that client certificates are
        verified against.
    @ivar clientauth: the client authentication mode; empty without
        C{clientcas}, and C{require-and-verify-client-cert} when
        C{clientcas} is given without it.
    @ivar minimumtls: C{tls1.0} to C{tls1.3}; C{tls1.2} by default.
    @ivar ciphersuites: Go cipher suite names (see L{txregistry.tls.ciphers});
        empty for distribution's defaults.
    @ivar letsencrypt: C{http.tls.letsencrypt} (not supported yet).
    """

    certificate: str = ""
    key: str = ""
    clientcas: list[str] = field(default_factory=list)
    clientauth: str = ""
    minimumtls: str = "tls1.2"
    ciphersuites: list[str] = field(default_factory=list)
    letsencrypt: LetsEncryptConfig | None = None
    certificates: list[TLSCertificateConfig] = field(default_factory=list)

    def identities(self) -> list[TLSCertificateConfig]:
        """
        @return: every certificate to serve, the default first:
            C{certificate}/C{key} if given, then C{certificates} in order.
        """
        first = (
            [TLSCertificateConfig(self.certificate, self.key)] if self.certificate else []
        )
        return first + list(self.certificates)


@dataclass(frozen=True)
class DebugConfig:
    """
    C{http.debug}: the debug listener (C{/debug/health}).

    @ivar addr: C{HOST:PORT} of the debug listener; empty for none.
    @ivar prometheus_enabled: C{http.debug.prometheus.enabled}: serve
        Prometheus metrics on the debug listener, at C{prometheus_path}.
    """

    addr: str = ""
    prometheus_enabled: bool = False
    prometheus_path: str = "/metrics"


@dataclass(frozen=True)
class HTTPConfig:
    """
    The C{http} section.

    @ivar addr: C{HOST:PORT} for C{tcp}, a socket path for C{unix}.
    @ivar net: C{tcp} or C{unix}.
    @ivar endpoints: txregistry's extension: raw Twisted server endpoint
        descriptions; when non-empty they replace C{addr} and C{net}.
    @ivar tls: C{http.tls} if it configures a certificate.
    @ivar debug: C{http.debug} if given.
    @ivar h2c_enabled: C{http.h2c.enabled} (not supported yet).
    @ivar workers: txregistry's extension: how many processes serve each
        listening address (shared with C{SO_REUSEPORT}, see
        L{txregistry.workers}); 1 serves from the process twistd starts only.
    @ivar headertimeout: txregistry's extension: how long a connection may
        take to send a request's headers, counted from its opening (TLS
        handshake included) or from the end of its previous response.
    @ivar maxconnections: txregistry's extension: how many connections each
        process serves at once; beyond that it stops accepting new ones.
    """

    addr: str = "127.0.0.1:5000"
    net: str = "tcp"
    prefix: str = ""
    host: str | None = None
    secret: str | None = None
    relativeurls: bool = False
    draintimeout: timedelta = timedelta(0)
    headers: dict[str, list[str]] = field(default_factory=dict)
    endpoints: list[str] = field(default_factory=list)
    http2_disabled: bool = False
    h2c_enabled: bool = False
    tls: TLSConfig | None = None
    debug: DebugConfig | None = None
    workers: int = 1
    headertimeout: timedelta = timedelta(seconds=30)
    maxconnections: int = 4096


@dataclass(frozen=True)
class ValidationConfig:
    """
    The C{validation} section.

    @ivar manifests_indexes_platforms: C{all}, C{none} or C{list}.
    @ivar manifests_indexes_platformlist: C{(os, architecture)} pairs.
    """

    disabled: bool = False
    manifests_urls_allow: list[str] = field(default_factory=list)
    manifests_urls_deny: list[str] = field(default_factory=list)
    manifests_indexes_platforms: str = "all"
    manifests_indexes_platformlist: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class AuthConfig:
    """
    The C{auth} section: which provider checks requests, and its settings.

    @ivar provider: C{silly}, C{token}, C{htpasswd} or C{none} (no access
        control, as distribution).
    @ivar parameters: the provider's settings, type-checked, required ones
        present, file paths absolute (the provider loads the files when the
        service is built): C{silly}: C{realm}, C{service}; C{htpasswd}: C{realm},
        C{path}; C{token}: C{realm}, C{issuer}, C{service},
        C{rootcertbundle} and C{jwks} (C{""} when not given; one is
        required), C{autoredirect} (bool), C{autoredirectpath},
        C{signingalgorithms} (list).
    """

    provider: str
    parameters: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class MiddlewareEntry:
    """
    One entry of C{middleware.registry}, C{.repository} or C{.storage}.
    """

    name: str
    disabled: bool = False
    options: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class NotificationEndpoint:
    """
    One entry of C{notifications.endpoints}.
    """

    name: str
    url: str
    disabled: bool = False
    headers: dict[str, list[str]] = field(default_factory=dict)
    timeout: timedelta = timedelta(seconds=1)
    threshold: int = 10
    backoff: timedelta = timedelta(seconds=1)
    ignoredmediatypes: list[str] = field(default_factory=list)
    ignore_mediatypes: list[str] = field(default_factory=list)
    ignore_actions: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class NotificationsConfig:
    """
    The C{notifications} section.
    """

    events_includereferences: bool = False
    endpoints: list[NotificationEndpoint] = field(default_factory=list)


@dataclass(frozen=True)
class RedisConfig:
    """
    The C{redis} section (not supported yet).

    @ivar addrs: C{addrs}, or the older single C{addr}.
    @ivar options: every other key given, type-checked.
    """

    addrs: list[str] = field(default_factory=list)
    options: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class HealthCheck:
    """
    One entry of C{health.file}, C{health.http} or C{health.tcp}.

    @ivar kind: C{file}, C{http} or C{tcp}.
    @ivar target: the file, URI or address checked.
    """

    kind: str
    target: str
    interval: timedelta = timedelta(seconds=10)
    threshold: int = 0
    timeout: timedelta | None = None
    statuscode: int = 200
    headers: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class HealthConfig:
    """
    The C{health} section.
    """

    storagedriver_enabled: bool = False
    storagedriver_interval: timedelta = timedelta(seconds=10)
    storagedriver_threshold: int = 0
    checks: list[HealthCheck] = field(default_factory=list)


@dataclass(frozen=True)
class ProxyConfig:
    """
    The C{proxy} section (pull-through cache; not supported yet).

    @ivar ttl: L{None} means distribution's default of 168h.
    """

    remoteurl: str | None = None
    username: str | None = None
    password: str | None = None
    ttl: timedelta | None = None
    exec_command: str | None = None
    exec_lifetime: timedelta | None = None
    remotenamespace: str | None = None


@dataclass(frozen=True)
class CompatibilityConfig:
    """
    The C{compatibility} section.
    """

    schema1_enabled: bool = False
    schema1_signingkeyfile: str | None = None


@dataclass(frozen=True)
class CatalogConfig:
    """
    The C{catalog} section.

    @ivar maxentries: the most entries C{/v2/_catalog} returns per page.
    """

    maxentries: int = 1000


@dataclass(frozen=True)
class TagsConfig:
    """
    The C{tags} section, a txregistry extension shaped like C{catalog}.

    @ivar maxtags: the most tags C{/v2/<name>/tags/list} returns per page;
        0 (the default) for no limit, as distribution has none.
    """

    maxtags: int = 0


@dataclass(frozen=True)
class ReportingConfig:
    """
    The C{reporting} section of older distribution versions (not supported).

    @ivar bugsnag: the C{bugsnag} settings given.
    @ivar newrelic: the C{newrelic} settings given.
    """

    bugsnag: dict[str, object] = field(default_factory=dict)
    newrelic: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Configuration:
    """
    A whole registry configuration, as loaded by
    L{txregistry.config.load_config}.

    @ivar version: always C{"0.1"}.
    @ivar policy_repository_classes: C{policy.repository.classes}.
    """

    version: str = "0.1"
    log: LogConfig = field(default_factory=LogConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    http: HTTPConfig = field(default_factory=HTTPConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    auth: AuthConfig | None = None
    middleware: dict[str, list[MiddlewareEntry]] = field(default_factory=dict)
    notifications: NotificationsConfig = field(default_factory=NotificationsConfig)
    redis: RedisConfig | None = None
    health: HealthConfig = field(default_factory=HealthConfig)
    proxy: ProxyConfig = field(default_factory=ProxyConfig)
    compatibility: CompatibilityConfig = field(default_factory=CompatibilityConfig)
    catalog: CatalogConfig = field(default_factory=CatalogConfig)
    tags: TagsConfig = field(default_factory=TagsConfig)
    reporting: ReportingConfig = field(default_factory=ReportingConfig)
    policy_repository_classes: list[str] = field(default_factory=list)

    def listen_endpoints(self) -> list[str]:
        """
        The Twisted server endpoint descriptions the registry listens on.

        @return: C{http.endpoints} if given, else the translation of
            C{http.addr} and C{http.net} by
            L{txregistry.config.listen.listen_endpoint}, as a one-element
            list, prefixed with L{TLS_PREFIX} when C{http.tls} is given.
            Feed each to L{twisted.internet.endpoints.serverFromString},
            after removing the prefix from those that have it and wrapping
            them with C{http.tls} (L{txregistry.tls.listeners}).
        @raise ConfigError: if C{http.addr} cannot be translated (never for a
            configuration that L{load_config
            <txregistry.config.load_config>} returned).
        """
        if self.http.endpoints:
            return list(self.http.endpoints)
        description = listen_endpoint(self.http.net, self.http.addr)
        if self.http.tls is not None and self.http.tls.letsencrypt is None:
            description = TLS_PREFIX + description
        return [description]
