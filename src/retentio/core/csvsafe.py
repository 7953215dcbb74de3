"""CSV exports that a spreadsheet cannot mistake for formulas (OWASP "CSV injection")."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from retentio.core.files import write_atomically

__all__ = ["neutralise", "write_csv"]

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: object) -> object:
    """Prefix a text cell that starts with = + - @ tab or CR with a single quote."""
    if isinstance(value, str) and value.startswith(_TRIGGERS):
        return "'" + value
    return value


def write_csv(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write ``frame`` to ``path`` atomically, text cells neutralised; numbers stay numbers."""
    target = Path(path)
    safe = frame.copy()
    for column in safe.columns:
        if safe[column].dtype == object or pd.api.types.is_string_dtype(safe[column]):
            safe[column] = safe[column].map(neutralise)
    text = safe.to_csv(index=False, lineterminator="\n")
    return write_atomically(target, text.encode())
