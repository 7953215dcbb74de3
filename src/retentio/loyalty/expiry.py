"""Points expiry and its reminders (``retentio loyalty expire``, and the worker's daily run).

**Per lot (FIFO)**, ``expiry: {months: N}``: every credit of available points (an order's
points once released, an action, a referral, a positive adjustment, a refunded reward) is a lot
that expires N months after it became available. Spending, negative adjustments, refunds of
available points and earlier expiries are debits, and debits use up the lots that expire first.
So what expires now is the part of the lots due by now that debits have not used up::

    expired now = max(0, sum(lots with expires_at <= now) - sum(debits))

(the debits include earlier expiries, so a second run expires nothing more, and the amount
never exceeds the available balance). **On inactivity**, ``expiry: {inactive_months: N}``: the
whole available balance expires N months after the member's last earn or redemption.

Reminders: for each of ``reminders`` (default 30, 7 and 1 days), a ``points_expiring`` event
when points will expire within that many days, unless a reminder as urgent or more went out
within that many days (one reminder per window; a member first seen 5 days before gets the
7-day one only). The account caches the points expiring within the first (longest) reminder
window and when the first of them expire (``expiring_points``, ``expiring_at``), for segments
and the member's profile.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, and_, bindparam, case, func, insert, or_, select, update
from sqlalchemy.orm import Session

from retentio.loyalty.events import record_event
from retentio.loyalty.programme import Programme
from retentio.loyalty.tiers import add_months
from retentio.store.loyalty_tables import LoyaltyAccount, LoyaltyCursor, LoyaltyEntry
from retentio.store.tables import Event
from retentio.store.transactions import begin_write

__all__ = ["ExpiryRun", "expire_points", "upcoming_lots"]

_BATCH = 2_000
_CURSOR = "expiry"
_OVERLAP = timedelta(days=1)


@dataclass(slots=True)
class ExpiryRun:
    """What a run did."""

    members: int = 0
    points: int = 0
    reminders: int = 0
    reminded: dict[int, int] = field(default_factory=dict)  # days -> events

    def to_dict(self) -> dict[str, Any]:
        return {
            "members": self.members,
            "points": self.points,
            "reminders": self.reminders,
            "by_days": {str(d): n for d, n in sorted(self.reminded.items(), reverse=True)},
        }


def _lots_and_debits(now: datetime) -> tuple[Any, Any]:
    e = LoyaltyEntry
    due = func.sum(case((and_(e.points > 0, e.expires_at <= now), e.points), else_=0))
    debits = func.sum(case((e.points < 0, -e.points), else_=0))
    return due, debits


def _lock(session: Session, ids: Sequence[int]) -> dict[int, LoyaltyAccount]:
    begin_write(session)
    a = LoyaltyAccount
    query = select(a).where(a.id.in_(ids)).order_by(a.id).with_for_update()
    rows = session.scalars(query.execution_options(populate_existing=True))
    return {row.id: row for row in rows}


def _expire(
    session: Session, accounts: dict[int, LoyaltyAccount], amounts: dict[int, int], key: str,
    now: datetime,
) -> int:  # fmt: skip
    """Append the expire entries (``amounts``: account -> points) and debit the accounts."""
    rows: list[dict[str, Any]] = [
        {
            "account_id": account_id,
            "kind": "expire",
            "points": -points,
            "pending_points": 0,
            "key": f"expire:{account_id}:{key}",
            "occurred_at": now,
            "recorded_by": "retentio",
        }
        for account_id, points in amounts.items()
        if points > 0
    ]
    if not rows:
        return 0
    session.execute(insert(LoyaltyEntry), rows)
    for row in rows:
        account = accounts[row["account_id"]]
        account.available += row["points"]
        account.updated_at = now
    session.flush()
    return len(rows)


def _per_lot(session: Session, now: datetime, run: ExpiryRun, *, full: bool) -> None:
    due, debits = _lots_and_debits(now)
    e = LoyaltyEntry
    cursor = None if full else session.get(LoyaltyCursor, _CURSOR)
    newest = session.scalar(select(func.max(e.id))) or 0
    query = select(e.account_id).group_by(e.account_id).having(due > debits)
    if cursor is not None:  # only members with a lot that came due, or came, since last time
        came = or_(e.expires_at > cursor.at - _OVERLAP, e.id > cursor.entry_id)
        recent = select(e.account_id).where(e.points > 0, e.expires_at <= now, came)
        query = query.where(e.account_id.in_(recent))
    candidates = session.scalars(query.order_by(e.account_id)).all()
    session.rollback()
    for start in range(0, len(candidates), _BATCH):
        ids = candidates[start : start + _BATCH]
        accounts = _lock(session, ids)
        found = session.execute(  # again, under the locks
            select(e.account_id, due, debits).where(e.account_id.in_(ids)).group_by(e.account_id)
        ).all()
        amounts = {a: int(d or 0) - int(b or 0) for a, d, b in found}
        amounts = {a: min(n, max(accounts[a].available, 0)) for a, n in amounts.items()}
        run.members += _expire(session, accounts, amounts, now.isoformat(), now)
        run.points += sum(n for n in amounts.values() if n > 0)
        session.commit()
    _advance_cursor(session, now, newest)


def _advance_cursor(session: Session, now: datetime, newest: int) -> None:
    begin_write(session)
    cursor = session.get(LoyaltyCursor, _CURSOR, with_for_update=True)
    if cursor is None:
        session.add(LoyaltyCursor(name=_CURSOR, at=now, entry_id=newest))
    elif now > cursor.at:  # a run "as of" an earlier time leaves it where it is
        cursor.at, cursor.entry_id = now, newest
    session.commit()


def _inactive(session: Session, programme: Programme, now: datetime, run: ExpiryRun) -> None:
    assert programme.inactive_months is not None  # noqa: S101 (the caller checked)
    months = programme.inactive_months
    # a few days' margin: 31 January + 1 month is 28 February, which months back from
    # 28 February (28 January) would miss; each candidate is then checked exactly
    cutoff = add_months(now, -months, programme.zone) + timedelta(days=4)
    a = LoyaltyAccount
    candidates = session.scalars(
        select(a.id).where(a.last_activity_at <= cutoff, a.available > 0).order_by(a.id)
    ).all()
    session.rollback()
    for start in range(0, len(candidates), _BATCH):
        accounts = _lock(session, candidates[start : start + _BATCH])
        for account_id, account in accounts.items():
            last = account.last_activity_at
            if last is None or account.available <= 0:
                continue
            if add_months(last, months, programme.zone) > now:
                continue  # not yet (or active again meanwhile)
            key = f"inactive:{last.isoformat()}"
            run.points += account.available
            run.members += _expire(
                session, {account_id: account}, {account_id: account.available}, key, now
            )
        session.commit()


def upcoming_lots(
    session: Session, programme: Programme, now: datetime, until: datetime,
    accounts: Sequence[int] | None = None,
) -> dict[int, list[tuple[datetime, int]]]:  # fmt: skip
    """account -> [(expires_at, points)] of the points that will expire after ``now`` until
    ``until``, earliest first, after the debits have used up the lots that expire first."""
    e = LoyaltyEntry
    found: dict[int, list[tuple[datetime, int]]] = defaultdict(list)
    if programme.inactive_months is not None:
        a = LoyaltyAccount
        query = select(a.id, a.last_activity_at, a.available).where(
            a.available > 0, a.last_activity_at.is_not(None)
        )
        if accounts is not None:
            query = query.where(a.id.in_(accounts))
        for account_id, last, available in session.execute(query):
            if last is None:
                continue
            at = add_months(last, programme.inactive_months, programme.zone)
            if now < at <= until:
                found[account_id].append((at, int(available)))
        return dict(found)
    lots = select(e.account_id, e.expires_at, e.points).where(
        e.points > 0, e.expires_at > now, e.expires_at <= until
    )
    if accounts is not None:
        lots = lots.where(e.account_id.in_(accounts))
    upcoming: dict[int, list[tuple[datetime, int]]] = defaultdict(list)
    for account_id, expires, points in session.execute(lots.order_by(e.account_id, e.expires_at)):
        if expires is not None:
            upcoming[account_id].append((expires, int(points)))
    if not upcoming:
        return {}
    due, debits = _lots_and_debits(now)
    spent = {
        account_id: max(0, int(b or 0) - int(d or 0))
        for account_id, d, b in session.execute(
            select(e.account_id, due, debits)
            .where(e.account_id.in_(list(upcoming)))
            .group_by(e.account_id)
        )
    }
    for account_id, lots_of in upcoming.items():
        left = spent.get(account_id, 0)  # debits beyond the lots already due
        for at, points in lots_of:
            used = min(points, left)
            left -= used
            if points > used:
                found[account_id].append((at, points - used))
    return dict(found)


def _remind(session: Session, programme: Programme, now: datetime, run: ExpiryRun) -> None:
    if not programme.reminder_days and programme.expiry_months is None:
        return
    window = max(programme.reminder_days, default=30)
    upcoming = upcoming_lots(session, programme, now, now + timedelta(days=window))
    session.rollback()
    begin_write(session)
    a = LoyaltyAccount
    table: Table = a.__table__  # type: ignore[assignment]
    session.execute(
        update(table)
        .where(table.c.expiring_points != 0)
        .values(expiring_points=0, expiring_at=None)
    )
    if upcoming:
        session.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(expiring_points=bindparam("b_points"), expiring_at=bindparam("b_at")),
            [
                {"b_id": k, "b_points": sum(p for _, p in lots), "b_at": lots[0][0]}
                for k, lots in upcoming.items()
            ],
        )
    customers = dict(
        session.execute(select(a.id, a.customer_id).where(a.id.in_(list(upcoming)))).all()
    ) if upcoming else {}  # fmt: skip
    sent = _sent_reminders(session, now, window)
    for account_id, lots in upcoming.items():
        customer = customers[account_id]
        for days in sorted(programme.reminder_days):  # the most urgent first
            horizon = now + timedelta(days=days)
            points = sum(p for at, p in lots if at <= horizon)
            if points <= 0 or _reminded(sent.get(customer, []), days, now):
                continue
            first = lots[0][0]
            record_event(
                session,
                customer,
                "points_expiring",
                f"{account_id}:{days}:{first.isoformat()}",
                {"points": points, "expires_at": first.isoformat(), "days": days},
                now,
            )
            sent.setdefault(customer, []).append((days, now))
            run.reminders += 1
            run.reminded[days] = run.reminded.get(days, 0) + 1
    session.commit()


def _reminded(sent: list[tuple[int, datetime]], days: int, now: datetime) -> bool:
    """Whether the ``days`` reminder is said already: a reminder as urgent or more (fewer
    days) went out within the last ``days`` days. So a member first seen 5 days before
    their points expire gets the 7-day reminder alone, not the 30-day one with it."""
    return any(d <= days and at > now - timedelta(days=days) for d, at in sent)


def _sent_reminders(
    session: Session, now: datetime, window: int
) -> dict[int, list[tuple[int, datetime]]]:
    """customer -> (days, when) of the reminders sent within ``window`` days before now."""
    ev = Event
    sent: dict[int, list[tuple[int, datetime]]] = defaultdict(list)
    for customer, properties, at in session.execute(
        select(ev.customer_id, ev.properties, ev.occurred_at).where(
            ev.name == "points_expiring", ev.occurred_at > now - timedelta(days=window)
        )
    ):
        days = properties.get("days") if isinstance(properties, dict) else None
        if isinstance(days, int):
            sent[int(customer)].append((days, at))
    return dict(sent)


def expire_points(
    session: Session, programme: Programme, *, now: datetime, full: bool = False
) -> ExpiryRun:
    """Expire what is due at ``now`` and send the reminders of what comes (see the module's
    docstring); batches of members, each in its own transaction. Safe to run again.

    A run looks only at the members with a lot that came due since the last run (a day's
    overlap), or that was written since (an order synced late); ``full`` looks at everyone,
    as the first run does."""
    run = ExpiryRun()
    if programme.expiry_months is not None:
        _per_lot(session, now, run, full=full)
    elif programme.inactive_months is not None:
        _inactive(session, programme, now, run)
    if programme.expiry_months is not None or programme.inactive_months is not None:
        _remind(session, programme, now, run)
    return run
