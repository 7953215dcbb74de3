"""The per-customer BTYD summary (frequency, recency, T, monetary value) and its split.

The conventions are those of the "buy till you die" literature and of lifetimes'
``summary_data_from_transaction_data``: purchases are grouped into periods of ``freq``;
``frequency`` is the number of periods with a purchase after the first one (repeat periods),
``recency`` the time from the first to the last purchase period, ``T`` the time from the first
purchase period to the observation end, ``monetary_value`` the mean value of the repeat periods
(0 for customers without repeats). Refunds are netted into the order they refund.
"""

from __future__ import annotations

from typing import Any

import ibis
import pandas as pd

from retentio.analytics import schema as s
from retentio.analytics._input import Frame, as_date, prepare, require_rows, run
from retentio.analytics.periods import check_period, period_index, period_starts
from retentio.core.errors import ConfigurationError

__all__ = ["calibration_holdout", "purchase_timeline", "summarize"]

_UNIT_DAYS = {"D": 1.0, "W": 7.0}


def _scale(freq: str, time_unit: str | None) -> float:
    if time_unit is None or time_unit.upper() == freq:
        return 1.0
    if freq == "D" and time_unit.upper() in _UNIT_DAYS:
        return _UNIT_DAYS[time_unit.upper()]
    raise ConfigurationError(
        f"time_unit {time_unit!r} needs freq='D' (days can be expressed in D or W); "
        f"with freq={freq!r} durations are counted in {freq} periods"
    )


def _period_values(frame: Frame, freq: str) -> Any:
    """Net purchase value per (customer, period): refunds netted into their order."""
    table = frame.table
    refunds = (
        table.filter(table[s.IS_REFUND])
        .group_by(s.ORDER_ID)
        .agg(refunded=lambda t: t[s.AMOUNT].sum())
    )
    purchases = frame.purchases
    joined = purchases.left_join(refunds, s.ORDER_ID)
    orders = joined.select(
        customer_id=joined[s.CUSTOMER_ID],
        period=period_index(joined[s.ORDERED_AT].date(), freq),
        value=joined[s.AMOUNT] + joined.refunded.fill_null(0.0),
    )
    return orders.group_by(["customer_id", "period"]).agg(value=lambda t: t.value.sum())


def _summary_expr(frame: Frame, freq: str, scale: float) -> Any:
    periods = _period_values(frame, freq)
    per_customer = periods.group_by("customer_id").agg(
        n=lambda t: t.count(),
        first=lambda t: t.period.min(),
        last=lambda t: t.period.max(),
        total=lambda t: t.value.sum(),
        first_value=lambda t: t.value.argmin(t.period),
    )
    end = period_index(frame.end, freq)
    frequency = per_customer.n - 1
    return per_customer.select(
        customer_id=per_customer.customer_id,
        frequency=frequency.cast("int64"),
        recency=(per_customer["last"] - per_customer["first"]).cast("float64") / scale,
        T=(end - per_customer["first"]).cast("float64") / scale,
        monetary_value=ibis.ifelse(
            frequency > 0,
            (per_customer.total - per_customer.first_value) / frequency.cast("float64"),
            0.0,
        ),
    )


def summarize(
    transactions: object,
    *,
    observation_end: object,
    freq: str = "D",
    time_unit: str | None = None,
) -> pd.DataFrame:
    """Per-customer BTYD summary with the lifetimes conventions.

    Parameters
    ----------
    transactions
        Normalised transactions (see :func:`retentio.load_transactions`).
    observation_end
        Last day of the observation window (inclusive, UTC); later transactions are ignored.
    freq
        Period in which purchases are grouped: ``D`` (default), ``W`` (ISO weeks), ``M``, ``Q``,
        ``Y``. Two purchases in one period count as one.
    time_unit
        Unit of ``recency`` and ``T`` when ``freq='D'``: ``D`` (default) or ``W`` (days / 7,
        the unit of the published CDNOW summaries).

    Returns
    -------
    pandas.DataFrame
        ``customer_id, frequency, recency, T, monetary_value``, one row per customer with a
        purchase by the observation end, sorted by customer_id.

    Examples
    --------
    >>> from retentio.datasets import load_cdnow
    >>> summary = summarize(load_cdnow(), observation_end="1997-09-30", time_unit="W")
    >>> summary.loc[summary.customer_id == "1", ["frequency", "recency", "T"]].values.tolist()
    [[2.0, 30.428571428571427, 38.857142857142854]]
    """
    key = check_period(freq, "freq")
    scale = _scale(key, time_unit)
    frame = prepare(transactions, observation_end)
    require_rows(frame)
    expr = _summary_expr(frame, key, scale).order_by("customer_id")
    return run(expr)


def calibration_holdout(
    transactions: object,
    *,
    calibration_end: object,
    observation_end: object,
    freq: str = "D",
    time_unit: str | None = None,
) -> pd.DataFrame:
    """Split the history at ``calibration_end`` into a calibration summary and a holdout.

    Returns
    -------
    pandas.DataFrame
        For every customer with a purchase by ``calibration_end``: ``frequency_cal,
        recency_cal, T_cal, monetary_value_cal`` (as :func:`summarize` at calibration_end),
        ``frequency_holdout`` (purchase periods after calibration_end up to and including
        observation_end), ``monetary_value_holdout`` (their mean value) and
        ``duration_holdout`` (length of the holdout in the same unit).
    """
    key = check_period(freq, "freq")
    scale = _scale(key, time_unit)
    cal_end = as_date(calibration_end, "calibration_end")
    obs_end = as_date(observation_end)
    if cal_end >= obs_end:
        raise ConfigurationError(
            f"calibration_end ({cal_end}) must be before observation_end ({obs_end})"
        )
    full = prepare(transactions, obs_end)
    cal = full.until(cal_end)
    require_rows(cal)
    calibration = _summary_expr(cal, key, scale)
    cal_start = period_index(cal_end, key)
    periods = _period_values(full, key)
    later = periods.filter(periods.period > cal_start)
    holdout = later.group_by("customer_id").agg(
        frequency_holdout=lambda t: t.count(),
        monetary_value_holdout=lambda t: t.value.mean(),
    )
    joined = calibration.left_join(holdout, "customer_id")
    duration = float(period_index(obs_end, key) - cal_start) / scale
    result = joined.select(
        customer_id=joined.customer_id,
        frequency_cal=joined.frequency,
        recency_cal=joined.recency,
        T_cal=joined["T"],
        monetary_value_cal=joined.monetary_value,
        frequency_holdout=joined.frequency_holdout.fill_null(0).cast("int64"),
        monetary_value_holdout=joined.monetary_value_holdout.fill_null(0.0),
        duration_holdout=duration,
    ).order_by("customer_id")
    return run(result)


def purchase_timeline(
    transactions: object,
    *,
    calibration_end: object,
    observation_end: object,
    freq: str = "D",
) -> pd.DataFrame:
    """First and repeat purchases per period of the customers acquired by ``calibration_end``.

    The actual side of the "cumulative repeat transactions" check of a BTYD model: the model
    is fitted on the customers whose first purchase is by ``calibration_end`` and predicts
    their repeat purchases, period by period, through ``observation_end``.

    Returns
    -------
    pandas.DataFrame
        One row per period from the first purchase to ``observation_end``: ``period`` (its
        first day), ``index`` (0 for the first period), ``new_customers`` (first purchases of
        those customers) and ``repeat_purchases`` (their purchase periods after the first, the
        unit of :func:`summarize`'s ``frequency``).
    """
    key = check_period(freq, "freq")
    cal_end = as_date(calibration_end, "calibration_end")
    obs_end = as_date(observation_end)
    if cal_end > obs_end:
        raise ConfigurationError(
            f"calibration_end ({cal_end}) must not be after observation_end ({obs_end})"
        )
    full = prepare(transactions, obs_end)
    require_rows(full.until(cal_end))
    periods = _period_values(full, key)
    first = periods.group_by("customer_id").agg(first=lambda t: t.period.min())
    first = first.filter(first["first"] <= period_index(cal_end, key))
    births = run(first.group_by("first").agg(n=lambda t: t.count()))
    joined = periods.inner_join(first, "customer_id")
    repeats = joined.filter(joined.period > joined["first"])
    repeat_counts = run(repeats.group_by("period").agg(n=lambda t: t.count()))
    start = int(births["first"].min())
    end = period_index(obs_end, key)
    index = pd.RangeIndex(start, end + 1)
    new = births.set_index("first")["n"].reindex(index, fill_value=0)
    again = repeat_counts.set_index("period")["n"].reindex(index, fill_value=0)
    return pd.DataFrame(
        {
            "period": period_starts(start, end, key).to_numpy(),
            "index": index - start,
            "new_customers": new.to_numpy().astype("int64"),
            "repeat_purchases": again.to_numpy().astype("int64"),
        }
    )
