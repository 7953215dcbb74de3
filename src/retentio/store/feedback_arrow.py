"""Bulk reads of survey answers and segment memberships into Arrow, for the survey analytics
(:mod:`retentio.analytics.feedback`).

Keyed by the customers' external ids (the shop's ids, as in the transactions), never by the
store's row ids. PostgreSQL: ADBC, the joins in the database (see :mod:`retentio.store.arrow`).
SQLite: the standard library's read-only ``sqlite3``, and no Python object per row: SQLite
writes a range of rows' numbers and times as CSV text (``group_concat``), which Arrow's CSV
reader parses; the row ids are then mapped to the customers' external ids and the surveys'
and segments' names in Arrow. (A million answers read in about a second that way, against
eight row by row.)
"""

from __future__ import annotations

import io
import sqlite3
from contextlib import closing
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
from sqlalchemy import Engine
from sqlalchemy.engine import URL, make_url

from retentio.analytics.feedback import SEGMENT_MEMBERSHIPS_SCHEMA, SURVEY_RESPONSES_SCHEMA
from retentio.store.arrow import _connect, _fetch_arrow
from retentio.store.engine import normalise_url
from retentio.store.loyalty_arrow import _typed

__all__ = ["read_segment_memberships", "read_survey_responses"]

_RESPONSES = """
SELECT c.external_id AS customer_id, s.name AS survey, s.kind AS kind, r.score AS score,
       r.responded_at AS responded_at
FROM survey_responses r JOIN surveys s ON s.id = r.survey_id
JOIN customers c ON c.id = r.customer_id
"""
# Who is in each saved segment now (the open stays of the last refresh).
_MEMBERSHIPS = """
SELECT s.name AS segment, c.external_id AS customer_id
FROM segment_memberships m JOIN segments s ON s.id = m.segment_id
JOIN customers c ON c.id = m.customer_id
WHERE m.exited_at IS NULL
"""
#: Rows a CSV chunk holds (by id range) on SQLite.
_CHUNK = 1_000_000


def _url(url_or_engine: str | Engine) -> URL:
    if isinstance(url_or_engine, Engine):
        return url_or_engine.url
    return make_url(normalise_url(url_or_engine))


def read_survey_responses(url_or_engine: str | Engine, *, survey: int | None = None) -> pa.Table:
    """Every answer in the store at ``url_or_engine`` (migrated), or one survey's (its id), in
    :data:`~retentio.analytics.feedback.SURVEY_RESPONSES_SCHEMA`; rows in no set order."""
    url = _url(url_or_engine)
    only = "" if survey is None else f" AND survey_id = {int(survey)}"
    with closing(_connect(url)) as connection, closing(connection.cursor()) as cursor:
        if url.get_backend_name() != "sqlite":
            where = "" if survey is None else f"WHERE r.survey_id = {int(survey)}\n"
            return _typed(_fetch_arrow(cursor, _RESPONSES + where), SURVEY_RESPONSES_SCHEMA)
        raw = _csv_rows(
            cursor,
            "customer_id || ',' || survey_id || ',' || ifnull(score, '') || ',' || responded_at",
            "survey_responses",
            only,
            {
                "customer": pa.int64(),
                "survey": pa.int64(),
                "score": pa.int64(),
                "at": pa.timestamp("us"),
            },
        )
        people = _names(cursor, "SELECT id, external_id FROM customers")
        surveys = cursor.execute("SELECT id, name, kind FROM surveys").fetchall()
    survey_ids = pa.array([s[0] for s in surveys], pa.int64())
    at = raw["at"].cast(pa.timestamp("us", tz="UTC"))
    columns = [
        _mapped(raw["customer"], people),
        _mapped(raw["survey"], (survey_ids, pa.array([s[1] for s in surveys], pa.string()))),
        _mapped(raw["survey"], (survey_ids, pa.array([s[2] for s in surveys], pa.string()))),
        raw["score"],
        at,
    ]
    return pa.Table.from_arrays(columns, schema=SURVEY_RESPONSES_SCHEMA)


def read_segment_memberships(url_or_engine: str | Engine) -> pa.Table:
    """Who is in each saved segment now (as of its last refresh), in
    :data:`~retentio.analytics.feedback.SEGMENT_MEMBERSHIPS_SCHEMA`."""
    url = _url(url_or_engine)
    with closing(_connect(url)) as connection, closing(connection.cursor()) as cursor:
        if url.get_backend_name() != "sqlite":
            return _typed(_fetch_arrow(cursor, _MEMBERSHIPS), SEGMENT_MEMBERSHIPS_SCHEMA)
        raw = _csv_rows(
            cursor,
            "segment_id || ',' || customer_id",
            "segment_memberships",
            " AND exited_at IS NULL",
            {"segment": pa.int64(), "customer": pa.int64()},
        )
        segments = _names(cursor, "SELECT id, name FROM segments")
        people = _names(cursor, "SELECT id, external_id FROM customers")
    columns = [_mapped(raw["segment"], segments), _mapped(raw["customer"], people)]
    return pa.Table.from_arrays(columns, schema=SEGMENT_MEMBERSHIPS_SCHEMA)


def _csv_rows(
    cursor: sqlite3.Cursor, row: str, table: str, where: str, types: dict[str, pa.DataType]
) -> pa.Table:
    """``row`` (an SQL expression: numbers and times joined by commas) of each row of
    ``table`` matching ``where`` (`` AND ...``), read as CSV in chunks of ids."""
    low, high = cursor.execute(f"SELECT min(id), max(id) FROM {table}").fetchone()  # noqa: S608
    options = pcsv.ReadOptions(column_names=list(types), block_size=1 << 24)
    convert = pcsv.ConvertOptions(column_types=types)
    query = (
        f"SELECT group_concat({row}, char(10)) FROM {table} "  # noqa: S608 (constants)
        f"WHERE id >= ? AND id < ?{where}"
    )
    chunks = []
    for start in range(low or 0, (high or -1) + 1, _CHUNK):
        (text,) = cursor.execute(query, (start, start + _CHUNK)).fetchone()
        if text:
            data = io.BytesIO(text.encode("ascii"))
            chunks.append(pcsv.read_csv(data, read_options=options, convert_options=convert))
    if not chunks:
        return pa.schema(list(types.items())).empty_table()
    return pa.concat_tables(chunks)


def _names(cursor: sqlite3.Cursor, sql: str) -> tuple[pa.Array, pa.Array]:
    """(ids, names) of a small query of two columns."""
    rows = cursor.execute(sql).fetchall()
    return pa.array([r[0] for r in rows], pa.int64()), pa.array([r[1] for r in rows], pa.string())


def _mapped(ids: Any, names: tuple[pa.Array, pa.Array]) -> pa.Array:
    """Each of ``ids`` replaced by its name (ids with no name become null)."""
    keys, values = names
    if len(keys) == 0:
        return pa.nulls(len(ids), pa.string())
    lookup = np.full(int(pc.max(keys).as_py()) + 1, -1, dtype=np.int64)
    lookup[keys.to_numpy()] = np.arange(len(keys))
    wanted = np.asarray(pc.fill_null(ids, 0).to_numpy(), dtype=np.int64)
    known = (wanted >= 0) & (wanted < len(lookup))
    position = np.where(known, lookup[np.clip(wanted, 0, len(lookup) - 1)], -1)
    taken = pc.take(values, pa.array(np.where(position >= 0, position, 0)))
    return pc.if_else(pa.array(position >= 0), taken, pa.nulls(len(ids), pa.string()))
