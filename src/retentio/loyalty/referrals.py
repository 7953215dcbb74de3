"""Referrals: a member's code, a friend referred with it, the fraud checks that hold a referral
for review, and the points both get once the friend's first qualifying order has passed the
return window (docs/loyalty.md; the pure rules are ``loyalty.referral_rules``).

A referral is ``pending`` until then and ``completed`` after; ``flagged`` when a check holds it
for review (an admin approves it back to ``pending`` or rejects it); ``rejected`` at once when
the member refers themself. A customer is referred once. Each change is one transaction.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from retentio.core.errors import DataError, RetentioError
from retentio.loyalty.accounts import (
    LoyaltyConflict,
    checked_key,
    lock_account,
    lock_account_id,
    lot_expiry,
    post,
)
from retentio.loyalty.earning import limit_start
from retentio.loyalty.events import record_event
from retentio.loyalty.programme import Programme
from retentio.loyalty.referral_rules import FLAGS, Party, ReferralRules, referral_flags
from retentio.loyalty.referral_rules import normalise_postal_address as postal
from retentio.loyalty.rewards import CODE_ALPHABET
from retentio.loyalty.tiering import upgrade_after_earn
from retentio.privacy.addresses import normalise_email, normalise_phone
from retentio.privacy.errors import NotFoundError
from retentio.store.customers import customer_by_external_id
from retentio.store.loyalty_tables import LoyaltyAccount, LoyaltyEntry, LoyaltyReferral
from retentio.store.tables import Customer, Order
from retentio.store.transactions import begin_write

__all__ = [
    "STATUSES",
    "Referral",
    "ReferralConflict",
    "complete_referrals",
    "list_referrals",
    "refer",
    "referral_code",
    "review_referral",
]

log = logging.getLogger("retentio.loyalty")
STATUSES = ("pending", "flagged", "completed", "rejected")
#: Codes are read aloud and typed: no 0/O, 1/I/L, 5/S, 8/B, 2/Z. 25^8 codes (about 37 bits).
_CODE_LENGTH = 8
_COLUMNS = ("id", "status", "created_at", "order_id", "qualifies_at", "completed_at")
_REVIEW = ("reviewed_by", "reviewed_at")
_REFERRER = aliased(Customer)
_FRIEND = aliased(Customer)


class ReferralConflict(LoyaltyConflict):
    """A referral the state does not allow (a friend referred before, a review of a referral
    not held for review); nothing was changed (the API answers 409)."""


@dataclass(frozen=True, slots=True)
class Referral:
    """A referral as the API shows it (customers by their external ids)."""

    id: int
    referrer: str
    friend: str
    status: str
    flags: tuple[str, ...]
    created_at: datetime
    order_id: str | None = None
    qualifies_at: datetime | None = None
    completed_at: datetime | None = None
    reviewed_by: str | None = None
    reviewed_at: datetime | None = None
    repeated: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: times in ISO 8601."""
        found = {name: getattr(self, name) for name in self.__slots__}
        found["flags"] = list(self.flags)
        return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in found.items()}


def _one(session: Session, where: ColumnElement[bool]) -> Referral | None:
    found = _referrals(session, _query().where(where))
    return found[0] if found else None


def _query() -> Select[LoyaltyReferral, str, str]:
    r = LoyaltyReferral
    return (
        select(r, _REFERRER.external_id, _FRIEND.external_id)
        .join(LoyaltyAccount, LoyaltyAccount.id == r.referrer_account_id)
        .join(_REFERRER, _REFERRER.id == LoyaltyAccount.customer_id)
        .join(_FRIEND, _FRIEND.id == r.friend_customer_id)
        .execution_options(populate_existing=True)
    )


def _referrals(session: Session, query: Select[LoyaltyReferral, str, str]) -> list[Referral]:
    return [
        Referral(
            referrer=referrer,
            friend=friend,
            flags=tuple(row.flags),
            **{column: getattr(row, column) for column in _COLUMNS + _REVIEW},
        )
        for row, referrer, friend in session.execute(query)
    ]


def _locked(session: Session, referral_id: int) -> LoyaltyReferral | None:
    r = LoyaltyReferral
    query = select(r).where(r.id == referral_id).with_for_update()
    return session.scalars(query.execution_options(populate_existing=True)).one_or_none()


def _rules(programme: Programme) -> ReferralRules:
    if programme.referrals is None:
        raise DataError("referrals: the programme has no referrals section; configure it first")
    return programme.referrals


@contextmanager
def _undone_on_error(session: Session) -> Iterator[None]:
    """Nothing half-written: an error rolls the transaction back (and frees its locks)."""
    try:
        yield
    except BaseException:
        session.rollback()
        raise


def referral_code(session: Session, customer: str, *, now: datetime) -> str:
    """The member's own referral code, made on first use (with their account)."""
    a = LoyaltyAccount
    for _attempt in range(5):
        member = lock_account(session, customer, now)
        mine = session.scalar(select(a.referral_code).where(a.id == member.account.id))
        if mine is not None:
            session.rollback()
            return mine
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(_CODE_LENGTH))
        try:
            session.execute(update(a).where(a.id == member.account.id).values(referral_code=code))
            session.commit()
        except IntegrityError:  # another member drew the same code: draw again
            session.rollback()
            continue
        return code
    raise RetentioError("could not draw a unique referral code in 5 attempts; try again")


def refer(
    session: Session,
    programme: Programme,
    *,
    code: str,
    friend: str,
    key: str,
    now: datetime,
    recorded_by: str,
    email: str | None = None,
    phone: str | None = None,
    address: Any = None,
) -> Referral:
    """Record that the owner of ``code`` referred ``friend`` (a customer's external id),
    checked for fraud: ``rejected`` (self-referral), ``flagged`` (held for review) or
    ``pending``. ``email``, ``phone`` and ``address`` are what the friend gave, if anything.
    Once per key; a friend referred before is a :class:`ReferralConflict`."""
    rules = _rules(programme)
    checked_key(key)
    code = code.strip().upper()
    if not 0 < len(code) <= 32:
        raise DataError("code: 1 to 32 characters")
    r, a = LoyaltyReferral, LoyaltyAccount
    with _undone_on_error(session):
        begin_write(session)
        account_id = session.scalar(
            select(a.id)
            .join(Customer, Customer.id == a.customer_id)
            .where(a.referral_code == code, Customer.erased_at.is_(None))
        )
        if account_id is None:
            raise NotFoundError(f"code: no referral code {code!r}")
        # One referrer's referrals one at a time, so the monthly cap counts every one of them.
        referrer = lock_account_id(session, account_id)
        key = f"referral:{account_id}:{key}"  # the referrer's key: never another's referral
        found = _one(session, r.key == key)
        if found is not None:
            session.rollback()
            return replace(found, repeated=True)
        mate = customer_by_external_id(session, friend)
        if mate is None or mate.erased_at is not None:
            raise NotFoundError(f"friend: no customer with external_id {friend!r}")
        before = session.scalar(select(r.id).where(r.friend_customer_id == mate.id))
        if before is not None:
            raise ReferralConflict(
                f"friend: {friend!r} was referred before (referral {before}); "
                "a friend is referred once"
            )
        owner = session.get_one(Customer, referrer.customer_id)
        mine, given = _stored(owner), _given(mate, owner.country, email, phone, address)
        bought = _bought(session, mate.id, now)
        count = _this_month(session, programme, account_id, now)
        raised: set[str] = set()
        for party in (_stored(mate), given):  # what the store holds and what was given now
            raised.update(referral_flags(mine, party, friend_ordered_before=bought,
                                         this_month=count, cap=rules.monthly_cap))  # fmt: skip
        flags = [flag for flag in FLAGS if flag in raised]
        row = r(
            referrer_account_id=account_id,
            friend_customer_id=mate.id,
            status="rejected" if "self" in flags else "flagged" if flags else "pending",
            flags=flags,
            key=key,
            created_at=now,
            recorded_by=recorded_by[:200],
        )
        session.add(row)
        try:
            session.flush()
        except IntegrityError:  # the same key or friend at the same moment, by another request
            session.rollback()
            return _after_race(session, key, friend)
        made = _one(session, r.id == row.id)
        session.commit()
    assert made is not None  # noqa: S101 (just written)
    return made


def _after_race(session: Session, key: str, friend: str) -> Referral:
    found = _one(session, LoyaltyReferral.key == key)
    session.rollback()
    if found is not None:
        return replace(found, repeated=True)
    raise ReferralConflict(f"friend: {friend!r} was referred at the same moment, once is all")


def _stored(customer: Customer) -> Party:
    """What the store holds on ``customer``: e-mail and phone (normalised when they were
    loaded, by ``ingest.CustomerIn``) and ``attributes["address"]``."""
    attributes = customer.attributes if isinstance(customer.attributes, Mapping) else {}
    return Party(customer.id, customer.email, customer.phone, postal(attributes.get("address")))


def _given(
    friend: Customer, region: str | None, email: str | None, phone: str | None, address: Any
) -> Party:
    """The friend as given in the request, over what the store holds. A phone number without
    its country code is read in the friend's country, else in ``region`` (the referrer's).
    Errors name the field, not the value: it is personal data."""
    stored = _stored(friend)
    try:
        email = stored.email if email is None else normalise_email(email)
    except DataError:
        raise DataError("email: not an e-mail address") from None
    try:
        phone = stored.phone if phone is None else normalise_phone(phone, friend.country or region)
    except DataError:
        raise DataError("phone: not a valid phone number (write it with +country code)") from None
    place = postal(dict(address) if isinstance(address, Mapping) else address)
    if address is not None and place is None:
        raise DataError("address: a text, or a mapping of line1, line2, postcode, city, country")
    return Party(friend.id, email, phone, place or stored.address)


def _this_month(session: Session, programme: Programme, account_id: int, now: datetime) -> int:
    """The referrer's referrals (not rejected) this calendar month on the programme's clock."""
    r = LoyaltyReferral
    start = limit_start(now, "month", programme.zone)
    query = select(func.count()).where(
        r.referrer_account_id == account_id, r.status != "rejected", r.created_at >= start
    )
    return int(session.scalar(query) or 0)


def _bought(session: Session, customer_id: int, now: datetime) -> bool:
    """Whether the customer ordered before ``now``: an order loaded, or one that earned."""
    ordered = select(Order.id).where(Order.customer_id == customer_id, Order.ordered_at < now)
    e, a = LoyaltyEntry, LoyaltyAccount
    earned = (
        select(e.id)
        .join(a, a.id == e.account_id)
        .where(a.customer_id == customer_id, e.kind == "earn", e.rule == "spend")
        .where(e.occurred_at < now)
    )
    return bool(session.scalar(select(exists(ordered) | exists(earned))))


def _net(order: Any, account: Any) -> ColumnElement[int]:
    """An order's net amount after its refunds: the sum of its earn and reverse entries'."""
    x = aliased(LoyaltyEntry)
    return (
        select(func.coalesce(func.sum(x.amount_minor), 0))
        .where(x.account_id == account, x.order_id == order, x.kind.in_(("earn", "reverse")))
        .scalar_subquery()
    )


def _qualifying(minimum: int, since: Any) -> ColumnElement[bool]:
    """An earn entry of an order of at least ``minimum``, net of refunds, from ``since``."""
    e = LoyaltyEntry
    return and_(
        e.kind == "earn",
        e.rule == "spend",
        e.order_id.is_not(None),
        e.amount_minor >= minimum,
        e.occurred_at >= since,
        _net(e.order_id, e.account_id) >= minimum,
    )


def complete_referrals(
    session: Session, programme: Programme, *, now: datetime, limit: int = 10_000
) -> int:
    """Advance the pending referrals: note the friend's first qualifying order; once its return
    window is over and refunds left it at the minimum, give both their points (one transaction
    each). Returns how many completed; safe to run twice, also at once."""
    rules = programme.referrals
    if rules is None:
        return 0
    r, e, a = LoyaltyReferral, LoyaltyEntry, LoyaltyAccount
    ordered = exists().where(
        a.customer_id == r.friend_customer_id,
        e.account_id == a.id,
        _qualifying(rules.minimum_order_minor, r.created_at),
    )
    waiting = or_(r.qualifies_at <= now, and_(r.order_id.is_(None), ordered))
    due = session.scalars(
        select(r.id).where(r.status == "pending", waiting).order_by(r.id).limit(limit)
    ).all()
    session.rollback()
    completed = 0
    for referral_id in due:
        try:
            with _undone_on_error(session):
                completed += _advance(session, programme, rules, referral_id, now)
        except IntegrityError as exc:  # another run completed it meanwhile: its keys are taken
            log.info("referral %s was completed by another run (%s)", referral_id, exc.orig)
    return completed


def _advance(
    session: Session, programme: Programme, rules: ReferralRules, referral_id: int, now: datetime
) -> bool:
    r, a = LoyaltyReferral, LoyaltyAccount
    accounts = session.execute(
        select(r.referrer_account_id, a.id)
        .join(a, a.customer_id == r.friend_customer_id)
        .where(r.id == referral_id)
    ).first()
    session.rollback()
    if accounts is None:
        return False
    referrer_account, friend_account = accounts
    # The lower account first, always: two runs never wait on each other crosswise.
    members = {n: lock_account_id(session, n) for n in sorted({referrer_account, friend_account})}
    row = _locked(session, referral_id)
    if row is None or row.status != "pending":  # completed or reviewed meanwhile
        session.rollback()
        return False
    minimum = rules.minimum_order_minor
    if row.order_id is not None:
        net = session.scalar(select(_net(row.order_id, friend_account))) or 0
        if net < minimum:  # refunded below the minimum: a later order may qualify
            row.order_id, row.qualifies_at = None, None
    if row.order_id is None:
        e = LoyaltyEntry
        first = session.execute(
            select(e.order_id, e.occurred_at)
            .where(e.account_id == friend_account, _qualifying(minimum, row.created_at))
            .order_by(e.occurred_at, e.id)
            .limit(1)
        ).first()
        if first is not None:
            row.order_id = first.order_id
            row.qualifies_at = first.occurred_at + timedelta(days=programme.pending_days)
    if row.qualifies_at is None or row.qualifies_at > now:
        session.commit()  # the order found (or cleared): its return window is still running
        return False
    for role, account_id, points in (
        ("referrer", referrer_account, rules.referrer_points),
        ("friend", friend_account, rules.friend_points),
    ):
        member, ref = members[account_id], f"{row.id}:{role}"
        post(session, member, kind="earn", key=f"referral:{ref}", points=points, earned=points,
             now=now, recorded_by="retentio", commit=False, rule="referral",
             note=f"referral {row.id} ({role})", expires_at=lot_expiry(programme, now))  # fmt: skip
        told = {"role": role, "points": points, "referral": row.id}
        record_event(session, member.customer_id, "referral_completed", ref, told, now)
        upgrade_after_earn(session, programme, member, at=now, now=now)
    row.status, row.completed_at = "completed", now
    session.commit()
    return True


def review_referral(
    session: Session, programme: Programme, referral_id: int, *, approve: bool, actor: str,
    now: datetime,
) -> Referral:  # fmt: skip
    """Approve a referral held for review (back to ``pending``: it completes like any other)
    or reject it; a referral not flagged is a :class:`ReferralConflict`."""
    if approve:
        _rules(programme)
    with _undone_on_error(session):
        begin_write(session)
        row = _locked(session, referral_id)
        if row is None:
            raise NotFoundError(f"no referral {referral_id}")
        if row.status != "flagged":
            raise ReferralConflict(
                f"referral {referral_id} is {row.status}: only a flagged referral is reviewed"
            )
        row.status = "pending" if approve else "rejected"
        row.reviewed_by, row.reviewed_at = actor[:200], now
        session.flush()
        made = _one(session, LoyaltyReferral.id == referral_id)
        session.commit()
    assert made is not None  # noqa: S101 (locked above)
    return made


def list_referrals(
    session: Session, *, status: str | None = None, referrer: str | None = None, limit: int = 100
) -> list[Referral]:
    """Referrals, newest first; of one status, and of one referrer (external id), if given."""
    if status is not None and status not in STATUSES:
        raise DataError(f"status: one of {', '.join(STATUSES)}")
    if not 1 <= limit <= 1000:
        raise DataError("limit: from 1 to 1000")
    r = LoyaltyReferral
    query = _query().order_by(r.id.desc()).limit(limit)
    if status is not None:
        query = query.where(r.status == status)
    if referrer is not None:
        owner = customer_by_external_id(session, referrer)
        if owner is None or owner.erased_at is not None:
            raise NotFoundError(f"referrer: no customer with external_id {referrer!r}")
        query = query.where(_REFERRER.id == owner.id)
    return _referrals(session, query)
