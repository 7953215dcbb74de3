"""The ledger's primitives every loyalty use case shares: lock a member's account, find an
entry by its key, append an entry with its cached balances (TRUST.md, "Ledgers").

An entry moves points between the member's **pending** and **available** balances or in and
out of them; ``points`` is the change to available, ``pending_points`` the change to pending.
The account caches both sums and is changed only here, in the entry's transaction, under a
lock on the account (PostgreSQL: ``SELECT ... FOR UPDATE``; SQLite: ``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from retentio.core.errors import DataError, RetentioError
from retentio.loyalty.programme import Programme
from retentio.loyalty.tiers import add_months
from retentio.privacy.errors import NotFoundError
from retentio.store.customers import customer_by_external_id
from retentio.store.loyalty_tables import LoyaltyAccount, LoyaltyEntry
from retentio.store.tables import Customer
from retentio.store.transactions import begin_write

__all__ = [
    "ACTIVITY_KINDS",
    "Balance",
    "InsufficientPoints",
    "LoyaltyConflict",
    "Member",
    "Posted",
    "account_of",
    "checked_key",
    "customer_row",
    "ledger_key",
    "existing",
    "lock_account",
    "lock_account_id",
    "lot_expiry",
    "member_key",
    "post",
    "repeat",
]

_Query = TypeVar("_Query", bound=Select[Any])
_KEY_LENGTH = 300  # loyalty_entries.key
#: The entries that count as activity (expiry on inactivity counts from the latest).
ACTIVITY_KINDS = frozenset({"earn", "redeem"})


class LoyaltyConflict(RetentioError):
    """A change the member's points or the object's state does not allow now (the API
    answers 409); nothing was changed."""


class InsufficientPoints(LoyaltyConflict):
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


@dataclass(frozen=True, slots=True)
class Member:
    """A locked account with its customer's ids."""

    account: LoyaltyAccount
    external_id: str
    customer_id: int

    def balance(self) -> Balance:
        a = self.account
        return Balance(self.external_id, a.available, a.pending, a.earned)


def _fresh(query: _Query) -> _Query:
    """The locked row as the database has it now, also when the session holds an older copy
    (a session that does not expire on commit would hand out its cached balances)."""
    return query.execution_options(populate_existing=True)


def _locked(session: Session, customer_id: int) -> LoyaltyAccount | None:
    query = select(LoyaltyAccount).where(LoyaltyAccount.customer_id == customer_id)
    return session.scalars(_fresh(query.with_for_update())).one_or_none()


def lock_account(session: Session, customer: str, now: datetime) -> Member:
    """The member's account, locked for this transaction (made on first use); a
    NotFoundError for an unknown or erased customer."""
    row = customer_row(session, customer)  # before the write lock: an unknown one takes none
    begin_write(session)
    account = _locked(session, row.id)
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
            account = _locked(session, row.id)
            assert account is not None  # noqa: S101 (the conflict was its insert)
    return Member(account, row.external_id, row.id)


def customer_row(session: Session, customer: str) -> Customer:
    """The customer with external id ``customer``; a NotFoundError naming it when there is
    none (or they were erased)."""
    row = customer_by_external_id(session, customer)
    if row is None or row.erased_at is not None:
        raise NotFoundError(f"no customer with external_id {customer!r}")
    return row


def account_of(session: Session, customer: str) -> tuple[Customer, LoyaltyAccount | None]:
    """The customer (a NotFoundError if unknown or erased) and their account, if they have
    one; read, not locked."""
    row = customer_row(session, customer)
    account = session.scalars(
        select(LoyaltyAccount).where(LoyaltyAccount.customer_id == row.id)
    ).one_or_none()
    return row, account


def lock_account_id(session: Session, account_id: int) -> Member:
    """The account ``account_id``, locked for this transaction."""
    begin_write(session)
    query = select(LoyaltyAccount).where(LoyaltyAccount.id == account_id).with_for_update()
    account = session.scalars(_fresh(query)).one()
    customer = session.get(Customer, account.customer_id)
    return Member(account, customer.external_id if customer else "", account.customer_id)


def existing(session: Session, key: str) -> LoyaltyEntry | None:
    """The entry made under ``key``, if any."""
    return session.scalars(select(LoyaltyEntry).where(LoyaltyEntry.key == key)).one_or_none()


def repeat(session: Session, entry: LoyaltyEntry, customer: str) -> Posted:
    """What a repeated key answers: the first entry and the balance now (ends the
    transaction)."""
    account = session.get(LoyaltyAccount, entry.account_id)
    assert account is not None  # noqa: S101 (a foreign key)
    result = Posted(
        entry.id,
        entry.kind,
        entry.points,
        entry.pending_points,
        repeated=True,
        balance=Balance(customer, account.available, account.pending, account.earned),
    )
    session.rollback()
    return result


def post(
    session: Session,
    member: Member,
    *,
    kind: str,
    key: str,
    points: int = 0,
    pending: int = 0,
    earned: int = 0,
    now: datetime,
    recorded_by: str,
    occurred_at: datetime | None = None,
    commit: bool = True,
    **fields: Any,
) -> tuple[Posted, LoyaltyEntry]:
    """Append one entry and move the cached balances with it; committed unless ``commit`` is
    false (the caller writes more in the same transaction, then commits)."""
    account = member.account
    entry = LoyaltyEntry(
        account_id=account.id,
        kind=kind,
        key=key,
        points=points,
        pending_points=pending,
        occurred_at=occurred_at or now,
        recorded_by=recorded_by,
        **fields,
    )
    session.add(entry)
    account.available += points
    account.pending += pending
    account.earned += earned
    account.updated_at = now
    if kind in ACTIVITY_KINDS:
        moment = occurred_at or now
        if account.last_activity_at is None or account.last_activity_at < moment:
            account.last_activity_at = moment
    session.flush()
    result = Posted(entry.id, kind, points, pending, repeated=False, balance=member.balance())
    if commit:
        session.commit()
    return result, entry


def checked_key(key: str, field: str = "key") -> str:
    """A caller's key: 1 to 250 characters (a DataError naming ``field`` otherwise)."""
    if not key or len(key) > 250:
        raise DataError(f"{field}: 1 to 250 characters (an idempotency key)")
    return key


def ledger_key(*parts: object) -> str:
    """The parts of an entry's key joined by ``:``; one too long for the column (300) is
    replaced by its SHA-256, which is as unique."""
    key = ":".join(str(part) for part in parts)
    if len(key) <= _KEY_LENGTH:
        return key
    return f"{parts[0]}:sha256:{hashlib.sha256(key.encode()).hexdigest()}"


def member_key(kind: str, member: Member, key: str) -> str:
    """The ledger key of a change the caller keyed: scoped to the member, so that the same
    key given for two members is two changes (never a repeat of the other's)."""
    return ledger_key(kind, member.account.id, checked_key(key))


def lot_expiry(programme: Programme, start: datetime) -> datetime | None:
    """When points that became available at ``start`` expire (per-lot expiry), or None."""
    if programme.expiry_months is None:
        return None
    return add_months(start, programme.expiry_months, programme.zone)
