"""Look-ups, bare customers, the audit entry and the retry shared by the ingest services."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any, TypeVar

from sqlalchemy import (
    JSON,
    Column,
    Connection,
    Engine,
    Table,
    literal,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from retentio.ingest.results import BatchResult
from retentio.store.bulk import bulk_insert
from retentio.store.params import json_elements, one_of
from retentio.store.tables import AuditEntry, Customer
from retentio.store.transactions import RETRYABLE_STATES

__all__ = [
    "CUSTOMERS",
    "audit",
    "ensure_customers",
    "ensure_customers_apart",
    "insert_for",
    "rows_by",
    "rows_in",
    "same_row",
    "with_retry",
]

T = TypeVar("T")
_ATTEMPTS = 10
CUSTOMERS: Table = Customer.__table__  # type: ignore[assignment]
AUDIT: Table = AuditEntry.__table__  # type: ignore[assignment]


def insert_for(connection: Connection, table: Table) -> Any:
    """The dialect's INSERT, which has ``on_conflict_do_update`` / ``on_conflict_do_nothing``."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


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
    wanted = set(external_ids)
    known = _customers(connection, wanted)
    missing = wanted - known.keys()
    if not missing:
        return known
    if connection.dialect.name == "postgresql":  # one statement, which answers the new ids
        c = CUSTOMERS.c
        inserted = _insert_bare(connection, sorted(missing)).returning(c.external_id, c.id)
        with connection.execute(inserted) as new:
            created = {row[0]: (row[1], None) for row in new}
        known |= created
        missing -= created.keys()  # a concurrent batch created these first
    else:
        # executemany, then a look-up: after an INSERT ... SELECT from json_each (with or
        # without RETURNING) the transaction's later inserts ran 1.5-2x slower (SQLite 3.40).
        rows: list[tuple[str, dict[str, Any]]] = [(key, {}) for key in sorted(missing)]
        bulk_insert(connection, CUSTOMERS, ("external_id", "attributes"), rows, key=["external_id"])
    return known | _customers(connection, missing) if missing else known


def ensure_customers_apart(
    session: Session, connection: Connection, external_ids: Iterable[str]
) -> dict[str, Any]:
    """:func:`ensure_customers` for a batch whose write cannot be refused once it starts (of
    orders): on PostgreSQL the new bare customers are created in a transaction of their own,
    committed at once, and read back in ``connection``'s. Created inside the batch's
    transaction, they made every concurrent batch that named one of them wait for this whole
    batch to commit (at 500,000 orders, 397 of 1,341 samples of busy backends waited so). A
    batch that fails afterwards leaves them behind, as an order would have made them; SQLite
    has one writer at a time, so there they are part of the batch."""
    engine = session.get_bind()
    if connection.dialect.name != "postgresql" or not isinstance(engine, Engine):
        return ensure_customers(connection, external_ids)  # (a session on a connection too)
    wanted = set(external_ids)
    known = _customers(connection, wanted)
    missing = wanted - known.keys()
    if missing:
        with engine.begin() as apart:  # those a concurrent batch created first are skipped
            apart.execute(_insert_bare(apart, sorted(missing)))
        known |= _customers(connection, missing)  # one read-back of all of them
    return known


def _customers(connection: Connection, external_ids: set[str]) -> dict[str, Any]:
    c = CUSTOMERS.c
    query = select(c.external_id, c.id, c.erased_at)
    found = rows_in(connection, query, c.external_id, external_ids)
    return {row[0]: (row[1], row[2]) for row in found}


def _insert_bare(connection: Connection, external_ids: list[str]) -> Any:
    """PostgreSQL: INSERT a customer with only its external id for each of ``external_ids``
    not stored (one statement)."""
    keys = json_elements(connection, "external_ids", external_ids)
    values = select(keys.c.value, literal({}, JSON))
    statement = postgresql.insert(CUSTOMERS).from_select(["external_id", "attributes"], values)
    return statement.on_conflict_do_nothing(index_elements=[CUSTOMERS.c.external_id])


def same_row(values: Sequence[Any], before: Any, columns: Sequence[str]) -> bool:
    """Whether the stored row ``before`` already holds ``values``, those of ``columns``."""
    stored = before._mapping
    return all(stored[name] == value for name, value in zip(columns, values, strict=True))


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
    again after a lost race (a unique key another writer took first, a PostgreSQL deadlock or
    serialization failure), up to ``_ATTEMPTS`` times in all. Rolled back on any failure.

    A batch loses a race only to a writer that committed, so each attempt finds more of its
    keys stored; overlapping batches can make one lose more than once (tested with eight)."""
    with lock if lock is not None else nullcontext():
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                outcome = write()
                session.commit()
                return outcome
            except (IntegrityError, OperationalError) as exc:
                session.rollback()
                state = getattr(exc.orig, "sqlstate", None)
                retry = isinstance(exc, IntegrityError) or state in RETRYABLE_STATES
                if attempt == _ATTEMPTS or not retry:
                    raise
            except BaseException:
                session.rollback()
                raise
    raise AssertionError("unreachable")  # pragma: no cover
