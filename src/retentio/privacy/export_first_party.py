"""The parts of a person's export they gave or asked for themselves: their subscriptions (with
their orders and history), the preferences they stated (as they stand, and every change), and
their survey answers."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from retentio.privacy._shared import iso
from retentio.store.feedback_tables import (
    CustomerPreference,
    PreferenceEvent,
    Survey,
    SurveyResponse,
)
from retentio.store.subscription_tables import (
    Subscription,
    SubscriptionEvent,
    SubscriptionItem,
    SubscriptionOrder,
)

__all__ = ["FIRST_PARTY_SECTIONS", "first_party_sections"]

#: The sections, in the export's order.
FIRST_PARTY_SECTIONS = (
    "subscriptions",
    "subscription_orders",
    "subscription_events",
    "preferences",
    "preference_history",
    "survey_responses",
)


def first_party_sections(session: Session, customer_id: int) -> dict[str, list[dict[str, Any]]]:
    """The sections of :data:`FIRST_PARTY_SECTIONS` for the customer with id ``customer_id``."""
    subscriptions = list(
        session.scalars(
            select(Subscription)
            .where(Subscription.customer_id == customer_id)
            .order_by(Subscription.id)
        )
    )
    ids = [s.id for s in subscriptions]
    return {
        "subscriptions": [_subscription(session, s) for s in subscriptions],
        "subscription_orders": _orders(session, ids),
        "subscription_events": _events(session, ids),
        "preferences": _preferences(session, customer_id),
        "preference_history": _preference_history(session, customer_id),
        "survey_responses": _responses(session, customer_id),
    }


def _subscription(session: Session, row: Subscription) -> dict[str, Any]:
    items = session.scalars(
        select(SubscriptionItem)
        .where(SubscriptionItem.subscription_id == row.id)
        .order_by(SubscriptionItem.id)
    )
    return {
        "id": row.id,
        "status": row.status,
        "currency": row.currency,
        "cadence": f"{row.cadence_count} {row.cadence_unit}",
        "next_order_on": row.next_order_on.isoformat(),
        "pause_until": None if row.pause_until is None else row.pause_until.isoformat(),
        "items": [
            {"product": i.product, "quantity": i.quantity, "price_minor": i.price_minor}
            for i in items
        ],
        "created_at": iso(row.created_at),
        "cancelled_at": iso(row.cancelled_at),
        "cancel_reason": row.cancel_reason,
        "cancel_note": row.cancel_note,
    }


def _orders(session: Session, subscriptions: list[int]) -> list[dict[str, Any]]:
    o = SubscriptionOrder
    query = select(o).where(o.subscription_id.in_(subscriptions)).order_by(o.id)
    return [
        {
            "subscription": order.subscription_id,
            "cycle": order.cycle,
            "kind": order.kind,
            "due_on": order.due_on.isoformat(),
            "amount_minor": order.amount_minor,
            "currency": order.currency,
            "status": order.status,
            "created_at": iso(order.created_at),
            "paid_at": iso(order.paid_at),
        }
        for order in session.scalars(query)
    ]


def _events(session: Session, subscriptions: list[int]) -> list[dict[str, Any]]:
    e = SubscriptionEvent
    query = select(e).where(e.subscription_id.in_(subscriptions)).order_by(e.id)
    return [
        {
            "subscription": event.subscription_id,
            "kind": event.kind,
            "data": dict(event.data),
            "occurred_at": iso(event.occurred_at),
            "actor": event.actor,
        }
        for event in session.scalars(query)
    ]


def _preferences(session: Session, customer_id: int) -> list[dict[str, Any]]:
    p = CustomerPreference
    query = select(p).where(p.customer_id == customer_id).order_by(p.name)
    return [
        {
            "name": pref.name,
            "value": pref.value,
            "source": pref.source,
            "updated_at": iso(pref.updated_at),
        }
        for pref in session.scalars(query)
    ]


def _preference_history(session: Session, customer_id: int) -> list[dict[str, Any]]:
    p = PreferenceEvent
    query = select(p).where(p.customer_id == customer_id).order_by(p.id)
    return [
        {
            "name": event.name,
            "value": event.value,
            "source": event.source,
            "recorded_at": iso(event.recorded_at),
        }
        for event in session.scalars(query)
    ]


def _responses(session: Session, customer_id: int) -> list[dict[str, Any]]:
    r = SurveyResponse
    query = (
        select(r, Survey.name)
        .join(Survey, Survey.id == r.survey_id)
        .where(r.customer_id == customer_id)
        .order_by(r.id)
    )
    return [
        {
            "survey": name,
            "score": response.score,
            "answers": dict(response.answers),
            "comment": response.comment,
            "source": response.source,
            "responded_at": iso(response.responded_at),
        }
        for response, name in session.execute(query)
    ]
