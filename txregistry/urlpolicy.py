"""
Which URLs a manifest's foreign layers may name
(C{validation.manifests.urls}).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import urlsplit

from txregistry.errors import ManifestInvalid
from txregistry.manifest import Manifest


class URLPolicy:
    """
    distribution's rule for layer C{urls}: each must be an absolute http or
    https URL without a fragment, match one of the C{allow} patterns (when
    there are any) and none of the C{deny} patterns.  Patterns are regular
    expressions searched anywhere in the URL, as Go's C{MatchString} does.
    """

    def __init__(self, allow: Sequence[str] = (), deny: Sequence[str] = ()) -> None:
        """
        @raise re.error: if a pattern is not a regular expression.
        """
        self._allow = re.compile("|".join(allow)) if allow else None
        self._deny = re.compile("|".join(deny)) if deny else None

    def allows(self, url: str) -> bool:
        """
        @return: whether a layer may name C{url}.
        """
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
            return False
        if self._allow is not None and not self._allow.search(url):
            return False
        return self._deny is None or not self._deny.search(url)

    def check(self, manifest: Manifest) -> None:
        """
        @raise ManifestInvalid: if a layer of C{manifest} names a URL the
            policy refuses.
        """
        for layer in manifest.layers:
            for url in layer.urls:
                if not self.allows(url):
                    raise ManifestInvalid({"digest": str(layer.digest), "url": url},
                                          message="layer URL not allowed")
