"""Per-customer scores: RFM segment, P(alive), churn risk, expected purchases, CLV.

RFM scores are quintiles over all customers and the BTYD models are fitted on all of them, so
every customer's scores come from one computation over all the transactions: the API's
profiles keep one for a while, and ``retentio scores refresh`` stores one for segments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd
import pyarrow as pa

from retentio.analytics import rfm, summarize
from retentio.clv.fitting import fit_clv
from retentio.clv.predict import predict_customers
from retentio.core.errors import RetentioError
from retentio.core.frames import plain

__all__ = ["SCORE_COLUMNS", "Scores", "compute_scores"]

_RFM = ("recency_days", "frequency", "monetary", "rfm_score", "segment")
_PREDICTED = ("p_alive", "churn_risk", "risk_band", "expected_purchases", "clv")
#: The keys a customer's scores can have (predictions only when the models could be fitted).
SCORE_COLUMNS = _RFM + _PREDICTED


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
