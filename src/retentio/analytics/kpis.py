"""The headline retention KPIs, and their trend per period.

``kpis`` answers "how are we keeping our customers?" in one dict; ``kpi_trends`` gives each
figure per period so "is it getting better or worse?" has an answer, and ``trend_direction``
says which way a series moves.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from retentio.analytics._exprs import first_orders, gaps
from retentio.analytics._input import Frame, prepare, require_rows, run
from retentio.analytics.interpurchase import time_between_purchases
from retentio.analytics.newreturning import new_vs_returning, returning_share
from retentio.analytics.periods import check_period, period_index, period_start
from retentio.analytics.repeat import repeat_purchase_rate
from retentio.analytics.retention import churn_as_of, threshold_churn
from retentio.analytics.value import order_metrics, order_totals

__all__ = ["KPI_KEYS", "kpi_trends", "kpis", "trend_direction"]

KPI_KEYS = (
    "customers",
    "orders",
    "revenue",
    "repeat_purchase_rate",
    "churn_rate",
    "retention_rate",
    "avg_days_between_purchases",
    "median_days_between_purchases",
    "average_order_value",
    "purchase_frequency",
    "historical_clv",
    "returning_customer_revenue_share",
)


def _number(value: Any) -> float:
    return float("nan") if value is None or pd.isna(value) else float(value)


def _headline(frame: Frame, churn_days: int | None) -> dict[str, Any]:
    totals = order_totals(frame, None).iloc[0]
    firsts = first_orders(frame)
    repeat = run(firsts.agg(n=lambda t: t.count(), repeat=lambda t: (t.orders >= 2).sum())).iloc[0]
    g = gaps(frame)
    spacing = run(g.agg(mean=lambda t: t.days.mean(), median=lambda t: t.days.quantile(0.5)))
    churn_rate = float(churn_as_of(frame, churn_days, [frame.end])["churn_rate"].iloc[0])
    return {
        "customers": int(totals["customers"]),
        "orders": int(totals["orders"]),
        "revenue": float(totals["revenue"]),
        "repeat_purchase_rate": int(repeat["repeat"]) / int(repeat["n"]),
        "churn_rate": float(churn_rate),
        "retention_rate": 1.0 - float(churn_rate),
        "avg_days_between_purchases": _number(spacing["mean"].iloc[0]),
        "median_days_between_purchases": _number(spacing["median"].iloc[0]),
        "average_order_value": _number(totals["average_order_value"]),
        "purchase_frequency": _number(totals["purchase_frequency"]),
        "historical_clv": _number(totals["revenue_per_customer"]),
        "returning_customer_revenue_share": returning_share(frame),
    }


def kpis(
    transactions: object, *, observation_end: object, churn_days: int | None = None
) -> dict[str, Any]:
    """The headline retention figures up to and including ``observation_end``.

    Returns
    -------
    dict
        ``customers`` (with a purchase), ``orders`` (purchases, not refunds), ``revenue`` (net
        of refunds), ``repeat_purchase_rate`` (share with 2+ orders), ``churn_rate`` and
        ``retention_rate`` (threshold churn as of the observation end, ``churn_days`` defaulting
        to the 90th percentile of the days between purchases), ``avg_days_between_purchases``,
        ``median_days_between_purchases``, ``average_order_value`` (revenue / orders),
        ``purchase_frequency`` (orders / customers), ``historical_clv`` (revenue / customers)
        and ``returning_customer_revenue_share`` (revenue from orders after a customer's first).

    Examples
    --------
    >>> from retentio.datasets import load_cdnow
    >>> figures = kpis(load_cdnow(), observation_end="1998-06-30")
    >>> figures["customers"], figures["orders"]
    (2357, 6919)
    """
    frame = prepare(transactions, observation_end)
    require_rows(frame)
    return _headline(frame, churn_days)


def kpi_trends(
    transactions: object,
    *,
    observation_end: object,
    period: str = "M",
    churn_days: int | None = None,
) -> pd.DataFrame:
    """Every headline KPI per period.

    Flows are measured within the period (``customers`` = buyers in it, ``orders``,
    ``revenue``, ``average_order_value``, ``purchase_frequency``,
    ``returning_customer_revenue_share``, and the days between purchases whose later purchase
    falls in it); stocks are measured as of the period's last day (``repeat_purchase_rate``,
    ``churn_rate``, ``retention_rate``, ``historical_clv`` = revenue to date / customers to
    date). The last period may be cut short by the observation end (``complete`` False).
    """
    end, tx = observation_end, transactions
    flows = order_metrics(tx, observation_end=end, period=period)
    repeat = repeat_purchase_rate(tx, observation_end=end, by="period", period=period)
    churn = threshold_churn(tx, observation_end=end, days=churn_days, period=period)
    spacing = time_between_purchases(tx, observation_end=end, by="period", period=period)
    split = new_vs_returning(tx, observation_end=end, period=period)
    out = pd.DataFrame({"period": flows["period"]})
    out["customers"] = flows["customers"]
    out["orders"] = flows["orders"]
    out["revenue"] = flows["revenue"]
    out["repeat_purchase_rate"] = _align(out, repeat, "repeat_purchase_rate")
    key = check_period(period)
    churn["period"] = pd.to_datetime(
        [period_start(period_index(d.date(), key), key) for d in churn["as_of"]]
    )
    out["churn_rate"] = _align(out, churn, "churn_rate")
    out["retention_rate"] = 1.0 - out["churn_rate"]
    out["avg_days_between_purchases"] = _align(out, spacing, "mean_days")
    out["median_days_between_purchases"] = _align(out, spacing, "median_days")
    out["average_order_value"] = flows["average_order_value"]
    out["purchase_frequency"] = flows["purchase_frequency"]
    to_date_customers = _align(out, repeat, "customers")
    out["historical_clv"] = flows["revenue"].cumsum() / to_date_customers
    out["returning_customer_revenue_share"] = _align(out, split, "returning_revenue_share")
    out["complete"] = _align(out, repeat, "complete").astype(bool)
    return out


def _align(base: pd.DataFrame, other: pd.DataFrame, column: str) -> np.ndarray:
    """``other[column]`` aligned on ``base.period`` (NaN where other has no such period)."""
    if other.empty:
        return np.full(len(base), np.nan)
    series = other.set_index("period")[column]
    return series.reindex(base["period"]).to_numpy()


def trend_direction(values: pd.Series, *, window: int = 6, tolerance: float = 0.02) -> str:
    """``rising``, ``falling`` or ``flat``: the least-squares slope of the last ``window``
    values, as a change over the window relative to their mean magnitude, beyond
    ``tolerance`` (2 %). Fewer than three values read as ``flat``.
    """
    series = pd.Series(values, dtype="float64").dropna().to_numpy()[-window:]
    if len(series) < 3:
        return "flat"
    scale = float(np.mean(np.abs(series)))
    if scale == 0:
        return "flat"
    slope = float(np.polyfit(np.arange(len(series)), series, 1)[0])
    change = slope * (len(series) - 1) / scale
    if change > tolerance:
        return "rising"
    if change < -tolerance:
        return "falling"
    return "flat"
