"""Bulk statements: many rows in few statements, on SQLite and PostgreSQL.

Rows are tuples in the order of the columns named with them, holding the values of the column
types (datetimes, ints, strings, dicts for JSON columns); every value goes through its column
type's bind conversion, as SQLAlchemy would convert it. SQLite gets the driver's
``executemany`` of one prepared statement (in-process, as fast as SQLite can insert);
PostgreSQL one statement whose rows arrive as a single JSON array (serialised by orjson in C,
unpacked by ``jsonb_array_elements`` on the server), one round trip per batch.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    Column,
    Connection,
    String,
    Table,
)
from sqlalchemy.engine import Dialect

from retentio.store.params import is_postgres

__all__ = ["bind_rows", "bulk_insert", "copy_rows", "insert_under"]


Row = Sequence[Any]


def bulk_insert(
    connection: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Row],
    *,
    key: Sequence[str] = (),
    update: Sequence[str] | Mapping[str, str] = (),
    where: str | None = None,
    touch: str | None = None,
    bound: bool = False,
) -> int | None:
    """INSERT ``rows`` (tuples of the ``columns``' values; ``bound``: converted already by
    :func:`bind_rows`); on a conflict on ``key`` (the unique index, partial with ``where``)
    set the ``update`` columns to the new row's (a mapping: to SQL expressions of the stored
    row, ``table.column``, and the new one, ``excluded.column``), and ``touch`` to now; or,
    without ``update``, skip the row.

    Returns, on PostgreSQL, how many rows were inserted rather than updated (None on SQLite,
    where ``BEGIN IMMEDIATE`` makes what the batch read beforehand exact): two concurrent
    batches may both have read a key as new, and only one of them inserts it.
    """
    postgres = is_postgres(connection)
    if not rows:
        return 0 if postgres else None
    quote = connection.dialect.identifier_preparer.quote
    into = f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "
    conflict = _on_conflict(connection, key, update, where, touch)
    if not bound:
        rows = bind_rows(connection.dialect, table, columns, rows)
    if not postgres:
        values = f"VALUES ({', '.join('?' for _ in columns)})"
        connection.exec_driver_sql(into + values + conflict, rows)
        return None
    sql = into + _json_rows(connection, [table.c[name] for name in columns]) + conflict
    payload = _payload(rows)
    if key and update:
        inserted = connection.exec_driver_sql(sql + " RETURNING (xmax = 0)", payload).scalars()
        return sum(1 for new in inserted if new)
    return connection.exec_driver_sql(sql, payload).rowcount


def copy_rows(
    connection: Connection, table: Table, columns: Sequence[str], rows: Sequence[Row]
) -> None:
    """Append ``rows`` (plain values: ints, strings, aware datetimes) to ``table``, in the
    connection's transaction: PostgreSQL's ``COPY`` (binary), else :func:`bulk_insert`. For
    new rows only (no conflict handling): a campaign launch's audience and outbox, where
    COPY takes half the time of an INSERT of the rows as JSON."""
    if not rows:
        return
    if not is_postgres(connection):
        bulk_insert(connection, table, columns, rows)
        return
    quote = connection.dialect.identifier_preparer.quote
    names = ", ".join(quote(c) for c in columns)
    driver = connection.connection.driver_connection
    assert driver is not None  # noqa: S101 (an open connection)
    with (
        driver.cursor() as cursor,
        cursor.copy(
            f"COPY {quote(table.name)} ({names}) FROM STDIN"  # noqa: S608 (names from the metadata)
        ) as copy,
    ):
        for row in rows:
            copy.write_row(row)


def insert_under(
    connection: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Row],
    *,
    link: str,
    parent: Column[Any],
) -> None:
    """INSERT ``rows`` into ``table``, whose ``link`` column refers to ``parent``'s table. Each
    row holds the ``columns``' values followed by its parent's ``parent`` value (an order's
    external id, say): the parent's id is looked up inside the statement, not fetched first.

    Raises if a parent is missing (a programming error: the caller has just written them).
    """
    if not rows:
        return
    quote = connection.dialect.identifier_preparer.quote
    names = ", ".join(quote(c) for c in [*columns, link])
    into = f"INSERT INTO {quote(table.name)} ({names}) "
    found = f"{quote(parent.table.name)} AS parent"
    (primary,) = parent.table.primary_key.columns
    parent_id = f"parent.{quote(primary.name)}"
    rows = _bound(connection.dialect, [*(table.c[name] for name in columns), parent], rows)
    if not is_postgres(connection):
        sql = (
            f"{into}SELECT {', '.join('?' for _ in columns)}, {parent_id} "  # noqa: S608 (names from the tables' metadata)
            f"FROM {found} WHERE parent.{quote(parent.name)} = ?"
        )
        written = connection.exec_driver_sql(sql, rows)
    else:
        source = _json_rows(connection, [table.c[name] for name in columns], parent_id)
        sql = (
            f"{into}{source} JOIN {found} "
            f"ON parent.{quote(parent.name)} = {_element(connection, parent, len(columns))}"
        )
        written = connection.exec_driver_sql(sql, _payload(rows))
    if written.rowcount != len(rows):
        raise RuntimeError(
            f"{table.name}: {len(rows) - written.rowcount} of {len(rows)} rows had no "
            f"{parent.table.name} row to belong to"
        )


def _on_conflict(
    connection: Connection,
    key: Sequence[str],
    update: Sequence[str] | Mapping[str, str],
    where: str | None,
    touch: str | None,
) -> str:
    if not key:
        return ""
    quote = connection.dialect.identifier_preparer.quote
    sql = f" ON CONFLICT ({', '.join(quote(k) for k in key)})"
    sql += f" WHERE {where}" if where else ""
    if not update:
        return sql + " DO NOTHING"
    if isinstance(update, Mapping):
        changes = [f"{quote(c)} = {expression}" for c, expression in update.items()]
    else:
        changes = [f"{quote(c)} = excluded.{quote(c)}" for c in update]
    if touch:
        changes.append(f"{quote(touch)} = CURRENT_TIMESTAMP")
    return sql + f" DO UPDATE SET {', '.join(changes)}"


def bind_rows(
    dialect: Dialect, table: Table, columns: Sequence[str], rows: Sequence[Row]
) -> Sequence[Row]:
    """``rows`` (of the ``columns``' values) with each value converted by its column type's
    bind conversion, as :func:`bulk_insert` sends them: callers convert a batch before they
    take a write lock, and pass ``bound=True``."""
    return _bound(dialect, [table.c[name] for name in columns], rows)


def _bound(dialect: Dialect, kinds: Sequence[Column[Any]], rows: Sequence[Row]) -> Sequence[Row]:
    """``rows`` converted column by column (as they are when no column needs converting).
    PostgreSQL's JSON columns travel as their JSON text (the dialect's own conversion wraps
    values for psycopg); the rows are then serialised as one JSON array, naive times as UTC."""
    postgres = dialect.name == "postgresql"
    converters: list[Callable[[Any], Any] | None] = [
        json.dumps
        if postgres and isinstance(kind.type, JSON)
        else kind.type.dialect_impl(dialect).bind_processor(dialect)
        for kind in kinds
    ]
    if not rows or not any(converters):
        return rows
    values: list[Any] = list(zip(*rows, strict=True))
    for number, convert in enumerate(converters):
        if convert is not None:
            values[number] = [None if v is None else convert(v) for v in values[number]]
    return list(zip(*values, strict=True))


def _payload(rows: Sequence[Row]) -> tuple[str]:
    """Converted rows as the one parameter of a PostgreSQL statement: a JSON array of arrays
    (naive times are UTC, as stored)."""
    return (orjson.dumps(rows, option=orjson.OPT_NAIVE_UTC).decode(),)


def _json_rows(connection: Connection, kinds: Sequence[Column[Any]], *more: str) -> str:
    """PostgreSQL: the SELECT of the rows of :func:`_payload`'s parameter, value ``n`` of each
    read as ``kinds[n]``'s type, then the ``more`` expressions."""
    selected = ", ".join([*(_element(connection, kind, n) for n, kind in enumerate(kinds)), *more])
    return f"SELECT {selected} FROM jsonb_array_elements(CAST(%s AS JSONB)) AS batch(item)"  # noqa: S608 (names from the tables' metadata)


def _element(connection: Connection, kind: Column[Any], number: int) -> str:
    """The SQL reading value ``number`` of a JSON row ``item`` as ``kind``'s type. Strings are
    read as text and checked by the column itself (a cast to VARCHAR(n) would cut them)."""
    value = f"item->>{number}"
    if isinstance(kind.type, String):
        return value
    return f"CAST({value} AS {kind.type.compile(dialect=connection.dialect)})"
