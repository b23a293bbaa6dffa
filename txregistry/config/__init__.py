"""
The registry's configuration: distribution's C{config.yml} format, with
C{REGISTRY_*} environment overrides, parsed into frozen dataclasses.

    >>> config = load_config("/etc/txregistry/config.yml", os.environ)
    >>> config.storage.filesystem.rootdirectory
    >>> config.listen_endpoints()

Modules: L{loader} (the entry point), L{parse} (the sections), L{environ}
(overrides), L{unsupported} (features refused until built), L{listen}
(C{http.addr} to Twisted endpoints), L{units} (durations and sizes),
L{model} (the dataclasses), L{errors}.
"""

from txregistry.config.errors import ConfigError
from txregistry.config.loader import DEFAULT_CONFIG, load_config
from txregistry.config.model import (
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
    StorageConfig,
    TagsConfig,
    TLSConfig,
    UploadPurgingConfig,
    ValidationConfig,
)

__all__ = [
    "AuthConfig",
    "CatalogConfig",
    "TagsConfig",
    "CompatibilityConfig",
    "ConfigError",
    "Configuration",
    "DEFAULT_CONFIG",
    "DebugConfig",
    "FilesystemConfig",
    "GCConfig",
    "HTTPConfig",
    "HealthCheck",
    "HealthConfig",
    "LetsEncryptConfig",
    "LogConfig",
    "LogHook",
    "MaintenanceConfig",
    "MiddlewareEntry",
    "NotificationEndpoint",
    "NotificationsConfig",
    "ProxyConfig",
    "RedisConfig",
    "ReportingConfig",
    "StorageConfig",
    "TLSConfig",
    "UploadPurgingConfig",
    "ValidationConfig",
    "load_config",
]
