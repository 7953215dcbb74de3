"""DuckDB connections configured the same way everywhere in analytics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

__all__ = ["connect", "scalar", "to_ibis"]


def connect(
    *,
    tz: str = "UTC",
    memory_limit: str | None = None,
    database: Path | None = None,
    temp_directory: Path | None = None,
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with quiet output and the session time zone ``tz``.

    The time zone decides how naive timestamps become instants (``CAST(... AS TIMESTAMPTZ)``).
    In memory unless ``database`` names a (scratch) file.
    """
    con = duckdb.connect(":memory:" if database is None else str(database))
    con.execute("SET enable_progress_bar = false")
    con.execute("SET TimeZone = ?", [tz])
    if memory_limit is not None:
        con.execute("SET memory_limit = ?", [memory_limit])
    if temp_directory is not None:
        temp_directory.mkdir(parents=True, exist_ok=True)
        con.execute("SET temp_directory = ?", [str(temp_directory)])
    return con


def to_ibis(con: duckdb.DuckDBPyConnection) -> Any:
    """The Ibis backend over an existing DuckDB connection."""
    import ibis

    return ibis.duckdb.from_connection(con)


def scalar(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    """The first column of the first row of ``sql`` as an int (0 when there is no row)."""
    rows = con.execute(sql).fetchall()  # fetchall: DuckDB 2 refuses new work on unread results
    return 0 if not rows or rows[0][0] is None else int(rows[0][0])
