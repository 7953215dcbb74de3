"""The loyalty ledger: one account per member, and the append-only entries its balance is the
sum of (TRUST.md, "Ledgers").

An entry moves points between the member's **pending** and **available** balances (purchase
points wait out the return window as pending) or in and out of them; ``points`` is the change
to available, ``pending_points`` the change to pending. The account caches both sums and is
updated in the entry's transaction, so ``available == sum(points)`` and ``pending ==
sum(pending_points)`` always. ``key`` makes every change idempotent: an order's points, a
request's Idempotency-Key, a release of one entry's pending points. A correction is a new
entry (``reverse``, ``adjust``), never an edit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, func
from sqlalchemy.orm import Mapped, mapped_column

from retentio.store.campaign_tables import BigId
from retentio.store.tables import Base

__all__ = [
    "LoyaltyAccount",
    "LoyaltyCoupon",
    "LoyaltyCursor",
    "LoyaltyEntry",
    "LoyaltyProgramme",
    "LoyaltyReferral",
    "LoyaltyTierChange",
]


class LoyaltyProgramme(Base):
    """A version of the programme's configuration; the newest is in force."""

    __tablename__ = "loyalty_programmes"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(unique=True)
    definition: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    created_by: Mapped[str] = mapped_column(String(200))


class LoyaltyAccount(Base):
    """A member: the cached balances of their entries."""

    __tablename__ = "loyalty_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), unique=True
    )
    available: Mapped[int] = mapped_column(BigInteger, default=0)
    pending: Mapped[int] = mapped_column(BigInteger, default=0)
    #: Points ever earned (for tiers and analytics): positive earns, less their reversals.
    earned: Mapped[int] = mapped_column(BigInteger, default=0)
    #: The tier held (None: below every level, or no tiers), since when and until when
    #: (then reviewed after the grace period).
    tier: Mapped[str | None] = mapped_column(String(50))
    tier_since: Mapped[datetime | None]
    tier_until: Mapped[datetime | None]
    #: The latest earn or redemption (expiry on inactivity counts from it).
    last_activity_at: Mapped[datetime | None]
    #: Points that expire within the first reminder window, and the first such expiry, as of
    #: the latest expiry run (for segments and the member's profile).
    expiring_points: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    expiring_at: Mapped[datetime | None]
    #: The member's own referral code (made on first use).
    referral_code: Mapped[str | None] = mapped_column(String(32), unique=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class LoyaltyEntry(Base):
    """One change of a member's points (see the module's docstring)."""

    __tablename__ = "loyalty_entries"
    __table_args__ = (
        Index("ix_loyalty_entries_account", "account_id", "id"),
        # Pending points to release, found by when they become available ...
        Index("ix_loyalty_entries_release", "releases_at"),
        # ... and without an entry that released (or reversed) them yet.
        Index("ix_loyalty_entries_refers", "refers_to"),
        Index("ix_loyalty_entries_order", "order_id"),
        # Lots by when they expire: the expiry run's candidates and the reminders.
        Index("ix_loyalty_entries_expires", "expires_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("loyalty_accounts.id", ondelete="CASCADE"))
    #: earn, release, redeem, expire, adjust, reverse.
    kind: Mapped[str] = mapped_column(String(20))
    points: Mapped[int] = mapped_column(BigInteger, default=0)
    pending_points: Mapped[int] = mapped_column(BigInteger, default=0)
    key: Mapped[str] = mapped_column(String(300), unique=True)
    #: The shop's order id, for purchase points and their reversal.
    order_id: Mapped[str | None] = mapped_column(String(200))
    #: The order's net amount (earn) or the refunded part of it (reverse, negative), in the
    #: programme's minor units: the spend tiers qualify on.
    amount_minor: Mapped[int | None] = mapped_column(BigInteger)
    #: A refund's entry: everything refunded of the order so far (its next refund takes the
    #: share from here).
    refunded_minor: Mapped[int | None] = mapped_column(BigInteger)
    #: The entry this one releases, reverses or expires.
    refers_to: Mapped[int | None] = mapped_column(BigId)
    #: When a pending entry's points become available (a ``release`` entry then refers to it).
    releases_at: Mapped[datetime | None]
    #: When points that became available expire (FIFO lots).
    expires_at: Mapped[datetime | None]
    rule: Mapped[str | None] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(String(500))
    occurred_at: Mapped[datetime]
    recorded_by: Mapped[str] = mapped_column(String(200))


class LoyaltyTierChange(Base):
    """A member's move between tiers (up at once, down after a review), for the history and
    the tier migration report."""

    __tablename__ = "loyalty_tier_changes"
    __table_args__ = (Index("ix_loyalty_tier_changes_account", "account_id", "changed_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("loyalty_accounts.id", ondelete="CASCADE"))
    from_tier: Mapped[str | None] = mapped_column(String(50))
    to_tier: Mapped[str | None] = mapped_column(String(50))
    #: up, down, or backfill (set from history by ``retentio loyalty backfill``).
    direction: Mapped[str] = mapped_column(String(10))
    #: The value the move was decided on: spend in minor units, or points.
    qualifying: Mapped[int] = mapped_column(BigInteger)
    changed_at: Mapped[datetime]


class LoyaltyCoupon(Base):
    """A reward redeemed: the coupon code the shop honours, its points and what became of it
    (issued, used, cancelled: its points refunded)."""

    __tablename__ = "loyalty_coupons"
    __table_args__ = (
        Index("ix_loyalty_coupons_account_reward", "account_id", "reward_id", "issued_at"),
        {"sqlite_autoincrement": True},  # ids are never reused (events name them)
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("loyalty_accounts.id", ondelete="CASCADE"))
    reward_id: Mapped[str] = mapped_column(String(100))
    code: Mapped[str] = mapped_column(String(40), unique=True)
    points: Mapped[int] = mapped_column(BigInteger)
    #: What the shop applies: kind, amount and currency, percent, product.
    value: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(10))
    key: Mapped[str] = mapped_column(String(300), unique=True)
    redeem_entry_id: Mapped[int] = mapped_column(BigId)
    refund_entry_id: Mapped[int | None] = mapped_column(BigId)
    #: The shop's order the coupon was used on.
    order_id: Mapped[str | None] = mapped_column(String(200))
    issued_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    #: When the first lot the redemption spent would have expired: its points, refunded on a
    #: cancellation, expire then (a cancellation does not make old points new).
    lot_expires_at: Mapped[datetime | None]
    used_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]


class LoyaltyReferral(Base):
    """A friend referred by a member: pending until the friend's first qualifying order has
    passed the return window, flagged (held for review), completed or rejected."""

    __tablename__ = "loyalty_referrals"
    __table_args__ = (
        Index("ix_loyalty_referrals_referrer", "referrer_account_id", "created_at"),
        Index("ix_loyalty_referrals_status", "status"),
        # ids are never reused, also after an erasure deleted the newest: entries name them
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    referrer_account_id: Mapped[int] = mapped_column(
        ForeignKey("loyalty_accounts.id", ondelete="CASCADE")
    )
    #: A customer is referred once.
    friend_customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), unique=True
    )
    status: Mapped[str] = mapped_column(String(12))
    #: Why it was held for review (loyalty.referral_rules.FLAGS).
    flags: Mapped[list[str]] = mapped_column(JSON)
    key: Mapped[str] = mapped_column(String(300), unique=True)
    #: The friend's first qualifying order, and when its return window ends.
    order_id: Mapped[str | None] = mapped_column(String(200))
    qualifies_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]
    reviewed_by: Mapped[str | None] = mapped_column(String(200))
    reviewed_at: Mapped[datetime | None]
    recorded_by: Mapped[str] = mapped_column(String(200))


class LoyaltyCursor(Base):
    """How far a recurring job got (``expiry``: the time of its last run and the newest entry
    then), so that the next run looks only at what came since."""

    __tablename__ = "loyalty_cursors"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    at: Mapped[datetime]
    entry_id: Mapped[int] = mapped_column(BigInteger)
