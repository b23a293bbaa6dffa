"""
The one list of what a configuration may ask for but this version of
txregistry cannot do yet.

A configuration naming such a feature is refused at start rather than
silently served without it.  When a feature is built, delete its check here
(and its test in C{tests/config/test_config_unsupported.py}).
"""

from __future__ import annotations

from collections.abc import Iterator

from txregistry.config.errors import ConfigError
from txregistry.config.model import Configuration

#: Storage drivers txregistry has.
SUPPORTED_DRIVERS = ("filesystem", "inmemory")


def unsupported(config: Configuration) -> Iterator[ConfigError]:
    """
    Find every feature C{config} asks for that is not built yet.

    @param config: a parsed configuration.
    @return: one L{ConfigError} per such feature, at the key that asks for
        it, whose reason ends with C{not supported yet}.
    """

    def error(keys: tuple[str, ...], what: str, hint: str = "") -> ConfigError:
        return ConfigError(keys, f"{what} is not supported yet{hint}")

    if config.log.hooks:
        yield error(("log", "hooks"), "the mail log hook")
    if config.log.reportcaller:
        yield error(("log", "reportcaller"), "reporting the caller in logs")

    storage = config.storage
    if storage.driver not in SUPPORTED_DRIVERS:
        yield error(
            ("storage", storage.driver), f"the {storage.driver!r} storage driver"
        )
    if storage.cache_blobdescriptor == "redis":
        yield error(
            ("storage", "cache", "blobdescriptor"), "the redis blob descriptor cache"
        )

    for kind, entries in config.middleware.items():
        if any(not entry.disabled for entry in entries):
            yield error(("middleware", kind), "middleware")
    if any(config.reporting.bugsnag.values()) or any(
        config.reporting.newrelic.values()
    ):
        yield error(("reporting",), "error reporting")

    http = config.http
    if http.tls is not None and http.tls.letsencrypt is not None:
        yield error(("http", "tls", "letsencrypt"), "Let's Encrypt")
    if http.prefix not in ("", "/"):
        yield error(("http", "prefix"), "serving under a path prefix")
    if http.h2c_enabled:
        yield error(("http", "h2c", "enabled"), "HTTP/2 over cleartext (h2c)")

    if any(not endpoint.disabled for endpoint in config.notifications.endpoints):
        yield error(("notifications", "endpoints"), "sending notifications")
    if config.redis is not None:
        yield error(("redis",), "using redis")
    if config.proxy.remoteurl is not None:
        yield error(("proxy", "remoteurl"), "the pull-through cache")

    validation = config.validation
    if validation.manifests_indexes_platforms != "all":
        yield error(
            ("validation", "manifests", "indexes", "platforms"),
            "validating only some platforms of an image index "
            f"(platforms: {validation.manifests_indexes_platforms})",
        )
    if config.compatibility.schema1_enabled:
        yield error(
            ("compatibility", "schema1", "enabled"), "serving schema1 manifests"
        )
    if config.policy_repository_classes:
        yield error(("policy", "repository", "classes"), "the repository class policy")


def check_supported(config: Configuration) -> None:
    """
    Refuse a configuration that asks for a feature not built yet.

    @param config: a parsed configuration.
    @raise ConfigError: for the first such feature (see L{unsupported}).
    """
    for problem in unsupported(config):
        raise problem
