"""Bulk reads of survey answers and segment memberships into Arrow, for the survey analytics
(:mod:`retentio.analytics.feedback`).

Keyed by the customers' external ids (the shop's ids, as in the transactions), never by the
store's row ids. The connections are those of :mod:`retentio.store.arrow`: ADBC on PostgreSQL,
the standard library's read-only ``sqlite3`` on SQLite.
"""

from __future__ import annotations

from contextlib import closing

import pyarrow as pa
from sqlalchemy import Engine
from sqlalchemy.engine import URL, make_url

from retentio.analytics.feedback import SEGMENT_MEMBERSHIPS_SCHEMA, SURVEY_RESPONSES_SCHEMA
from retentio.store.arrow import _connect, _fetch_arrow
from retentio.store.engine import normalise_url
from retentio.store.loyalty_arrow import _fetch_sqlite_typed, _typed

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


def _url(url_or_engine: str | Engine) -> URL:
    if isinstance(url_or_engine, Engine):
        return url_or_engine.url
    return make_url(normalise_url(url_or_engine))


def _read(url_or_engine: str | Engine, sql: str, schema: pa.Schema) -> pa.Table:
    url = _url(url_or_engine)
    with closing(_connect(url)) as connection, closing(connection.cursor()) as cursor:
        if url.get_backend_name() == "sqlite":
            return _fetch_sqlite_typed(cursor, sql, schema)
        return _typed(_fetch_arrow(cursor, sql), schema)


def read_survey_responses(url_or_engine: str | Engine, *, survey: int | None = None) -> pa.Table:
    """Every answer in the store at ``url_or_engine`` (migrated), or one survey's (its id), in
    :data:`~retentio.analytics.feedback.SURVEY_RESPONSES_SCHEMA`; rows in no set order."""
    sql = _RESPONSES
    if survey is not None:
        sql += f"WHERE r.survey_id = {int(survey)}\n"  # noqa: S608 (an integer)
    return _read(url_or_engine, sql, SURVEY_RESPONSES_SCHEMA)


def read_segment_memberships(url_or_engine: str | Engine) -> pa.Table:
    """Who is in each saved segment now (as of its last refresh), in
    :data:`~retentio.analytics.feedback.SEGMENT_MEMBERSHIPS_SCHEMA`."""
    return _read(url_or_engine, _MEMBERSHIPS, SEGMENT_MEMBERSHIPS_SCHEMA)
