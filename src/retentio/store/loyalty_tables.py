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

from sqlalchemy import BigInteger, ForeignKey, Index, String, func
from sqlalchemy.orm import Mapped, mapped_column

from retentio.store.campaign_tables import BigId
from retentio.store.tables import Base

__all__ = ["LoyaltyAccount", "LoyaltyEntry", "LoyaltyProgramme"]


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
