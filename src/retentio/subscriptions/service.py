"""Subscriptions made, read and listed; the policy in force (its newest saved version)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from retentio.core.errors import ConfigurationError, DataError
from retentio.core.money import Money
from retentio.privacy.errors import NotFoundError
from retentio.store.customers import customer_by_external_id
from retentio.store.subscription_tables import (
    Subscription,
    SubscriptionEvent,
    SubscriptionItem,
    SubscriptionOrder,
    SubscriptionPolicy,
)
from retentio.store.transactions import begin_write
from retentio.subscriptions.actions import reschedule
from retentio.subscriptions.orders import order_json
from retentio.subscriptions.policy import Policy, parse_policy
from retentio.subscriptions.records import SubscriptionView, done_before, log, show
from retentio.subscriptions.schedule import Cadence

__all__ = [
    "configure_policy",
    "create_subscription",
    "current_policy",
    "get_subscription",
    "list_subscriptions",
    "subscription_history",
    "subscription_orders",
]


def current_policy(session: Session) -> Policy:
    """The newest saved policy; the defaults when none is saved."""
    row = session.scalars(
        select(SubscriptionPolicy).order_by(SubscriptionPolicy.version.desc()).limit(1)
    ).one_or_none()
    return parse_policy(row.definition) if row is not None else Policy()


def configure_policy(session: Session, data: Any, *, actor: str, now: datetime) -> int:
    """Check ``data`` and save it as the next version (committed); returns the version."""
    parse_policy(data)
    for _attempt in range(5):
        latest = session.scalar(select(func.max(SubscriptionPolicy.version))) or 0
        session.add(
            SubscriptionPolicy(
                version=latest + 1, definition=dict(data), created_at=now, created_by=actor
            )
        )
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            continue
        return latest + 1
    raise ConfigurationError("the policy is being saved by others; try again")


def _items(items: Sequence[Mapping[str, Any]], currency: str) -> list[tuple[str, int, int]]:
    if not items:
        raise DataError("items: at least one product")
    found: list[tuple[str, int, int]] = []
    for n, item in enumerate(items):
        product, quantity = item.get("product"), item.get("quantity", 1)
        if not isinstance(product, str) or not 0 < len(product) <= 200:
            raise DataError(f"items[{n}].product: a product id of 1 to 200 characters")
        if any(product == p for p, _, _ in found):
            raise DataError(f"items[{n}].product: {product!r} is listed twice")
        if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= 1000:
            raise DataError(f"items[{n}].quantity: a whole number from 1 to 1000")
        try:
            price = Money.from_major(str(item.get("price", "")), currency).minor
        except (ValueError, ArithmeticError, DataError) as exc:
            raise DataError(f"items[{n}].price: {exc}") from None
        if price < 0:
            raise DataError(f"items[{n}].price: not negative")
        found.append((product, quantity, price))
    return found


def create_subscription(
    session: Session,
    policy: Policy,
    *,
    customer: str,
    items: Sequence[Mapping[str, Any]],
    cadence: Cadence,
    currency: str,
    first_order_on: date | None = None,
    max_cycles: int | None = None,
    external_id: str | None = None,
    key: str | None = None,
    now: datetime,
    actor: str,
    default_zone: str = "Europe/Copenhagen",
) -> SubscriptionView:
    """A new active subscription; its first renewal on ``first_order_on`` (a local date after
    today), else one cadence from today. Once per ``key`` (and per ``external_id``)."""
    currency = currency.upper()
    lines = _items(items, currency)
    if max_cycles is not None and not 1 <= max_cycles <= 1000:
        raise DataError("max_cycles: a whole number from 1 to 1000")
    scoped = None if key is None else f"create:{key}"[:300]
    begin_write(session)
    known = done_before(session, scoped)
    if known is not None:
        row = session.get_one(Subscription, known.subscription_id)
        view = show(session, row, repeated=True)
        session.rollback()
        return view
    person = customer_by_external_id(session, customer)
    if person is None or person.erased_at is not None:
        session.rollback()
        raise NotFoundError(f"no customer with external_id {customer!r}")
    try:
        zone = ZoneInfo(person.time_zone or default_zone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo(default_zone)
    today = now.astimezone(zone).date()
    first = first_order_on or cadence.nth(today, 1)
    if first <= today:
        session.rollback()
        raise DataError(f"first_order_on: a date after today ({today.isoformat()})")
    row = Subscription(
        external_id=external_id,
        customer_id=person.id,
        status="active",
        currency=currency,
        cadence_unit=cadence.unit,
        cadence_count=cadence.count,
        time_zone=zone.key,
        anchor_on=first,
        next_order_on=first,
        next_order_at=now,
        cycle=0,
        max_cycles=max_cycles,
        skipped=[],
        created_at=now,
        updated_at=now,
    )
    reschedule(row, policy, first)
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise DataError(f"external_id: {external_id!r} names another subscription") from None
    for product, quantity, price in lines:
        session.add(
            SubscriptionItem(
                subscription_id=row.id, product=product, quantity=quantity, price_minor=price
            )
        )
    data = {"cadence": cadence.to_dict(), "first_order_on": first.isoformat()}
    log(session, row, "created", data, now=now, actor=actor, key=scoped)
    session.flush()
    view = show(session, row)
    session.commit()
    return view


def get_subscription(session: Session, subscription_id: int) -> SubscriptionView:
    """The subscription ``subscription_id``; a NotFoundError if there is none."""
    row = session.get(Subscription, subscription_id)
    if row is None:
        raise NotFoundError(f"no subscription {subscription_id}")
    return show(session, row)


def list_subscriptions(
    session: Session,
    *,
    customer: str | None = None,
    status: str | None = None,
    after: int = 0,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Subscriptions in the order they were made, a page at a time (``after`` an id)."""
    query = select(Subscription).where(Subscription.id > after).order_by(Subscription.id)
    if customer is not None:
        person = customer_by_external_id(session, customer)
        if person is None:
            raise NotFoundError(f"no customer with external_id {customer!r}")
        query = query.where(Subscription.customer_id == person.id)
    if status is not None:
        query = query.where(Subscription.status == status)
    return [show(session, row).to_dict() for row in session.scalars(query.limit(limit))]


def subscription_history(
    session: Session, subscription_id: int, *, limit: int = 200
) -> list[dict[str, Any]]:
    """The subscription's events, newest first."""
    e = SubscriptionEvent
    events = session.scalars(
        select(e).where(e.subscription_id == subscription_id).order_by(e.id.desc()).limit(limit)
    )
    return [
        {"kind": ev.kind, "data": ev.data, "occurred_at": ev.occurred_at, "actor": ev.actor}
        for ev in events
    ]


def subscription_orders(
    session: Session,
    *,
    subscription_id: int | None = None,
    status: str | None = None,
    after: int = 0,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Orders the subscriptions made (for the shop to fulfil and charge), oldest first."""
    o = SubscriptionOrder
    query = select(o).where(o.id > after).order_by(o.id).limit(limit)
    if subscription_id is not None:
        query = query.where(o.subscription_id == subscription_id)
    if status is not None:
        query = query.where(o.status == status)
    return [order_json(order) for order in session.scalars(query)]
