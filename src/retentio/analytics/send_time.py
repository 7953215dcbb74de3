"""Each customer's best hour to receive a message: the local hour their orders cluster at.

The rule is :func:`retentio.campaigns.guards.best_hour`'s, vectorised for a whole shop: each
local hour's count plus half of each neighbour's (around midnight too), the earliest of equal
ones, and no best hour below ``minimum`` times. Hours are read on each customer's own clock,
so a Dutch customer's 20:00 is 20:00 in Amsterdam in winter and in summer alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

__all__ = ["best_hours"]


def _zone(name: object, default: str) -> str:
    if isinstance(name, str) and name:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            return default
        return name
    return default


def best_hours(
    transactions: pd.DataFrame,
    zones: Mapping[str, str | None],
    *,
    customer_col: str = "customer_id",
    time_col: str = "ordered_at",
    default_zone: str = "Europe/Copenhagen",
    minimum: int = 3,
) -> pd.Series:
    """The best local hour (0-23) of each customer with at least ``minimum`` times.

    Parameters
    ----------
    transactions
        One row per order (refunds left out by the caller), with ``customer_col`` and
        ``time_col`` (timezone-aware).
    zones
        Each customer's IANA time zone; a customer missing here, or with an unknown zone,
        is read in ``default_zone``.

    Returns
    -------
    pandas.Series
        Indexed by customer (only those with enough times), the hour as an integer.
    """
    if transactions.empty:
        return pd.Series([], dtype="int64", name="best_hour")
    codes, customers = pd.factorize(transactions[customer_col], sort=True)
    times = pd.to_datetime(transactions[time_col], utc=True)
    row_zone = pd.Series(
        [_zone(zones.get(c), default_zone) for c in customers], dtype="object"
    ).to_numpy()[codes]
    hours = np.empty(len(times), dtype=np.int64)
    for zone in pd.unique(row_zone):
        chosen = row_zone == zone
        hours[chosen] = times[chosen].dt.tz_convert(zone).dt.hour.to_numpy()
    counts = np.bincount(codes * 24 + hours, minlength=len(customers) * 24)
    counts = counts.reshape(len(customers), 24)
    doubled = 2 * counts + np.roll(counts, 1, axis=1) + np.roll(counts, -1, axis=1)
    best = doubled.argmax(axis=1)  # the first (earliest) of equal scores
    enough = counts.sum(axis=1) >= minimum
    return pd.Series(best[enough], index=customers[enough], name="best_hour")
