"""
The options and service maker behind C{twistd registry}.

The plugin in C{twisted/plugins/txregistry_plugin.py} only names this module.
"""

from __future__ import annotations

import os
from typing import Any

from twisted.application.service import MultiService
from twisted.python import usage

from txregistry import logging as registry_logging
from txregistry import service
from txregistry.config import ConfigError
from txregistry.configuration import loadConfiguration
from txregistry.startup import StartupError, reportStartupErrors


class Options(usage.Options):
    """
    Command line options of C{twistd registry}.

    Under twistd, a C{log} section asking for another level or JSON lines
    installs L{txregistry.logging.observerFactory} as twistd's C{--logger}
    (unless C{--logger} or C{--syslog} was given).

    After L{parseOptions}, C{self["configuration"]} holds the loaded
    L{txregistry.config.Configuration}: the configuration is read while the
    options are parsed, so that an invalid file stops twistd before anything
    starts.  Under twistd, every error that stops the start (a
    L{StartupError}: an invalid configuration, a storage root that cannot
    be created, a listener that cannot listen) is printed as one line, with
    no usage text and no traceback (L{reportStartupErrors}).
    """

    synopsis = "[options]"
    longdesc = (
        "Serve the Docker Registry HTTP API V2 / OCI Distribution API. "
        "Without --config the embedded default configuration is used: plain "
        "HTTP on 127.0.0.1:5000, filesystem storage under ./txregistry-data. "
        "The configuration file has distribution's config.yml format; "
        "REGISTRY_* environment variables override it."
    )

    optParameters = [
        ["config", "c", None, "Path of the configuration file (config.yml)."],
    ]

    compData = usage.Completions(
        optActions={"config": usage.CompleteFiles("*.yml")},
    )

    def __init__(self) -> None:
        super().__init__()
        self["listen"] = []
        self["configuration"] = None

    def opt_listen(self, description: str) -> None:
        """Listen on this Twisted server endpoint description (e.g. tcp:5000:interface=127.0.0.1) instead of the configuration's addresses; repeatable."""
        self["listen"].append(description)

    opt_l = opt_listen

    def postOptions(self) -> None:
        """
        Load the configuration file (or the embedded default).

        @raise StartupError: if the configuration is invalid; the message
            names the offending key.
        """
        twistd = getattr(self, "parent", None)
        if twistd is not None:
            reportStartupErrors()
        config = self["configuration"] = loadConfiguration(self["config"], os.environ)
        if twistd is not None:
            registry_logging.installForTwistd(config, twistd)


def makeService(options: Options, reactor: Any = None) -> MultiService:
    """
    Build the registry's service tree from parsed options.

    @param options: parsed L{Options}.
    @param reactor: the reactor to run on; the global one if L{None}.
    @return: the top L{twisted.application.service.MultiService}.
    @raise StartupError: if the configuration is invalid, or names storage
        or listeners that cannot be set up.
    """
    if reactor is None:
        from twisted.internet import reactor as globalReactor

        reactor = globalReactor
    config = options["configuration"]
    if config is None:
        config = loadConfiguration(options["config"], os.environ)
    try:
        return service.makeService(config, list(options["listen"]) or None, reactor)
    except (ConfigError, ValueError) as e:
        raise StartupError(str(e)) from None
