"""The tables of campaigns and of the delivery outbox.

A launched campaign's audience is recorded once (``campaign_audience``: treated, held out, or
in the global control group), so the lift report compares the same people whatever happens
to the segment later. Every message to send is a row of ``deliveries``, the transactional
outbox: unique per (source, customer, channel), where the source is the campaign (later: the
journey step and entry), so writing it twice is impossible and a worker that dies leaves the
row for another to take after its lease.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from retentio.store.tables import Base

__all__ = ["Campaign", "CampaignAudience", "Delivery", "DeliveryEvent", "Journey", "JourneyEntry"]

#: 64-bit ids on PostgreSQL; SQLite's INTEGER PRIMARY KEY (its rowid) is 64-bit already.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Journey(Base):
    """An automated journey: a trigger, steps, a goal; ``status`` active or paused. The
    triggers seen so far end at ``cursor`` (the last entry or event taken in)."""

    __tablename__ = "journeys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)
    definition: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(20), default="active")
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    activated_at: Mapped[datetime]
    cursor: Mapped[datetime]


class JourneyEntry(Base):
    """One customer's way through a journey: the step they are at and when it is due.
    ``status``: active, done (ran out of steps), exited (an exit step), goal (the goal
    happened), control (held out: recorded for the lift, sent nothing)."""

    __tablename__ = "journey_entries"
    __table_args__ = (
        Index(
            "uq_journey_entries_active",
            "journey_id",
            "customer_id",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
        Index("ix_journey_entries_due", "journey_id", "status", "due_at"),
        Index("ix_journey_entries_customer", "customer_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    journey_id: Mapped[int] = mapped_column(ForeignKey("journeys.id", ondelete="CASCADE"))
    customer_id: Mapped[int]
    arm: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(20))
    step: Mapped[int] = mapped_column(Integer, default=0)
    path: Mapped[str] = mapped_column(String(200), default="")
    entered_at: Mapped[datetime]
    due_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


class Campaign(Base):
    """A one-off campaign: a saved segment, a message, a channel, a schedule, a holdout. A
    journey's send step is a campaign too (``journey_id`` set, no segment), so that the worker
    sends both alike."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    channel: Mapped[str] = mapped_column(String(20))
    purpose: Mapped[str] = mapped_column(String(20))
    segment_id: Mapped[int | None] = mapped_column(ForeignKey("segments.id"))
    journey_id: Mapped[int | None] = mapped_column(ForeignKey("journeys.id"))
    #: The definition as given (message, send time, quiet hours, ...), YAML/JSON decoded.
    definition: Mapped[dict[str, Any]]
    holdout: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(20), default="draft")
    scheduled_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    launched_at: Mapped[datetime | None]
    audience: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    held_out: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))


class CampaignAudience(Base):
    """Who a launched campaign was for, and in which arm: ``treated``, ``control`` (its
    holdout) or ``global`` (the global control group, which gets no marketing).

    No foreign keys, here and on ``deliveries``' customer and campaign: a launch writes a
    million rows, and PostgreSQL's check of each key (a locking look-up per row and key) took
    two thirds of its time (200,000 rows: 2.5 s with the keys, 0.5 s without, measured). The
    ids are read from their tables in the launch's own transaction, customers are never
    deleted (erasure keeps the row, pseudonymised) and campaigns neither.
    """

    __tablename__ = "campaign_audience"
    __table_args__ = {"sqlite_with_rowid": False}

    campaign_id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(primary_key=True)
    arm: Mapped[str] = mapped_column(String(10))


class Delivery(Base):
    """One message to one customer over one channel (the outbox row).

    ``status``: ``queued`` (to send from ``not_before``), then ``sent``, ``bounced`` (a
    permanent refusal: the address is suppressed), ``failed`` (transient failures until the
    attempts ran out) or ``skipped`` (no consent, suppressed, capped or quiet, with the reason
    in ``detail``). A worker that claims the row sets ``lease_owner`` and ``lease_until``;
    the row returns to the others when the lease runs out. No address is stored here: it is
    read from the customer when the message is sent, so erasure leaves nothing behind.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("source", "customer_id", "channel"),
        # The worker's claim: queued rows by due time (only those, so the index stays small).
        Index(
            "ix_deliveries_due",
            "not_before",
            sqlite_where=text("status = 'queued'"),
            postgresql_where=text("status = 'queued'"),
        ),
        # Frequency caps: a customer's sends, by time.
        Index("ix_deliveries_customer_sent", "customer_id", "sent_at"),
        Index("ix_deliveries_campaign_status", "campaign_id", "status"),
        Index("ix_deliveries_journey_entry", "journey_entry_id"),
        # A provider's delivery report names its own id.
        Index("ix_deliveries_provider", "provider_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source: Mapped[str] = mapped_column(String(100))
    campaign_id: Mapped[int | None]  # no foreign keys: see CampaignAudience
    journey_entry_id: Mapped[int | None] = mapped_column(BigId)
    customer_id: Mapped[int]
    channel: Mapped[str] = mapped_column(String(20))
    purpose: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="queued")
    not_before: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None]
    message_id: Mapped[str | None] = mapped_column(String(250))
    provider_id: Mapped[str | None] = mapped_column(String(250))
    detail: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    sent_at: Mapped[datetime | None]
    updated_at: Mapped[datetime | None]


class DeliveryEvent(Base):
    """What happened to a delivery after it was handed over: delivered, bounced (hard or
    soft), complained, opened, clicked, unsubscribed."""

    __tablename__ = "delivery_events"
    __table_args__ = (Index("ix_delivery_events_delivery", "delivery_id", "kind"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    occurred_at: Mapped[datetime]
    detail: Mapped[str | None] = mapped_column(String(500))
