"""Rewards redeemed for points: each redemption debits the points and issues a unique coupon
code, in one transaction; the shop honours the code (``use``) or the member cancels it while
unused, which refunds its points (a ``reverse`` entry with ``rule='reward'``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from retentio.core.errors import DataError, RetentioError
from retentio.loyalty.accounts import (
    Balance,
    InsufficientPoints,
    LoyaltyConflict,
    Member,
    account_of,
    checked_key,
    lock_account,
    lock_account_id,
    lot_expiry,
    member_key,
    post,
)
from retentio.loyalty.earning import limit_start
from retentio.loyalty.events import record_event
from retentio.loyalty.expiry import upcoming_lots
from retentio.loyalty.programme import Programme
from retentio.loyalty.rewards import Reward, coupon_code
from retentio.loyalty.tiering import held_tier
from retentio.privacy.errors import NotFoundError
from retentio.store.loyalty_tables import LoyaltyAccount, LoyaltyCoupon
from retentio.store.tables import Customer

__all__ = [
    "Coupon",
    "CouponStateError",
    "RewardUnavailable",
    "cancel_coupon",
    "coupon_by_code",
    "redeem_reward",
    "rewards_for",
    "use_coupon",
]


_FOREVER = datetime(9999, 1, 1, tzinfo=UTC)


class RewardUnavailable(LoyaltyConflict):
    """A reward the member cannot redeem now: its limit is reached or their tier is too low."""


class CouponStateError(LoyaltyConflict):
    """A coupon that cannot change that way: used already, cancelled, or expired."""


@dataclass(frozen=True, slots=True)
class Coupon:
    """A coupon as the API shows it (``balance``: the member's, after a change)."""

    code: str
    reward: str
    customer: str
    points: int
    #: The redeem entry that spent the points.
    entry_id: int
    value: dict[str, Any]
    status: str
    issued_at: datetime
    expires_at: datetime
    used_at: datetime | None
    cancelled_at: datetime | None
    order_id: str | None
    repeated: bool = False
    balance: Balance | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "reward": self.reward,
            "customer": self.customer,
            "points": self.points,
            "entry_id": self.entry_id,
            "value": self.value,
            "status": self.status,
            "issued_at": self.issued_at,
            "expires_at": self.expires_at,
            "used_at": self.used_at,
            "cancelled_at": self.cancelled_at,
            "order_id": self.order_id,
            "repeated": self.repeated,
            "balance": None if self.balance is None else self.balance.to_dict(),
        }


def _coupon(
    row: LoyaltyCoupon, customer: str, *, repeated: bool = False, balance: Balance | None = None
) -> Coupon:
    return Coupon(
        code=row.code,
        reward=row.reward_id,
        customer=customer,
        points=row.points,
        entry_id=row.redeem_entry_id,
        value=dict(row.value),
        status=row.status,
        issued_at=row.issued_at,
        expires_at=row.expires_at,
        used_at=row.used_at,
        cancelled_at=row.cancelled_at,
        order_id=row.order_id,
        repeated=repeated,
        balance=balance,
    )


def _redeemed(
    session: Session, account_id: int, reward: Reward, programme: Programme, now: datetime
) -> int:
    """How many of ``reward`` the member holds (not cancelled) in its limit's period."""
    c = LoyaltyCoupon
    query = select(func.count()).where(
        c.account_id == account_id, c.reward_id == reward.id, c.status != "cancelled"
    )
    if reward.limit is not None:
        start = limit_start(now, reward.limit.per, programme.zone)
        if start is not None:
            query = query.where(c.issued_at >= start)
    return int(session.scalar(query) or 0)


def _refusal(
    session: Session, programme: Programme, member: Member, reward: Reward, now: datetime
) -> str | None:
    """Why the member cannot redeem ``reward`` now (points aside), or None."""
    if reward.tier is not None and programme.tiers is not None:
        held = held_tier(programme.tiers, member.account.tier)
        held_rank = programme.tiers.rank(None if held is None else held.name)
        if held_rank < programme.tiers.rank(reward.tier):
            return f"reward: {reward.id} needs the {reward.tier} tier"
    if reward.limit is not None:
        if _redeemed(session, member.account.id, reward, programme, now) >= reward.limit.count:
            return (
                f"reward: {reward.id} can be redeemed {reward.limit.count} time(s) per "
                f"{reward.limit.per}; reached"
            )
    return None


def redeem_reward(
    session: Session,
    programme: Programme,
    *,
    customer: str,
    reward_id: str,
    key: str,
    now: datetime,
    recorded_by: str,
) -> Coupon:
    """Spend the reward's points and issue its coupon; once per key. Raises
    :class:`InsufficientPoints` or :class:`RewardUnavailable`, which change nothing."""
    reward = programme.reward(reward_id)
    if reward is None:
        known = ", ".join(r.id for r in programme.rewards) or "none configured"
        raise DataError(f"reward: {reward_id!r} is not in the catalogue (known: {known})")
    checked_key(key)
    member = lock_account(session, customer, now)
    key = member_key("reward", member, key)
    found = session.scalars(select(LoyaltyCoupon).where(LoyaltyCoupon.key == key)).one_or_none()
    if found is not None:
        result = _coupon(found, member.external_id, repeated=True, balance=member.balance())
        session.rollback()
        return result
    refusal = _refusal(session, programme, member, reward, now)
    if refusal is not None:
        session.rollback()
        raise RewardUnavailable(refusal)
    if member.account.available < reward.points:
        available = member.account.available
        session.rollback()
        raise InsufficientPoints(f"points: {reward.points} needed, {available} available")
    lots = upcoming_lots(session, programme, now, _FOREVER, [member.account.id])
    first_lot = lots.get(member.account.id, [(None, 0)])[0][0]
    posted, entry = post(
        session,
        member,
        kind="redeem",
        key=f"redeem:{key}",
        points=-reward.points,
        now=now,
        recorded_by=recorded_by,
        commit=False,
        rule="reward",
        note=f"reward {reward.id}",
    )
    row = _issue(session, member, reward, programme, key, entry.id, now)
    row.lot_expires_at = first_lot
    record_event(
        session,
        member.customer_id,
        "reward_redeemed",
        str(row.id),
        {
            "reward": reward.id,
            "code": row.code,
            "points": reward.points,
            "value": row.value,
            "expires_at": row.expires_at.isoformat(),
        },
        now,
    )
    result = _coupon(row, member.external_id, balance=posted.balance)
    session.commit()
    return result


def _issue(
    session: Session, member: Member, reward: Reward, programme: Programme, key: str,
    entry_id: int, now: datetime,
) -> LoyaltyCoupon:  # fmt: skip
    """The coupon row, with a code no other coupon has (a new code on the rare collision)."""
    for _attempt in range(5):
        row = LoyaltyCoupon(
            account_id=member.account.id,
            reward_id=reward.id,
            code=coupon_code(),
            points=reward.points,
            value=reward.value(programme.currency),
            status="issued",
            key=key,
            redeem_entry_id=entry_id,
            issued_at=now,
            expires_at=now + timedelta(days=reward.valid_days),
        )
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:
            continue
        return row
    raise RetentioError("could not issue a unique coupon code; try again")  # pragma: no cover


def _locked_coupon(session: Session, code: str) -> tuple[LoyaltyCoupon, Member]:
    row = session.scalars(select(LoyaltyCoupon).where(LoyaltyCoupon.code == code)).one_or_none()
    if row is None:
        session.rollback()
        raise NotFoundError(f"no coupon with code {code!r}")
    member = lock_account_id(session, row.account_id)  # the coupon changes under its account
    session.refresh(row)
    return row, member


def use_coupon(session: Session, *, code: str, order_id: str, now: datetime) -> Coupon:
    """The shop honoured the coupon on ``order_id``; again with the same order changes
    nothing. A cancelled, expired or otherwise used coupon raises CouponStateError."""
    if not order_id or len(order_id) > 200:
        raise DataError("order_id: 1 to 200 characters")
    row, member = _locked_coupon(session, code)
    if row.status == "used" and row.order_id == order_id:
        result = _coupon(row, member.external_id, repeated=True)
        session.rollback()
        return result
    problem = _state_problem(row, now)
    if problem is not None:
        session.rollback()
        raise CouponStateError(problem)
    row.status, row.used_at, row.order_id = "used", now, order_id
    result = _coupon(row, member.external_id)
    session.commit()
    return result


def _state_problem(row: LoyaltyCoupon, now: datetime, *, cancelling: bool = False) -> str | None:
    if row.status == "used":
        return f"code: {row.code} was used on order {row.order_id}"
    if row.status == "cancelled":
        return f"code: {row.code} was cancelled"
    if not cancelling and row.expires_at <= now:
        return f"code: {row.code} expired at {row.expires_at.isoformat()}"
    return None


def cancel_coupon(
    session: Session, programme: Programme, *, code: str, now: datetime, recorded_by: str
) -> Coupon:
    """Cancel an unused coupon (expired or not) and refund its points, as a lot that expires
    when the first lot the redemption spent would have (so a cancellation cannot make old
    points new); again changes nothing. A used coupon raises CouponStateError."""
    row, member = _locked_coupon(session, code)
    if row.status == "cancelled":
        result = _coupon(row, member.external_id, repeated=True, balance=member.balance())
        session.rollback()
        return result
    problem = _state_problem(row, now, cancelling=True)
    if problem is not None:
        session.rollback()
        raise CouponStateError(problem)
    posted, entry = post(
        session,
        member,
        kind="reverse",
        key=f"cancel:{row.id}",
        points=row.points,
        now=now,
        recorded_by=recorded_by,
        commit=False,
        rule="reward",
        refers_to=row.redeem_entry_id,
        note=f"reward {row.reward_id} cancelled",
        expires_at=row.lot_expires_at or lot_expiry(programme, now),
    )
    row.status, row.cancelled_at, row.refund_entry_id = "cancelled", now, entry.id
    result = _coupon(row, member.external_id, balance=posted.balance)
    session.commit()
    return result


def coupon_by_code(session: Session, code: str) -> Coupon:
    """The coupon ``code`` (a NotFoundError if there is none)."""
    found = session.execute(
        select(LoyaltyCoupon, Customer.external_id)
        .join(LoyaltyAccount, LoyaltyAccount.id == LoyaltyCoupon.account_id)
        .join(Customer, Customer.id == LoyaltyAccount.customer_id)
        .where(LoyaltyCoupon.code == code)
    ).one_or_none()
    if found is None:
        raise NotFoundError(f"no coupon with code {code!r}")
    return _coupon(found[0], found[1])


def rewards_for(
    session: Session, programme: Programme, customer: str | None, *, now: datetime
) -> list[dict[str, Any]]:
    """The catalogue; for a ``customer``, also whether each reward is redeemable now and why
    not (points, tier, limit)."""
    account = None if customer is None else account_of(session, customer)[1]
    found = []
    for reward in programme.rewards:
        item: dict[str, Any] = {
            "id": reward.id,
            "name": reward.name,
            "points": reward.points,
            "value": reward.value(programme.currency),
            "tier": reward.tier,
            "limit": None
            if reward.limit is None
            else {"count": reward.limit.count, "per": reward.limit.per},
            "valid_days": reward.valid_days,
        }
        if customer is not None:
            item.update(_for_member(session, programme, reward, account, now))
        found.append(item)
    return found


def _for_member(
    session: Session, programme: Programme, reward: Reward, account: LoyaltyAccount | None,
    now: datetime,
) -> dict[str, Any]:  # fmt: skip
    if account is None:  # no points yet, the tier every member starts in
        account = LoyaltyAccount(available=0, tier=None)
    reasons = []
    if account.available < reward.points:
        reasons.append(f"{reward.points - account.available} more points needed")
    refusal = _refusal(session, programme, Member(account, "", account.customer_id), reward, now)
    if refusal is not None:
        reasons.append(refusal.split(": ", 1)[1])
    return {"redeemable": not reasons, "why_not": reasons}
