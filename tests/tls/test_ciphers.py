"""
Tests for L{txregistry.tls.ciphers}: Go cipher suite names to OpenSSL's.
"""

from __future__ import annotations

import pytest

from txregistry.tls import ciphers


def test_goNameMapsToOpenSSL() -> None:
    """A Go ECDHE-RSA GCM name becomes OpenSSL's name for the same suite."""
    selection = ciphers.select(["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"])
    assert selection.tls12 == "ECDHE-RSA-AES128-GCM-SHA256"


def test_goOrderOfPreference() -> None:
    """
    The OpenSSL lists are in Go's order of preference, whatever the order of
    the configuration: Go ignores it.
    """
    selection = ciphers.select([
        "TLS_RSA_WITH_AES_128_CBC_SHA",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "TLS_CHACHA20_POLY1305_SHA256",
        "TLS_AES_128_GCM_SHA256",
    ])
    assert selection.tls12.split(":") == [
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "AES128-SHA",
    ]
    assert selection.tls13 == "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256"


def test_tls13AllWithoutTLS13Names() -> None:
    """Without TLS 1.3 names, TLS 1.3 offers all three suites, as Go does."""
    selection = ciphers.select(["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"])
    assert selection.tls13 == (
        "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
    )


def test_tls13NamesRestrictTLS13() -> None:
    """TLS 1.3 names go to the TLS 1.3 list, not the TLS 1.2 one."""
    selection = ciphers.select(
        ["TLS_AES_256_GCM_SHA384", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"]
    )
    assert selection.tls13 == "TLS_AES_256_GCM_SHA384"
    assert selection.tls12 == "ECDHE-RSA-AES256-GCM-SHA384"


def test_defaultsAreDistributions() -> None:
    """
    No names gives distribution's six TLS 1.2 defaults and the three TLS 1.3
    suites, AES-128-GCM first.
    """
    selection = ciphers.select([])
    assert selection.tls12.split(":") == [
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
    ]
    assert selection.tls13.split(":") == [
        "TLS_AES_128_GCM_SHA256",
        "TLS_AES_256_GCM_SHA384",
        "TLS_CHACHA20_POLY1305_SHA256",
    ]


def test_unknownNameRefused() -> None:
    """An unknown name is a KeyError (the configuration's check reports it)."""
    with pytest.raises(KeyError):
        ciphers.select(["TLS_NOT_A_SUITE"])


def test_known() -> None:
    """Go's names are known, OpenSSL's and made-up ones are not."""
    assert ciphers.is_known("TLS_CHACHA20_POLY1305_SHA256")
    assert ciphers.is_known("TLS_RSA_WITH_3DES_EDE_CBC_SHA")
    assert not ciphers.is_known("ECDHE-RSA-AES128-GCM-SHA256")
    assert not ciphers.is_known("TLS_NOT_A_SUITE")
