"""
A server connection creator that picks a certificate per SNI name and whose
certificates can be replaced while it serves.
"""

from __future__ import annotations

from typing import Any

from OpenSSL import SSL
from twisted.internet.interfaces import IOpenSSLServerConnectionCreator
from zope.interface import implementer

from txregistry.tls.options import ContextSet


def lookup(contexts: ContextSet, name: bytes | None) -> SSL.Context:
    """
    Choose the context for a server name.

    @param contexts: the listener's contexts.
    @param name: the name the client sent (SNI), or L{None}.
    @return: the context of the certificate naming C{name} exactly, else
        of one whose wildcard (C{*.example.com}) covers its first label,
        else the default.
    """
    if not name:
        return contexts.default
    try:
        text = name.decode("ascii").lower().rstrip(".")
    except UnicodeDecodeError:
        return contexts.default
    exact = contexts.byName.get(text)
    if exact is not None:
        return exact
    _, dot, parent = text.partition(".")
    if dot and parent:
        wildcard = contexts.byName.get("*." + parent)
        if wildcard is not None:
            return wildcard
    return contexts.default


@implementer(IOpenSSLServerConnectionCreator)
class SNIConnectionCreator:
    """
    Creates each new server connection on the current default context, and
    switches it to the context of the name the client asks for.

    L{replace} swaps in new contexts: connections made afterwards use them;
    connections already made keep the context they have (OpenSSL holds a
    reference), so nothing open is disturbed.

    @ivar contexts: the current L{ContextSet}.
    """

    def __init__(self, contexts: ContextSet) -> None:
        """
        @param contexts: the contexts to serve.
        """
        self.contexts = contexts
        self._install(contexts)

    def _install(self, contexts: ContextSet) -> None:
        seen = {id(contexts.default): contexts.default}
        seen.update((id(context), context) for context in contexts.byName.values())
        for context in seen.values():
            context.set_tlsext_servername_callback(self._serverName(contexts))

    def _serverName(self, contexts: ContextSet) -> Any:
        """
        @return: a servername callback choosing among C{contexts}: a
            connection started before a L{replace} stays with its generation
            of certificates.
        """

        def switch(connection: SSL.Connection) -> None:
            chosen = lookup(contexts, connection.get_servername())
            if chosen is not connection.get_context():
                connection.set_context(chosen)

        return switch

    def replace(self, contexts: ContextSet) -> None:
        """
        Serve new contexts to new connections.

        @param contexts: the new contexts.
        """
        self._install(contexts)
        self.contexts = contexts

    def serverConnectionForTLS(self, tlsProtocol: object) -> SSL.Connection:
        """
        @param tlsProtocol: the L{twisted.protocols.tls.TLSMemoryBIOProtocol}
            asking.
        @return: a new connection on the current default context.
        """
        return SSL.Connection(self.contexts.default, None)
