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

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, func, or_, select, update
from sqlalchemy.orm import Session

from retentio.store.campaign_tables import Delivery, DeliveryEvent
from retentio.store.params import is_postgres
from retentio.store.transactions import begin_write

__all__ = [
    "FINAL_STATUSES",
    "Claimed",
    "backoff",
    "claim",
    "finish",
    "record_event",
    "reschedule",
]

DELIVERIES: Table = Delivery.__table__  # type: ignore[assignment]
EVENTS: Table = DeliveryEvent.__table__  # type: ignore[assignment]
FINAL_STATUSES = ("sent", "bounced", "failed", "skipped")
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
    session: Session, *, owner: str, now: datetime, lease: timedelta, limit: int
) -> list[Claimed]:
    """Lease up to ``limit`` due deliveries to ``owner`` (committed), oldest due first."""
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


def _mine(delivery_id: int, owner: str) -> Any:
    d = DELIVERIES.c
    return (d.id == delivery_id) & (d.lease_owner == owner) & (d.status == "queued")


def finish(
    session: Session,
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
    """Record a final outcome (committed); False when the lease was lost meanwhile (another
    worker took the row after it ran out, and its outcome stands)."""
    values: dict[str, Any] = {
        "status": status,
        "detail": detail,
        "lease_owner": None,
        "lease_until": None,
        "updated_at": now,
    }
    if attempted:
        values["attempts"] = DELIVERIES.c.attempts + 1
    if status == "sent":
        values |= {"sent_at": now, "message_id": message_id, "provider_id": provider_id}
    elif message_id is not None:
        values["message_id"] = message_id
    done = session.execute(update(DELIVERIES).where(_mine(delivery_id, owner)).values(**values))
    session.commit()
    return bool(done.rowcount)  # type: ignore[attr-defined]


def reschedule(
    session: Session,
    delivery_ids: Sequence[int],
    *,
    owner: str,
    until: datetime,
    now: datetime,
    detail: str,
    attempted: bool = False,
) -> None:
    """Put deliveries back in the queue, due at ``until`` (quiet hours, a frequency cap, or
    the backoff after a transient failure: ``attempted``); committed."""
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
    session.execute(
        update(DELIVERIES)
        .where(d.id.in_(list(delivery_ids)), d.lease_owner == owner, d.status == "queued")
        .values(**values)
    )
    session.commit()


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


def status_counts(session: Session, campaign_id: int) -> dict[str, int]:
    """A campaign's deliveries by status."""
    d = DELIVERIES.c
    query = select(d.status, func.count()).where(d.campaign_id == campaign_id).group_by(d.status)
    return {str(status): int(n) for status, n in session.execute(query)}
