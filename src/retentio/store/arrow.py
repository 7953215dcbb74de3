"""Bulk reads of the store into Arrow, in the tables the analytics functions take.

PostgreSQL: ADBC hands the result over as Arrow record batches (COPY in binary). SQLite: the
standard library's driver, in chunks straight into Arrow arrays. Not ADBC's SQLite driver: it
links its own copy of SQLite, and two copies in one process with the same database open break
each other's POSIX locks (SQLite's "How To Corrupt" 2.2.1); the API server, which holds the
store open, read "database disk image is malformed" that way. The arithmetic runs in Arrow.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from typing import Any
from urllib.parse import quote

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Engine
from sqlalchemy.engine import URL, make_url

from retentio.analytics.schema import TRANSACTIONS_SCHEMA
from retentio.core.errors import ConfigurationError
from retentio.core.money import minor_unit_exponent
from retentio.store.engine import normalise_url

__all__ = ["EXCLUDED_STATUSES", "read_transactions"]

#: Orders in these states are not purchases (yet, or any more): left out with their refunds.
EXCLUDED_STATUSES = ("cancelled", "pending")

_CHUNK = 100_000  # rows per Arrow batch read from SQLite
_EXCLUDED = ", ".join(f"'{status}'" for status in EXCLUDED_STATUSES)
_ORDERS = f"""
SELECT c.external_id AS customer_id, o.external_id AS order_id, o.ordered_at AS ordered_at,
       o.total_minor AS minor, o.currency AS currency, o.status AS status
FROM orders o JOIN customers c ON c.id = o.customer_id
WHERE o.status NOT IN ({_EXCLUDED})
"""  # noqa: S608 (constants)
_REFUNDS = f"""
SELECT c.external_id AS customer_id, o.external_id AS order_id, r.refunded_at AS ordered_at,
       r.amount_minor AS minor, o.currency AS currency, 'refunded' AS status
FROM refunds r JOIN orders o ON o.id = r.order_id JOIN customers c ON c.id = o.customer_id
WHERE o.status NOT IN ({_EXCLUDED})
"""  # noqa: S608 (constants)


def read_transactions(url_or_engine: str | Engine) -> pa.Table:
    """The store's orders as the transactions table (``TRANSACTIONS_SCHEMA``) every metric reads.

    One row per order, its ``amount`` the total in major units (``total_minor / 10**exponent``
    of its currency) and ``status`` the order's; one row per refund with the negative refunded
    amount, ``is_refund`` true, the refund's time as ``ordered_at``, the order's id and status
    ``refunded``. Cancelled and pending orders (``EXCLUDED_STATUSES``) are left out, refunds
    and all, as ``load_transactions`` leaves them out of a file. Rows come in no set order.
    """
    url = (
        url_or_engine.url
        if isinstance(url_or_engine, Engine)
        else make_url(normalise_url(url_or_engine))
    )
    fetch = _fetch_sqlite if url.get_backend_name() == "sqlite" else _fetch_arrow
    with closing(_connect(url)) as connection, closing(connection.cursor()) as cursor:
        orders = fetch(cursor, _ORDERS)
        refunds = fetch(cursor, _REFUNDS)
    return pa.concat_tables([_normalised(orders, False), _normalised(refunds, True)])


def _fetch_arrow(cursor: Any, sql: str) -> pa.Table:
    cursor.execute(sql)
    table: pa.Table = cursor.fetch_arrow_table()
    return table


def _fetch_sqlite(cursor: sqlite3.Cursor, sql: str) -> pa.Table:
    cursor.execute(sql)
    names = [column[0] for column in cursor.description]
    batches = []
    while rows := cursor.fetchmany(_CHUNK):
        columns = zip(*rows, strict=True)
        arrays = {name: pa.array(column) for name, column in zip(names, columns, strict=True)}
        batches.append(pa.table(arrays))
    if not batches:
        types = [pa.string(), pa.string(), pa.string(), pa.int64(), pa.string(), pa.string()]
        return pa.table({n: pa.array([], t) for n, t in zip(names, types, strict=True)})
    return pa.concat_tables(batches, promote_options="permissive")


def _connect(url: URL) -> Any:
    """A read-only connection to the store at ``url``: sqlite3, or ADBC for PostgreSQL."""
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:":
            raise ConfigurationError("an in-memory SQLite database cannot be read in bulk")
        return sqlite3.connect(f"file:{quote(url.database)}?mode=ro", uri=True)
    import adbc_driver_postgresql.dbapi  # type: ignore[import-untyped]

    plain = url.set(drivername="postgresql").render_as_string(hide_password=False)
    return adbc_driver_postgresql.dbapi.connect(plain)


def _normalised(raw: pa.Table, refunds: bool) -> pa.Table:
    """``raw`` (customer_id, order_id, ordered_at, minor, currency, status) as transactions."""
    currency = raw["currency"].cast(pa.string())
    codes = pc.unique(currency).to_pylist()
    divisors = pa.array([float(10 ** minor_unit_exponent(c)) for c in codes], pa.float64())
    divisor = pc.take(divisors, pc.index_in(currency, pa.array(codes, pa.string())))
    amount = pc.divide(raw["minor"].cast(pa.float64()), divisor)
    if refunds:
        amount = pc.negate(amount)
    at = raw["ordered_at"]
    if pa.types.is_string(at.type) or pa.types.is_large_string(at.type):  # SQLite: UTC text
        at = at.cast(pa.timestamp("us")).cast(pa.timestamp("us", tz="UTC"))
    arrays = [
        raw["customer_id"].cast(pa.string()),
        raw["order_id"].cast(pa.string()),
        at.cast(pa.timestamp("us", tz="UTC")),
        amount,
        currency,
        pa.repeat(pa.scalar(refunds), len(raw)),
        raw["status"].cast(pa.string()),
    ]
    return pa.Table.from_arrays(arrays, schema=TRANSACTIONS_SCHEMA)
