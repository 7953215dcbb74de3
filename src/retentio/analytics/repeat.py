"""Repeat purchase rate: the share of customers with two or more orders."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from retentio.analytics._exprs import first_orders, net_orders
from retentio.analytics._input import Frame, prepare, require_rows, run
from retentio.analytics.periods import check_period, period_end, period_index, period_starts
from retentio.core.errors import ConfigurationError

__all__ = ["repeat_purchase_rate"]


def _rate(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    with np.errstate(invalid="ignore", divide="ignore"):
        return numerator / denominator.where(denominator > 0)


def repeat_purchase_rate(
    transactions: object,
    *,
    observation_end: object,
    by: str = "overall",
    period: str = "M",
) -> pd.DataFrame:
    """Share of customers with 2+ orders (refunds are not orders).

    Parameters
    ----------
    by
        ``overall`` (one row), ``period`` (as of the end of every ``period``, plus the share of
        each period's buyers who ordered 2+ times within it) or ``cohort`` (per acquisition
        cohort of ``period``, as of the observation end).

    Returns
    -------
    pandas.DataFrame
        overall: ``customers, repeat_customers, repeat_purchase_rate``;
        period: ``period, customers, repeat_customers, repeat_purchase_rate, buyers,
        repeat_buyers_in_period, in_period_repeat_rate``;
        cohort: ``cohort, customers, repeat_customers, repeat_purchase_rate``.
    """
    if by not in {"overall", "period", "cohort"}:
        raise ConfigurationError(f"by must be overall, period or cohort; got {by!r}")
    key = check_period(period)
    frame = prepare(transactions, observation_end)
    require_rows(frame)
    firsts = first_orders(frame)
    if by == "overall":
        out = run(
            firsts.agg(
                customers=lambda t: t.count(),
                repeat_customers=lambda t: (t.orders >= 2).sum(),
            )
        )
    elif by == "cohort":
        cohorts = firsts.mutate(idx=period_index(firsts.first_day, key))
        out = run(
            cohorts.group_by("idx")
            .agg(
                customers=lambda t: t.count(),
                repeat_customers=lambda t: (t.orders >= 2).sum(),
            )
            .order_by("idx")
        )
        out.insert(0, "cohort", period_starts_for(out.pop("idx"), key))
    else:
        out = _by_period(frame, firsts, key)
    out["repeat_purchase_rate"] = _rate(out["repeat_customers"], out["customers"])
    if by == "period":
        out = out[[
            "period", "customers", "repeat_customers", "repeat_purchase_rate",
            "buyers", "repeat_buyers_in_period", "in_period_repeat_rate", "complete",
        ]]  # fmt: skip
    return out.reset_index(drop=True)


def period_starts_for(indexes: pd.Series, period: str) -> pd.Series:
    """Start dates for a Series of integer period indexes."""
    lo, hi = int(indexes.min()), int(indexes.max())
    starts = period_starts(lo, hi, period)
    return starts.iloc[indexes.astype("int64").to_numpy() - lo].reset_index(drop=True)


def _by_period(frame: Frame, firsts: Any, key: str) -> pd.DataFrame:
    counts = run(
        firsts.select(
            first=period_index(firsts.first_day, key),
            second=period_index(firsts.second_day, key),
        )
    )
    orders = net_orders(frame)
    in_period = orders.group_by(
        [orders.customer_id, period_index(orders.day, key).name("idx")]
    ).agg(n=lambda t: t.count())
    per_period = run(
        in_period.group_by("idx").agg(
            buyers=lambda t: t.count(),
            repeat_buyers_in_period=lambda t: (t.n >= 2).sum(),
        )
    ).set_index("idx")
    first, last = int(counts["first"].min()), period_index(frame.end, key)
    index = range(first, last + 1)
    acquired = counts["first"].value_counts().reindex(index, fill_value=0).cumsum()
    repeated = counts["second"].dropna().astype("int64").value_counts()
    repeated = repeated.reindex(index, fill_value=0).cumsum()
    per_period = per_period.reindex(index, fill_value=0)
    out = pd.DataFrame(
        {
            "period": period_starts(first, last, key).to_numpy(),
            "customers": acquired.to_numpy(dtype="int64"),
            "repeat_customers": repeated.to_numpy(dtype="int64"),
            "buyers": per_period["buyers"].to_numpy(dtype="int64"),
            "repeat_buyers_in_period": per_period["repeat_buyers_in_period"].to_numpy("int64"),
        }
    )
    out["in_period_repeat_rate"] = _rate(out["repeat_buyers_in_period"], out["buyers"])
    out["complete"] = [period_end(i, key) <= frame.end for i in index]
    return out
