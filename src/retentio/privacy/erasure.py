"""Erasure (GDPR art. 17): no plaintext PII of the person left in any table, in one transaction.

What happens to each table:

- ``customers``: email, phone, first name, locale, time zone and attributes emptied,
  ``erased_at`` set; the shop's id is replaced by a keyed pseudonym (:func:`pseudonym`), because
  shops often use the e-mail address as their customer id. The country stays (VAT accounting).
- ``orders`` and ``refunds`` stay for accounting, pointing to the pseudonymised row;
  ``order_lines`` keep sku, quantity and amount; a line's name or sku that mentions the person
  (e-mail, phone, first name) is emptied, product names are not personal and stay.
- ``events`` of the person are deleted (their properties may hold anything).
- ``consent_events`` stay as proof of what was consented, with IP address, user agent and
  source detail cleared; every granted consent gets a withdrawal (source ``erasure``).
- ``consent_confirmations`` of the person are deleted.
- ``customer_scores`` and ``segment_memberships`` (what was derived about the person: their
  predictions and segment history) are deleted.
- ``suppressions`` get the HMAC of the e-mail address and of the phone number, so a later
  import cannot re-subscribe the person.
- the person's loyalty account and everything on it (``loyalty_entries``, ``loyalty_coupons``,
  ``loyalty_tier_changes``, the referrals they made) and the referral they came through are
  deleted: their points are forfeited with the account.
- what the person stated is deleted (``customer_preferences``, ``preference_events``,
  ``survey_responses``); their open subscriptions are cancelled (reason ``erased``) and the
  subscriptions' histories deleted; subscription orders stay for accounting.
- ``idempotency_keys`` whose stored response mentions the person get an ``{"erased": true}``
  body; ``audit_log`` entries about the person stay (they hold no PII) and one more is added.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Result, delete, func, or_, select, update
from sqlalchemy.orm import Session

from retentio.core.errors import DataError
from retentio.privacy._shared import iso, utc_now
from retentio.privacy.addresses import address_hmac, normalise_email, normalise_phone
from retentio.privacy.audit import record_access
from retentio.privacy.consent import append_event
from retentio.privacy.errors import NotFoundError
from retentio.privacy.suppression import add_suppression
from retentio.store.campaign_tables import Delivery, DeliveryEvent
from retentio.store.channel_tables import InboxMessage, PushSubscription
from retentio.store.feedback_tables import CustomerPreference, PreferenceEvent, SurveyResponse
from retentio.store.loyalty_tables import (
    LoyaltyAccount,
    LoyaltyCoupon,
    LoyaltyEntry,
    LoyaltyReferral,
    LoyaltyTierChange,
)
from retentio.store.subscription_tables import Subscription, SubscriptionEvent
from retentio.store.tables import (
    AuditEntry,
    Consent,
    ConsentConfirmation,
    ConsentEvent,
    Customer,
    CustomerScore,
    Event,
    IdempotencyKey,
    Order,
    OrderLine,
    SegmentMembership,
)
from retentio.store.transactions import begin_write

__all__ = ["ERASED_BODY", "ErasureReport", "erase_customer_row", "erase_person", "pseudonym"]

#: What an idempotency key's stored response becomes when it mentioned an erased person.
ERASED_BODY = '{"erased": true}'


@dataclass(frozen=True)
class ErasureReport:
    """What an erasure did; ``customer`` is the pseudonym the customer row now carries."""

    customer: str
    erased_at: datetime
    already_erased: bool
    events_deleted: int = 0
    consent_events_scrubbed: int = 0
    consents_withdrawn: int = 0
    confirmations_deleted: int = 0
    orders_kept: int = 0
    order_lines_scrubbed: int = 0
    suppressions_added: int = 0
    idempotency_keys_scrubbed: int = 0
    derived_deleted: int = 0
    deliveries_scrubbed: int = 0
    channel_rows_deleted: int = 0  # in-app inbox messages and push subscriptions
    loyalty_rows_deleted: int = 0  # the account, its entries, coupons, tiers and referrals
    first_party_deleted: int = 0  # stated preferences (and their history), survey answers
    subscriptions_cancelled: int = 0  # open subscriptions ended (their orders kept)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the fields above, ``erased_at`` as ISO 8601."""
        return {**asdict(self), "erased_at": iso(self.erased_at)}


def pseudonym(secret: bytes, external_id: str) -> str:
    """The keyed pseudonym an erased customer's id becomes (``erased-`` + 32 hex digits)."""
    digest = hmac.new(secret, f"customer:{external_id}".encode(), hashlib.sha256).hexdigest()
    return f"erased-{digest[:32]}"


def _needles(row: Customer) -> list[str]:
    """The strings that identify the person, in the forms they may have been written."""
    found: set[str] = set()
    if row.email:
        found.add(row.email.strip())
        try:
            found.add(normalise_email(row.email))
        except DataError:
            pass
    if row.phone:
        found.add(row.phone.strip())
        try:
            e164 = normalise_phone(row.phone, row.country)
            found.update({e164, e164.lstrip("+")})
        except DataError:
            pass
    if row.first_name and len(row.first_name.strip()) >= 2:
        found.add(row.first_name.strip())
    return sorted(n for n in found if n)


def _pattern(needles: list[str]) -> re.Pattern[str] | None:
    if not needles:
        return None
    alternatives = "|".join(re.escape(n) for n in sorted(needles, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


def _suppress(session: Session, secret: bytes, row: Customer) -> int:
    added = 0
    for channel, address in (("email", row.email), ("sms", row.phone)):
        if not address:
            continue
        try:
            digest = address_hmac(secret, channel, address, row.country)
        except DataError:  # not an address anyone can send to: nothing to suppress
            continue
        added += add_suppression(session, channel, digest, "erasure")
    return added


def _withdraw_all(session: Session, row: Customer, actor: str, now: datetime) -> int:
    granted = session.scalars(
        select(Consent).where(Consent.customer_id == row.id, Consent.granted.is_(True))
    ).all()
    for consent in granted:
        append_event(
            session,
            row,
            channel=consent.channel,
            purpose=consent.purpose,
            granted=False,
            source="erasure",
            recorded_by=actor,
            now=now,
        )
    return len(granted)


def _scrub_consent_events(session: Session, row: Customer, pattern: re.Pattern[str] | None) -> int:
    events = session.scalars(select(ConsentEvent).where(ConsentEvent.customer_id == row.id)).all()
    for event in events:
        event.ip_address = event.user_agent = event.source_detail = None
        if pattern is not None and pattern.search(event.recorded_by):
            event.recorded_by = "erased"
    return len(events)


def _scrub_order_lines(session: Session, row: Customer, pattern: re.Pattern[str] | None) -> int:
    if pattern is None:
        return 0
    orders = select(Order.id).where(Order.customer_id == row.id)
    scrubbed = 0
    for line in session.scalars(select(OrderLine).where(OrderLine.order_id.in_(orders))):
        if line.name and pattern.search(line.name):
            line.name = None
            scrubbed += 1
        if line.sku and pattern.search(line.sku):
            line.sku = None
            scrubbed += 1
    return scrubbed


def _scrub_idempotency(session: Session, needles: list[str], pattern: re.Pattern[str]) -> int:
    body = func.lower(IdempotencyKey.response_body)
    candidates = session.scalars(
        select(IdempotencyKey).where(or_(*(body.contains(n.lower()) for n in needles)))
    ).all()
    scrubbed = 0
    for key in candidates:
        if key.response_body and pattern.search(key.response_body):
            key.response_body = ERASED_BODY
            scrubbed += 1
    return scrubbed


def _scrub_audit(session: Session, row: Customer, pattern: re.Pattern[str]) -> None:
    """Audit details never hold PII (record_access refuses it); this catches direct writes."""
    for entry in session.scalars(select(AuditEntry).where(AuditEntry.customer_id == row.id)):
        if pattern.search(json.dumps(entry.details, ensure_ascii=False)):
            entry.details = {"redacted": True}


def _scrub_deliveries(session: Session, row: Customer, now: datetime) -> int:
    """The person's messages: the servers' answers (a bounce may quote the address) and the
    events' details are emptied; messages still queued are skipped. The rows stay, with ids
    only, so campaign reports keep their counts."""
    mine = Delivery.customer_id == row.id
    session.execute(
        update(Delivery)
        .where(mine, Delivery.status == "queued")
        .values(status="skipped", lease_owner=None, lease_until=None, updated_at=now)
    )
    scrubbed = _count(
        session.execute(update(Delivery).where(mine).values(detail="erased", provider_id=None))
    )
    session.execute(
        update(DeliveryEvent)
        .where(DeliveryEvent.delivery_id.in_(select(Delivery.id).where(mine)))
        .values(detail=None)
    )
    return scrubbed


def _count(result: Result[Any]) -> int:
    return int(cast("CursorResult[Any]", result).rowcount)


def _delete_loyalty(session: Session, customer_id: int) -> int:
    """Delete the person's loyalty account and all on it, and the referral of them. The
    account is locked first, as every loyalty change locks accounts before their rows."""
    account = session.scalar(
        select(LoyaltyAccount.id).where(LoyaltyAccount.customer_id == customer_id).with_for_update()
    )
    deleted = _count(
        session.execute(
            delete(LoyaltyReferral).where(LoyaltyReferral.friend_customer_id == customer_id)
        )
    )
    if account is None:
        return deleted
    for table, column in (
        (LoyaltyEntry, LoyaltyEntry.account_id),
        (LoyaltyCoupon, LoyaltyCoupon.account_id),
        (LoyaltyTierChange, LoyaltyTierChange.account_id),
        (LoyaltyReferral, LoyaltyReferral.referrer_account_id),
        (LoyaltyAccount, LoyaltyAccount.id),
    ):
        deleted += _count(session.execute(delete(table).where(column == account)))
    return deleted


def _delete_first_party(session: Session, customer_id: int, now: datetime) -> tuple[int, int]:
    """Delete what the person stated (preferences, their history, survey answers); end their
    open subscriptions (no order may come for an erased person) and delete the histories,
    which may quote them (a cancellation's note); their orders stay for accounting."""
    deleted = 0
    for table, column in (
        (CustomerPreference, CustomerPreference.customer_id),
        (PreferenceEvent, PreferenceEvent.customer_id),
        (SurveyResponse, SurveyResponse.customer_id),
    ):
        deleted += _count(session.execute(delete(table).where(column == customer_id)))
    s = Subscription
    mine = select(s.id).where(s.customer_id == customer_id)
    deleted += _count(
        session.execute(
            delete(SubscriptionEvent).where(SubscriptionEvent.subscription_id.in_(mine))
        )
    )
    cancelled = _count(
        session.execute(
            update(s)
            .where(s.customer_id == customer_id, s.status.in_(("active", "paused", "past_due")))
            .values(status="cancelled", cancelled_at=now, cancel_reason="erased", updated_at=now)
        )
    )
    session.execute(update(s).where(s.customer_id == customer_id).values(cancel_note=None))
    return deleted, cancelled


def erase_customer_row(
    session: Session, secret: bytes, row: Customer, *, actor: str, now: datetime, reason: str
) -> ErasureReport:
    """Erase ``row``'s person inside the session's transaction (flushed, not committed)."""
    begin_write(session)
    if row.erased_at is not None:
        erased_at = row.erased_at
        return ErasureReport(row.external_id, erased_at, already_erased=True)
    needles = _needles(row)
    pattern = _pattern(needles)
    suppressions = _suppress(session, secret, row)
    withdrawn = _withdraw_all(session, row, actor, now)
    scrubbed_events = _scrub_consent_events(session, row, pattern)
    lines = _scrub_order_lines(session, row, pattern)
    keys = 0
    if pattern is not None:
        keys = _scrub_idempotency(session, needles, pattern)
        _scrub_audit(session, row, pattern)
    deleted = _count(session.execute(delete(Event).where(Event.customer_id == row.id)))
    confirmations = _count(
        session.execute(
            delete(ConsentConfirmation).where(ConsentConfirmation.customer_id == row.id)
        )
    )
    derived = _count(
        session.execute(delete(CustomerScore).where(CustomerScore.customer_id == row.id))
    ) + _count(
        session.execute(delete(SegmentMembership).where(SegmentMembership.customer_id == row.id))
    )
    deliveries = _scrub_deliveries(session, row, now)
    channel_rows = _count(
        session.execute(delete(InboxMessage).where(InboxMessage.customer_id == row.id))
    ) + _count(
        session.execute(delete(PushSubscription).where(PushSubscription.customer_id == row.id))
    )
    loyalty_rows = _delete_loyalty(session, row.id)
    first_party, cancelled = _delete_first_party(session, row.id, now)
    orders = session.scalar(select(func.count()).where(Order.customer_id == row.id)) or 0
    session.execute(
        update(Customer)
        .where(Customer.id == row.id)
        .values(
            external_id=pseudonym(secret, row.external_id),
            email=None,
            phone=None,
            first_name=None,
            locale=None,
            time_zone=None,
            attributes={},
            erased_at=now,
            updated_at=now,
        )
    )
    session.refresh(row)
    report = ErasureReport(
        row.external_id,
        now,
        already_erased=False,
        events_deleted=deleted,
        consent_events_scrubbed=scrubbed_events,
        consents_withdrawn=withdrawn,
        confirmations_deleted=confirmations,
        orders_kept=orders,
        order_lines_scrubbed=lines,
        suppressions_added=suppressions,
        idempotency_keys_scrubbed=keys,
        derived_deleted=derived,
        deliveries_scrubbed=deliveries,
        channel_rows_deleted=channel_rows,
        loyalty_rows_deleted=loyalty_rows,
        first_party_deleted=first_party,
        subscriptions_cancelled=cancelled,
    )
    details = {k: v for k, v in report.to_dict().items() if type(v) is int}
    record_access(session, actor, "person.erase", row.id, {**details, "reason": reason}, now=now)
    session.flush()
    return report


def erase_person(
    session: Session,
    secret: bytes,
    customer: str,
    *,
    actor: str,
    reason: str = "request",
    now: datetime | None = None,
) -> ErasureReport:
    """Erase the person with the shop's id ``customer`` (committed, all or nothing).

    Erasing again (by the original id or the pseudonym) changes nothing and says
    ``already_erased``; a NotFoundError when neither id is known.
    """
    if "\x00" in customer:  # PostgreSQL text cannot hold NUL: no customer has such an id
        raise NotFoundError(f"no customer with id {customer!r}")
    begin_write(session)
    candidates = (customer, pseudonym(secret, customer))
    row = session.scalars(
        select(Customer).where(Customer.external_id.in_(candidates)).with_for_update()
    ).first()
    if row is None:
        session.rollback()
        raise NotFoundError(f"no customer with id {customer!r}")
    try:
        report = erase_customer_row(
            session, secret, row, actor=actor, now=utc_now(now), reason=reason
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return report
