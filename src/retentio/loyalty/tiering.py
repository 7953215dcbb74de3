"""Tiers on the ledger: a member moves up as soon as an earn reaches a higher tier, and is
reviewed (moved down, or kept for another period) when a tier has ended and its grace period
is over. Every move is a ``loyalty_tier_changes`` row and a ``tier_changed`` event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from retentio.core.money import minor_unit_exponent
from retentio.loyalty.accounts import Member, lock_account_id
from retentio.loyalty.events import record_event
from retentio.loyalty.programme import Programme
from retentio.loyalty.tiers import TICK, Tier, TierRules
from retentio.store.loyalty_tables import LoyaltyAccount, LoyaltyEntry, LoyaltyTierChange

__all__ = [
    "TierStatus",
    "earning_multiplier",
    "qualifying_value",
    "review_tiers",
    "tier_status",
    "upgrade_after_earn",
]


def qualifying_value(
    session: Session, rules: TierRules, account_id: int, start: datetime, end: datetime
) -> int:
    """The member's qualifying value in [start, end): net spend in minor units (refunds
    deducted when they happen), or points earned (less points taken back by refunds; points
    of a cancelled reward coming back are not earned); never below 0."""
    e = LoyaltyEntry
    value = e.amount_minor if rules.qualify_on == "spend" else e.points + e.pending_points
    refund = and_(e.kind == "reverse", e.order_id.is_not(None))
    total = session.scalar(
        select(func.coalesce(func.sum(value), 0)).where(
            e.account_id == account_id,
            or_(e.kind == "earn", refund),
            e.occurred_at >= start,
            e.occurred_at < end,
        )
    )
    return max(0, int(total or 0))  # refunds of orders before the window count from 0


def held_tier(rules: TierRules, tier: str | None) -> Tier | None:
    """The tier a member holds: theirs, or the lowest level when it needs nothing."""
    held = rules.named(tier)
    if held is None and rules.levels[0].threshold == 0:
        return rules.levels[0]
    return held


def earning_multiplier(programme: Programme, account: LoyaltyAccount) -> Decimal:
    """The multiplier of the tier the member holds (1 without tiers)."""
    if programme.tiers is None:
        return Decimal(1)
    held = held_tier(programme.tiers, account.tier)
    return held.multiplier if held is not None else Decimal(1)


def _move(
    session: Session,
    member: Member,
    to: Tier | None,
    *,
    direction: str,
    value: int,
    until: datetime | None,
    now: datetime,
) -> None:
    account = member.account
    before = account.tier
    account.tier = None if to is None else to.name
    account.tier_since = now if to is not None else None
    account.tier_until = until
    change = LoyaltyTierChange(
        account_id=account.id,
        from_tier=before,
        to_tier=account.tier,
        direction=direction,
        qualifying=value,
        changed_at=now,
    )
    session.add(change)
    session.flush()
    record_event(
        session,
        member.customer_id,
        "tier_changed",
        str(change.id),
        {"from": before, "to": account.tier, "direction": direction},
        now,
    )


def upgrade_after_earn(
    session: Session, programme: Programme, member: Member, *, at: datetime, now: datetime
) -> None:
    """After an earn at ``at`` (in the caller's transaction): move the member up if their value
    over the window ending then reaches a higher tier, or renew the tier they reached again."""
    rules = programme.tiers
    if rules is None:
        return
    zone = programme.zone
    end = at + TICK
    value = qualifying_value(session, rules, member.account.id, rules.window_start(end, zone), end)
    reached = rules.tier_for(value)
    if reached is None:
        return
    account = member.account
    until = rules.held_until(at, zone)
    if rules.rank(reached.name) > rules.rank(account.tier):
        _move(session, member, reached, direction="up", value=value, until=until, now=now)
    elif reached.name == account.tier and (
        account.tier_until is None or until > account.tier_until
    ):
        account.tier_until = until


def review_tiers(session: Session, programme: Programme, *, now: datetime) -> int:
    """Review every tier whose end and grace period are over: keep it another period if the
    window that ended reached it, else move the member down to what it reached. Returns how
    many members moved down; each review is its own transaction."""
    rules = programme.tiers
    if rules is None:
        return 0
    a = LoyaltyAccount
    due = session.scalars(
        select(a.id)
        .where(a.tier.is_not(None), a.tier_until <= now - timedelta(days=rules.grace_days))
        .order_by(a.id)
    ).all()
    session.rollback()
    moved = 0
    zone = programme.zone
    for account_id in due:
        member = lock_account_id(session, account_id)
        account = member.account
        until = account.tier_until
        if account.tier is None or until is None or rules.review_at(until) > now:
            session.rollback()  # reviewed meanwhile
            continue
        value = qualifying_value(session, rules, account_id, rules.window_start(until, zone), until)
        reached = rules.tier_for(value)
        renewed = rules.renewed_until(until, zone)
        if reached is not None and reached.name == account.tier:
            account.tier_until = renewed
        else:
            to_until = renewed if reached is not None else None
            _move(session, member, reached, direction="down", value=value, until=to_until, now=now)
            moved += 1
        session.commit()
    return moved


@dataclass(frozen=True, slots=True)
class TierStatus:
    """A member's tier for their profile: the tier held, until when, and the progress to the
    next one over the current window."""

    tier: Tier | None
    since: datetime | None
    until: datetime | None
    value: int
    next_tier: Tier | None

    def to_dict(self, programme: Programme) -> dict[str, Any]:
        rules = programme.tiers
        assert rules is not None  # noqa: S101 (only made with tiers)
        spend = rules.qualify_on == "spend"
        scale = Decimal(10) ** -minor_unit_exponent(programme.currency) if spend else Decimal(1)

        def shown(value: int) -> str | int:
            return str(Decimal(value) * scale) if spend else value

        found: dict[str, Any] = {
            "name": None if self.tier is None else self.tier.name,
            "multiplier": str(self.tier.multiplier) if self.tier else "1",
            "perks": list(self.tier.perks) if self.tier else [],
            "since": self.since,
            "until": self.until,
            "qualify_on": rules.qualify_on,
            "period": rules.period,
            "value": shown(self.value),
            "next": None,
        }
        if self.next_tier is not None:
            needed = max(0, self.next_tier.threshold - self.value)
            found["next"] = {
                "name": self.next_tier.name,
                "threshold": shown(self.next_tier.threshold),
                "needed": shown(needed),
                "progress": round(min(1.0, self.value / self.next_tier.threshold), 4)
                if self.next_tier.threshold
                else 1.0,
            }
        return found


def tier_status(
    session: Session, programme: Programme, account: LoyaltyAccount | None, now: datetime
) -> TierStatus | None:
    """The member's tier and progress (None without tiers)."""
    rules = programme.tiers
    if rules is None:
        return None
    if account is None:
        held = held_tier(rules, None)
        return TierStatus(
            held, None, None, 0, rules.next_above(None if held is None else held.name)
        )
    zone = programme.zone
    value = qualifying_value(session, rules, account.id, rules.window_start(now, zone), now)
    held = held_tier(rules, account.tier)
    return TierStatus(
        held,
        account.tier_since,
        account.tier_until,
        value,
        rules.next_above(None if held is None else held.name),
    )
