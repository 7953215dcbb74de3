"""See a campaign's message before it goes: rendered for one customer (a preview), or sent to
the marketer's own address (a test send). Neither writes to the outbox.

The customer is the one named, or else the segment's first member. Their unsubscribe link is
shown as ``<public url>/u/preview``, a link that withdraws nothing: a marketer who clicks it
in a test message must not unsubscribe the customer whose data filled the preview. A survey's
links point at ``<public url>/f/preview``, which records nothing.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from retentio.campaigns.compose import compose_email, compose_sms, sender_domain
from retentio.campaigns.definition import CampaignDefinition, CampaignError
from retentio.campaigns.recipients import load_recipients
from retentio.campaigns.surveys import survey_preview
from retentio.campaigns.templates import RenderedMessage, render_message
from retentio.campaigns.worker import Channel
from retentio.channels.base import DeliveryResult
from retentio.core.errors import DataError
from retentio.privacy.addresses import normalise_phone
from retentio.segments import find_segment, member_ids
from retentio.store.tables import Customer

__all__ = ["Preview", "preview_campaign", "send_test_message"]

PREVIEW_PATH = "/u/preview"
#: Where a preview's preference centre link points (no customer's token is made for a preview).
PREVIEW_PREFERENCES_PATH = "/p/preview"
#: ... and a preview's subscription page link, for a customer with a subscription.
PREVIEW_SUBSCRIPTION_PATH = "/s/preview"


@dataclass(frozen=True, slots=True)
class Preview:
    """The message as ``customer`` (external id) would get it."""

    customer: str
    message: RenderedMessage
    unsubscribe_url: str

    def to_dict(self) -> dict[str, Any]:
        m = self.message
        return {
            "customer": self.customer,
            "locale": m.locale,
            "subject": m.subject,
            "text": m.text,
            "html": m.html,
            "unsubscribe_url": self.unsubscribe_url,
        }


def _customer_id(
    session: Session, definition: CampaignDefinition, customer: str | None, now: datetime
) -> int:
    if customer is not None:
        found = session.scalar(select(Customer.id).where(Customer.external_id == customer))
        if found is None:
            raise CampaignError("customer", f"no customer {customer!r}")
        return int(found)
    segment = find_segment(session, definition.segment).definition
    dialect = session.get_bind().dialect.name
    members = member_ids(segment, now=now, dialect=dialect)
    first = session.scalar(members.order_by(members.selected_columns[0]).limit(1))
    if first is None:
        raise CampaignError("segment", f"the segment {definition.segment!r} has no members now")
    return int(first)


def preview_campaign(
    session: Session,
    definition: CampaignDefinition,
    *,
    secret: bytes,
    now: datetime,
    customer: str | None = None,
    locale: str | None = None,
    public_url: str | None = None,
) -> Preview:
    """The message rendered for ``customer`` (default: the segment's first member), in
    ``locale`` (default: the customer's)."""
    customer_id = _customer_id(session, definition, customer, now)
    recipient = load_recipients(
        session, [customer_id], channel=definition.channel, secret=secret, now=now
    )[customer_id]
    base = (public_url or "https://retentio.invalid").rstrip("/")
    unsubscribe = f"{base}{PREVIEW_PATH}"
    context = recipient.context(
        now,
        campaign=definition.name,
        offer_code=definition.offer_code,
        unsubscribe_url=unsubscribe if definition.purpose != "transactional" else None,
        preferences_url=f"{base}{PREVIEW_PREFERENCES_PATH}",
        subscription_url=None
        if recipient.subscription_id is None
        else f"{base}{PREVIEW_SUBSCRIPTION_PATH}",
        **survey_preview(definition.survey, base),
    )
    rendered = render_message(definition.message, context, locale=locale or recipient.locale)
    return Preview(recipient.external_id, rendered, unsubscribe)


def send_test_message(
    session: Session,
    definition: CampaignDefinition,
    channel: Channel,
    *,
    to: str,
    mail_from: str,
    secret: bytes,
    now: datetime,
    customer: str | None = None,
    locale: str | None = None,
    public_url: str | None = None,
) -> DeliveryResult:
    """Send the preview to ``to`` (the subject marked ``[test]``)."""
    preview = preview_campaign(
        session,
        definition,
        secret=secret,
        now=now,
        customer=customer,
        locale=locale,
        public_url=public_url,
    )
    m = preview.message
    marked = RenderedMessage(m.locale, f"[test] {m.subject}", m.html, m.text)
    mid = f"<test.{secrets.token_hex(8)}@{sender_domain(mail_from)}>"
    https = preview.unsubscribe_url.startswith("https://")
    email = compose_email(
        marked,
        recipient=to,
        sender=mail_from,
        message_id=mid,
        unsubscribe_url=preview.unsubscribe_url
        if https and definition.purpose != "transactional"
        else None,
        sent_at=now,
    )
    return channel.send(email)


def send_test_sms(
    session: Session,
    definition: CampaignDefinition,
    channel: Channel,
    *,
    to: str,
    secret: bytes,
    now: datetime,
    customer: str | None = None,
    locale: str | None = None,
) -> DeliveryResult:
    """Send an SMS campaign's preview to the number ``to`` (the text marked ``[test]``)."""
    try:
        number = normalise_phone(to)
    except DataError:
        raise DataError(f"--to: not a phone number with its country code: {to!r}") from None
    preview = preview_campaign(
        session, definition, secret=secret, now=now, customer=customer, locale=locale
    )
    m = preview.message
    marked = RenderedMessage(m.locale, m.subject, m.html, f"[test] {m.text}")
    sms = compose_sms(
        marked,
        recipient=number,
        reference=f"test.{secrets.token_hex(8)}",
        marketing=definition.purpose != "transactional",
    )
    return channel.send(sms)
