"""Order value, purchase frequency, lifespan and historical customer lifetime value.

Revenue is net: refunds are subtracted in the period they happen. A refund is never an order.
"""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pandas as pd

from retentio.analytics import schema as s
from retentio.analytics._exprs import first_orders
from retentio.analytics._input import Frame, prepare, require_rows, run
from retentio.analytics.periods import check_period, period_index, period_starts

__all__ = ["MAX_LIFESPAN_YEARS", "customer_value", "historical_clv", "order_metrics"]

MAX_LIFESPAN_YEARS = 10.0
"""Cap of the expected lifespan (1 / annual churn) when almost nobody churns."""


def _ratio(a: pd.Series, b: pd.Series) -> pd.Series:
    with np.errstate(invalid="ignore", divide="ignore"):
        return a / b.where(b > 0)


def order_totals(frame: Frame, by: object | None) -> pd.DataFrame:
    """Order counts, revenue and ratios of a prepared frame, overall or grouped ``by``."""
    t = frame.table
    metrics = {
        "customers": lambda x: x[s.CUSTOMER_ID].nunique(where=~x[s.IS_REFUND]),
        "orders": lambda x: (~x[s.IS_REFUND]).sum(),
        "refunds": lambda x: x[s.IS_REFUND].sum(),
        "gross_revenue": lambda x: x[s.AMOUNT].sum(where=~x[s.IS_REFUND]),
        "refunded": lambda x: -x[s.AMOUNT].sum(where=x[s.IS_REFUND]),
        "revenue": lambda x: x[s.AMOUNT].sum(),
    }
    expr = t.agg(**metrics) if by is None else t.group_by(by).agg(**metrics)
    out = run(expr)
    for name in ("gross_revenue", "refunded"):
        out[name] = out[name].fillna(0.0)
    out["average_order_value"] = _ratio(out["revenue"], out["orders"])
    out["purchase_frequency"] = _ratio(out["orders"], out["customers"])
    out["revenue_per_customer"] = _ratio(out["revenue"], out["customers"])
    return out


def order_metrics(
    transactions: object, *, observation_end: object, period: str | None = None
) -> pd.DataFrame:
    """Customers, orders, revenue, average order value and purchase frequency.

    ``average_order_value = revenue / orders`` (net of refunds), ``purchase_frequency =
    orders / customers`` (customers who placed an order), both over the whole history up to
    ``observation_end`` or, with ``period``, within each period.

    Returns
    -------
    pandas.DataFrame
        ``[period,] customers, orders, refunds, gross_revenue, refunded, revenue,
        average_order_value, purchase_frequency, revenue_per_customer``.
    """
    frame = prepare(transactions, observation_end)
    require_rows(frame)
    if period is None:
        return order_totals(frame, None)
    key = check_period(period)
    idx = period_index(frame.table[s.ORDERED_AT].date(), key).name("idx")
    out = order_totals(frame, idx).set_index("idx").sort_index()
    first, last = int(out.index.min()), period_index(frame.end, key)
    out = out.reindex(range(first, last + 1))
    counts = ["customers", "orders", "refunds"]
    out[counts] = out[counts].fillna(0).astype("int64")
    out[["gross_revenue", "refunded", "revenue"]] = out[
        ["gross_revenue", "refunded", "revenue"]
    ].fillna(0.0)
    out.insert(0, "period", period_starts(first, last, key).to_numpy())
    return out.reset_index(drop=True)


def customer_value(transactions: object, *, observation_end: object) -> pd.DataFrame:
    """Historical value per customer: revenue to date and its parts.

    Returns
    -------
    pandas.DataFrame
        ``customer_id, orders, revenue, first_purchase, last_purchase, lifespan_days`` with
        revenue net of the refunds of the customer's orders, sorted by customer_id.
    """
    frame = prepare(transactions, observation_end)
    require_rows(frame)
    firsts = first_orders(frame)
    return run(
        firsts.select(
            customer_id=firsts.customer_id,
            orders=firsts.orders,
            revenue=firsts.revenue,
            first_purchase=firsts.first_day,
            last_purchase=firsts.last_day,
            lifespan_days=firsts.last_day.delta(firsts.first_day, unit="day"),
        ).order_by("customer_id")
    )


def _annual_churn(frame: Frame) -> float:
    """Of the customers who bought in the year before the last one, the share who did not
    buy in the last 365 days."""
    t = frame.purchases
    last_year = frame.end - timedelta(days=365)
    year_before = frame.end - timedelta(days=730)
    day = t[s.ORDERED_AT].date()
    earlier = t.filter((day > year_before) & (day <= last_year)).select(s.CUSTOMER_ID).distinct()
    recent = t.filter(day > last_year).select(s.CUSTOMER_ID).distinct()
    base = int(earlier.count().to_pyarrow().as_py())
    if base == 0:
        return float("nan")
    kept = int(earlier.join(recent, s.CUSTOMER_ID).count().to_pyarrow().as_py())
    return 1.0 - kept / base


def historical_clv(transactions: object, *, observation_end: object) -> pd.DataFrame:
    """Historical customer lifetime value, two ways.

    * ``historical_clv``: net revenue per customer to date (revenue / customers).
    * ``formula_clv = average_order_value_12m * purchase_frequency_12m * lifespan_years``: the
      classic formula with the last 365 days' AOV and orders per buyer, and an expected
      lifespan of 1 / annual churn (customers of the year before the last who did not buy in
      the last year), capped at :data:`MAX_LIFESPAN_YEARS`. NaN with under two years of data.

    Returns
    -------
    pandas.DataFrame
        One row: ``customers, revenue, historical_clv, average_order_value_12m,
        purchase_frequency_12m, annual_churn_rate, lifespan_years, formula_clv,
        mean_lifespan_days``.
    """
    frame = prepare(transactions, observation_end)
    require_rows(frame)
    totals = order_totals(frame, None).iloc[0]
    last_year = frame.end - timedelta(days=365)
    cut = frame.table.filter(frame.table[s.ORDERED_AT].date() > last_year)
    year = order_totals(Frame(table=cut, end=frame.end, backend=frame.backend), None).iloc[0]
    churn = _annual_churn(frame)
    if math.isnan(churn):
        lifespan = float("nan")  # under two years of data: no annual churn to invert
    else:
        lifespan = MAX_LIFESPAN_YEARS if churn == 0 else min(MAX_LIFESPAN_YEARS, 1.0 / churn)
    firsts = first_orders(frame)
    mean_span = firsts.last_day.delta(firsts.first_day, unit="day").mean().to_pyarrow().as_py()
    row = {
        "customers": int(totals["customers"]),
        "revenue": float(totals["revenue"]),
        "historical_clv": float(totals["revenue_per_customer"]),
        "average_order_value_12m": float(year["average_order_value"]),
        "purchase_frequency_12m": float(year["purchase_frequency"]),
        "annual_churn_rate": churn,
        "lifespan_years": lifespan,
        "formula_clv": float(year["average_order_value"])
        * float(year["purchase_frequency"])
        * lifespan,
        "mean_lifespan_days": float(mean_span),
    }
    return pd.DataFrame([row])
