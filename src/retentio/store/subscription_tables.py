"""Subscriptions: what a customer receives and how often, when the next order is, its state
(active, paused, past_due, cancelled, expired), every change as an event, and the renewal
orders the worker creates, one per subscription and cycle.

Dates a customer sees (the next order, the end of a pause) are their local dates
(``time_zone``); ``next_order_at`` is the instant of the next renewal, the local renewal
time on ``next_order_on``, kept for the worker's query.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from retentio.store.campaign_tables import BigId
from retentio.store.tables import Base

__all__ = [
    "Subscription",
    "SubscriptionEvent",
    "SubscriptionItem",
    "SubscriptionOrder",
    "SubscriptionPolicy",
]


class SubscriptionPolicy(Base):
    """A version of the subscription policy (cancellation reasons, save offers, pauses,
    dunning); the newest is in force."""

    __tablename__ = "subscription_policies"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(unique=True)
    definition: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(200))


class Subscription(Base):
    """A customer's subscription (see the module's docstring)."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        Index("ix_subscriptions_due", "status", "next_order_at"),
        Index("ix_subscriptions_customer", "customer_id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    #: The shop's own id of the subscription, if it has one.
    external_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    #: active, paused, past_due, cancelled, expired.
    status: Mapped[str] = mapped_column(String(12))
    currency: Mapped[str] = mapped_column(String(3))
    #: Every ``cadence_count`` days, weeks or months.
    cadence_unit: Mapped[str] = mapped_column(String(5))
    cadence_count: Mapped[int] = mapped_column(Integer)
    time_zone: Mapped[str] = mapped_column(String(64))
    #: The local date the cadence counts from: orders fall on anchor_on + n cadences (so a
    #: monthly subscription of the 31st comes on the last day of shorter months, and back on
    #: the 31st after them).
    anchor_on: Mapped[date]
    next_order_on: Mapped[date]
    next_order_at: Mapped[datetime]
    #: Renewals made so far (the next renewal is cycle + 1) ...
    cycle: Mapped[int] = mapped_column(Integer, default=0)
    #: ... and how many it has at most (then it expires); None: until cancelled.
    max_cycles: Mapped[int | None] = mapped_column(Integer)
    #: A paused subscription resumes on this local date (always set: an open-ended pause
    #: gets the programme's longest one).
    pause_until: Mapped[date | None]
    #: A pause asked for later: it starts on this local date.
    pause_from: Mapped[date | None]
    #: Local dates of orders the customer skipped.
    skipped: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: A save offer's discount on the next orders: {percent, cycles}.
    discount: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    last_discount_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    cancel_reason: Mapped[str | None] = mapped_column(String(50))
    cancel_note: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SubscriptionItem(Base):
    """A product of a subscription: how many and at what price each."""

    __tablename__ = "subscription_items"
    __table_args__ = (UniqueConstraint("subscription_id", "product"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("subscriptions.id", ondelete="CASCADE")
    )
    product: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int] = mapped_column(Integer)
    price_minor: Mapped[int] = mapped_column(BigInteger)


class SubscriptionEvent(Base):
    """One thing that happened to a subscription (created, paused, resumed, skipped, swapped,
    changed, order_now, cancelled, renewed, payment_failed, ...), with who did it; ``key``
    makes a request's change happen once."""

    __tablename__ = "subscription_events"
    __table_args__ = (
        Index("ix_subscription_events_subscription", "subscription_id", "id"),
        Index("ix_subscription_events_kind", "kind", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("subscriptions.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(30))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    key: Mapped[str | None] = mapped_column(String(300), unique=True)
    occurred_at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(200))


class SubscriptionOrder(Base):
    """An order a subscription made: a renewal (one per cycle) or an ``order_now``; paid,
    or failing through the dunning schedule."""

    __tablename__ = "subscription_orders"
    __table_args__ = (
        UniqueConstraint("subscription_id", "cycle"),
        Index("ix_subscription_orders_retry", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("subscriptions.id", ondelete="CASCADE")
    )
    #: The renewal's cycle; an order_now takes a cycle of its own too (the order's key).
    cycle: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(10))
    due_on: Mapped[date]
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    #: pending (awaiting payment), paid, failed (retries left), cancelled.
    status: Mapped[str] = mapped_column(String(10))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    payment_reference: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]
    paid_at: Mapped[datetime | None]
