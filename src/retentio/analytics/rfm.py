"""RFM: recency, frequency and monetary scores (quintiles) and named segments.

Scores run from 1 (worst) to 5 (best). A score is the quintile of the customer's rank among all
customers: ``score = floor(5 * (rank - 1) / n) + 1`` with ``rank`` the lowest 1-based rank of
the customer's value (ties share a score, so the result does not depend on row order). Recency
ranks the longest-silent customer first; frequency and monetary rank the smallest first.

Segments follow the widely used R x F grid (monetary is reported, not used for the name):

=================== ===================================================
segment             R score, F score
=================== ===================================================
Champions           R 5, F 4-5
Loyal               R 3-4, F 4-5
Potential loyalists R 4-5, F 2-3
New                 R 5, F 1
Promising           R 4, F 1
Need attention      R 3, F 3
About to sleep      R 3, F 1-2
Can't lose them     R 1-2, F 5
At risk             R 1-2, F 3-4
Hibernating         R 1-2, F 1-2 (except R 1, F 1)
Lost                R 1, F 1
=================== ===================================================
"""

from __future__ import annotations

from typing import Any

import ibis
import pandas as pd

from retentio.analytics._exprs import first_orders
from retentio.analytics._input import prepare, require_rows, run

__all__ = ["SEGMENTS", "rfm", "rfm_segments", "segment_of"]

SEGMENTS = (
    "Champions",
    "Loyal",
    "Potential loyalists",
    "New",
    "Promising",
    "Need attention",
    "About to sleep",
    "At risk",
    "Can't lose them",
    "Hibernating",
    "Lost",
)


def segment_of(r: int, f: int) -> str:
    """The segment name of an R and an F score (each 1..5)."""
    if r == 5 and f >= 4:
        return "Champions"
    if r in (3, 4) and f >= 4:
        return "Loyal"
    if r >= 4 and f in (2, 3):
        return "Potential loyalists"
    if r == 5:
        return "New"
    if r == 4:
        return "Promising"
    if r == 3:
        return "Need attention" if f == 3 else "About to sleep"
    if f == 5:
        return "Can't lose them"
    if f >= 3:
        return "At risk"
    return "Lost" if (r, f) == (1, 1) else "Hibernating"


def _score(value: Any, n: Any, descending: bool = False) -> Any:
    order = ibis.desc(value) if descending else value
    rank = ibis.rank().over(ibis.window(order_by=order))  # 0-based, ties share the lowest
    return ((rank * 5) // n + 1).cast("int8")


def rfm(transactions: object, *, observation_end: object) -> pd.DataFrame:
    """Per-customer RFM values, scores and segment.

    Returns
    -------
    pandas.DataFrame
        ``customer_id, recency_days, frequency, monetary, r_score, f_score, m_score,
        rfm_score`` (e.g. ``"545"``) and ``segment``, sorted by customer_id. ``frequency`` is
        the number of orders, ``monetary`` the net revenue, ``recency_days`` the days from the
        last purchase to the observation end.
    """
    frame = prepare(transactions, observation_end)
    require_rows(frame)
    firsts = first_orders(frame)
    values = firsts.select(
        customer_id=firsts.customer_id,
        recency_days=ibis.literal(frame.end).delta(firsts.last_day, unit="day"),
        frequency=firsts.orders,
        monetary=firsts.revenue,
    )
    n = values.count().as_scalar()
    scored = values.mutate(
        r_score=_score(values.recency_days, n, descending=True),
        f_score=_score(values.frequency, n),
        m_score=_score(values.monetary, n),
    )
    out = run(scored.order_by("customer_id"))
    out["rfm_score"] = (
        out["r_score"].astype(str) + out["f_score"].astype(str) + out["m_score"].astype(str)
    )
    names = {(r, f): segment_of(r, f) for r in range(1, 6) for f in range(1, 6)}
    out["segment"] = [
        names[(int(r), int(f))] for r, f in zip(out["r_score"], out["f_score"], strict=True)
    ]
    return out


def rfm_segments(transactions: object, *, observation_end: object) -> pd.DataFrame:
    """Customers and revenue per RFM segment, in the order of :data:`SEGMENTS`.

    Returns
    -------
    pandas.DataFrame
        ``segment, customers, share, revenue, revenue_share, avg_recency_days,
        avg_frequency, avg_monetary``; every segment appears, with zeros when empty.
    """
    scores = rfm(transactions, observation_end=observation_end)
    grouped = scores.groupby("segment").agg(
        customers=("customer_id", "size"),
        revenue=("monetary", "sum"),
        avg_recency_days=("recency_days", "mean"),
        avg_frequency=("frequency", "mean"),
        avg_monetary=("monetary", "mean"),
    )
    out = grouped.reindex(list(SEGMENTS))
    out[["customers", "revenue"]] = out[["customers", "revenue"]].fillna(0)
    out["customers"] = out["customers"].astype("int64")
    out["share"] = out["customers"] / len(scores)
    total = scores["monetary"].sum()
    out["revenue_share"] = out["revenue"] / total if total else float("nan")
    out = out.rename_axis("segment").reset_index()
    return out[
        [
            "segment", "customers", "share", "revenue", "revenue_share",
            "avg_recency_days", "avg_frequency", "avg_monetary",
        ]
    ]  # fmt: skip
