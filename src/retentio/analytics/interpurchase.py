"""Time between purchases: the days between a customer's consecutive purchase days.

Purchases on the same UTC day count once, so an order split in two is not a 0-day gap.
"""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd

from retentio.analytics._exprs import gaps
from retentio.analytics._input import prepare, require_rows, run
from retentio.analytics.periods import check_period, period_index, period_starts
from retentio.core.errors import ConfigurationError

__all__ = ["interpurchase_gaps", "interpurchase_histogram", "time_between_purchases"]


def interpurchase_gaps(transactions: object, *, observation_end: object) -> pd.DataFrame:
    """Every gap: ``customer_id, day, previous_day, days`` sorted by customer and day."""
    frame = prepare(transactions, observation_end)
    require_rows(frame)
    return run(gaps(frame).order_by(["customer_id", "day"]))


def time_between_purchases(
    transactions: object,
    *,
    observation_end: object,
    by: str = "overall",
    period: str = "M",
) -> pd.DataFrame:
    """Mean, median and spread of the days between purchases.

    Parameters
    ----------
    by
        ``overall`` (one row), ``customer`` (one row per customer with a repeat purchase) or
        ``period`` (gaps grouped by the ``period`` of the later purchase: the trend).

    Returns
    -------
    pandas.DataFrame
        overall: ``gaps, customers, mean_days, median_days, p25_days, p75_days, p90_days``;
        customer: ``customer_id, gaps, mean_days, median_days, min_days, max_days``;
        period: ``period, gaps, mean_days, median_days``.
    """
    if by not in {"overall", "customer", "period"}:
        raise ConfigurationError(f"by must be overall, customer or period; got {by!r}")
    key = check_period(period)
    frame = prepare(transactions, observation_end)
    require_rows(frame)
    g = gaps(frame)
    if by == "overall":
        return run(
            g.agg(
                gaps=lambda t: t.count(),
                customers=lambda t: t.customer_id.nunique(),
                mean_days=lambda t: t.days.mean(),
                median_days=lambda t: t.days.quantile(0.5),
                p25_days=lambda t: t.days.quantile(0.25),
                p75_days=lambda t: t.days.quantile(0.75),
                p90_days=lambda t: t.days.quantile(0.9),
            )
        )
    if by == "customer":
        return run(
            g.group_by("customer_id")
            .agg(
                gaps=lambda t: t.count(),
                mean_days=lambda t: t.days.mean(),
                median_days=lambda t: t.days.quantile(0.5),
                min_days=lambda t: t.days.min(),
                max_days=lambda t: t.days.max(),
            )
            .order_by("customer_id")
        )
    per = run(
        g.group_by(period_index(g.day, key).name("idx")).agg(
            gaps=lambda t: t.count(),
            mean_days=lambda t: t.days.mean(),
            median_days=lambda t: t.days.quantile(0.5),
        )
    ).set_index("idx")
    if per.empty:
        return pd.DataFrame(columns=["period", "gaps", "mean_days", "median_days"])
    first, last = int(per.index.min()), period_index(frame.end, key)
    per = per.reindex(range(first, last + 1))
    per["gaps"] = per["gaps"].fillna(0).astype("int64")
    per.insert(0, "period", period_starts(first, last, key).to_numpy())
    return per.reset_index(drop=True)


def interpurchase_histogram(
    transactions: object,
    *,
    observation_end: object,
    bin_days: int = 7,
    max_days: int | None = None,
) -> pd.DataFrame:
    """Distribution of the days between purchases in bins of ``bin_days``.

    Gaps of ``max_days`` or more (default: the 99th percentile, rounded up to a whole bin) go
    into a last, open-ended bin whose ``bin_end`` is NaN.

    Returns
    -------
    pandas.DataFrame
        ``bin_start, bin_end, gaps, share`` (``bin_start <= days < bin_end``).
    """
    if bin_days < 1:
        raise ConfigurationError(f"bin_days must be at least 1, got {bin_days}")
    frame = prepare(transactions, observation_end)
    require_rows(frame)
    g = gaps(frame)
    if max_days is None:
        p99 = g.days.quantile(0.99).to_pyarrow().as_py()
        max_days = bin_days * int(np.ceil(((p99 or 0) + 1) / bin_days))
    cap = max(bin_days, int(max_days))
    capped = g.mutate(bin=ibis.ifelse(g.days >= cap, cap, (g.days // bin_days) * bin_days))
    counts = run(capped.group_by("bin").agg(gaps=lambda t: t.count())).set_index("bin")
    starts = list(range(0, cap, bin_days)) + [cap]
    out = pd.DataFrame({"bin_start": starts})
    out["bin_end"] = [min(b + bin_days, cap) for b in starts[:-1]] + [np.nan]
    out["gaps"] = counts["gaps"].reindex(starts, fill_value=0).to_numpy(dtype="int64")
    total = out["gaps"].sum()
    out["share"] = out["gaps"] / total if total else 0.0
    return out
