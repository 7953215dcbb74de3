"""Bulk reads of the loyalty programme's tables into Arrow, for the loyalty analytics.

Every table is keyed by the customer's external id (the shop's id, as in the transactions
``read_transactions`` gives), never by the store's row ids. The connections are those of
:mod:`retentio.store.arrow`: ADBC on PostgreSQL, the standard library's read-only ``sqlite3``
on SQLite (see there why not ADBC's SQLite driver).
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from retentio.analytics.loyalty import (
    LOYALTY_ENTRIES_SCHEMA,
    LOYALTY_MEMBERS_SCHEMA,
    TIER_CHANGES_SCHEMA,
)
from retentio.store.arrow import _CHUNK, _connect, _fetch_arrow
from retentio.store.engine import normalise_url

__all__ = ["LOYALTY_COUPONS_SCHEMA", "LoyaltyTables", "read_loyalty"]

_UTC_US = pa.timestamp("us", tz="UTC")
LOYALTY_COUPONS_SCHEMA = pa.schema(
    [
        pa.field("customer_id", pa.string(), nullable=False),
        pa.field("reward_id", pa.string(), nullable=False),
        pa.field("points", pa.int64(), nullable=False),
        pa.field("status", pa.string(), nullable=False),
        pa.field("issued_at", _UTC_US, nullable=False),
        pa.field("expires_at", _UTC_US, nullable=False),
        pa.field("used_at", _UTC_US),
        pa.field("cancelled_at", _UTC_US),
    ],
    metadata={b"retentio.table": b"loyalty_coupons", b"retentio.version": b"1"},
)
"""The rewards redeemed as coupons: status issued, used or cancelled (its points refunded).
The coupon codes are left out: analytics need no code a customer could still spend."""

# The members' join time: the account's creation or its first entry, whichever came first
# (a backfill of historical orders makes accounts today for points earned long ago).
_MEMBERS = """
SELECT c.external_id AS customer_id, a.created_at AS created_at, f.first_at AS first_at,
       a.tier AS tier, a.available AS available, a.pending AS pending, a.earned AS earned
FROM loyalty_accounts a JOIN customers c ON c.id = a.customer_id
LEFT JOIN (SELECT account_id, MIN(occurred_at) AS first_at FROM loyalty_entries
           GROUP BY account_id) f ON f.account_id = a.id
"""
_ENTRIES = """
SELECT c.external_id AS customer_id, e.kind AS kind, e.points AS points,
       e.pending_points AS pending_points, e.rule AS rule, e.order_id AS order_id,
       e.amount_minor AS amount_minor, e.occurred_at AS occurred_at
FROM loyalty_entries e JOIN loyalty_accounts a ON a.id = e.account_id
JOIN customers c ON c.id = a.customer_id
"""
_TIER_CHANGES = """
SELECT c.external_id AS customer_id, t.from_tier AS from_tier, t.to_tier AS to_tier,
       t.direction AS direction, t.qualifying AS qualifying, t.changed_at AS changed_at
FROM loyalty_tier_changes t JOIN loyalty_accounts a ON a.id = t.account_id
JOIN customers c ON c.id = a.customer_id
"""
_COUPONS = """
SELECT c.external_id AS customer_id, k.reward_id AS reward_id, k.points AS points,
       k.status AS status, k.issued_at AS issued_at, k.expires_at AS expires_at,
       k.used_at AS used_at, k.cancelled_at AS cancelled_at
FROM loyalty_coupons k JOIN loyalty_accounts a ON a.id = k.account_id
JOIN customers c ON c.id = a.customer_id
"""
_RAW_MEMBERS = pa.schema(
    [
        pa.field("customer_id", pa.string()),
        pa.field("created_at", _UTC_US),
        pa.field("first_at", _UTC_US),
        pa.field("tier", pa.string()),
        pa.field("available", pa.int64()),
        pa.field("pending", pa.int64()),
        pa.field("earned", pa.int64()),
    ]
)


@dataclass(frozen=True)
class LoyaltyTables:
    """The loyalty programme's tables, in the schemas of :mod:`retentio.analytics.loyalty`
    (and :data:`LOYALTY_COUPONS_SCHEMA`); rows come in no set order."""

    members: pa.Table
    entries: pa.Table
    tier_changes: pa.Table
    coupons: pa.Table

    @property
    def has_members(self) -> bool:
        """True when anyone has a loyalty account."""
        return bool(self.members.num_rows > 0)


def read_loyalty(url_or_engine: str | Engine) -> LoyaltyTables:
    """Read the members, the ledger's entries, the tier changes and the coupons of the store
    at ``url_or_engine`` (migrated) in bulk, keyed by the customers' external ids."""
    url = (
        url_or_engine.url
        if isinstance(url_or_engine, Engine)
        else make_url(normalise_url(url_or_engine))
    )
    sqlite = url.get_backend_name() == "sqlite"
    with closing(_connect(url)) as connection, closing(connection.cursor()) as cursor:

        def fetch(sql: str, schema: pa.Schema) -> pa.Table:
            if sqlite:
                return _fetch_sqlite_typed(cursor, sql, schema)
            return _typed(_fetch_arrow(cursor, sql), schema)

        raw = fetch(_MEMBERS, _RAW_MEMBERS)
        entries = fetch(_ENTRIES, LOYALTY_ENTRIES_SCHEMA)
        changes = fetch(_TIER_CHANGES, TIER_CHANGES_SCHEMA)
        coupons = fetch(_COUPONS, LOYALTY_COUPONS_SCHEMA)
    return LoyaltyTables(_members(raw), entries, changes, coupons)


def _members(raw: pa.Table) -> pa.Table:
    created, first = raw["created_at"], raw["first_at"]
    joined = pc.if_else(pc.fill_null(pc.less(first, created), False), first, created)
    columns = {name: raw[name] for name in LOYALTY_MEMBERS_SCHEMA.names if name in raw.column_names}
    columns["joined_at"] = joined
    return pa.table(
        [columns[name] for name in LOYALTY_MEMBERS_SCHEMA.names], schema=LOYALTY_MEMBERS_SCHEMA
    )


def _typed(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table``'s columns cast to ``schema`` (PostgreSQL's int4 ids, timestamptz zones)."""
    return pa.Table.from_arrays(
        [_column(table[field.name], field.type) for field in schema], schema=schema
    )


def _column(values: Any, to: pa.DataType) -> Any:
    if pa.types.is_timestamp(to) and (
        pa.types.is_string(values.type) or pa.types.is_large_string(values.type)
    ):  # SQLite: UTC wall clock as text
        values = values.cast(pa.timestamp("us"))
    if pa.types.is_timestamp(to) and pa.types.is_timestamp(values.type) and not values.type.tz:
        values = values.cast(pa.timestamp("us")).cast(pa.timestamp("us", tz="UTC"))
    return values.cast(to)


def _fetch_sqlite_typed(cursor: sqlite3.Cursor, sql: str, schema: pa.Schema) -> pa.Table:
    """Like ``store.arrow._fetch_sqlite``, in chunks, but into ``schema`` (so an empty result
    has its columns' types too)."""
    cursor.execute(sql)
    batches = []
    while rows := cursor.fetchmany(_CHUNK):
        columns = zip(*rows, strict=True)
        raw = pa.table({field.name: pa.array(c) for field, c in zip(schema, columns, strict=True)})
        batches.append(_typed(raw, schema))
    return pa.concat_tables(batches) if batches else schema.empty_table()
