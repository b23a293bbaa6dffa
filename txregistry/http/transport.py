"""
Reaching the socket's transport under the wrappers a connection may have
(TLS, HTTP/2), to tune how much it reads and sends at once.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.abstract import FileDescriptor


def socketTransport(transport: Any) -> FileDescriptor | None:
    """
    @return: the L{FileDescriptor} (a TCP connection) at the bottom of
        C{transport}'s chain of C{transport} attributes, or L{None}.  The
        attributes are not looked up by name on the wrappers, which would
        take them for themselves (a TLS wrapper delegates reads of unknown
        attributes to its transport, but keeps those written to it).
    """
    for _ in range(8):
        if transport is None or isinstance(transport, FileDescriptor):
            return transport
        transport = getattr(transport, "transport", None)
    return None
