"""Churn and retention: period over period, and by a no-purchase threshold.

Definitions (docs/metrics.md has the full text):

* period over period: of the customers who bought in period t-1, ``retained`` bought again in t
  and ``churned`` did not; ``retention_rate = retained / previous_active`` and
  ``churn_rate = churned / previous_active`` (so the two add up to 1).
* threshold churn as of a day d: of the customers with a first purchase on or before d, those
  whose last purchase on or before d is more than ``days`` days before d have churned.
"""

from __future__ import annotations

import math
from datetime import date

import ibis
import numpy as np
import pandas as pd

from retentio.analytics._exprs import gaps, purchase_days
from retentio.analytics._input import Frame, prepare, require_rows, run
from retentio.analytics.periods import check_period, period_end, period_index, period_starts
from retentio.core.errors import ConfigurationError

__all__ = [
    "DEFAULT_CHURN_QUANTILE",
    "FALLBACK_CHURN_DAYS",
    "churn_threshold_days",
    "period_churn",
    "threshold_churn",
]

DEFAULT_CHURN_QUANTILE = 0.9
"""The default threshold is this quantile of the observed days between purchases."""
FALLBACK_CHURN_DAYS = 365
"""Threshold used when the data has no repeat purchase to learn one from."""


def _active_periods(frame: Frame, period: str) -> pd.DataFrame:
    days = purchase_days(frame)
    active = days.select(
        customer_id=days.customer_id, idx=period_index(days.day, period)
    ).distinct()
    following = active.view()
    counts = active.group_by("idx").agg(active_customers=lambda t: t.count())
    kept = (
        active.join(
            following,
            (active.customer_id == following.customer_id) & (active.idx + 1 == following.idx),
        )
        .group_by(following.idx)
        .agg(retained=lambda t: t.count())
    )
    return run(counts).merge(run(kept), on="idx", how="left")


def period_churn(
    transactions: object, *, observation_end: object, period: str = "M"
) -> pd.DataFrame:
    """Period-over-period customer churn and retention.

    Parameters
    ----------
    transactions
        Normalised transactions.
    observation_end
        Last day (inclusive) of the data used.
    period
        ``D``, ``W``, ``M`` (default), ``Q`` or ``Y``.

    Returns
    -------
    pandas.DataFrame
        One row per period from the first purchase to the observation end: ``period``,
        ``active_customers``, ``previous_active``, ``retained``, ``churned``,
        ``retention_rate``, ``churn_rate`` (NaN where no one was active the period before) and
        ``complete`` (False for a period the observation end cuts short).
    """
    key = check_period(period)
    frame = prepare(transactions, observation_end)
    require_rows(frame)
    found = _active_periods(frame, key).set_index("idx")
    first, last = int(found.index.min()), period_index(frame.end, key)
    found = found.reindex(range(first, last + 1), fill_value=0)
    out = pd.DataFrame({"period": period_starts(first, last, key).to_numpy()})
    out["active_customers"] = found["active_customers"].to_numpy(dtype="int64")
    out["previous_active"] = np.concatenate([[0], out["active_customers"].to_numpy()[:-1]])
    out["retained"] = found["retained"].fillna(0).to_numpy(dtype="int64")
    out["churned"] = out["previous_active"] - out["retained"]
    with np.errstate(invalid="ignore", divide="ignore"):
        base = out["previous_active"].where(out["previous_active"] > 0)
        out["retention_rate"] = out["retained"] / base
        out["churn_rate"] = out["churned"] / base
    out["complete"] = [period_end(i, key) <= frame.end for i in range(first, last + 1)]
    return out


def threshold_from(frame: Frame, quantile: float) -> int:
    g = gaps(frame)
    value = g.days.quantile(quantile).to_pyarrow().as_py()
    if value is None:
        return FALLBACK_CHURN_DAYS
    return max(1, math.ceil(float(value)))


def churn_threshold_days(
    transactions: object, *, observation_end: object, quantile: float = DEFAULT_CHURN_QUANTILE
) -> int:
    """The default churn threshold: the ``quantile`` of days between consecutive purchases.

    With the default 0.9, nine in ten repeat purchases come within this many days of the one
    before, so a customer silent for longer is unlikely to be between purchases. Without any
    repeat purchase the threshold is :data:`FALLBACK_CHURN_DAYS`.
    """
    if not 0 < quantile < 1:
        raise ConfigurationError(f"quantile must be between 0 and 1, got {quantile}")
    frame = prepare(transactions, observation_end)
    require_rows(frame)
    return threshold_from(frame, quantile)


def _sweep(frame: Frame, days: int, as_of: list[date]) -> pd.DataFrame:
    """Customers acquired and churned as of each day in ``as_of``.

    A customer is churned from (purchase day + days) until their next purchase day, so counts
    at any date follow from cumulative sums of +1/-1 events, without a scan per date.
    """
    d = purchase_days(frame)
    window = ibis.window(group_by=d.customer_id, order_by=d.day)
    spells = d.mutate(next_day=d.day.lead().over(window), rank=ibis.row_number().over(window))
    start = spells.day + ibis.interval(days=days)
    lapses = spells.filter(spells.next_day.isnull() | (spells.next_day > start))
    starts = lapses.group_by(start.name("on")).agg(delta=lambda t: t.count())
    ends = (
        lapses.filter(lapses.next_day.notnull())
        .group_by(lapses.next_day.name("on"))
        .agg(delta=lambda t: -t.count())
    )
    firsts = spells.filter(spells["rank"] == 0).group_by(spells.day.name("on"))
    acquired = run(firsts.agg(delta=lambda t: t.count()))
    churn_events = pd.concat([run(starts), run(ends)]).groupby("on")["delta"].sum().sort_index()
    grid = pd.to_datetime(pd.Series(as_of))
    out = pd.DataFrame({"as_of": grid})
    for name, events in (
        ("customers", acquired.set_index("on")["delta"]),
        ("churned", churn_events),
    ):
        cumulative = events.sort_index().cumsum()
        cumulative.index = pd.to_datetime(cumulative.index)
        positions = cumulative.index.searchsorted(grid, side="right") - 1
        values = np.where(positions >= 0, cumulative.to_numpy()[np.maximum(positions, 0)], 0)
        out[name] = values.astype("int64")
    return out


def threshold_churn(
    transactions: object,
    *,
    observation_end: object,
    days: int | None = None,
    period: str | None = None,
) -> pd.DataFrame:
    """Customers with no purchase in the last ``days`` days count as churned.

    Parameters
    ----------
    transactions
        Normalised transactions.
    observation_end
        The day (inclusive) as of which churn is measured.
    days
        The no-purchase threshold; default :func:`churn_threshold_days` of the data.
    period
        ``None`` for one row as of ``observation_end``; ``D/W/M/Q/Y`` for one row as of the
        last day of every period (the last one cut at ``observation_end``), a trend.

    Returns
    -------
    pandas.DataFrame
        ``as_of, days, customers, churned, active, churn_rate, retention_rate``.
    """
    frame = prepare(transactions, observation_end)
    require_rows(frame)
    if period is None:
        as_of = [frame.end]
    else:
        key = check_period(period)
        first_day: date = purchase_days(frame).day.min().to_pyarrow().as_py()
        first = period_index(first_day, key)
        last = period_index(frame.end, key)
        as_of = [min(period_end(i, key), frame.end) for i in range(first, last + 1)]
    return churn_as_of(frame, days, as_of)


def churn_as_of(frame: Frame, days: int | None, as_of: list[date]) -> pd.DataFrame:
    """:func:`threshold_churn` of a prepared frame, as of each day in ``as_of``."""
    threshold = threshold_from(frame, DEFAULT_CHURN_QUANTILE) if days is None else int(days)
    if threshold < 1:
        raise ConfigurationError(f"days must be at least 1, got {days}")
    # churned on day d: last purchase more than `threshold` days before d, so the lapse
    # starts threshold + 1 days after the purchase
    out = _sweep(frame, threshold + 1, as_of)
    out.insert(1, "days", threshold)
    out["active"] = out["customers"] - out["churned"]
    with np.errstate(invalid="ignore", divide="ignore"):
        base = out["customers"].where(out["customers"] > 0)
        out["churn_rate"] = out["churned"] / base
        out["retention_rate"] = out["active"] / base
    return out
