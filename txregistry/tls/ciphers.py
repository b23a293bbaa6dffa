"""
Translate the Go cipher suite names that distribution's
C{http.tls.ciphersuites} takes into OpenSSL cipher names.

Go, and so distribution, cannot configure TLS 1.3 suites: it accepts their
names but always offers all three.  txregistry restricts TLS 1.3 to the
TLS 1.3 suites listed when at least one is listed, and offers all three
otherwise; TLS 1.0-1.2 suites listed restrict TLS 1.2.

Go also ignores the order of the list: a Go server prefers its own order
(AES-128-GCM first), unless the client prefers ChaCha20-Poly1305.  The
OpenSSL lists here are in Go's order, for a server that prefers its own
order and puts ChaCha20 first for such clients (C{build_context}), so that
clients get the suite distribution gives them.  (OpenSSL's own TLS 1.3
order puts AES-256-GCM first, which costs each side of a transfer about a
third more AES work.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

#: Go's names of the TLS 1.0-1.2 cipher suites distribution documents, and
#: the OpenSSL name of each, in Go's order of preference (its
#: C{cipherSuitesPreferenceOrder}): AES-128-GCM before AES-256-GCM before
#: ChaCha20-Poly1305, ECDHE before plain RSA, CBC and RC4 last.
TLS12_SUITES: Mapping[str, str] = {
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
    "TLS_RSA_WITH_AES_128_CBC_SHA": "AES128-SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA": "AES256-SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA": "ECDHE-RSA-DES-CBC3-SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA": "DES-CBC3-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256": "ECDHE-ECDSA-AES128-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256": "ECDHE-RSA-AES128-SHA256",
    "TLS_RSA_WITH_AES_128_CBC_SHA256": "AES128-SHA256",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA": "ECDHE-ECDSA-RC4-SHA",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA": "ECDHE-RSA-RC4-SHA",
    "TLS_RSA_WITH_RC4_128_SHA": "RC4-SHA",
}

#: The TLS 1.3 suites (Go's names are OpenSSL's), in Go's order of
#: preference.
TLS13_SUITES: Mapping[str, str] = {
    name: name
    for name in (
        "TLS_AES_128_GCM_SHA256",
        "TLS_AES_256_GCM_SHA384",
        "TLS_CHACHA20_POLY1305_SHA256",
    )
}

#: distribution's default suites (the order it lists them in, which Go
#: ignores).
DEFAULT_SUITES: Sequence[str] = (
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_AES_128_GCM_SHA256",
    "TLS_CHACHA20_POLY1305_SHA256",
    "TLS_AES_256_GCM_SHA384",
)


def is_known(name: str) -> bool:
    """
    @param name: a Go cipher suite name.
    @return: whether distribution knows it.
    """
    return name in TLS12_SUITES or name in TLS13_SUITES


@dataclass(frozen=True)
class CipherSelection:
    """
    The OpenSSL settings for a list of Go cipher suite names.

    @ivar tls12: the OpenSSL cipher list for TLS 1.2 and older
        (C{SSL_CTX_set_cipher_list}); empty if no such suite was listed.
    @ivar tls13: the TLS 1.3 suites (C{SSL_CTX_set_ciphersuites}).
    """

    tls12: str
    tls13: str


def select(names: Sequence[str]) -> CipherSelection:
    """
    Translate Go cipher suite names.

    @param names: Go names, all known (see L{is_known}); empty for
        distribution's L{DEFAULT_SUITES}.
    @return: the OpenSSL settings, each list in Go's order of preference.
    @raise KeyError: for an unknown name.
    """
    for name in names:
        if not is_known(name):
            raise KeyError(name)
    listed = set(names or DEFAULT_SUITES)
    tls12 = [openssl for name, openssl in TLS12_SUITES.items() if name in listed]
    tls13 = [openssl for name, openssl in TLS13_SUITES.items() if name in listed]
    if not tls13:
        tls13 = list(TLS13_SUITES.values())
    return CipherSelection(tls12=":".join(tls12), tls13=":".join(tls13))
