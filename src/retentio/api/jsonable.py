"""Values from pandas and numpy as plain JSON values."""

from __future__ import annotations

import math
from datetime import date
from typing import Any

import pandas as pd

__all__ = ["plain"]


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
