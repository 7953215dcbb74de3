"""The loyalty ledger's use cases: earn on an order, release pending points, redeem, adjust,
and take back the points of a refund (TRUST.md, "Ledgers").

Every change is one transaction that locks the member's account (PostgreSQL: ``SELECT ... FOR
UPDATE``; SQLite: ``BEGIN IMMEDIATE``), appends its entry and updates the cached balances, so
the balances are always the sums of the entries and two requests never both spend the same
points. Every change has a key, unique in the ledger: repeating it (a retried request, an
order loaded twice) returns the entry made the first time and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from retentio.core.errors import DataError, RetentioError
from retentio.loyalty.programme import Programme, order_points, refund_points
from retentio.privacy.errors import NotFoundError
from retentio.store.customers import customer_by_external_id
from retentio.store.loyalty_tables import LoyaltyAccount, LoyaltyEntry
from retentio.store.tables import Customer
from retentio.store.transactions import begin_write

__all__ = [
    "Balance",
    "InsufficientPoints",
    "Posted",
    "adjust_points",
    "balance_of",
    "earn_for_order",
    "redeem_points",
    "release_due",
    "reverse_for_refund",
]


class InsufficientPoints(RetentioError):
    """A redemption of more points than the member has available."""


@dataclass(frozen=True, slots=True)
class Balance:
    """A member's balances: ``available`` to spend, ``pending`` in the return window."""

    customer: str
    available: int
    pending: int
    earned: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "customer": self.customer,
            "available": self.available,
            "pending": self.pending,
            "earned": self.earned,
        }


@dataclass(frozen=True, slots=True)
class Posted:
    """The entry a change made (or had made, for a repeated key) and the balance after it."""

    entry_id: int
    kind: str
    points: int
    pending_points: int
    repeated: bool
    balance: Balance

    def to_dict(self) -> dict[str, Any]:
        return {
            "entry_id": self.entry_id,
            "kind": self.kind,
            "points": self.points,
            "pending_points": self.pending_points,
            "repeated": self.repeated,
            "balance": self.balance.to_dict(),
        }


def _account(session: Session, customer: str, now: datetime) -> tuple[LoyaltyAccount, str]:
    """The member's account, locked for this transaction (made on first use)."""
    begin_write(session)
    row = customer_by_external_id(session, customer)
    if row is None or row.erased_at is not None:
        raise NotFoundError(f"no customer with external_id {customer!r}")
    query = select(LoyaltyAccount).where(LoyaltyAccount.customer_id == row.id)
    account = session.scalars(query.with_for_update()).one_or_none()
    if account is None:
        account = LoyaltyAccount(
            customer_id=row.id, available=0, pending=0, earned=0, created_at=now, updated_at=now
        )
        session.add(account)
        try:
            session.flush()
        except IntegrityError:  # made at the same moment by another request
            session.rollback()
            begin_write(session)
            account = session.scalars(query.with_for_update()).one()
    return account, row.external_id


def _balance(account: LoyaltyAccount, customer: str) -> Balance:
    return Balance(customer, account.available, account.pending, account.earned)


def _existing(session: Session, key: str) -> LoyaltyEntry | None:
    return session.scalars(select(LoyaltyEntry).where(LoyaltyEntry.key == key)).one_or_none()


def _repeat(session: Session, entry: LoyaltyEntry, customer: str) -> Posted:
    account = session.get(LoyaltyAccount, entry.account_id)
    assert account is not None  # noqa: S101 (a foreign key)
    result = Posted(
        entry.id,
        entry.kind,
        entry.points,
        entry.pending_points,
        repeated=True,
        balance=_balance(account, customer),
    )
    session.rollback()
    return result


def _post(
    session: Session,
    account: LoyaltyAccount,
    customer: str,
    *,
    kind: str,
    key: str,
    points: int = 0,
    pending: int = 0,
    earned: int = 0,
    now: datetime,
    recorded_by: str,
    **fields: Any,
) -> Posted:
    """Append one entry and move the cached balances with it; committed."""
    entry = LoyaltyEntry(
        account_id=account.id,
        kind=kind,
        key=key,
        points=points,
        pending_points=pending,
        occurred_at=now,
        recorded_by=recorded_by,
        **fields,
    )
    session.add(entry)
    account.available += points
    account.pending += pending
    account.earned += earned
    account.updated_at = now
    session.flush()
    result = Posted(
        entry.id, kind, points, pending, repeated=False, balance=_balance(account, customer)
    )
    session.commit()
    return result


def _key(key: str) -> str:
    if not key or len(key) > 250:
        raise DataError("key: 1 to 250 characters (an idempotency key)")
    return key


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
) -> Posted | None:
    """The order's points, pending until the return window ends (``pending_days``); None when
    the order earns nothing. Once per order."""
    key = f"order:{order_id}"
    points = order_points(programme, amount_minor, currency)
    found = _existing(session, key)
    if found is not None:
        return _repeat(session, found, customer)
    if points == 0:
        return None
    account, name = _account(session, customer, now)
    again = _existing(session, key)  # under the lock: a concurrent load of the same order
    if again is not None:
        return _repeat(session, again, name)
    # With no return window, the points are available at once (and their lot expires).
    held = programme.pending_days > 0
    when: dict[str, Any] = (
        {
            "releases_at": ordered_at + timedelta(days=programme.pending_days),
            "note": f"order amount {amount_minor} {currency.upper()}",
        }
        if held
        else {"expires_at": _expiry(programme, ordered_at)}
    )
    return _post(
        session,
        account,
        name,
        kind="earn",
        key=key,
        points=0 if held else points,
        pending=points if held else 0,
        earned=points,
        now=now,
        recorded_by=recorded_by,
        order_id=order_id,
        rule="spend",
        **when,
    )


def _expiry(programme: Programme, start: datetime) -> datetime | None:
    if programme.expiry_months is None:
        return None
    return start + timedelta(days=round(programme.expiry_months * 30.4375))


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
        begin_write(session)
        account = session.scalars(
            select(LoyaltyAccount).where(LoyaltyAccount.id == account_id).with_for_update()
        ).one()
        key = f"release:{entry_id}"
        if _existing(session, key) is not None:  # released meanwhile by another worker
            session.rollback()
            continue
        left = max(0, pending - _reversed(session, entry_id))  # 0: a refund took them all
        customer = session.get(Customer, account.customer_id)
        _post(
            session,
            account,
            customer.external_id if customer else "",
            kind="release",
            key=key,
            points=left,
            pending=-left,
            now=now,
            recorded_by="retentio",
            refers_to=entry_id,
            expires_at=_expiry(programme, releases_at or now),
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
    key = f"redeem:{_key(key)}"
    account, name = _account(session, customer, now)
    found = _existing(session, key)
    if found is not None:
        return _repeat(session, found, name)
    if account.available < points:
        available = account.available
        session.rollback()
        raise InsufficientPoints(f"points: {points} asked, {available} available")
    return _post(
        session,
        account,
        name,
        kind="redeem",
        key=key,
        points=-points,
        now=now,
        recorded_by=recorded_by,
        note=note,
    )


def adjust_points(
    session: Session,
    *,
    customer: str,
    points: int,
    key: str,
    reason: str,
    now: datetime,
    recorded_by: str,
) -> Posted:
    """A correction by hand: ``points`` (positive or negative) with its reason."""
    if points == 0:
        raise DataError("points: a whole number other than 0")
    if not reason.strip():
        raise DataError("reason: say why the points are adjusted")
    key = f"adjust:{_key(key)}"
    account, name = _account(session, customer, now)
    found = _existing(session, key)
    if found is not None:
        return _repeat(session, found, name)
    return _post(
        session,
        account,
        name,
        kind="adjust",
        key=key,
        points=points,
        earned=max(points, 0),
        now=now,
        recorded_by=recorded_by,
        note=reason[:500],
        rule="manual",
    )


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
) -> Posted | None:
    """Take back the refunded share of the order's points (``refunded_minor``: everything
    refunded of the order so far). Still pending points go first; available ones after,
    into the negative if the programme allows (``returns: allow_negative``), else down to
    0. None when there is nothing to take back. Once per refund."""
    key = f"refund:{order_id}:{_key(refund_id)}"
    account, name = _account(session, customer, now)
    found = _existing(session, key)
    if found is not None:
        return _repeat(session, found, name)
    earn = _existing(session, f"order:{order_id}")
    if earn is None or earn.account_id != account.id:
        session.rollback()
        return None
    earned = earn.points + earn.pending_points
    taken = session.scalar(
        select(
            func.coalesce(func.sum(-(LoyaltyEntry.points + LoyaltyEntry.pending_points)), 0)
        ).where(LoyaltyEntry.order_id == order_id, LoyaltyEntry.kind == "reverse")
    )
    back = refund_points(earned, amount_minor, refunded_minor, int(taken or 0))
    if back == 0:
        session.rollback()
        return None
    still_pending = max(0, earn.pending_points - _reversed(session, earn.id))
    if _existing(session, f"release:{earn.id}") is not None:
        still_pending = 0
    from_pending = min(back, still_pending)
    from_available = back - from_pending
    if programme.returns == "cap_at_balance":
        from_available = min(from_available, max(account.available, 0))
    return _post(
        session,
        account,
        name,
        kind="reverse",
        key=key,
        points=-from_available,
        pending=-from_pending,
        earned=-(from_pending + from_available),
        now=now,
        recorded_by=recorded_by,
        order_id=order_id,
        refers_to=earn.id,
        note=f"refund {refunded_minor} of {amount_minor}",
    )


def balance_of(session: Session, customer: str) -> Balance:
    """The member's balances (zeros for a customer with no account yet)."""
    row = customer_by_external_id(session, customer)
    if row is None or row.erased_at is not None:
        raise NotFoundError(f"no customer with external_id {customer!r}")
    account = session.scalars(
        select(LoyaltyAccount).where(LoyaltyAccount.customer_id == row.id)
    ).one_or_none()
    if account is None:
        return Balance(row.external_id, 0, 0, 0)
    return _balance(account, row.external_id)
