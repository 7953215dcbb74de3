"""What a transactions table covers: its date range, row counts and currencies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd

from retentio.analytics import schema as s
from retentio.analytics._input import prepare, run

__all__ = ["DataRange", "data_range"]


@dataclass(frozen=True)
class DataRange:
    """The transactions up to an observation end: first and last day, counts, currencies."""

    observation_end: date
    first_day: date | None
    last_day: date | None
    orders: int
    refunds: int
    currencies: tuple[str, ...]


def data_range(transactions: object, *, observation_end: object) -> DataRange:
    """Describe the transactions on or before ``observation_end`` (days are UTC)."""
    frame = prepare(transactions, observation_end)
    t = frame.table
    row = run(
        t.agg(
            first=t[s.ORDERED_AT].min(),
            last=t[s.ORDERED_AT].max(),
            refunds=t[s.IS_REFUND].sum(),
            rows=t.count(),
        )
    ).iloc[0]
    codes = run(t.select(code=t[s.CURRENCY]).distinct().order_by("code"))["code"]

    def day(value: Any) -> date | None:
        return None if value is None or pd.isna(value) else pd.Timestamp(value).date()

    refunds = 0 if pd.isna(row["refunds"]) else int(row["refunds"])
    return DataRange(
        observation_end=frame.end,
        first_day=day(row["first"]),
        last_day=day(row["last"]),
        orders=int(row["rows"]) - refunds,
        refunds=refunds,
        currencies=tuple(str(c) for c in codes if not pd.isna(c)),
    )
