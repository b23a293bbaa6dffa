"""
C{txregistry check-config}: the effective configuration as YAML, secrets
masked.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import timedelta
from typing import Any

import yaml

from txregistry.config.units import format_duration

#: What a masked value is printed as.
MASK = "***"

#: Keys whose values are secrets: C{http.secret}, passwords (redis, proxy,
#: auth), the cloud drivers' C{accesskey}/C{secretkey}/C{accountkey},
#: tokens, and notification headers such as C{Authorization}.
SECRET_KEY = re.compile(
    r"secret|passw|token|accesskey|accountkey|privatekey|apikey|licensekey|"
    r"credential|authorization|cookie",
    re.IGNORECASE)


def plain(value: Any) -> Any:
    """
    @param value: a configuration (a dataclass), or any value in one.
    @return: C{value} as YAML-safe builtins, attributes nested as the keys
        of C{config.yml} (L{nested}), durations written as in the
        file (C{168h0m0s}), and every value under a key matching
        L{SECRET_KEY} replaced by L{MASK} (unless unset or empty).
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return nested(plain({f.name: getattr(value, f.name)
                             for f in dataclasses.fields(value)}))
    if isinstance(value, dict):
        return {str(key): MASK if SECRET_KEY.search(str(key)) and item not in (None, "")
                else plain(item)
                for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, timedelta):
        return format_duration(value)
    return value


def nested(fields: dict[str, Any]) -> dict[str, Any]:
    """
    @param fields: a section's attributes, named as in
        L{txregistry.config.model} (C{delete_enabled}).
    @return: the same as distribution's nested keys (C{delete: {enabled:}}).
    """
    tree: dict[str, Any] = {}
    for name, value in fields.items():
        *parents, leaf = name.split("_")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return tree


def render(config: Any) -> str:
    """
    @param config: a L{txregistry.config.Configuration}.
    @return: its YAML, secrets masked.
    """
    return str(yaml.safe_dump(plain(config), sort_keys=False, default_flow_style=False))
