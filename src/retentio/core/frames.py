"""Checks of the tables the library is handed, and their values as plain JSON values."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import date
from typing import Any

import pandas as pd

from retentio.core.errors import SchemaError

__all__ = ["plain", "require_columns"]


def require_columns(frame: pd.DataFrame, columns: Iterable[str], name: str = "summary") -> None:
    """A SchemaError naming every one of ``columns`` that ``frame`` (called ``name``) lacks."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise SchemaError(f"{name} is missing the column(s) {', '.join(missing)}")


def plain(value: Any) -> Any:
    """``value`` as JSON can hold it: numpy scalars as Python numbers, dates as ISO days,
    NaN and infinities as None."""
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
