"""Record what customers did: events in bulk, and one event at a time (the tracking call)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table, literal, select
from sqlalchemy.orm import Session

from retentio.ingest._sql import (
    CUSTOMERS,
    audit,
    ensure_customers,
    insert_for,
    rows_by,
    same_row,
    with_retry,
)
from retentio.ingest.models import EventIn
from retentio.ingest.results import (
    BatchRejected,
    BatchResult,
    ItemError,
    keep_last,
    validate_items,
)
from retentio.store.bulk import bulk_insert
from retentio.store.tables import Event
from retentio.store.transactions import begin_write

__all__ = ["TrackedEvent", "ingest_events", "track_event"]

EVENTS: Table = Event.__table__  # type: ignore[assignment]
#: The columns of a written event, in the order of its row; all but the first are compared.
_COLUMNS = ("external_id", "customer_id", "name", "properties", "occurred_at")
_COMPARED = _COLUMNS[1:]
_ERASED = "this customer was erased: no events are recorded for them"


@dataclass(frozen=True, slots=True)
class TrackedEvent:
    """The stored event's id, and False when its external id was already recorded."""

    id: int
    created: bool


def ingest_events(
    session: Session,
    items: Sequence[Any],
    *,
    atomic: bool = False,
    secret: bytes | None = None,
    actor: str,
    lock: AbstractContextManager[Any] | None = None,
) -> BatchResult:
    """Validate ``items`` (decoded JSON) one by one and store the valid events.

    An event with an ``external_id`` is upserted by it (a resend changes nothing); one
    without is always added. An unknown ``customer_id`` creates a bare customer; events of an
    erased customer are refused. ``atomic``: any refused item refuses the batch
    (:class:`BatchRejected`, nothing written). Commits; one audit entry per batch.
    ``lock`` (a server's SQLite writer lock), if given, is held while it writes, not while it
    validates.
    """
    del secret  # events carry no addresses
    valid, invalid = validate_items(EventIn, items)
    valid = keep_last(valid, "external_id", invalid)
    if atomic and invalid:
        raise BatchRejected(sorted(invalid, key=lambda e: e.index), len(items))

    def write() -> BatchResult:
        errors = list(invalid)
        connection = begin_write(session)
        customers = ensure_customers(connection, {item.customer_id for _, item in valid})
        for index, item in valid:
            if customers[item.customer_id][1] is not None:
                errors.append(ItemError(index, "customer_id", _ERASED))
        if atomic and errors:
            raise BatchRejected(sorted(errors, key=lambda e: e.index), len(items))
        refused = {e.index for e in errors}
        e = EVENTS.c
        keys = [i.external_id for _, i in valid if i.external_id is not None]
        stored = rows_by(connection, e.external_id, keys, *(e[c] for c in _COMPARED))
        result = BatchResult(received=len(items), failed=len(refused))
        keyed: list[tuple[Any, ...]] = []
        unkeyed: list[tuple[Any, ...]] = []
        for index, item in valid:
            if index in refused:
                continue
            row = _row(item, customers[item.customer_id][0])
            before = stored.get(item.external_id)
            if before is None:
                result.created += 1
            elif same_row(row[1:], before, _COMPARED):
                result.unchanged += 1
                continue
            else:
                result.updated += 1
            (unkeyed if item.external_id is None else keyed).append(row)
        new_keyed = sum(1 for row in keyed if row[0] not in stored)
        result.settle(new_keyed, _upsert(connection, keyed))
        bulk_insert(connection, EVENTS, _COLUMNS, unkeyed)
        result.errors = sorted(errors, key=lambda e: e.index)
        audit(connection, actor, "events.upsert", result)
        return result

    return with_retry(session, write, lock)


def _insert_for_known_customer(connection: Connection, event: EventIn) -> int | None:
    """Insert ``event`` for its customer if the customer is stored and not erased (one
    statement: the customer's id is looked up inside it); the new event's id, or None when
    nothing was inserted (an unknown or erased customer, or the event stored already)."""
    c, e = CUSTOMERS.c, EVENTS.c
    values = select(
        literal(event.external_id, e.external_id.type),
        c.id,
        literal(event.name, e.name.type),
        literal(event.properties, e.properties.type),
        literal(event.occurred_at, e.occurred_at.type),
    ).where(c.external_id == event.customer_id, c.erased_at.is_(None))
    statement = insert_for(connection, EVENTS).from_select(
        ["external_id", "customer_id", "name", "properties", "occurred_at"], values
    )
    if event.external_id is not None:
        statement = statement.on_conflict_do_nothing(index_elements=[e.external_id])
    new_id: int | None = connection.execute(statement.returning(e.id)).scalar()
    return new_id


def _row(item: EventIn, customer_id: int) -> tuple[Any, ...]:
    """The event's values of ``_COLUMNS``."""
    return (item.external_id, customer_id, item.name, item.properties, item.occurred_at)


def _upsert(connection: Connection, rows: list[tuple[Any, ...]]) -> int | None:
    """Upsert ``rows`` by external id; on PostgreSQL, how many were inserted."""
    if not rows:
        return None
    rows.sort(key=lambda row: row[0])
    return bulk_insert(connection, EVENTS, _COLUMNS, rows, key=["external_id"], update=_COMPARED)


def track_event(
    session: Session,
    item: Any,
    *,
    actor: str,
    lock: AbstractContextManager[Any] | None = None,
) -> TrackedEvent:
    """Store one event (raw JSON or an :class:`EventIn`) in a few statements; commits (holding
    ``lock``, if given, while it writes).

    A resend with the same ``external_id`` changes nothing and answers ``created=False``.
    Raises :class:`BatchRejected` (one error, index 0) for an invalid item or an erased customer.
    """
    if isinstance(item, EventIn):
        event = item
    else:
        valid, errors = validate_items(EventIn, [item])
        if errors:
            raise BatchRejected(errors, 1)
        event = valid[0][1]

    # Not audited one by one: at live-tracking rates the log would hold little else (batches
    # are audited, and the API key's last use is kept).
    del actor

    def write() -> TrackedEvent:
        connection = begin_write(session)
        new_id = _insert_for_known_customer(connection, event)
        if new_id is not None:  # the common case, in one statement
            return TrackedEvent(id=new_id, created=True)
        # A new customer (created bare), an erased one, or an event stored already.
        customer_id, erased_at = ensure_customers(connection, [event.customer_id])[
            event.customer_id
        ]
        if erased_at is not None:
            raise BatchRejected([ItemError(0, "customer_id", _ERASED)], 1)
        row = dict(zip(_COLUMNS, _row(event, customer_id), strict=True))
        statement = insert_for(connection, EVENTS).values(row)
        if event.external_id is not None:
            statement = statement.on_conflict_do_nothing(index_elements=[EVENTS.c.external_id])
        new_id = connection.execute(statement.returning(EVENTS.c.id)).scalar()
        tracked = TrackedEvent(id=new_id, created=True) if new_id is not None else None
        if tracked is None:
            existing = connection.execute(
                select(EVENTS.c.id).where(EVENTS.c.external_id == event.external_id)
            ).scalar_one()
            tracked = TrackedEvent(id=existing, created=False)
        return tracked

    return with_retry(session, write, lock)
