"""The profile route's scores, computed over the whole store and kept for ``scores_ttl``.

RFM scores are quintiles over all customers and the BTYD models are fitted on all of them, so a
profile's scores come from one computation over the whole store (read in bulk through Arrow),
kept for ``scores_ttl`` (10 minutes) and shared by every request. The observation end is the
day the scores were computed (UTC).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pyarrow as pa

from retentio.clv import Scores, compute_scores

__all__ = ["ScoreCache"]


class ScoreCache:
    """The latest :class:`Scores`, recomputed when older than ``ttl`` (one computation at once)."""

    def __init__(self, load: Callable[[], pa.Table], ttl: timedelta) -> None:
        self._load = load
        self._ttl = ttl
        self._lock = threading.Lock()
        self._scores: Scores | None = None

    def get(self) -> Scores:
        """Fresh-enough scores, computing them if needed."""
        with self._lock:
            now = datetime.now(UTC)
            if self._scores is None or now - self._scores.computed_at > self._ttl:
                self._scores = compute_scores(self._load(), today=now.date())
            return self._scores

    def invalidate(self) -> None:
        """Forget the scores (after an erasure, so no erased customer's scores are served)."""
        with self._lock:
            self._scores = None
