"""Stored customer scores: RFM, the BTYD predictions and each customer's best hour to send
at (from their order times and, over the last year, the times they opened or clicked a
message), computed over the whole store and written to ``customer_scores`` for segments to test
and campaigns to time (``retentio scores refresh``).

The scores are replaced in one transaction: a segment evaluated meanwhile sees the old set or
the new one, never half of each. Erased customers get no scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Table, delete, insert, select
from sqlalchemy.orm import Session

from retentio.analytics.send_time import best_hours
from retentio.clv import compute_scores
from retentio.core.clock import Clock, SystemClock
from retentio.store.arrow import read_transactions
from retentio.store.campaign_tables import Delivery, DeliveryEvent
from retentio.store.tables import Customer, CustomerScore
from retentio.store.transactions import begin_write

__all__ = ["ScoresRefresh", "refresh_scores"]

SCORES: Table = CustomerScore.__table__  # type: ignore[assignment]
CUSTOMERS: Table = Customer.__table__  # type: ignore[assignment]
EVENTS: Table = DeliveryEvent.__table__  # type: ignore[assignment]
DELIVERIES: Table = Delivery.__table__  # type: ignore[assignment]
#: Opens and clicks count for the best hour over this long.
ENGAGEMENT_WINDOW = timedelta(days=365)
_CHUNK = 20_000
#: Keys of ``compute_scores``' records -> columns of ``customer_scores``.
_COLUMNS = {
    "recency_days": "recency_days",
    "frequency": "frequency",
    "monetary": "monetary",
    "rfm_score": "rfm_score",
    "segment": "rfm_segment",
    "p_alive": "p_alive",
    "churn_risk": "churn_risk",
    "risk_band": "risk_band",
    "expected_purchases": "expected_purchases",
    "clv": "clv",
}


@dataclass(frozen=True, slots=True)
class ScoresRefresh:
    """How many customers got scores, when, and why predictions are missing (``note``)."""

    customers: int
    computed_at: datetime
    horizon: str
    note: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "customers": self.customers,
            "computed_at": self.computed_at.isoformat(),
            "horizon": self.horizon,
            "note": self.note,
        }


def _engagement_times(session: Session, now: datetime) -> pd.DataFrame:
    """The times customers opened or clicked a message in the last year (people's only: a
    machine's open is recorded apart), as ``customer_id`` (external) and ``ordered_at``."""
    e, d, c = EVENTS.c, DELIVERIES.c, CUSTOMERS.c
    query = (
        select(c.external_id, e.occurred_at)
        .select_from(EVENTS)
        .join(DELIVERIES, d.id == e.delivery_id)
        .join(CUSTOMERS, c.id == d.customer_id)
        .where(e.kind.in_(("opened", "clicked")), e.occurred_at >= now - ENGAGEMENT_WINDOW)
    )
    rows = session.execute(query).all()
    frame = pd.DataFrame(rows, columns=["customer_id", "ordered_at"])
    if not frame.empty:
        frame["ordered_at"] = pd.to_datetime(frame["ordered_at"], utc=True)
    return frame


def refresh_scores(
    session: Session, *, horizon: str = "12M", clock: Clock | None = None
) -> ScoresRefresh:
    """Compute every customer's scores (observation end: today, UTC) and store them; commits."""
    now = (clock or SystemClock()).now()
    engine = session.get_bind()
    transactions = read_transactions(engine)  # type: ignore[arg-type]
    scores = compute_scores(transactions, today=now.date(), horizon=horizon)
    c = CUSTOMERS.c
    begin_write(session)  # SQLite: no erasure between reading who is erased and the write
    ids: dict[str, int] = {}
    zones: dict[str, str | None] = {}
    for external_id, customer_id, zone in session.execute(
        select(c.external_id, c.id, c.time_zone).where(c.erased_at.is_(None))
    ):
        ids[external_id], zones[external_id] = customer_id, zone
    orders = transactions.select(["customer_id", "ordered_at", "is_refund"]).to_pandas()
    moments = orders.loc[~orders["is_refund"], ["customer_id", "ordered_at"]]
    engaged = _engagement_times(session, now)
    if not engaged.empty:
        moments = pd.concat([moments, engaged], ignore_index=True)
    hours = best_hours(moments, zones).to_dict()
    rows = []
    for external_id, values in scores.by_customer.items():
        customer_id = ids.get(external_id)
        if customer_id is None:  # erased (or gone) since the read
            continue
        row: dict[str, Any] = {column: None for column in _COLUMNS.values()}
        row.update({_COLUMNS[k]: v for k, v in values.items() if k in _COLUMNS})
        row["best_hour"] = hours.get(external_id)
        rows.append({**row, "customer_id": customer_id, "computed_at": now})
    session.execute(delete(SCORES))
    for start in range(0, len(rows), _CHUNK):
        session.execute(insert(SCORES), rows[start : start + _CHUNK])
    session.commit()
    return ScoresRefresh(len(rows), now, horizon, scores.note)
