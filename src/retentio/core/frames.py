"""Checks of the tables the library is handed."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from retentio.core.errors import SchemaError

__all__ = ["require_columns"]


def require_columns(frame: pd.DataFrame, columns: Iterable[str], name: str = "summary") -> None:
    """A SchemaError naming every one of ``columns`` that ``frame`` (called ``name``) lacks."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise SchemaError(f"{name} is missing the column(s) {', '.join(missing)}")
