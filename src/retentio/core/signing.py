"""Signed, purpose-scoped, expiring tokens for links (withdrawal, preferences, self-service).

A token reads ``v1.<key id>.<payload>.<signature>``, every part URL-safe: the payload is the
base64url (unpadded) of compact JSON ``{"p": purpose, "e": expiry (Unix seconds), "d": data}``
and the signature is HMAC-SHA256 under the key named by the key id over ``v1.<key id>.<payload>``.
Keys rotate: a :class:`Signer` signs with its current key and verifies with every key it holds,
so tokens made with a retired key keep working until that key is dropped. The payload is signed,
not encrypted: never put PII in ``data`` (use internal ids).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from retentio.core.clock import Clock, SystemClock
from retentio.core.errors import ConfigurationError, RetentioError

__all__ = ["Signer", "TokenError", "derive_key"]

_VERSION = "v1"
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_MIN_KEY_BYTES = 32
_MAX_TOKEN_CHARS = 4096


class TokenError(RetentioError):
    """A token that cannot be used; ``reason`` says why (for the API's error mapping).

    Reasons: ``malformed``, ``unknown_key``, ``signature``, ``purpose``, ``expired``, and for
    single-use tokens kept in the database ``unknown`` and ``used``.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def derive_key(secret: bytes, label: str) -> bytes:
    """A 32-byte key for ``label`` derived from ``secret`` (HMAC-SHA256), e.g. for signing."""
    if len(secret) < _MIN_KEY_BYTES:
        raise ConfigurationError("the secret must be at least 32 bytes")
    return hmac.new(secret, f"retentio key derivation: {label}".encode(), hashlib.sha256).digest()


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    """Signs and verifies tokens with named keys; ``current`` names the key that signs."""

    def __init__(
        self, keys: Mapping[str, bytes], current: str, *, clock: Clock | None = None
    ) -> None:
        if current not in keys:
            raise ConfigurationError(f"the current signing key {current!r} is not among the keys")
        for key_id, key in keys.items():
            if not _KEY_ID.match(key_id):
                raise ConfigurationError(
                    f"signing key id {key_id!r}: use 1 to 32 letters, digits, '-' or '_'"
                )
            if len(key) < _MIN_KEY_BYTES:
                raise ConfigurationError(f"signing key {key_id!r} must be at least 32 bytes")
        self._keys = dict(keys)
        self._current = current
        self._clock: Clock = clock or SystemClock()

    def _signature(self, key_id: str, signed: str) -> str:
        digest = hmac.new(self._keys[key_id], signed.encode("ascii"), hashlib.sha256).digest()
        return _b64encode(digest)

    def sign(self, purpose: str, data: Mapping[str, Any], ttl: timedelta) -> str:
        """A URL-safe token for ``purpose`` carrying ``data`` (JSON values), valid for ``ttl``."""
        if not purpose:
            raise ConfigurationError("a token needs a purpose")
        if ttl <= timedelta(0):
            raise ConfigurationError("a token's ttl must be positive")
        expiry = int((self._clock.now() + ttl).timestamp())
        body = json.dumps(
            {"p": purpose, "e": expiry, "d": dict(data)}, separators=(",", ":"), sort_keys=True
        )
        signed = f"{_VERSION}.{self._current}.{_b64encode(body.encode('utf-8'))}"
        return f"{signed}.{self._signature(self._current, signed)}"

    def verify(self, purpose: str, token: str) -> dict[str, Any]:
        """The data of ``token`` if it is intact, for ``purpose`` and unexpired; else TokenError."""
        parts = token.split(".") if len(token) <= _MAX_TOKEN_CHARS else []
        if len(parts) != 4 or parts[0] != _VERSION:
            raise TokenError("malformed", "the token is malformed")
        _, key_id, payload, signature = parts
        if key_id not in self._keys:
            raise TokenError("unknown_key", "the token was signed with an unknown key")
        expected = self._signature(key_id, f"{_VERSION}.{key_id}.{payload}")
        if not hmac.compare_digest(expected.encode("ascii"), signature.encode("ascii", "replace")):
            raise TokenError("signature", "the token's signature does not match (tampered)")
        try:
            body = json.loads(_b64decode(payload))
        except (ValueError, binascii.Error, UnicodeDecodeError):  # pragma: no cover - signed
            raise TokenError("malformed", "the token is malformed") from None
        if not isinstance(body, dict) or not isinstance(body.get("d"), dict):
            raise TokenError("malformed", "the token is malformed")  # pragma: no cover - signed
        if not hmac.compare_digest(str(body.get("p")).encode(), purpose.encode()):
            raise TokenError("purpose", f"the token is not for {purpose!r}")
        expiry = datetime.fromtimestamp(int(body.get("e", 0)), UTC)
        if self._clock.now() >= expiry:
            raise TokenError("expired", f"the token expired at {expiry:%Y-%m-%d %H:%M} UTC")
        data: dict[str, Any] = body["d"]
        return data
