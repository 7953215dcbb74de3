"""The outbox's statements: claim due deliveries with a lease, and record what became of each.

A claim marks up to ``limit`` due rows with the worker's name and a lease end, in one
statement. PostgreSQL locks the rows it picks with ``FOR UPDATE SKIP LOCKED``, so concurrent
workers take different rows without waiting on each other; SQLite takes its write lock first
(``BEGIN IMMEDIATE``), so claims queue. A row whose lease ran out (its worker was killed, or
hung) is due again for anyone. Every outcome is written only while the worker still holds the
row's lease, and committed at once: a crash after a send and before its commit is the one case
in which a message is sent again, with the same Message-ID, so the receiver can drop the copy.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Table, bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from retentio.store.campaign_tables import Delivery, DeliveryEvent
from retentio.store.params import is_postgres
from retentio.store.transactions import begin_write

__all__ = [
    "Claimed",
    "backoff",
    "claim",
    "finish",
    "record_event",
    "reschedule",
]

DELIVERIES: Table = Delivery.__table__  # type: ignore[assignment]
EVENTS: Table = DeliveryEvent.__table__  # type: ignore[assignment]
#: Waits after the 1st, 2nd, ... transient failure; the last repeats.
_BACKOFF = (60, 300, 900, 3600, 3 * 3600, 6 * 3600, 12 * 3600)


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery a worker holds the lease on."""

    id: int
    source: str
    campaign_id: int | None
    customer_id: int
    channel: str
    purpose: str
    attempts: int


def claim(
    session: Session,
    *,
    owner: str,
    now: datetime,
    lease: timedelta,
    limit: int,
    channels: Sequence[str] | None = None,
) -> list[Claimed]:
    """Lease up to ``limit`` due deliveries to ``owner`` (committed), oldest due first; only
    those of ``channels`` when given (a channel no worker has stays queued)."""
    connection = begin_write(session)
    d = DELIVERIES.c
    due = (
        select(d.id)
        .where(
            d.status == "queued",
            d.not_before <= now,
            or_(d.lease_until.is_(None), d.lease_until < now),
        )
        .order_by(d.not_before, d.id)
        .limit(limit)
    )
    if channels is not None:
        due = due.where(d.channel.in_(list(channels)))
    if is_postgres(connection):
        due = due.with_for_update(skip_locked=True)
    claimed = connection.execute(
        update(DELIVERIES)
        .where(d.id.in_(due.scalar_subquery()))
        .values(lease_owner=owner, lease_until=now + lease)
        .returning(d.id, d.source, d.campaign_id, d.customer_id, d.channel, d.purpose, d.attempts)
    ).all()
    session.commit()
    return sorted((Claimed(*row) for row in claimed), key=lambda c: c.id)


@functools.lru_cache(maxsize=8)
def _finishing(attempted: bool, sent: bool) -> Any:
    """The UPDATE of an outcome, built once: building it took longer than running it."""
    d = DELIVERIES.c
    values: dict[str, Any] = {
        "status": bindparam("b_status"),
        "detail": bindparam("b_detail"),
        "message_id": func.coalesce(bindparam("b_message_id"), d.message_id),
        "lease_owner": None,
        "lease_until": None,
        "updated_at": bindparam("b_now"),
    }
    if attempted:
        values["attempts"] = d.attempts + 1
    if sent:
        values |= {"sent_at": bindparam("b_now"), "provider_id": bindparam("b_provider_id")}
    mine = (d.id == bindparam("b_id")) & (d.lease_owner == bindparam("b_owner"))
    return update(DELIVERIES).where(mine & (d.status == "queued")).values(**values)


def finish(
    connection: Connection,
    delivery_id: int,
    *,
    owner: str,
    status: str,
    now: datetime,
    detail: str | None = None,
    message_id: str | None = None,
    provider_id: str | None = None,
    attempted: bool = True,
) -> bool:
    """Record a final outcome on ``connection`` (the worker's autocommit connection, or a
    transaction's that the caller commits); False when the lease was lost meanwhile (another
    worker took the row after it ran out, and its outcome stands)."""
    parameters = {
        "b_id": delivery_id,
        "b_owner": owner,
        "b_status": status,
        "b_detail": detail,
        "b_message_id": message_id,
        "b_now": now,
    }
    if status == "sent":
        parameters["b_provider_id"] = provider_id
    # The connection, not the ORM: no ORM objects to synchronise, a third of the time; and
    # in autocommit one round trip to PostgreSQL instead of three (BEGIN, UPDATE, COMMIT).
    done = connection.execute(_finishing(attempted, status == "sent"), parameters)
    return bool(done.rowcount)


def reschedule(
    connection: Connection,
    delivery_ids: Sequence[int],
    *,
    owner: str,
    until: datetime,
    now: datetime,
    detail: str,
    attempted: bool = False,
) -> None:
    """Put deliveries back in the queue, due at ``until`` (quiet hours, a frequency cap, or
    the backoff after a transient failure: ``attempted``), on ``connection`` as :func:`finish`."""
    if not delivery_ids:
        return
    d = DELIVERIES.c
    values: dict[str, Any] = {
        "not_before": until,
        "lease_owner": None,
        "lease_until": None,
        "detail": detail,
        "updated_at": now,
    }
    if attempted:
        values["attempts"] = d.attempts + 1
    connection.execute(
        update(DELIVERIES)
        .where(d.id.in_(list(delivery_ids)), d.lease_owner == owner, d.status == "queued")
        .values(**values)
    )


def backoff(attempts: int) -> timedelta:
    """The wait before the next try after ``attempts`` failed tries (1 minute, 5, 15, 1 hour,
    3, 6, then every 12 hours)."""
    return timedelta(seconds=_BACKOFF[min(max(attempts, 1), len(_BACKOFF)) - 1])


def record_event(
    session: Session, delivery_id: int, kind: str, *, at: datetime, detail: str | None = None
) -> None:
    """Add a delivery event (not committed)."""
    session.execute(
        EVENTS.insert().values(delivery_id=delivery_id, kind=kind, occurred_at=at, detail=detail)
    )
