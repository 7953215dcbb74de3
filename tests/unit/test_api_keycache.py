"""The verified-key cache: a key is remembered for its time, then looked up again."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from retentio.access import ApiKeyInfo, Scope
from retentio.api.keycache import KeyCache

KEY = ApiKeyInfo(1, "shop", "abc", Scope.WRITE, datetime(2026, 1, 1, tzinfo=UTC), None, None)


def test_a_key_is_remembered_for_its_time_only() -> None:
    cache = KeyCache(ttl=0.2)
    assert cache.get("rk_abc_secret") is None
    cache.put("rk_abc_secret", KEY)
    assert cache.get("rk_abc_secret") == KEY
    assert cache.get("rk_abc_other") is None  # another token, even with the same prefix
    time.sleep(0.25)
    assert cache.get("rk_abc_secret") is None


def test_no_time_means_no_cache() -> None:
    cache = KeyCache(ttl=0)
    cache.put("rk_abc_secret", KEY)
    assert cache.get("rk_abc_secret") is None


def test_expired_entries_are_dropped() -> None:
    cache = KeyCache(ttl=0.01)
    for n in range(1001):
        cache.put(f"rk_{n}_s", KEY)
    time.sleep(0.02)
    cache.put("rk_new_s", KEY)
    assert len(cache._keys) == 1
