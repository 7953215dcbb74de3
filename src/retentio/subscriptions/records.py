"""The subscription's rows as the use cases share them: lock one, log an event in its
history (and, for journeys, in the customer's events), and show it.

A subscription changes only under a lock on its row (PostgreSQL ``SELECT ... FOR UPDATE``,
SQLite ``BEGIN IMMEDIATE``); each change is one transaction that writes the row, its event
and, where journeys care, a customer event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from retentio.core.errors import RetentioError
from retentio.core.money import minor_unit_exponent
from retentio.privacy.errors import NotFoundError
from retentio.store.subscription_tables import Subscription, SubscriptionEvent, SubscriptionItem
from retentio.store.tables import Customer, Event
from retentio.store.transactions import begin_write
from retentio.subscriptions.orders import discounted
from retentio.subscriptions.schedule import Cadence

__all__ = [
    "JOURNEY_EVENTS",
    "SubscriptionStateError",
    "SubscriptionView",
    "cadence_of",
    "done_before",
    "items_of",
    "local_today",
    "lock",
    "log",
    "major",
    "show",
]

#: The subscription events journeys can start on (customer events, with the subscription).
JOURNEY_EVENTS = (
    "subscription_paused",
    "subscription_resumed",
    "subscription_cancelled",
    "pause_ending_soon",
    "payment_failed",
)


class SubscriptionStateError(RetentioError):
    """A change the subscription's state does not allow (the API answers 409)."""


@dataclass(frozen=True, slots=True)
class SubscriptionView:
    """A subscription as the API and the customer's page show it."""

    body: dict[str, Any]
    repeated: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {**self.body, "repeated": self.repeated}


def lock(session: Session, subscription_id: int) -> Subscription:
    """The subscription, locked for this transaction; a NotFoundError if there is none."""
    begin_write(session)
    query = select(Subscription).where(Subscription.id == subscription_id).with_for_update()
    row = session.scalars(query.execution_options(populate_existing=True)).one_or_none()
    if row is None:
        session.rollback()
        raise NotFoundError(f"no subscription {subscription_id}")
    return row


def done_before(session: Session, key: str | None) -> SubscriptionEvent | None:
    """The event a request with ``key`` made, if it was made before."""
    if key is None:
        return None
    return session.scalars(
        select(SubscriptionEvent).where(SubscriptionEvent.key == key)
    ).one_or_none()


def log(
    session: Session,
    row: Subscription,
    kind: str,
    data: dict[str, Any],
    *,
    now: datetime,
    actor: str,
    key: str | None = None,
) -> SubscriptionEvent:
    """Add an event to the subscription's history; one of :data:`JOURNEY_EVENTS` also goes
    to the customer's events, for journeys."""
    event = SubscriptionEvent(
        subscription_id=row.id, kind=kind, data=data, key=key, occurred_at=now, actor=actor
    )
    session.add(event)
    session.flush()
    if kind in JOURNEY_EVENTS:
        session.add(
            Event(
                external_id=f"subscription:{kind}:{event.id}",
                customer_id=row.customer_id,
                name=kind,
                properties={"subscription": row.id, **data},
                occurred_at=now,
            )
        )
    row.updated_at = now
    return event


def local_today(row: Subscription, now: datetime) -> date:
    return now.astimezone(ZoneInfo(row.time_zone)).date()


def cadence_of(row: Subscription) -> Cadence:
    return Cadence(row.cadence_unit, row.cadence_count)


def items_of(session: Session, row: Subscription) -> list[SubscriptionItem]:
    return list(
        session.scalars(
            select(SubscriptionItem)
            .where(SubscriptionItem.subscription_id == row.id)
            .order_by(SubscriptionItem.id)
        )
    )


def major(minor: int, currency: str) -> str:
    return str(Decimal(minor).scaleb(-minor_unit_exponent(currency)))


def show(session: Session, row: Subscription, *, repeated: bool = False) -> SubscriptionView:
    """The subscription with its items, the next order's amount and its customer."""
    items = items_of(session, row)
    total, _percent = discounted(row, items)
    customer = session.get(Customer, row.customer_id)
    body = {
        "id": row.id,
        "external_id": row.external_id,
        "customer": customer.external_id if customer else None,
        "status": row.status,
        "currency": row.currency,
        "cadence": cadence_of(row).to_dict(),
        "time_zone": row.time_zone,
        "next_order_on": row.next_order_on if row.status in ("active", "past_due") else None,
        "pause_until": row.pause_until,
        "pause_from": row.pause_from,
        "skipped": list(row.skipped or []),
        "items": [
            {
                "product": i.product,
                "quantity": i.quantity,
                "price": major(i.price_minor, row.currency),
            }
            for i in items
        ],
        "next_amount": major(total, row.currency),
        "discount": row.discount,
        "cycle": row.cycle,
        "max_cycles": row.max_cycles,
        "created_at": row.created_at,
        "cancelled_at": row.cancelled_at,
        "cancel_reason": row.cancel_reason,
    }
    return SubscriptionView(body, repeated)
