"""The loyalty events journeys and segments react to, written to the customer's events in the
same transaction as the change they tell of (so an event is never lost or told twice: its
external id is derived from what it tells of).

| event              | properties                                                    |
|--------------------|---------------------------------------------------------------|
| points_earned      | points, pending, rule (spend or an action), order_id, balance |
| reward_redeemed    | reward, code, points, value, expires_at                       |
| tier_changed       | from, to, direction (up or down)                              |
| points_expiring    | points, expires_at, days (before they expire)                 |
| referral_completed | role (referrer or friend), points, referral (its id)          |
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from retentio.store.tables import Event

__all__ = ["LOYALTY_EVENTS", "event_exists", "record_event"]

LOYALTY_EVENTS = (
    "points_earned",
    "reward_redeemed",
    "tier_changed",
    "points_expiring",
    "referral_completed",
)


def _external_id(name: str, ref: str) -> str:
    return f"loyalty:{name}:{ref}"[:200]


def record_event(
    session: Session,
    customer_id: int,
    name: str,
    ref: str,
    properties: dict[str, Any],
    at: datetime,
) -> None:
    """Add the event ``name`` about ``ref`` (unique per name) to the session's transaction."""
    session.add(
        Event(
            external_id=_external_id(name, ref),
            customer_id=customer_id,
            name=name,
            properties=properties,
            occurred_at=at,
        )
    )


def event_exists(session: Session, name: str, ref: str) -> bool:
    found = session.scalar(select(Event.id).where(Event.external_id == _external_id(name, ref)))
    return found is not None
