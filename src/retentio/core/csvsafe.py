"""CSV exports that a spreadsheet cannot mistake for formulas (OWASP "CSV injection")."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pandas as pd

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
    target.parent.mkdir(parents=True, exist_ok=True)
    # Created like any new file (mode 0666 less the umask), unlike mkstemp's private 0600.
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    try:
        with tmp.open("x", encoding="utf-8", newline="") as handle:
            safe.to_csv(handle, index=False)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target
