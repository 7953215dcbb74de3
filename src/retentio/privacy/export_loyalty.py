"""The loyalty parts of a person's export: every entry of their points ledger, their tier
changes, the coupons they redeemed, and the referrals they made or came through."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from retentio.privacy._shared import iso
from retentio.store.loyalty_tables import (
    LoyaltyAccount,
    LoyaltyCoupon,
    LoyaltyEntry,
    LoyaltyReferral,
    LoyaltyTierChange,
)

__all__ = ["LOYALTY_SECTIONS", "loyalty_sections"]

#: The sections, in the export's order.
LOYALTY_SECTIONS = ("loyalty_points", "loyalty_tiers", "loyalty_coupons", "loyalty_referrals")


def loyalty_sections(session: Session, customer_id: int) -> dict[str, list[dict[str, Any]]]:
    """The sections of :data:`LOYALTY_SECTIONS` for the customer with id ``customer_id``."""
    account = session.scalar(
        select(LoyaltyAccount.id).where(LoyaltyAccount.customer_id == customer_id)
    )
    return {
        "loyalty_points": _entries(session, account),
        "loyalty_tiers": _tiers(session, account),
        "loyalty_coupons": _coupons(session, account),
        "loyalty_referrals": _referrals(session, account, customer_id),
    }


def _entries(session: Session, account: int | None) -> list[dict[str, Any]]:
    e = LoyaltyEntry
    query = select(e).where(e.account_id == account).order_by(e.id)
    return [
        {
            "id": entry.id,
            "kind": entry.kind,
            "points": entry.points,
            "pending_points": entry.pending_points,
            "rule": entry.rule,
            "order_id": entry.order_id,
            "occurred_at": iso(entry.occurred_at),
            "releases_at": iso(entry.releases_at),
            "expires_at": iso(entry.expires_at),
            "note": entry.note,
        }
        for entry in session.scalars(query)
    ]


def _tiers(session: Session, account: int | None) -> list[dict[str, Any]]:
    t = LoyaltyTierChange
    query = select(t).where(t.account_id == account).order_by(t.id)
    return [
        {
            "from_tier": change.from_tier,
            "to_tier": change.to_tier,
            "direction": change.direction,
            "changed_at": iso(change.changed_at),
        }
        for change in session.scalars(query)
    ]


def _coupons(session: Session, account: int | None) -> list[dict[str, Any]]:
    c = LoyaltyCoupon
    query = select(c).where(c.account_id == account).order_by(c.id)
    return [
        {
            "code": coupon.code,
            "reward": coupon.reward_id,
            "points": coupon.points,
            "status": coupon.status,
            "order_id": coupon.order_id,
            "issued_at": iso(coupon.issued_at),
            "expires_at": iso(coupon.expires_at),
            "used_at": iso(coupon.used_at),
            "cancelled_at": iso(coupon.cancelled_at),
        }
        for coupon in session.scalars(query)
    ]


def _referrals(session: Session, account: int | None, customer_id: int) -> list[dict[str, Any]]:
    r = LoyaltyReferral
    mine = or_(r.referrer_account_id == account, r.friend_customer_id == customer_id)
    return [
        {
            # the other party's identity is theirs, not this person's: only the role is shown
            "role": "friend" if referral.friend_customer_id == customer_id else "referrer",
            "status": referral.status,
            "created_at": iso(referral.created_at),
            "completed_at": iso(referral.completed_at),
        }
        for referral in session.scalars(select(r).where(mine).order_by(r.id))
    ]
