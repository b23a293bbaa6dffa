"""
What the collector asks of the code around it, as small protocols: a
retention policy deciding which tags and untagged manifests go, and the
in-flight checks of the process serving pushes (online collection only).
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

from txregistry.digest import Digest


@dataclass(frozen=True)
class TagInfo:
    """
    A tag, as a retention policy sees it.

    @ivar name: the tag.
    @ivar digest: the manifest it names.
    @ivar pushedAt: when it was last pointed at C{digest} (its C{current}
        link's modification time), in seconds since the epoch.
    @ivar pulledAt: when it was last pulled, if known.
    """

    name: str
    digest: Digest
    pushedAt: float
    pulledAt: float | None = None


class RetentionHook(Protocol):
    """
    Which tags and untagged manifests a retention policy deletes.
    """

    def tagsToDelete(self, repository: str, tags: list[TagInfo],
                     now: float) -> dict[str, str]:
        """
        @param tags: every tag of C{repository}.
        @param now: the time of the collection, in seconds since the epoch.
        @return: the tags to delete, each with the reason reported (such as
            C{"retention: rule 2"}).
        """

    def untaggedMaxAge(self, repository: str) -> float | None:
        """
        @return: the age, in seconds, past which an untagged manifest of
            C{repository} is deleted (as with delete-untagged), or L{None}
            if no rule deletes them.
        """

    def reason(self, repository: str) -> str:
        """
        @return: the reason reported for what the policy deletes in
            C{repository} (such as C{"retention: rule 2"}).
        """


class InFlightHook(Protocol):
    """
    The digests that requests of this process are using right now: a
    manifest push pins what it refers to until its revision link is
    written, an upload commit pins its blob until its layer link is.
    """

    def pin(self, digests: Iterable[Digest]) -> object:
        """
        Pin C{digests}; a pin taken while one of them is being deleted
        (inside L{deleting}) takes effect when that delete is done.

        @return: a token for L{unpin}.
        """

    def unpin(self, token: object) -> None:
        """
        Release the pins of C{token}.
        """

    def deleting(self, digest: Digest) -> AbstractAsyncContextManager[bool]:
        """
        Guard the delete of a blob.

        @return: an asynchronous context manager whose value is whether the
            blob may be deleted (L{False} while it is pinned: the sweep
            skips it); pins taken inside it wait until it exits.
        """
