"""Acquisition cohorts: customers grouped by the period of their first purchase.

For cohort c and period number k (0 = the acquisition period), ``active_customers`` bought in
period c + k, ``active_share`` is that over the cohort size (1 for k = 0 by construction),
``revenue`` is the cohort's net revenue in c + k (refunds count when they happen) and
``cumulative_revenue_per_customer`` sums revenue over periods 0..k per cohort customer.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from retentio.analytics import schema as s
from retentio.analytics._input import prepare, require_rows, run
from retentio.analytics.periods import check_period, period_end, period_index, period_starts
from retentio.core.errors import ConfigurationError

__all__ = ["cohort_matrix", "cohort_table"]

_VALUES = ("active_customers", "active_share", "revenue", "cumulative_revenue_per_customer")


def cohort_matrix(
    transactions: object, *, observation_end: object, period: str = "M"
) -> pd.DataFrame:
    """The cohort x period-number retention matrix in long form.

    Returns
    -------
    pandas.DataFrame
        ``cohort, period_number, cohort_size, active_customers, active_share, revenue,
        revenue_per_customer, cumulative_revenue_per_customer, complete``; one row for every
        cohort and every period number up to the observation end (zeros where nobody bought).
        ``complete`` is False for the period the observation end cuts short.
    """
    key = check_period(period)
    frame = prepare(transactions, observation_end)
    require_rows(frame)
    t = frame.table
    # one row per (customer, period) first: the cohort is the first period with a purchase,
    # and cohort sizes are the active customers of period 0, so the big table is read once
    per_period = t.group_by(
        customer_id=t[s.CUSTOMER_ID], idx=period_index(t[s.ORDERED_AT].date(), key)
    ).agg(bought=(~t[s.IS_REFUND]).any(), revenue=t[s.AMOUNT].sum())
    firsts = (
        per_period.filter(per_period.bought)
        .group_by("customer_id")
        .agg(cohort=lambda x: x.idx.min())
    )
    rows = per_period.join(firsts, "customer_id")
    rows = rows.filter(rows.idx >= rows.cohort)
    activity = run(
        rows.group_by(["cohort", (rows.idx - rows.cohort).name("period_number")]).agg(
            active_customers=lambda x: x.bought.sum(),
            revenue=lambda x: x.revenue.sum(),
        )
    )
    sizes = activity.loc[activity["period_number"] == 0, ["cohort", "active_customers"]]
    sizes = sizes.rename(columns={"active_customers": "cohort_size"})
    last = period_index(frame.end, key)
    grid = pd.DataFrame(
        [
            (c, k)
            for c in sorted(sizes["cohort"].astype("int64"))
            for k in range(0, last - int(c) + 1)
        ],
        columns=["cohort", "period_number"],
    )
    out = grid.merge(sizes, on="cohort").merge(activity, on=["cohort", "period_number"], how="left")
    out["active_customers"] = out["active_customers"].fillna(0).astype("int64")
    out["revenue"] = out["revenue"].fillna(0.0)
    out["active_share"] = out["active_customers"] / out["cohort_size"]
    out["revenue_per_customer"] = out["revenue"] / out["cohort_size"]
    out["cumulative_revenue_per_customer"] = out.groupby("cohort")["revenue_per_customer"].cumsum()
    out["complete"] = [
        period_end(int(c) + int(k), key) <= frame.end
        for c, k in zip(out["cohort"], out["period_number"], strict=True)
    ]
    starts = period_starts(int(out["cohort"].min()), int(out["cohort"].max()), key)
    out["cohort"] = starts.to_numpy()[out["cohort"].to_numpy() - int(out["cohort"].min())]
    return out[
        [
            "cohort", "period_number", "cohort_size", "active_customers", "active_share",
            "revenue", "revenue_per_customer", "cumulative_revenue_per_customer", "complete",
        ]
    ].reset_index(drop=True)  # fmt: skip


def cohort_table(matrix: pd.DataFrame, value: str = "active_share") -> pd.DataFrame:
    """Pivot :func:`cohort_matrix` to cohorts x period numbers for one ``value`` column."""
    if value not in _VALUES:
        raise ConfigurationError(f"value must be one of {', '.join(_VALUES)}; got {value!r}")
    table = matrix.pivot(index="cohort", columns="period_number", values=value)
    table.insert(0, "cohort_size", matrix.groupby("cohort")["cohort_size"].first())
    return table.astype({"cohort_size": np.int64})
