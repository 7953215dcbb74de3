"""Calendar periods (D, W, M, Q, Y) as integer indexes, so period arithmetic is integer math.

Weeks are ISO weeks (Monday to Sunday). All days are UTC calendar days.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import ibis
import pandas as pd

from retentio.core.errors import ConfigurationError

__all__ = [
    "PERIOD_CODES",
    "check_period",
    "period_end",
    "period_index",
    "period_start",
    "period_starts",
]

PERIOD_CODES = ("D", "W", "M", "Q", "Y")
_EPOCH = date(1970, 1, 1)


def check_period(period: str, name: str = "period") -> str:
    """``period`` upper-cased, if it is one of D, W, M, Q, Y."""
    key = str(period).upper()
    if key not in PERIOD_CODES:
        raise ConfigurationError(f"{name} must be one of D, W, M, Q, Y; got {period!r}")
    return key


def period_index(day: Any, period: str) -> Any:
    """Integer index of the ``period`` containing ``day`` (an Ibis date expression or a date)."""
    if isinstance(day, date):
        return _index_of(day, period)
    days = day.delta(ibis.date(1970, 1, 1), unit="day")
    if period == "D":
        return days
    if period == "W":
        return (days + 3) // 7  # 1970-01-01 was a Thursday; ISO weeks start on Monday
    months = day.year() * 12 + day.month() - 1
    if period == "M":
        return months
    if period == "Q":
        return months // 3
    return day.year()


def _index_of(day: date, period: str) -> int:
    days = (day - _EPOCH).days
    months = day.year * 12 + day.month - 1
    return {
        "D": days,
        "W": (days + 3) // 7,
        "M": months,
        "Q": months // 3,
        "Y": day.year,
    }[period]


def period_start(index: int, period: str) -> date:
    """First day of the period with integer ``index``."""
    if period == "D":
        return _EPOCH + timedelta(days=index)
    if period == "W":
        return _EPOCH + timedelta(days=index * 7 - 3)
    if period == "Y":
        return date(index, 1, 1)
    months = index * 3 if period == "Q" else index
    return date(months // 12, months % 12 + 1, 1)


def period_end(index: int, period: str) -> date:
    """Last day of the period with integer ``index``."""
    return period_start(index + 1, period) - timedelta(days=1)


def period_starts(first: int, last: int, period: str) -> pd.Series:
    """Start dates of the periods ``first..last`` (inclusive) as a datetime64 Series."""
    return pd.Series(
        pd.to_datetime([period_start(i, period) for i in range(first, last + 1)]),
        name="period",
    )
