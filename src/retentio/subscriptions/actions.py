"""What a customer (or the shop for them) does to a subscription instead of cancelling it:
pause (until a date, for N orders, or open-ended up to the policy's longest pause; now or
from a later date), resume (now or on a date; resuming an active subscription changes
nothing), skip the next or a given order, swap a product, change quantities, the cadence or
the next date, and order now.

Each is one transaction under the subscription's lock, recorded in its history; a ``key``
(the request's) makes it happen once: repeating it answers ``repeated`` and changes nothing.
Dates are the customer's local dates.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from retentio.core.errors import DataError
from retentio.store.subscription_tables import Subscription
from retentio.subscriptions.orders import make_order
from retentio.subscriptions.policy import Policy
from retentio.subscriptions.records import (
    SubscriptionStateError,
    SubscriptionView,
    cadence_of,
    done_before,
    items_of,
    local_today,
    lock,
    log,
    show,
)
from retentio.subscriptions.schedule import Cadence, renewal_instant

__all__ = [
    "change_subscription",
    "reschedule",
    "resume",
    "order_now",
    "pause_subscription",
    "resume_subscription",
    "skip_order",
    "swap_product",
]

_HORIZON = timedelta(days=366)  # how far ahead a date may be given


def _begin(
    session: Session, subscription_id: int, action: str, key: str | None, allowed: tuple[str, ...]
) -> tuple[Subscription, str | None, SubscriptionView | None]:
    """Lock the subscription; the answer of a repeated key, or a SubscriptionStateError when
    its state does not allow ``action``."""
    row = lock(session, subscription_id)
    scoped = None if key is None else f"{action}:{row.id}:{key}"[:300]
    if done_before(session, scoped) is not None:
        view = show(session, row, repeated=True)
        session.rollback()
        return row, scoped, view
    if row.status not in allowed:
        status = row.status
        session.rollback()
        raise SubscriptionStateError(
            f"status: a {status} subscription cannot {action.replace('_', ' ')}"
        )
    return row, scoped, None


def _done(session: Session, row: Subscription) -> SubscriptionView:
    view = show(session, row)
    session.commit()
    return view


def reschedule(row: Subscription, policy: Policy, day: date) -> None:
    """The next order on local date ``day``, at the policy's renewal time."""
    row.next_order_on = day
    row.next_order_at = renewal_instant(day, policy.renewal_time, ZoneInfo(row.time_zone))


def _ahead(field: str, day: date, today: date, *, strictly: bool = True) -> None:
    if (day <= today) if strictly else (day < today):
        raise DataError(f"{field}: a date after today ({today.isoformat()})")
    if day > today + _HORIZON:
        raise DataError(f"{field}: at most a year ahead")


def pause_subscription(
    session: Session,
    policy: Policy,
    subscription_id: int,
    *,
    until: date | None = None,
    cycles: int | None = None,
    starting: date | None = None,
    key: str | None,
    now: datetime,
    actor: str,
) -> SubscriptionView:
    """Pause until a date (at most the policy's longest pause), for ``cycles`` orders, or
    (neither) open-ended: for the policy's longest pause; from ``starting`` (a later date)
    or now. No order is made while paused."""
    if until is not None and cycles is not None:
        raise DataError("until: give until or cycles, not both")
    row, scoped, repeated = _begin(session, subscription_id, "pause", key, ("active",))
    if repeated is not None:
        return repeated
    today = local_today(row, now)
    begins = today
    if starting is not None and starting > today:
        _ahead("starting", starting, today)
        begins = starting
    cadence = cadence_of(row)
    if cycles is not None:  # N orders: as long as the cadence makes it (at most 12)
        if isinstance(cycles, bool) or not 1 <= cycles <= 12:
            raise DataError("cycles: a whole number from 1 to 12")
        resume = max(row.next_order_on, cadence.first_on_or_after(row.anchor_on, begins))
        for _ in range(cycles):
            resume = cadence.first_after(row.anchor_on, resume)
    else:
        resume = until or begins + timedelta(days=policy.max_pause_days)
        if (resume - begins).days > policy.max_pause_days:
            raise DataError(f"until: a pause lasts at most {policy.max_pause_days} days")
    _ahead("until", resume, begins)
    data = {"until": resume.isoformat(), "from": begins.isoformat()}
    if begins > today:  # asked for later: the renewal run starts it
        row.pause_from, row.pause_until = begins, resume
        log(session, row, "pause_scheduled", data, now=now, actor=actor, key=scoped)
    else:
        row.status, row.pause_from, row.pause_until = "paused", None, resume
        log(session, row, "subscription_paused", data, now=now, actor=actor, key=scoped)
    return _done(session, row)


def resume_subscription(
    session: Session,
    policy: Policy,
    subscription_id: int,
    *,
    on: date | None = None,
    key: str | None,
    now: datetime,
    actor: str,
) -> SubscriptionView:
    """Resume now, or on a later date; resuming an active subscription changes nothing (a
    pause asked for later is called off)."""
    row, scoped, repeated = _begin(session, subscription_id, "resume", key, ("paused", "active"))
    if repeated is not None:
        return repeated
    if row.status == "active":
        if row.pause_from is None:
            view = show(session, row, repeated=True)
            session.rollback()
            return view
        row.pause_from = row.pause_until = None
        log(session, row, "pause_called_off", {}, now=now, actor=actor, key=scoped)
        return _done(session, row)
    today = local_today(row, now)
    if on is not None and on > today:
        _ahead("on", on, today)
        row.pause_until = on
        log(
            session,
            row,
            "resume_scheduled",
            {"on": on.isoformat()},
            now=now,
            actor=actor,
            key=scoped,
        )
        return _done(session, row)
    resume(row, policy, today)
    log(
        session,
        row,
        "subscription_resumed",
        {"next_order_on": row.next_order_on.isoformat()},
        now=now,
        actor=actor,
        key=scoped,
    )
    return _done(session, row)


def resume(row: Subscription, policy: Policy, today: date) -> None:
    """Make a paused subscription active: its next order the first on its schedule after
    today (the renewal run uses it for pauses that end)."""
    row.status, row.pause_until, row.pause_from = "active", None, None
    reschedule(row, policy, cadence_of(row).first_after(row.anchor_on, today))


def skip_order(
    session: Session,
    policy: Policy,
    subscription_id: int,
    *,
    on: date | None = None,
    key: str | None,
    now: datetime,
    actor: str,
) -> SubscriptionView:
    """Skip the next order, or the one on ``on`` (a date on the subscription's schedule)."""
    row, scoped, repeated = _begin(session, subscription_id, "skip", key, ("active",))
    if repeated is not None:
        return repeated
    cadence = cadence_of(row)
    day = on or row.next_order_on
    if day < row.next_order_on or cadence.first_on_or_after(row.anchor_on, day) != day:
        raise DataError(
            f"on: {day.isoformat()} is not one of the coming order dates "
            f"(the next is {row.next_order_on.isoformat()})"
        )
    _ahead("on", day, local_today(row, now), strictly=False)
    skipped = {*(row.skipped or []), day.isoformat()}
    while row.next_order_on.isoformat() in skipped:  # the next, and any skipped after it
        reschedule(row, policy, cadence.first_after(row.anchor_on, row.next_order_on))
    # only the coming ones are kept here (the renewal run passes them); the history has all
    row.skipped = sorted(d for d in skipped if d > row.next_order_on.isoformat())
    log(session, row, "skipped", {"on": day.isoformat()}, now=now, actor=actor, key=scoped)
    return _done(session, row)


def swap_product(
    session: Session,
    subscription_id: int,
    *,
    product: str,
    to: str,
    price_minor: int | None = None,
    key: str | None,
    now: datetime,
    actor: str,
) -> SubscriptionView:
    """Swap ``product`` for ``to`` (at ``price_minor``, or the same price)."""
    row, scoped, repeated = _begin(
        session, subscription_id, "swap", key, ("active", "paused", "past_due")
    )
    if repeated is not None:
        return repeated
    items = {item.product: item for item in items_of(session, row)}
    if product not in items:
        raise DataError(f"product: {product!r} is not in the subscription")
    if to in items:
        raise DataError(f"to: {to!r} is in the subscription already (change its quantity)")
    if not to or len(to) > 200:
        raise DataError("to: a product id of 1 to 200 characters")
    item = items[product]
    old_price = item.price_minor
    item.product = to
    if price_minor is not None:
        if price_minor < 0:
            raise DataError("price: not negative")
        item.price_minor = price_minor
    data = {"from": product, "to": to, "price_minor": item.price_minor, "was": old_price}
    log(session, row, "swapped", data, now=now, actor=actor, key=scoped)
    return _done(session, row)


def change_subscription(
    session: Session,
    policy: Policy,
    subscription_id: int,
    *,
    quantities: dict[str, int] | None = None,
    cadence: Cadence | None = None,
    next_order_on: date | None = None,
    key: str | None,
    now: datetime,
    actor: str,
) -> SubscriptionView:
    """Change quantities (by product), the cadence (counted from the next order) or the next
    order's date (the schedule then counts from it)."""
    if not quantities and cadence is None and next_order_on is None:
        raise DataError("give quantities, cadence or next_order_on")
    row, scoped, repeated = _begin(
        session, subscription_id, "change", key, ("active", "paused", "past_due")
    )
    if repeated is not None:
        return repeated
    data: dict[str, object] = {}
    if quantities:
        items = {item.product: item for item in items_of(session, row)}
        for product, quantity in quantities.items():
            if product not in items:
                raise DataError(f"quantities.{product}: not in the subscription")
            if (
                isinstance(quantity, bool)
                or not isinstance(quantity, int)
                or not 1 <= quantity <= 1000
            ):
                raise DataError(f"quantities.{product}: a whole number from 1 to 1000")
            items[product].quantity = quantity
        data["quantities"] = dict(quantities)
    if cadence is not None:
        row.cadence_unit, row.cadence_count = cadence.unit, cadence.count
        row.anchor_on = row.next_order_on
        data["cadence"] = cadence.to_dict()
    if next_order_on is not None:
        _ahead("next_order_on", next_order_on, local_today(row, now))
        row.anchor_on = next_order_on
        reschedule(row, policy, next_order_on)
        data["next_order_on"] = next_order_on.isoformat()
    log(session, row, "changed", data, now=now, actor=actor, key=scoped)
    return _done(session, row)


def order_now(
    session: Session,
    policy: Policy,
    subscription_id: int,
    *,
    key: str | None,
    now: datetime,
    actor: str,
) -> SubscriptionView:
    """Make the next order now; the schedule then counts on from today."""
    row, scoped, repeated = _begin(session, subscription_id, "order_now", key, ("active",))
    if repeated is not None:
        return repeated
    today = local_today(row, now)
    order = make_order(
        session, row, items_of(session, row), kind="order_now", due_on=today, now=now
    )
    session.flush()
    cadence = cadence_of(row)
    row.anchor_on = cadence.nth(today, 1)
    reschedule(row, policy, row.anchor_on)
    log(
        session,
        row,
        "order_now",
        {"order": order.id, "cycle": order.cycle},
        now=now,
        actor=actor,
        key=scoped,
    )
    return _done(session, row)
