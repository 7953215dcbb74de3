"""What a provider reports after it took a message: delivered, bounced, a spam complaint.

**E-mail.** An e-mail provider's event webhook (through the shop's small adapter, ``POST
/api/v1/email/events``) names the message by its Message-ID:

- ``delivered``: a ``delivered`` event;
- ``bounced`` with ``bounce: hard`` (the address does not exist): the delivery becomes
  ``bounced`` and the address is suppressed at once; ``soft``: a ``bounced`` event only;
- ``complained`` (the person marked it as spam, RFC 5965 feedback): a ``complained`` event,
  the address is suppressed, and the customer's e-mail consent for the message's purpose is
  withdrawn (source ``api``, "spam complaint"): TRUST.md, "Sending".

**SMS.**

An SMS provider posts its delivery reports (``POST /api/v1/sms/reports``) naming the message
by the id it answered with (``deliveries.provider_id``). A report becomes a delivery event:

- ``delivered``: a ``delivered`` event (the funnel's "delivered").
- ``failed``, ``undelivered``, ``expired``, ``rejected``: a ``bounced`` event. When the reason
  is about the number (``invalid_number``, ``unreachable``, ``blocked``, ``opted_out``,
  ``landline``) it is a hard bounce: the delivery becomes ``bounced`` and the number goes on
  the suppression list. Any other reason (the handset was off until the message expired) is
  soft and suppresses nobody.

A report that repeats one already recorded changes nothing, so a provider may send it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from retentio.campaigns.compose import delivery_of_message_id
from retentio.campaigns.outbox import record_event
from retentio.channels.http import RECIPIENT_REASONS
from retentio.core.errors import DataError
from retentio.privacy.addresses import address_hmac
from retentio.privacy.errors import NotFoundError
from retentio.privacy.suppression import add_suppression
from retentio.privacy.withdrawal import withdraw_consent
from retentio.store.campaign_tables import Delivery, DeliveryEvent
from retentio.store.tables import Customer

__all__ = [
    "EMAIL_EVENTS",
    "REPORT_STATUSES",
    "ReportOutcome",
    "record_delivery_report",
    "record_email_event",
]

#: The e-mail events a provider may report.
EMAIL_EVENTS = ("delivered", "bounced", "complained")

#: A provider's statuses and the event each becomes.
REPORT_STATUSES = {
    "delivered": "delivered",
    "failed": "bounced",
    "undelivered": "bounced",
    "expired": "bounced",
    "rejected": "bounced",
}


@dataclass(frozen=True, slots=True)
class ReportOutcome:
    """What the report did: the delivery's id, the event, and whether it was new; whether the
    number was suppressed."""

    delivery_id: int
    event: str
    recorded: bool
    suppressed: bool

    def to_dict(self) -> dict[str, object]:
        return {
            "delivery_id": self.delivery_id,
            "event": self.event,
            "recorded": self.recorded,
            "suppressed": self.suppressed,
        }


def record_delivery_report(
    session: Session,
    secret: bytes,
    *,
    channel: str,
    provider_id: str,
    status: str,
    reason: str | None,
    at: datetime,
) -> ReportOutcome:
    """Record a provider's report on the message it knows as ``provider_id`` (committed)."""
    event = REPORT_STATUSES.get(status.lower())
    if event is None:
        raise DataError(f"status: one of {', '.join(REPORT_STATUSES)}, not {status!r}")
    reason = (reason or "").strip().lower()[:100] or None
    found = session.execute(
        select(Delivery.id, Delivery.status, Customer.phone, Customer.country)
        .join(Customer, Customer.id == Delivery.customer_id)
        .where(Delivery.channel == channel, Delivery.provider_id == provider_id)
        .order_by(Delivery.id.desc())
        .limit(1)
    ).first()
    if found is None:
        raise NotFoundError(f"no {channel} message with the provider's id {provider_id!r}")
    delivery_id, _status, phone, country = found
    hard = event == "bounced" and reason in RECIPIENT_REASONS
    detail = f"{'hard' if hard else 'soft'}: {status} {reason or ''}".strip()
    if event == "delivered":
        detail = status
    if _seen(session, delivery_id, event, detail):
        session.rollback()
        return ReportOutcome(delivery_id, event, recorded=False, suppressed=False)
    record_event(session, delivery_id, event, at=at, detail=detail)
    suppressed = False
    if hard:
        session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id, Delivery.status == "sent")
            .values(status="bounced", detail=detail, updated_at=at)
        )
        if phone:  # an erased customer's number is gone; its suppression was made then
            try:
                digest = address_hmac(secret, channel, phone, country)
            except DataError:
                digest = None
            if digest is not None:
                suppressed = add_suppression(session, channel, digest, "hard_bounce")
    session.commit()
    return ReportOutcome(delivery_id, event, recorded=True, suppressed=suppressed)


def _seen(session: Session, delivery_id: int, kind: str, detail: str) -> bool:
    """Whether the same report was recorded already (a provider may send one again)."""
    e = DeliveryEvent
    query = select(e.id).where(e.delivery_id == delivery_id, e.kind == kind, e.detail == detail)
    return session.execute(query).first() is not None


def record_email_event(
    session: Session,
    secret: bytes,
    *,
    message_id: str,
    event: str,
    bounce: str | None,
    reason: str | None,
    at: datetime,
) -> ReportOutcome:
    """Record an e-mail provider's event on the message ``message_id`` (committed)."""
    if event not in EMAIL_EVENTS:
        raise DataError(f"event: one of {', '.join(EMAIL_EVENTS)}, not {event!r}")
    if event == "bounced" and bounce not in ("hard", "soft"):
        raise DataError("bounce: hard or soft, for a bounced event")
    found = delivery_of_message_id(message_id)
    row = None
    if found is not None:
        row = session.execute(
            select(Delivery.id, Delivery.purpose, Delivery.message_id, Customer)
            .join(Customer, Customer.id == Delivery.customer_id)
            .where(Delivery.id == found[0], Delivery.channel == "email")
        ).first()
    if found is None or row is None or row[2] != found[1]:
        raise NotFoundError(f"no e-mail with the Message-ID {message_id!r}")
    delivery_id, purpose, _mid, customer = row
    reason = (reason or "").strip()[:200] or None
    detail = event if event != "bounced" else f"{bounce}: {reason or 'bounced'}"
    if event == "complained":
        detail = "spam complaint"
    if _seen(session, delivery_id, event, detail):
        session.rollback()
        return ReportOutcome(delivery_id, event, recorded=False, suppressed=False)
    record_event(session, delivery_id, event, at=at, detail=detail)
    suppressed = False
    if event == "complained" or bounce == "hard":
        if bounce == "hard":
            session.execute(
                update(Delivery)
                .where(Delivery.id == delivery_id, Delivery.status == "sent")
                .values(status="bounced", detail=detail[:500], updated_at=at)
            )
        if customer.email:
            try:
                digest = address_hmac(secret, "email", customer.email)
            except DataError:
                digest = None
            if digest is not None:
                why = "complaint" if event == "complained" else "hard_bounce"
                suppressed = add_suppression(session, "email", digest, why)
    session.commit()
    if event == "complained" and purpose != "transactional" and customer.erased_at is None:
        withdraw_consent(
            session,
            customer=customer.external_id,
            channel="email",
            purpose=purpose,
            recorded_by="email provider",
            source_detail="spam complaint",
        )
    return ReportOutcome(delivery_id, event, recorded=True, suppressed=suppressed)
