"""Revenue and buyers split into new and returning per period.

An order is a *first* order if it is the customer's first purchase (by time, then order id);
every later order is a *returning* order. Per period, *new customers* placed their first order
in it and *returning customers* bought in it after a first order in an earlier period. Refunds
count with the order they refund; a refund without its order counts as returning revenue.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from retentio.analytics import schema as s
from retentio.analytics._exprs import net_orders
from retentio.analytics._input import Frame, prepare, require_rows, run
from retentio.analytics.periods import check_period, period_index, period_starts

__all__ = ["new_vs_returning", "returning_revenue_share"]


def _orphan_refunds(frame: Frame) -> Any:
    t = frame.table
    refunds = t.filter(t[s.IS_REFUND])
    matched = frame.purchases.select(s.ORDER_ID).distinct()
    return refunds.anti_join(matched, s.ORDER_ID)


def new_vs_returning(
    transactions: object, *, observation_end: object, period: str = "M"
) -> pd.DataFrame:
    """New vs returning customers, orders and revenue per period.

    Returns
    -------
    pandas.DataFrame
        ``period, new_customers, returning_customers, new_orders, returning_orders,
        new_revenue, returning_revenue, returning_order_share, returning_revenue_share``.
    """
    key = check_period(period)
    frame = prepare(transactions, observation_end)
    require_rows(frame)
    orders = net_orders(frame)
    first_idx = orders.filter(orders.order_number == 1).select(
        customer_id="customer_id", first_idx=period_index(orders.day, key)
    )
    o = orders.join(first_idx, "customer_id").mutate(idx=period_index(orders.day, key))
    is_first = o.order_number == 1
    per = run(
        o.group_by("idx").agg(
            new_customers=lambda t: t.customer_id.nunique(where=t.idx == t.first_idx),
            returning_customers=lambda t: t.customer_id.nunique(where=t.idx > t.first_idx),
            new_orders=lambda t: is_first.sum(),
            returning_orders=lambda t: (~is_first).sum(),
            new_revenue=lambda t: t.value.sum(where=is_first),
            returning_revenue=lambda t: t.value.sum(where=~is_first),
        )
    ).set_index("idx")
    orphans = _orphan_refunds(frame)
    extra = run(
        orphans.group_by(period_index(orphans[s.ORDERED_AT].date(), key).name("idx")).agg(
            refunds=lambda t: t[s.AMOUNT].sum()
        )
    ).set_index("idx")
    first = int(min(per.index.min(), extra.index.min() if len(extra) else per.index.min()))
    last = period_index(frame.end, key)
    index = range(first, last + 1)
    per = per.reindex(index).fillna(0)
    per["returning_revenue"] += extra["refunds"].reindex(index, fill_value=0.0)
    counts = ["new_customers", "returning_customers", "new_orders", "returning_orders"]
    per[counts] = per[counts].astype("int64")
    with np.errstate(invalid="ignore", divide="ignore"):
        orders_total = per["new_orders"] + per["returning_orders"]
        revenue_total = per["new_revenue"] + per["returning_revenue"]
        per["returning_order_share"] = per["returning_orders"] / orders_total.where(
            orders_total > 0
        )
        per["returning_revenue_share"] = per["returning_revenue"] / revenue_total.where(
            revenue_total != 0
        )
    per.insert(0, "period", period_starts(first, last, key).to_numpy())
    return per.reset_index(drop=True)


def returning_revenue_share(transactions: object, *, observation_end: object) -> float:
    """Share of all net revenue to date that came from returning (not first) orders."""
    frame = prepare(transactions, observation_end)
    require_rows(frame)
    return returning_share(frame)


def returning_share(frame: Frame) -> float:
    """:func:`returning_revenue_share` of a prepared frame."""
    orders = net_orders(frame)
    totals = run(
        orders.agg(
            first=lambda t: t.value.sum(where=t.order_number == 1),
            later=lambda t: t.value.sum(where=t.order_number > 1),
        )
    ).fillna(0.0)
    orphans = _orphan_refunds(frame)
    orphan_total = orphans[s.AMOUNT].sum().to_pyarrow().as_py() or 0.0
    later = float(totals["later"].iloc[0]) + float(orphan_total)
    total = float(totals["first"].iloc[0]) + later
    return later / total if total else float("nan")
