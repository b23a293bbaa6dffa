"""
Loading the configuration as the registry starts: parsed, then checked by
the subsystems owning each part, errors turned into L{StartupError}s.  Kept
apart from the service tree (L{txregistry.service}), so that a command
loading a configuration does not import the whole server.
"""

from __future__ import annotations

from typing import Any

from txregistry.config import ConfigError, Configuration, load_config
from txregistry.startup import StartupError
from txregistry.tls.listeners import check_endpoints


def checkConfiguration(config: Configuration) -> None:
    """
    Check what parsing the configuration cannot, each check in the
    subsystem that owns it: that the certificates of C{http.tls} and the
    files of C{auth} load, and that every listener can be built.  The
    configuration is checked so when it is loaded at start
    (L{loadConfiguration}), so that such a mistake fails the start with its
    key's path.  The modules checking the sections a configuration may
    lack are imported only when it has them: commands load configurations
    too, and should start fast.

    @param config: a parsed configuration.
    @raise txregistry.config.ConfigError: naming the key at fault.
    """
    tls = config.http.tls
    if tls is not None and tls.letsencrypt is None:
        from txregistry.tls.options import check_config
        check_config(tls, config.http.http2_disabled)
    check_endpoints(config.http)
    if config.auth is not None:
        from txregistry.auth.factory import checkAuth
        checkAuth(config.auth)


def loadConfiguration(path: str | None, environ: Any) -> Any:
    """
    Load the configuration, turning its errors into start-up errors.

    @param path: the configuration file, or L{None} for the embedded default.
    @param environ: the environment holding C{REGISTRY_*} overrides.
    @return: the L{txregistry.config.Configuration}.
    @raise StartupError: if the configuration cannot be loaded; the message
        is the L{txregistry.config.ConfigError}'s, naming the key (or the
        file, for one that cannot be read or parsed).
    """
    try:
        return load_config(path, environ, check=checkConfiguration)
    except ConfigError as e:
        if not e.keys:
            raise StartupError(e.reason) from None
        where = path if path is not None else "<default configuration>"
        raise StartupError(f"invalid configuration {where}: {e}") from None
