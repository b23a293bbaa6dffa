"""
What a request needs to be allowed: the resources it touches and the
actions it performs on them, decided from its method, path and query alone
(so before its body is read).

The rules are distribution's (C{registry/handlers/app.go}):

  - C{GET}/C{HEAD} under a repository: C{repository:<name>:pull};
  - C{POST}/C{PUT}/C{PATCH} under a repository: C{pull} and C{push};
  - C{DELETE} under a repository: C{delete};
  - a C{from=<repository>} query argument (a cross-repository mount) adds
    C{pull} on that repository;
  - C{/v2/_catalog}: C{registry:catalog:*};
  - C{/v2/} and every other path: nothing beyond valid credentials.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from txregistry.reference import isValidName

#: The paths under a repository name, as the API routes them (the name is the
#: shortest prefix followed by one of these, as Werkzeug's path converter
#: matches it).
_REPOSITORY_PATH = re.compile(
    r"^/v2/(?P<name>.+?)/(?:blobs/uploads/[^/]*|blobs/[^/]+|manifests/[^/]+"
    r"|tags/list|referrers/[^/]+)$",
    re.DOTALL,
)

_READ_METHODS = frozenset([b"GET", b"HEAD"])
_WRITE_METHODS = frozenset([b"POST", b"PUT", b"PATCH"])


@dataclass(frozen=True, order=True)
class Access:
    """
    One action on one resource, as the token scheme names them.

    @ivar type: C{repository} or C{registry}.
    @ivar name: the repository name, or C{catalog}.
    @ivar action: C{pull}, C{push}, C{delete} or C{*}.
    """

    type: str
    name: str
    action: str

    def detail(self) -> dict[str, str]:
        """
        @return: this access as distribution lists it in the detail of an
            C{UNAUTHORIZED} error.
        """
        return {"Type": self.type, "Class": "", "Name": self.name,
                "Action": self.action}


#: What listing the catalog needs.
CATALOG = Access("registry", "catalog", "*")


def routedPath(path: bytes) -> str:
    """
    @return: C{path} as the API routes it: each segment percent-decoded, as
        Twisted's C{Request.postpath} holds it, so that C{/v2/%5Fcatalog}
        is seen as the catalog it reaches.
    """
    segments = path.split(b"?", 1)[0].split(b"/")
    return "/".join(
        unquote_to_bytes(segment).decode("utf-8", "replace") for segment in segments)


def repositoryAccess(method: bytes, name: str) -> list[Access]:
    """
    @return: what C{method} needs on the repository C{name}.
    """
    if method in _READ_METHODS:
        return [Access("repository", name, "pull")]
    if method in _WRITE_METHODS:
        return [Access("repository", name, "pull"), Access("repository", name, "push")]
    if method == b"DELETE":
        return [Access("repository", name, "delete")]
    return []


def requiredAccess(method: bytes, path: bytes,
                   args: Mapping[bytes, Sequence[bytes]]) -> tuple[Access, ...]:
    """
    Decide what a request needs.

    @param method: the request's method.
    @param path: the request's path, as sent (percent-encoded).
    @param args: the request's query arguments.
    @return: the accesses the request needs, without duplicates, in a
        stable order; empty when valid credentials are enough (the base
        endpoint, and paths that no route serves or whose repository name is
        invalid, which the API refuses anyway).
    """
    routed = routedPath(path)
    if routed == "/v2/_catalog":
        return (CATALOG,)
    match = _REPOSITORY_PATH.match(routed)
    if match is None or not isValidName(match.group("name")):
        return ()
    needed = repositoryAccess(method, match.group("name"))
    for source in args.get(b"from", [])[:1]:
        fromName = source.decode("utf-8", "replace")
        if isValidName(fromName):
            needed += repositoryAccess(b"GET", fromName)
    return tuple(_unique(needed))


def _unique(accesses: Iterable[Access]) -> list[Access]:
    seen: dict[Access, None] = {}
    for access in accesses:
        seen.setdefault(access)
    return list(seen)


def scopeParam(accesses: Iterable[Access]) -> str:
    """
    @return: the C{scope} parameter of a Bearer challenge for C{accesses}:
        one C{type:name:actions} per resource, actions sorted and joined by
        commas, resources in the order first needed, separated by spaces
        (e.g. C{repository:foo:pull,push}).
    """
    resources: dict[tuple[str, str], set[str]] = {}
    for access in accesses:
        resources.setdefault((access.type, access.name), set()).add(access.action)
    return " ".join(f"{kind}:{name}:{','.join(sorted(actions))}"
                    for (kind, name), actions in resources.items())


def quoted(value: str) -> str:
    """
    @return: C{value} as a quoted string of an HTTP header parameter.
    """
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
