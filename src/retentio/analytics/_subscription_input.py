"""What the subscription analytics share: their tables as pandas, their days as instants."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, timedelta

import numpy as np
import pandas as pd

from retentio.analytics._input import as_date
from retentio.core.errors import ConfigurationError, SchemaError

__all__ = ["day_end", "events_before", "frame", "ratio", "subscriptions_frame", "utc", "window"]


def frame(table: object, name: str, required: Sequence[str]) -> pd.DataFrame:
    """``table`` as pandas, with a clear error naming the columns it lacks."""
    if isinstance(table, pd.DataFrame):
        found = table
    elif hasattr(table, "to_pandas"):
        found = table.to_pandas()
    else:
        raise ConfigurationError(
            f"{name}: cannot use a {type(table).__name__}; pass a pyarrow Table or a pandas "
            "or polars DataFrame"
        )
    missing = [column for column in required if column not in found.columns]
    if missing:
        raise SchemaError(f"{name}: missing column(s) {', '.join(missing)}")
    return found


def utc(values: pd.Series) -> pd.Series:
    """Timestamps as UTC (naive ones taken as UTC already)."""
    return pd.to_datetime(values, utc=True)


def day_end(day: object, name: str) -> pd.Timestamp:
    """The instant ``day`` (a UTC calendar day) ends: midnight after it."""
    return pd.Timestamp((as_date(day, name) + timedelta(days=1)).isoformat(), tz="UTC")


def window(start: object, end: object) -> tuple[date, date, pd.Timestamp, pd.Timestamp]:
    first, last = as_date(start, "start"), as_date(end, "end")
    if first > last:
        raise ConfigurationError(f"start {first} is after end {last}")
    return first, last, pd.Timestamp(first.isoformat(), tz="UTC"), day_end(last, "end")


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else math.nan


def subscriptions_frame(table: object, *more: str) -> pd.DataFrame:
    subs = frame(table, "subscriptions", ("subscription_id", "started_at", "ended_at", *more))
    return subs.assign(started_at=utc(subs["started_at"]), ended_at=utc(subs["ended_at"]))


def events_before(table: object, before: pd.Timestamp, *more: str) -> pd.DataFrame:
    """The events that happened before ``before``, in the order they happened (``occurred_at``,
    then ``event_id`` when there is one, then as given), numbered by ``position``."""
    events = frame(table, "events", ("subscription_id", "kind", "occurred_at", *more))
    at = utc(events["occurred_at"])
    kept = events.loc[at < before].assign(occurred_at=at[at < before])
    keys = ["occurred_at", "event_id"] if "event_id" in kept.columns else ["occurred_at"]
    kept = kept.sort_values(keys, kind="stable")
    return kept.assign(position=np.arange(len(kept)))
