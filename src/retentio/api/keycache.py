"""Verified API keys, remembered for a second so that a busy client's requests skip the look-up.

A key revoked (or a scope changed) takes effect within ``ttl`` seconds in every server process;
unknown and wrong keys are never remembered.
"""

from __future__ import annotations

import hashlib
import threading
import time

from retentio.access import ApiKeyInfo

__all__ = ["KeyCache"]


class KeyCache:
    """Token digest -> verified key, each for ``ttl`` seconds."""

    def __init__(self, ttl: float = 1.0) -> None:
        self.ttl = ttl
        self._keys: dict[str, tuple[ApiKeyInfo, float]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _digest(token: str) -> str:
        return hashlib.sha256(token.encode("utf-8")).hexdigest()

    def get(self, token: str) -> ApiKeyInfo | None:
        """The key verified for ``token`` less than ``ttl`` seconds ago, else None."""
        if self.ttl <= 0:
            return None
        entry = self._keys.get(self._digest(token))
        if entry is None or entry[1] <= time.monotonic():
            return None
        return entry[0]

    def put(self, token: str, key: ApiKeyInfo) -> None:
        """Remember ``key`` as just verified for ``token``."""
        if self.ttl <= 0:
            return
        now = time.monotonic()
        with self._lock:
            # Drop the expired entries now and then: one per key at most, so this stays small.
            if len(self._keys) > 1000:
                self._keys = {d: e for d, e in self._keys.items() if e[1] > now}
            self._keys[self._digest(token)] = (key, now + self.ttl)
