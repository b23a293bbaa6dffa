"""
Listings: C{/v2/<name>/tags/list} and C{/v2/_catalog}, paginated with C{n}
and C{last} as the spec says.
"""

from __future__ import annotations

from urllib.parse import urlencode

from twisted.web.iweb import IRequest

from txregistry.api.requests import checkName, queryArg
from txregistry.config.model import CatalogConfig, TagsConfig
from txregistry.errors import NameUnknown, Unsupported
from txregistry.http.responses import respondJSON
from txregistry.storage.catalog import listRepositories
from txregistry.storage.registry import Registry

# distribution 2.8.2 answers 100 catalog entries when the client asks no n.
CATALOG_DEFAULT_PAGE = 100


def paginate(request: IRequest, entries: list[str], path: str,
             defaultLimit: int | None = None,
             maxLimit: int | None = None) -> tuple[list[str], dict[str, str]]:
    """
    Apply C{n} and C{last} to sorted C{entries}.

    @param defaultLimit: the page size when the request gives no C{n}.
    @param maxLimit: the largest C{n} accepted.

    @return: the page, and the headers to send (a C{Link} to the next page
        when entries remain).
    @raise Unsupported: (400, the spec's code for an invalid set of
        parameters; distribution says C{PAGINATION_NUMBER_INVALID}) if C{n}
        is not a non-negative integer, or is above C{maxLimit}.
    """
    last = queryArg(request, "last")
    if last is not None:
        entries = [entry for entry in entries if entry > last]
    number = queryArg(request, "n")
    if number is None:
        if defaultLimit is None:
            return entries, {}
        number = str(defaultLimit)
    if not number.isdigit() or (maxLimit is not None and int(number) > maxLimit):
        raise Unsupported(
            number, status=400,
            message=f"n must be an integer from 0 to {maxLimit}" if maxLimit
            else "n must be a non-negative integer")
    limit = int(number)
    if limit == 0:
        return [], {}
    if len(entries) <= limit:
        return entries, {}
    page = entries[:limit]
    query = urlencode({"n": limit, "last": page[-1]})
    return page, {"Link": f'<{path}?{query}>; rel="next"'}


class ListingHandlers:
    """
    Listing tags and repositories.
    """

    def __init__(self, registry: Registry, tags: TagsConfig,
                 catalog: CatalogConfig) -> None:
        """
        @param tags: the C{tags} section (the size of a page of tags).
        @param catalog: the C{catalog} section (the size of a page of
            repositories).
        """
        self.registry = registry
        self.tagsConfig = tags
        self.catalogConfig = catalog

    async def tags(self, request: IRequest, name: str) -> bytes:
        """
        C{GET /v2/<name>/tags/list}.
        """
        checkName(request, name)
        tags = await self.registry.tags.listTags(name)
        if tags is None:
            raise NameUnknown(name)
        maxTags = self.tagsConfig.maxtags or None
        page, headers = paginate(request, tags, f"/v2/{name}/tags/list", maxTags, maxTags)
        return respondJSON(request, {"name": name, "tags": page}, headers=headers)

    async def catalog(self, request: IRequest) -> bytes:
        """
        C{GET /v2/_catalog}.
        """
        names = await listRepositories(self.registry.driver)
        maxEntries = self.catalogConfig.maxentries
        page, headers = paginate(request, names, "/v2/_catalog",
                                 min(CATALOG_DEFAULT_PAGE, maxEntries), maxEntries)
        return respondJSON(request, {"repositories": page}, headers=headers)
