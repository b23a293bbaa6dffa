"""
The upload state carried in upload URLs (C{?_state=}), signed so that any
registry process sharing the storage and the secret can continue an upload.

The token is distribution's: the URL-safe base64 of an HMAC-SHA256 of a JSON
document, followed by that document.  Replicas of either registry that share
C{http.secret} can verify each other's tokens.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass

from txregistry.jsonparse import parseJSON

_MAC_SIZE = hashlib.sha256().digest_size


class InvalidUploadState(ValueError):
    """
    A token that is malformed or was not signed with this secret.
    """


@dataclass(frozen=True)
class UploadState:
    """
    Where a client's upload stood when the registry last answered it.

    @ivar name: the repository.
    @ivar uploadID: the upload's id.
    @ivar offset: how many bytes the upload held.
    @ivar startedAt: when it started, in RFC 3339.
    """

    name: str
    uploadID: str
    offset: int
    startedAt: str


class UploadStateSigner:
    """
    Packs and verifies L{UploadState} tokens with one secret.
    """

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _mac(self, document: bytes) -> bytes:
        return hmac.new(self._secret, document, hashlib.sha256).digest()

    def pack(self, state: UploadState) -> str:
        """
        @return: the signed token of C{state}.
        """
        document = json.dumps({
            "Name": state.name, "UUID": state.uploadID,
            "Offset": state.offset, "StartedAt": state.startedAt,
        }, separators=(",", ":")).encode("utf-8")
        return base64.urlsafe_b64encode(self._mac(document) + document).decode("ascii")

    def unpack(self, token: str) -> UploadState:
        """
        @raise InvalidUploadState: if C{token} is malformed or not signed
            with this signer's secret.
        """
        try:
            raw = base64.urlsafe_b64decode(token.encode("ascii"))
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raise InvalidUploadState("malformed upload state") from None
        mac, document = raw[:_MAC_SIZE], raw[_MAC_SIZE:]
        if len(mac) != _MAC_SIZE or not hmac.compare_digest(mac, self._mac(document)):
            raise InvalidUploadState("the upload state's signature does not match")
        try:
            fields = parseJSON(document)
            state = UploadState(fields["Name"], fields["UUID"], fields["Offset"],
                                fields["StartedAt"])
        except (ValueError, KeyError, TypeError):
            raise InvalidUploadState("malformed upload state") from None
        if not (isinstance(state.name, str) and isinstance(state.uploadID, str)
                and isinstance(state.offset, int) and isinstance(state.startedAt, str)):
            raise InvalidUploadState("malformed upload state")
        return state
