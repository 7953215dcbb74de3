"""Bulk statements shared by the ingest services: SQLite and PostgreSQL upserts and lookups."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any, TypeVar

import orjson
from sqlalchemy import (
    JSON,
    Column,
    Connection,
    String,
    Table,
    any_,
    bindparam,
    column,
    func,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from retentio.ingest.results import BatchResult
from retentio.store.tables import AuditEntry, Customer

__all__ = [
    "audit",
    "bulk_insert",
    "ensure_customers",
    "insert_for",
    "insert_under",
    "one_of",
    "rows_by",
    "rows_in",
    "same_row",
    "with_retry",
]

T = TypeVar("T")
_RETRYABLE_STATES = {"40001", "40P01"}  # PostgreSQL serialization failure, deadlock
CUSTOMERS: Table = Customer.__table__  # type: ignore[assignment]
AUDIT: Table = AuditEntry.__table__  # type: ignore[assignment]


def insert_for(connection: Connection, table: Table) -> Any:
    """The dialect's INSERT, which has ``on_conflict_do_update`` / ``on_conflict_do_nothing``."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def bulk_insert(
    connection: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    key: Sequence[str] = (),
    update: Sequence[str] = (),
    where: str | None = None,
    touch: str | None = None,
) -> int | None:
    """INSERT ``rows``; on a conflict on ``key`` (the unique index, partial with ``where``) set
    the ``update`` columns (and ``touch`` to now) or, without them, skip the row.

    Returns, on PostgreSQL, how many rows were inserted rather than updated (None on SQLite,
    where ``BEGIN IMMEDIATE`` makes what the batch read beforehand exact): two concurrent
    batches may both have read a key as new, and only one of them inserts it.

    PostgreSQL gets one statement over ``unnest`` of one array per column (one round trip for
    the batch); SQLite an ``executemany`` of the dialect's INSERT, which is as fast in-process.
    """
    if not rows:
        return None if connection.dialect.name != "postgresql" else 0
    if connection.dialect.name != "postgresql":
        statement = sqlite.insert(table)
        if key and update:
            changes: dict[str, Any] = {c: statement.excluded[c] for c in update}
            if touch:
                changes[touch] = func.now()
            statement = statement.on_conflict_do_update(
                index_elements=list(key), index_where=_where(where), set_=changes
            )
        elif key:
            statement = statement.on_conflict_do_nothing(
                index_elements=list(key), index_where=_where(where)
            )
        _sqlite_executemany(connection, table, statement, rows)
        return None
    sql, arrays = _unnest_insert(connection, table, rows, key, update, where, touch)
    if key and update:
        inserted = connection.exec_driver_sql(sql + " RETURNING (xmax = 0)", arrays).scalars()
        return sum(1 for new in inserted if new)
    return connection.exec_driver_sql(sql, arrays).rowcount


def _sqlite_executemany(
    connection: Connection, table: Table, statement: Any, rows: Sequence[dict[str, Any]]
) -> None:
    """``statement`` for every row through the driver's ``executemany``, values converted by
    each column type's own bind processor: SQLAlchemy's per-row parameter handling cost as much
    as SQLite's inserts at 10,000 rows."""
    names = list(rows[0])
    compiled = statement.compile(dialect=connection.dialect, column_keys=names)
    order = list(getattr(compiled, "positiontup", None) or ())
    if sorted(order) != sorted(names):  # not a plain positional insert: let SQLAlchemy do it
        connection.execute(statement, list(rows))
        return
    types = [table.c[name].type for name in order]
    values = _converted(connection, types, order, rows)
    connection.exec_driver_sql(str(compiled), values)


def _converted(
    connection: Connection,
    types: Sequence[Any],
    names: Sequence[str],
    rows: Sequence[dict[str, Any]],
) -> list[Any]:
    """One tuple of parameters per row (the values of ``names``), each value converted by its
    column type's bind processor, column by column (the columns without one as they are)."""
    dialect = connection.dialect
    take = itemgetter(*names)
    values: list[Any] = (
        [take(row) for row in rows] if len(names) > 1 else [(take(row),) for row in rows]
    )
    convert = [kind.dialect_impl(dialect).bind_processor(dialect) for kind in types]
    if any(convert):
        columns: list[Any] = list(zip(*values, strict=True))
        for number, process in enumerate(convert):
            if process is not None:
                columns[number] = [None if v is None else process(v) for v in columns[number]]
        values = list(zip(*columns, strict=True))
    return values


def insert_under(
    connection: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    link: str,
    parent: Column[Any],
) -> None:
    """INSERT ``rows`` into ``table``, whose ``link`` column refers to ``parent``'s table: each
    row gives the parent by the value of its ``parent`` column (an order's external id, say),
    and the parent's id is looked up inside the statement instead of fetched first.

    Raises if a parent is missing (a programming error: the caller has just written them).
    """
    if not rows:
        return
    quote = connection.dialect.identifier_preparer.quote
    names = [name for name in rows[0] if name != link]
    into = f"INSERT INTO {quote(table.name)} ({', '.join(quote(n) for n in [*names, link])}) "
    found = f"{quote(parent.table.name)} AS parent"
    (primary,) = parent.table.primary_key.columns
    parent_id = f"parent.{quote(primary.name)}"
    if connection.dialect.name != "postgresql":
        sql = (
            f"{into}SELECT {', '.join('?' for _ in names)}, {parent_id} "  # noqa: S608 (names from the tables' metadata)
            f"FROM {found} WHERE parent.{quote(parent.name)} = ?"
        )
        types = [*(table.c[n].type for n in names), parent.type]
        values = _converted(connection, types, [*names, link], rows)
        written = connection.exec_driver_sql(sql, values)
    else:
        dialect = connection.dialect
        kinds = [table.c[n].type.compile(dialect=dialect) for n in names]
        kinds.append(parent.type.compile(dialect=dialect))
        columns = [*names, link]
        arrays = tuple(_array_literal([row[name] for row in rows]) for name in columns)
        sql = (
            f"{into}SELECT {', '.join(f'batch.{quote(n)}' for n in names)}, {parent_id} "  # noqa: S608 (names from the tables' metadata)
            f"FROM unnest({', '.join(f'%s::{kind}[]' for kind in kinds)}) "
            f"AS batch({', '.join(quote(n) for n in columns)}) "
            f"JOIN {found} ON parent.{quote(parent.name)} = batch.{quote(link)}"
        )
        written = connection.exec_driver_sql(sql, arrays)
    if written.rowcount != len(rows):
        raise RuntimeError(
            f"{table.name}: {len(rows) - written.rowcount} of {len(rows)} rows had no "
            f"{parent.table.name} row to belong to"
        )


def _where(where: str | None) -> Any:
    return None if where is None else text(where)


def _unnest_insert(
    connection: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    key: Sequence[str],
    update: Sequence[str],
    where: str | None,
    touch: str | None,
) -> tuple[str, tuple[str, ...]]:
    dialect = connection.dialect
    quote = dialect.identifier_preparer.quote
    names = list(rows[0])
    arrays: list[str] = []
    placeholders, selected = [], []
    for name in names:
        column = table.c[name]
        values = [row[name] for row in rows]
        if isinstance(column.type, JSON):  # sent as text, cast back: no json[] adaptation
            values = [None if v is None else json.dumps(v) for v in values]
            placeholders.append("%s::text[]")
            selected.append(f"{quote(name)}::json")
        else:
            placeholders.append(f"%s::{column.type.compile(dialect=dialect)}[]")
            selected.append(quote(name))
        arrays.append(_array_literal(values))
    columns = ", ".join(quote(name) for name in names)
    sql = (
        f"INSERT INTO {quote(table.name)} ({columns}) SELECT {', '.join(selected)} "  # noqa: S608 (names from the table's metadata)
        f"FROM unnest({', '.join(placeholders)}) AS batch({columns})"
    )
    if key:
        sql += f" ON CONFLICT ({', '.join(quote(k) for k in key)})"
        sql += f" WHERE {where}" if where else ""
        changes = [f"{quote(c)} = EXCLUDED.{quote(c)}" for c in update]
        changes += [f"{quote(touch)} = now()"] if touch and update else []
        sql += f" DO UPDATE SET {', '.join(changes)}" if update else " DO NOTHING"
    return sql, tuple(arrays)


def _element(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):  # in UTC: PostgreSQL takes offsets up to 15:59 only
        text = (value if value.tzinfo is None else value.astimezone(UTC)).isoformat()
    else:
        text = str(value)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _array_literal(values: list[Any]) -> str:
    """``values`` as one PostgreSQL array literal: psycopg sends a string as is, where it would
    adapt a list of 10,000 values element by element in Python."""
    if all(type(v) is int for v in values):
        return "{" + ",".join(map(str, values)) + "}"
    return "{" + ",".join(map(_element, values)) + "}"


def one_of(connection: Connection, key: Column[Any], values: Iterable[Any]) -> Any:
    """``key IN (values)`` with the values as one parameter, however many: a PostgreSQL array;
    on SQLite a JSON array read by ``json_each`` (a list of 10,000 bound values cost more to
    compile than the query took to run). ``values``: strings or integers."""
    wanted = sorted(set(values))
    if connection.dialect.name == "postgresql":
        return key == any_(bindparam("one_of", wanted, type_=postgresql.ARRAY(key.type)))
    listed = bindparam("one_of", orjson.dumps(wanted).decode(), type_=String)
    return key.in_(select(column("value")).select_from(func.json_each(listed)))


def rows_by(
    connection: Connection, key: Column[Any], values: Iterable[Any], *columns: Any
) -> dict[Any, Any]:
    """``{key: row}`` of the rows whose ``key`` is one of ``values``."""
    return {row[0]: row for row in rows_in(connection, select(key, *columns), key, values)}


def rows_in(connection: Connection, query: Any, key: Any, values: Iterable[Any]) -> list[Any]:
    """All rows of ``query`` whose ``key`` is one of ``values``."""
    wanted = set(values)
    if not wanted:
        return []
    return list(connection.execute(query.where(one_of(connection, key, wanted))).all())


def ensure_customers(connection: Connection, external_ids: Iterable[str]) -> dict[str, Any]:
    """``{external_id: (id, erased_at)}``, creating a bare customer for each id not yet known."""
    c = CUSTOMERS.c
    wanted = set(external_ids)
    known = rows_by(connection, c.external_id, wanted, c.id, c.erased_at)
    missing = sorted(wanted - known.keys())
    if missing:
        rows = [{"external_id": e, "attributes": {}} for e in missing]
        bulk_insert(connection, CUSTOMERS, rows, key=["external_id"])
        known |= rows_by(connection, c.external_id, missing, c.id, c.erased_at)
    return {key: (row[1], row[2]) for key, row in known.items()}


def same_row(row: dict[str, Any], before: Any, columns: Sequence[str]) -> bool:
    """Whether the stored row ``before`` already holds ``row``'s values of ``columns``."""
    stored = before._mapping
    return all(stored[c] == row[c] for c in columns)


def audit(
    connection: Connection,
    actor: str,
    action: str,
    result: BatchResult,
    *,
    customer_id: int | None = None,
) -> None:
    """One audit entry for the batch: counts only, never the data itself."""
    details = result.to_dict()
    details.pop("errors")
    details["unchanged"] = result.unchanged
    connection.execute(
        AUDIT.insert().values(actor=actor, action=action, customer_id=customer_id, details=details)
    )


def with_retry(
    session: Session, write: Callable[[], T], lock: AbstractContextManager[Any] | None = None
) -> T:
    """Run ``write`` and commit, holding ``lock`` (a server's SQLite writer lock) if given;
    once more after a lost race (a unique key another writer took first, a PostgreSQL deadlock
    or serialization failure). Rolled back on any failure."""
    with lock if lock is not None else nullcontext():
        for attempt in (1, 2):
            try:
                outcome = write()
                session.commit()
                return outcome
            except (IntegrityError, OperationalError) as exc:
                session.rollback()
                state = getattr(exc.orig, "sqlstate", None)
                retry = isinstance(exc, IntegrityError) or state in _RETRYABLE_STATES
                if attempt == 2 or not retry:
                    raise
            except BaseException:
                session.rollback()
                raise
    raise AssertionError("unreachable")  # pragma: no cover
