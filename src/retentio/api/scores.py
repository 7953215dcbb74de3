"""Per-customer scores for the profile route: RFM segment, P(alive), expected purchases, CLV.

RFM scores are quintiles over all customers and the BTYD models are fitted on all of them, so a
profile's scores come from one computation over the whole store (read in bulk through Arrow),
kept for ``scores_ttl`` (10 minutes) and shared by every request. The observation end is the
day the scores were computed (UTC).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
import pyarrow as pa

from retentio.analytics import rfm, summarize
from retentio.api.jsonable import plain
from retentio.clv import fit_clv, predict_customers
from retentio.core.errors import RetentioError

__all__ = ["ScoreCache", "Scores", "compute_scores"]

_RFM = ("recency_days", "frequency", "monetary", "rfm_score", "segment")
_PREDICTED = ("p_alive", "churn_risk", "risk_band", "expected_purchases", "clv")


@dataclass(frozen=True)
class Scores:
    """Scores by the shop's customer id, as of ``observation_end``."""

    computed_at: datetime
    observation_end: date
    horizon: str
    by_customer: dict[str, dict[str, Any]] = field(default_factory=dict)
    note: str | None = None


def _records(frame: pd.DataFrame, columns: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    table = frame.reset_index() if "customer_id" not in frame.columns else frame
    present = [c for c in columns if c in table.columns]
    return {
        str(row["customer_id"]): {c: plain(row[c]) for c in present}
        for row in table[["customer_id", *present]].astype(object).to_dict("records")
    }


def compute_scores(transactions: pa.Table, *, today: date, horizon: str = "12M") -> Scores:
    """Every customer's RFM values and, when the models can be fitted, their predictions."""
    now = datetime.now(UTC)
    if transactions.num_rows == 0:
        return Scores(now, today, horizon, note="no orders yet")
    try:
        scores = _records(rfm(transactions, observation_end=today), _RFM)
    except RetentioError as exc:  # e.g. every order dated in the future
        return Scores(now, today, horizon, note=f"no scores: {exc}")
    note = None
    try:
        summary = summarize(transactions, observation_end=today)
        fit = fit_clv(summary, observation_end=today)
        predicted = predict_customers(summary, fit, horizon=horizon, next_purchase=False)
        predicted["risk_band"] = predicted["risk_band"].astype(str)
        for customer, values in _records(predicted, _PREDICTED).items():
            scores.setdefault(customer, {}).update(values)
    except RetentioError as exc:  # too few (repeat) buyers to fit the models yet
        note = f"no predictions: {exc}"
    return Scores(now, today, horizon, scores, note)


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
