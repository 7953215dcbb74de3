"""The renewal run (``retentio subscriptions renew``, and the worker's round): pauses asked for
later begin, pauses that end resume, ``pause_ending_soon`` is told a few days before, and each
active subscription whose next order is due gets its renewal order, once per cycle, in
batches. A paused subscription is never renewed; a skipped date makes no order; a
subscription behind by several cycles makes one order and moves to its next date ahead
(nobody wants three boxes at once); one that reached its ``max_cycles`` expires.

The batch is set-based: the due subscriptions are read and locked (PostgreSQL: ``FOR UPDATE
SKIP LOCKED``, so workers share the run), their orders, history events and new dates are
computed in Python and written with one statement per table.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from retentio.store.subscription_tables import (
    Subscription,
    SubscriptionEvent,
    SubscriptionItem,
    SubscriptionOrder,
)
from retentio.store.transactions import begin_write
from retentio.subscriptions.actions import resume
from retentio.subscriptions.policy import Policy
from retentio.subscriptions.records import local_today, log
from retentio.subscriptions.schedule import Cadence, renewal_instant

__all__ = ["RenewalRun", "renew_due"]

SUBSCRIPTIONS: Table = Subscription.__table__  # type: ignore[assignment]
ITEMS: Table = SubscriptionItem.__table__  # type: ignore[assignment]
ORDERS: Table = SubscriptionOrder.__table__  # type: ignore[assignment]
EVENTS: Table = SubscriptionEvent.__table__  # type: ignore[assignment]
_BATCH = 5_000


@dataclass(slots=True)
class RenewalRun:
    """What a run did."""

    orders: int = 0
    skipped: int = 0
    expired: int = 0
    paused: int = 0
    resumed: int = 0
    reminders: int = 0
    amounts: dict[str, int] = field(default_factory=dict)  # currency -> minor units

    def to_dict(self) -> dict[str, Any]:
        return {
            "orders": self.orders,
            "skipped": self.skipped,
            "expired": self.expired,
            "paused": self.paused,
            "resumed": self.resumed,
            "reminders": self.reminders,
            "amounts": dict(sorted(self.amounts.items())),
        }


def _changing(session: Session, query: Any) -> list[Subscription]:
    rows = session.scalars(query.with_for_update().execution_options(populate_existing=True))
    return list(rows)


def _pauses(session: Session, policy: Policy, now: datetime, run: RenewalRun) -> None:
    """Start the pauses that were asked for later, end the ones that are over, and tell
    journeys of the ones that end soon (once per pause)."""
    s = Subscription
    soon = now + timedelta(days=policy.pause_reminder_days + 1)
    begin_write(session)
    for row in _changing(session, select(s).where(s.status == "active", s.pause_from.is_not(None))):
        if row.pause_from is not None and row.pause_from <= local_today(row, now):
            row.status, row.pause_from = "paused", None
            log(
                session,
                row,
                "subscription_paused",
                {"until": str(row.pause_until)},
                now=now,
                actor="retentio",
            )
            run.paused += 1
    for row in _changing(
        session,
        select(s).where(
            s.status == "paused", s.pause_until.is_not(None), s.pause_until <= soon.date()
        ),
    ):
        today = local_today(row, now)
        if row.pause_until is None:
            continue
        if row.pause_until <= today:
            resume(row, policy, today)
            log(
                session,
                row,
                "subscription_resumed",
                {"next_order_on": row.next_order_on.isoformat()},
                now=now,
                actor="retentio",
            )
            run.resumed += 1
        elif (row.pause_until - today).days <= policy.pause_reminder_days:
            key = f"pause_ending_soon:{row.id}:{row.pause_until.isoformat()}"
            if (
                session.scalar(select(SubscriptionEvent.id).where(SubscriptionEvent.key == key))
                is None
            ):
                log(
                    session,
                    row,
                    "pause_ending_soon",
                    {"until": row.pause_until.isoformat()},
                    now=now,
                    actor="retentio",
                    key=key,
                )
                run.reminders += 1
    session.commit()


def _due(session: Session, now: datetime, after: int) -> list[Any]:
    s = SUBSCRIPTIONS.c
    query = (
        select(
            s.id,
            s.customer_id,
            s.cadence_unit,
            s.cadence_count,
            s.time_zone,
            s.anchor_on,
            s.next_order_on,
            s.cycle,
            s.max_cycles,
            s.skipped,
            s.discount,
            s.currency,
        )
        .where(s.status == "active", s.next_order_at <= now, s.id > after)
        .order_by(s.id)
        .limit(_BATCH)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(session.execute(query))


def _items(session: Session, ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    i = ITEMS.c
    found: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for sub, product, quantity, price in session.execute(
        select(i.subscription_id, i.product, i.quantity, i.price_minor)
        .where(i.subscription_id.in_(ids))
        .order_by(i.subscription_id, i.id)
    ):
        found[sub].append({"product": product, "quantity": quantity, "price_minor": price})
    return found


def _plan(
    due: Any,
    items: list[dict[str, Any]],
    policy: Policy,
    now: datetime,
    orders: list[dict[str, Any]],
    events: list[dict[str, Any]],
    run: RenewalRun,
) -> dict[str, Any]:
    """One due subscription's order (unless skipped), history event and new state."""
    zone = ZoneInfo(due.time_zone)
    today = now.astimezone(zone).date()
    cadence = Cadence(due.cadence_unit, due.cadence_count)
    skipped = list(due.skipped or [])
    on: date = due.next_order_on
    change: dict[str, Any] = {
        "b_id": due.id,
        "b_cycle": due.cycle,
        "b_status": "active",
        "b_discount": due.discount,
    }
    if on.isoformat() in skipped:
        skipped.remove(on.isoformat())
        events.append(_event(due.id, "renewal_skipped", {"on": on.isoformat()}, now))
        run.skipped += 1
    else:
        total = sum(item["quantity"] * item["price_minor"] for item in items)
        discount = due.discount or {}
        if int(discount.get("cycles", 0)) > 0:
            total -= total * int(discount.get("percent", 0)) // 100
            left = int(discount["cycles"]) - 1
            change["b_discount"] = {**discount, "cycles": left} if left > 0 else None
        change["b_cycle"] = due.cycle + 1
        orders.append(
            {
                "subscription_id": due.id,
                "cycle": due.cycle + 1,
                "kind": "renewal",
                "due_on": on,
                "amount_minor": total,
                "currency": due.currency,
                "items": items,
                "status": "pending",
                "attempts": 0,
                "created_at": now,
            }
        )
        events.append(
            _event(
                due.id,
                "renewed",
                {"cycle": due.cycle + 1, "on": on.isoformat(), "amount_minor": total},
                now,
            )
        )
        run.orders += 1
        run.amounts[due.currency] = run.amounts.get(due.currency, 0) + total
        if due.max_cycles is not None and due.cycle + 1 >= due.max_cycles:
            change["b_status"] = "expired"
            events.append(_event(due.id, "expired", {"cycles": due.cycle + 1}, now))
            run.expired += 1
    following = cadence.first_after(due.anchor_on, max(on, today))
    change |= {
        "b_next_on": following,
        "b_next_at": renewal_instant(following, policy.renewal_time, zone),
        "b_skipped": [d for d in skipped if d >= following.isoformat()],
        "b_updated": now,
    }
    return change


def _event(subscription: int, kind: str, data: dict[str, Any], now: datetime) -> dict[str, Any]:
    return {
        "subscription_id": subscription,
        "kind": kind,
        "data": data,
        "key": None,
        "occurred_at": now,
        "actor": "retentio",
    }


def renew_due(session: Session, policy: Policy, *, now: datetime) -> RenewalRun:
    """Run the pauses, then renew every due subscription (see the module's docstring)."""
    run = RenewalRun()
    _pauses(session, policy, now, run)
    s = SUBSCRIPTIONS.c
    after = 0
    while True:
        begin_write(session)
        due = _due(session, now, after)
        if not due:
            session.rollback()
            break
        after = due[-1].id
        items = _items(session, [d.id for d in due])
        orders: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        changes = [_plan(d, items[d.id], policy, now, orders, events, run) for d in due]
        if orders:
            session.execute(insert(ORDERS), orders)
        if events:
            session.execute(insert(EVENTS), events)
        session.execute(
            update(SUBSCRIPTIONS)
            .where(s.id == bindparam("b_id"))
            .values(
                cycle=bindparam("b_cycle"),
                status=bindparam("b_status"),
                discount=bindparam("b_discount"),
                next_order_on=bindparam("b_next_on"),
                next_order_at=bindparam("b_next_at"),
                skipped=bindparam("b_skipped"),
                updated_at=bindparam("b_updated"),
            ),
            changes,
        )
        session.commit()
    return run


def due_count(session: Session, now: datetime) -> int:
    """How many active subscriptions are due for renewal at ``now``."""
    s = SUBSCRIPTIONS.c
    return int(
        session.scalar(select(func.count()).where(s.status == "active", s.next_order_at <= now))
        or 0
    )
