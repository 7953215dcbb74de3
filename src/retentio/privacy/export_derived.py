"""The parts of a person's export that retentio derived or did: the messages sent to them,
the segments they were in, their stored scores, the campaigns and journeys they were part of
(and in which arm), their in-app inbox, the devices push messages reach, and their loyalty
points, tiers, coupons and referrals (``export_loyalty``), and what they gave themselves:
subscriptions, stated preferences, survey answers (``export_first_party``). Ids and names
only; no message holds an address."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from retentio.privacy._shared import iso
from retentio.privacy.export_first_party import FIRST_PARTY_SECTIONS, first_party_sections
from retentio.privacy.export_loyalty import LOYALTY_SECTIONS, loyalty_sections
from retentio.store.campaign_tables import (
    Campaign,
    CampaignAudience,
    Delivery,
    Journey,
    JourneyEntry,
)
from retentio.store.channel_tables import InboxMessage, PushSubscription
from retentio.store.tables import CustomerScore, Segment, SegmentMembership

__all__ = ["DERIVED_SECTIONS", "derived_sections"]

#: The sections, in the export's order.
DERIVED_SECTIONS = (
    "messages",
    "segments",
    "scores",
    "campaigns",
    "journeys",
    "inbox",
    "push_subscriptions",
    *LOYALTY_SECTIONS,
    *FIRST_PARTY_SECTIONS,
)
_SCORES = (
    "recency_days",
    "frequency",
    "monetary",
    "rfm_score",
    "rfm_segment",
    "p_alive",
    "churn_risk",
    "risk_band",
    "expected_purchases",
    "clv",
    "best_hour",
)


def derived_sections(session: Session, customer_id: int) -> dict[str, list[dict[str, Any]]]:
    """The sections of :data:`DERIVED_SECTIONS` for the customer with id ``customer_id``."""
    return {
        "messages": _messages(session, customer_id),
        "segments": _segments(session, customer_id),
        "scores": _scores(session, customer_id),
        "campaigns": _campaigns(session, customer_id),
        "journeys": _journeys(session, customer_id),
        "inbox": _inbox(session, customer_id),
        "push_subscriptions": _push_subscriptions(session, customer_id),
        **loyalty_sections(session, customer_id),
        **first_party_sections(session, customer_id),
    }


def _inbox(session: Session, customer_id: int) -> list[dict[str, Any]]:
    query = (
        select(InboxMessage)
        .where(InboxMessage.customer_id == customer_id)
        .order_by(InboxMessage.id)
    )
    return [
        {
            "id": m.id,
            "title": m.title,
            "text": m.text,
            "html": m.html,
            "link": m.link,
            "created_at": iso(m.created_at),
            "read_at": iso(m.read_at),
            "archived_at": iso(m.archived_at),
        }
        for m in session.scalars(query)
    ]


def _push_subscriptions(session: Session, customer_id: int) -> list[dict[str, Any]]:
    query = (
        select(PushSubscription)
        .where(PushSubscription.customer_id == customer_id)
        .order_by(PushSubscription.id)
    )
    return [
        {
            "kind": p.kind,
            "endpoint": p.endpoint,
            "platform": p.platform,
            "created_at": iso(p.created_at),
            "last_sent_at": iso(p.last_sent_at),
            "revoked_at": iso(p.revoked_at),
        }
        for p in session.scalars(query)
    ]


def _messages(session: Session, customer_id: int) -> list[dict[str, Any]]:
    query = (
        select(Delivery, Campaign.name)
        .outerjoin(Campaign, Campaign.id == Delivery.campaign_id)
        .where(Delivery.customer_id == customer_id)
        .order_by(Delivery.id)
    )
    return [
        {
            "id": d.id,
            "campaign": name,
            "channel": d.channel,
            "purpose": d.purpose,
            "status": d.status,
            "detail": d.detail,
            "message_id": d.message_id,
            "queued_at": iso(d.created_at),
            "sent_at": iso(d.sent_at),
        }
        for d, name in session.execute(query)
    ]


def _segments(session: Session, customer_id: int) -> list[dict[str, Any]]:
    query = (
        select(Segment.name, SegmentMembership.entered_at, SegmentMembership.exited_at)
        .join(Segment, Segment.id == SegmentMembership.segment_id)
        .where(SegmentMembership.customer_id == customer_id)
        .order_by(SegmentMembership.id)
    )
    return [
        {"segment": name, "entered_at": iso(entered), "exited_at": iso(exited)}
        for name, entered, exited in session.execute(query)
    ]


def _scores(session: Session, customer_id: int) -> list[dict[str, Any]]:
    row = session.get(CustomerScore, customer_id)
    if row is None:
        return []
    return [{**{k: getattr(row, k) for k in _SCORES}, "computed_at": iso(row.computed_at)}]


def _campaigns(session: Session, customer_id: int) -> list[dict[str, Any]]:
    query = (
        select(Campaign.name, CampaignAudience.arm, Campaign.launched_at)
        .join(Campaign, Campaign.id == CampaignAudience.campaign_id)
        .where(CampaignAudience.customer_id == customer_id)
        .order_by(Campaign.id)
    )
    return [
        {"campaign": name, "arm": arm, "launched_at": iso(launched)}
        for name, arm, launched in session.execute(query)
    ]


def _journeys(session: Session, customer_id: int) -> list[dict[str, Any]]:
    query = (
        select(Journey.name, JourneyEntry)
        .join(Journey, Journey.id == JourneyEntry.journey_id)
        .where(JourneyEntry.customer_id == customer_id)
        .order_by(JourneyEntry.id)
    )
    return [
        {
            "journey": name,
            "arm": e.arm,
            "status": e.status,
            "entered_at": iso(e.entered_at),
            "ended_at": iso(e.ended_at),
        }
        for name, e in session.execute(query)
    ]
