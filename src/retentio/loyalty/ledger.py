"""The ledger's use cases: earn on an order or an action, release pending points, redeem,
adjust, and take back the points of a refund (TRUST.md, "Ledgers").

Every change is one transaction that locks the member's account, appends its entry and
updates the cached balances (``loyalty.accounts``), so the balances are always the sums of the
entries and two requests never both spend the same points. Every change has a key, unique in
the ledger: repeating it (a retried request, an order loaded twice) returns the entry made the
first time and changes nothing. An earn also tells journeys (``points_earned``) and moves the
member up a tier when it reaches one, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from retentio.core.errors import DataError
from retentio.loyalty.accounts import (
    Balance,
    InsufficientPoints,
    LoyaltyConflict,
    Member,
    Posted,
    account_of,
    checked_key,
    existing,
    ledger_key,
    lock_account,
    lock_account_id,
    lot_expiry,
    member_key,
    post,
    repeat,
)
from retentio.loyalty.earning import Line, bonus_multiplier, limit_end, limit_start, rounded
from retentio.loyalty.events import record_event
from retentio.loyalty.programme import Programme, order_points, refund_points
from retentio.loyalty.tiering import earning_multiplier, upgrade_after_earn
from retentio.store.loyalty_tables import LoyaltyAccount, LoyaltyEntry
from retentio.store.tables import Customer, Segment, SegmentMembership

__all__ = [
    "Balance",
    "InsufficientPoints",
    "LimitReached",
    "OrderConflict",
    "Posted",
    "adjust_points",
    "balance_of",
    "earn_for_action",
    "earn_for_order",
    "redeem_points",
    "release_due",
    "reverse_for_refund",
]


class LimitReached(LoyaltyConflict):
    """An action earned as many times as its limit allows in the period."""


class OrderConflict(LoyaltyConflict):
    """An order id that earned points for another member."""


def _segments(
    session: Session, programme: Programme, rule: str, at: datetime, customer: int
) -> set[str]:
    """The segments the member is in, when a running bonus for ``rule`` asks (else empty)."""
    wanted = {
        b.segment
        for b in programme.bonuses
        if b.segment is not None and rule in b.applies_to and b.starts <= at < b.ends
    }
    if not wanted:
        return set()
    m = SegmentMembership
    names = session.scalars(
        select(Segment.name)
        .join(m, m.segment_id == Segment.id)
        .where(m.customer_id == customer, m.exited_at.is_(None), Segment.name.in_(wanted))
    )
    return set(names)


def _multiplier(
    session: Session, programme: Programme, member: Member, rule: str, at: datetime
) -> Decimal:
    """A running bonus's multiplier, and on spend the tier's (tiers reward purchases)."""
    segments = _segments(session, programme, rule, at, member.customer_id)
    bonus = bonus_multiplier(programme.bonuses, rule, at, segments)
    tier = earning_multiplier(programme, member.account) if rule == "spend" else Decimal(1)
    return tier * bonus


def _earned(
    session: Session,
    programme: Programme,
    member: Member,
    posted: Posted,
    *,
    rule: str,
    at: datetime,
    now: datetime,
    order_id: str | None = None,
) -> Posted:
    """After an earn entry: its event, the tier it may reach; then commit."""
    record_event(
        session,
        member.customer_id,
        "points_earned",
        str(posted.entry_id),
        {
            "points": posted.points + posted.pending_points,
            "pending": posted.pending_points > 0,
            "rule": rule,
            "order_id": order_id,
            "balance": posted.balance.available,
        },
        now,
    )
    upgrade_after_earn(session, programme, member, at=at, now=now)
    session.commit()
    return posted


#: How far ahead of the server's clock a time may be (the shop's clock may run fast).
CLOCK_SKEW = timedelta(minutes=5)


def _not_ahead(field: str, at: datetime, now: datetime) -> None:
    """A DataError naming ``field`` when ``at`` is in the future: points dated ahead would
    escape the limits of their period, keep the member active and expire late."""
    if at > now + CLOCK_SKEW:
        raise DataError(f"{field}: {at.isoformat()} is in the future")


def _repeated_order(session: Session, entry: LoyaltyEntry, customer: str) -> Posted:
    """A repeat of an order's points; an order id that earned for another member is an
    error, not a repeat (nothing of the other member is shown)."""
    account = session.get(LoyaltyAccount, entry.account_id)
    owner = session.get(Customer, account.customer_id) if account is not None else None
    if owner is None or owner.external_id != customer:
        session.rollback()
        raise OrderConflict(f"order_id: {entry.order_id!r} earned points for another member")
    return repeat(session, entry, customer)


def earn_for_order(
    session: Session,
    programme: Programme,
    *,
    customer: str,
    order_id: str,
    amount_minor: int,
    currency: str,
    ordered_at: datetime,
    now: datetime,
    recorded_by: str,
    shipping_minor: int = 0,
    tax_minor: int = 0,
    lines: Sequence[Line] = (),
    record_nothing: bool = False,
) -> Posted | None:
    """The order's points on its net amount (less shipping and tax), at the tier's and any
    running bonus's multiplier, pending until the return window ends (``pending_days``);
    None when the order earns nothing, unless ``record_nothing``: then an entry of 0 points
    records that it was decided (so a sync from the store does not look at it again). Once
    per order."""
    key = ledger_key("order", order_id)
    _not_ahead("ordered_at", ordered_at, now)
    for n, line in enumerate(lines):
        if line.amount_minor < 0:
            raise DataError(f"lines[{n}].amount: not negative")
    found = existing(session, key)
    if found is not None:
        return _repeated_order(session, found, customer)
    net = amount_minor - max(shipping_minor, 0) - max(tax_minor, 0)
    same_currency = currency.upper() == programme.currency
    if not record_nothing and (not same_currency or net <= 0):
        return None
    member = lock_account(session, customer, now)
    again = existing(session, key)  # under the lock: a concurrent load of the same order
    if again is not None:
        return _repeated_order(session, again, member.external_id)
    points = order_points(
        programme,
        amount_minor,
        currency,
        shipping_minor=shipping_minor,
        tax_minor=tax_minor,
        lines=lines,
        multiplier=_multiplier(session, programme, member, "spend", ordered_at),
    )
    note = f"order amount {amount_minor} {currency.upper()}"
    if points == 0:
        if not record_nothing:
            session.rollback()
            return None
        why = "another currency" if not same_currency else "below the minimum or nothing"
        posted, _entry = post(
            session, member, kind="earn", key=key, now=now, occurred_at=ordered_at,
            recorded_by=recorded_by, order_id=order_id, rule="spend",
            amount_minor=max(net, 0) if same_currency else None,
            note=f"{note}: earns nothing ({why})",
        )  # fmt: skip
        return posted
    # With no return window, the points are available at once (and their lot expires).
    held = programme.pending_days > 0
    when: dict[str, Any] = (
        {"releases_at": ordered_at + timedelta(days=programme.pending_days)}
        if held
        else {"expires_at": lot_expiry(programme, ordered_at)}
    )
    posted, _entry = post(
        session,
        member,
        kind="earn",
        key=key,
        points=0 if held else points,
        pending=points if held else 0,
        earned=points,
        now=now,
        occurred_at=ordered_at,
        recorded_by=recorded_by,
        commit=False,
        order_id=order_id,
        amount_minor=net,
        rule="spend",
        note=note,
        **when,
    )
    return _earned(
        session, programme, member, posted, rule="spend", at=ordered_at, now=now, order_id=order_id
    )


def earn_for_action(
    session: Session,
    programme: Programme,
    *,
    customer: str,
    action: str,
    key: str,
    now: datetime,
    recorded_by: str,
    occurred_at: datetime | None = None,
    note: str | None = None,
) -> Posted:
    """The points of an action (``actions`` of the programme), available at once, within its
    limit (a :class:`LimitReached` beyond it, which changes nothing). Once per key."""
    rule = programme.actions.get(action)
    if rule is None:
        known = ", ".join(sorted(programme.actions)) or "none configured"
        raise DataError(f"action: {action!r} is not an action of the programme (known: {known})")
    checked_key(key)
    at = occurred_at or now
    _not_ahead("occurred_at", at, now)
    member = lock_account(session, customer, now)
    key = member_key(f"action:{action}", member, key)
    found = existing(session, key)
    if found is not None:
        return repeat(session, found, member.external_id)
    if rule.limit is not None:
        e = LoyaltyEntry
        query = select(func.count()).where(
            e.account_id == member.account.id, e.kind == "earn", e.rule == action
        )
        start = limit_start(at, rule.limit.per, programme.zone)
        if start is not None:  # the calendar period ``at`` is in
            end = limit_end(start, rule.limit.per, programme.zone)
            query = query.where(e.occurred_at >= start, e.occurred_at < end)
        if (session.scalar(query) or 0) >= rule.limit.count:
            session.rollback()
            raise LimitReached(
                f"action: {action} earns at most {rule.limit.count} time(s) per "
                f"{rule.limit.per}; reached"
            )
    points = rounded(
        rule.points * _multiplier(session, programme, member, action, at), programme.earn.rounding
    )
    posted, _entry = post(
        session,
        member,
        kind="earn",
        key=key,
        points=points,
        earned=points,
        now=now,
        occurred_at=at,
        recorded_by=recorded_by,
        commit=False,
        rule=action,
        note=note[:500] if note else None,
        expires_at=lot_expiry(programme, at),
    )
    return _earned(session, programme, member, posted, rule=action, at=at, now=now)


def release_due(
    session: Session, programme: Programme, *, now: datetime, limit: int = 10_000
) -> int:
    """Make pending points whose return window has ended available; returns how many
    entries were released. Each is released once (its release entry's key)."""
    e = LoyaltyEntry
    released = select(e.refers_to).where(e.kind == "release", e.refers_to.is_not(None))
    due = session.execute(
        select(e.id, e.account_id, e.pending_points, e.releases_at)
        .where(e.releases_at <= now, e.pending_points > 0, e.id.not_in(released))
        .order_by(e.releases_at, e.id)
        .limit(limit)
    ).all()
    session.rollback()
    count = 0
    for entry_id, account_id, pending, releases_at in due:
        member = lock_account_id(session, account_id)
        key = ledger_key("release", entry_id)
        if existing(session, key) is not None:  # released meanwhile by another worker
            session.rollback()
            continue
        left = max(0, pending - _reversed(session, entry_id))  # 0: a refund took them all
        post(
            session,
            member,
            kind="release",
            key=key,
            points=left,
            pending=-left,
            now=now,
            recorded_by="retentio",
            refers_to=entry_id,
            expires_at=lot_expiry(programme, releases_at or now),
        )
        count += 1
    return count


def _reversed(session: Session, entry_id: int) -> int:
    """Pending points of ``entry_id`` taken back by refunds before it was released."""
    e = LoyaltyEntry
    total = session.scalar(
        select(func.coalesce(func.sum(-e.pending_points), 0)).where(
            e.refers_to == entry_id, e.kind == "reverse"
        )
    )
    return int(total or 0)


def redeem_points(
    session: Session,
    *,
    customer: str,
    points: int,
    key: str,
    now: datetime,
    recorded_by: str,
    note: str | None = None,
) -> Posted:
    """Spend ``points`` of the available balance (pending points cannot be spent); an
    :class:`InsufficientPoints` when there are not enough, which changes nothing."""
    if points <= 0:
        raise DataError("points: a positive whole number")
    checked_key(key)
    member = lock_account(session, customer, now)
    key = member_key("redeem", member, key)
    found = existing(session, key)
    if found is not None:
        return repeat(session, found, member.external_id)
    if member.account.available < points:
        available = member.account.available
        session.rollback()
        raise InsufficientPoints(f"points: {points} asked, {available} available")
    posted, _entry = post(
        session,
        member,
        kind="redeem",
        key=key,
        points=-points,
        now=now,
        recorded_by=recorded_by,
        note=note,
    )
    return posted


def adjust_points(
    session: Session,
    programme: Programme,
    *,
    customer: str,
    points: int,
    key: str,
    reason: str,
    now: datetime,
    recorded_by: str,
) -> Posted:
    """A correction by hand: ``points`` (positive or negative) with its reason; added points
    are a lot of their own (they expire like earned ones)."""
    if points == 0:
        raise DataError("points: a whole number other than 0")
    if not reason.strip():
        raise DataError("reason: say why the points are adjusted")
    checked_key(key)
    member = lock_account(session, customer, now)
    key = member_key("adjust", member, key)
    found = existing(session, key)
    if found is not None:
        return repeat(session, found, member.external_id)
    posted, _entry = post(
        session,
        member,
        kind="adjust",
        key=key,
        points=points,
        earned=max(points, 0),
        now=now,
        recorded_by=recorded_by,
        note=reason[:500],
        rule="manual",
        expires_at=lot_expiry(programme, now) if points > 0 else None,
    )
    return posted


def reverse_for_refund(
    session: Session,
    programme: Programme,
    *,
    customer: str,
    order_id: str,
    amount_minor: int,
    refunded_minor: int,
    refund_id: str,
    now: datetime,
    recorded_by: str,
    record_nothing: bool = False,
) -> Posted | None:
    """Take back the refunded share of the order's points (``refunded_minor``: everything
    refunded of the order so far). Each refund takes the share between the order's refunded
    amount before it and after it, so refunds in parts take back exactly the order's points.
    Still pending points go first; available ones after, into the negative if the programme
    allows (``returns: allow_negative``), else down to 0 (``cap_at_balance``: what the
    balance could not give is forgiven, not taken by a later refund). The refunded share of
    the order's net amount leaves the spend tiers count. None when the order earned nothing
    or the refund refunds nothing new (with ``record_nothing``, an entry of 0 points records
    the refund as seen). Once per refund; an order of another member is an OrderConflict."""
    key = ledger_key("refund", order_id, checked_key(refund_id, "refund_id"))
    member = lock_account(session, customer, now)
    earn = existing(session, ledger_key("order", order_id))
    if earn is not None and earn.account_id != member.account.id:
        session.rollback()
        raise OrderConflict(f"order_id: {order_id!r} earned points for another member")
    found = existing(session, key)
    if found is not None:
        return repeat(session, found, member.external_id)
    if earn is None:
        session.rollback()
        return None
    e = LoyaltyEntry
    before = session.scalar(
        select(func.coalesce(func.max(e.refunded_minor), 0)).where(
            e.order_id == order_id, e.kind == "reverse"
        )
    )
    before = min(int(before or 0), amount_minor)
    refunded = min(refunded_minor, amount_minor)
    earned = earn.points + earn.pending_points
    back = refund_points(earned, amount_minor, refunded, 0) - refund_points(
        earned, amount_minor, before, 0
    )
    net = earn.amount_minor or 0
    spend_back = net * refunded // max(amount_minor, 1) - net * before // max(amount_minor, 1)
    if refunded <= before or (back <= 0 and spend_back <= 0):
        if not record_nothing:
            session.rollback()
            return None
        posted, _entry = post(
            session, member, kind="reverse", key=key, now=now, recorded_by=recorded_by,
            order_id=order_id, refers_to=earn.id, amount_minor=0, refunded_minor=before,
            note=f"refund {refunded_minor} of {amount_minor}: nothing more to take back",
        )  # fmt: skip
        return posted
    still_pending = max(0, earn.pending_points - _reversed(session, earn.id))
    if existing(session, ledger_key("release", earn.id)) is not None:
        still_pending = 0
    from_pending = min(back, still_pending)
    from_available = back - from_pending
    if programme.returns == "cap_at_balance":
        from_available = min(from_available, max(member.account.available, 0))
    posted, _entry = post(
        session,
        member,
        kind="reverse",
        key=key,
        points=-from_available,
        pending=-from_pending,
        earned=-(from_pending + from_available),
        now=now,
        recorded_by=recorded_by,
        order_id=order_id,
        refers_to=earn.id,
        amount_minor=-spend_back,
        refunded_minor=refunded,
        note=f"refund {refunded_minor} of {amount_minor}",
    )
    return posted


def balance_of(session: Session, customer: str) -> Balance:
    """The member's balances (zeros for a customer with no account yet)."""
    row, account = account_of(session, customer)
    if account is None:
        return Balance(row.external_id, 0, 0, 0)
    return Balance(row.external_id, account.available, account.pending, account.earned)
