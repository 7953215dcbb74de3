"""Helpers the privacy services share: the clock, customer look-up, aware UTC datetimes."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from retentio.privacy.errors import NotFoundError
from retentio.store.tables import Customer


def utc_now(now: datetime | None = None) -> datetime:
    """``now`` (or the wall clock) as an aware UTC datetime."""
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(UTC)


def iso(value: datetime | None) -> str | None:
    """A stored timestamp as ISO 8601 in UTC, or None."""
    return None if value is None else value.astimezone(UTC).isoformat()


def find_customer(session: Session, customer: str, *, lock: bool = False) -> Customer:
    """The customer with the shop's id ``customer``; a NotFoundError when there is none."""
    if "\x00" in customer:  # PostgreSQL text cannot hold NUL: no customer has such an id
        raise NotFoundError(f"no customer with id {customer!r}")
    query = select(Customer).where(Customer.external_id == customer)
    if lock:
        query = query.with_for_update()
    row = session.scalars(query).one_or_none()
    if row is None:
        raise NotFoundError(f"no customer with id {customer!r}")
    return row
