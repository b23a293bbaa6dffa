"""
The C{registry} twistd plugin: C{twistd -n registry --config PATH}.

This file only names the module holding the options and the service maker,
as Twisted's own plugins do, so that loading the plugin list stays cheap.
"""

from twisted.application.service import ServiceMaker

TxRegistry = ServiceMaker(
    "txregistry",
    "txregistry.tap",
    "A container image registry (Docker Registry HTTP API V2 / OCI Distribution).",
    "registry",
)
