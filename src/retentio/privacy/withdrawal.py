"""Withdrawal as easy as giving: one request, no login, effective at once, idempotent.

A withdrawal link carries a signed token (:class:`retentio.core.signing.Signer`, purpose
``consent.withdraw``) naming the customer's internal id (never an address: tokens end up in
logs), the channel and the purpose. It lives long, so links in old e-mails keep working.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from retentio.core.signing import Signer, TokenError
from retentio.privacy._shared import find_customer, utc_now
from retentio.privacy.consent import SOURCES, ConsentState, append_event, lock_customer, state_of
from retentio.privacy.errors import ConsentError
from retentio.privacy.texts import CONSENT_CHANNELS, PURPOSES
from retentio.store.campaign_tables import Delivery, DeliveryEvent
from retentio.store.tables import Consent, Customer

__all__ = [
    "WITHDRAWAL_PURPOSE",
    "WITHDRAWAL_TTL",
    "withdraw_consent",
    "withdraw_with_token",
    "withdrawal_token",
]

WITHDRAWAL_PURPOSE = "consent.withdraw"
#: Links in old messages must keep working: ten years.
WITHDRAWAL_TTL = timedelta(days=3650)


def withdrawal_token(
    signer: Signer,
    customer_id: int,
    channel: str,
    purpose: str,
    *,
    ttl: timedelta = WITHDRAWAL_TTL,
    delivery_id: int | None = None,
) -> str:
    """A signed token that withdraws ``customer_id``'s (internal id) consent for the channel
    and purpose, for a link that needs no login; ``delivery_id`` names the message it came
    in, whose campaign then counts the unsubscribe."""
    if channel not in CONSENT_CHANNELS or purpose not in PURPOSES:
        raise ConsentError(f"no consent channel/purpose {channel!r}/{purpose!r}")
    data: dict[str, object] = {"c": customer_id, "ch": channel, "p": purpose}
    if delivery_id is not None:
        data["m"] = delivery_id
    return signer.sign(WITHDRAWAL_PURPOSE, data, ttl)


def _count_unsubscribe(session: Session, customer: Customer, delivery_id: object) -> None:
    """An ``unsubscribed`` event on the message the link came in (once; the customer's own
    message only), in the withdrawal's transaction."""
    if not isinstance(delivery_id, int):
        return
    d, e = Delivery.__table__.c, DeliveryEvent.__table__.c
    mine = session.scalar(select(d.id).where(d.id == delivery_id, d.customer_id == customer.id))
    seen = session.scalar(
        select(e.id).where(e.delivery_id == delivery_id, e.kind == "unsubscribed")
    )
    if mine is not None and seen is None:
        session.add(
            DeliveryEvent(delivery_id=delivery_id, kind="unsubscribed", occurred_at=utc_now())
        )


def _withdraw(
    session: Session,
    customer: Customer,
    *,
    channel: str,
    purpose: str,
    source: str,
    recorded_by: str,
    source_detail: str | None,
    ip_address: str | None,
    user_agent: str | None,
    now: datetime | None,
) -> ConsentState:
    lock_customer(session, customer)  # check under the lock: two withdrawals append one
    current = session.get(Consent, (customer.id, channel, purpose), populate_existing=True)
    if current is None or current.granted:
        current = append_event(
            session,
            customer,
            channel=channel,
            purpose=purpose,
            granted=False,
            source=source,
            source_detail=source_detail,
            ip_address=ip_address,
            user_agent=user_agent,
            recorded_by=recorded_by,
            now=utc_now(now),
        )
    state = state_of(customer, current)
    session.commit()
    return state


def withdraw_with_token(
    session: Session,
    signer: Signer,
    token: str,
    *,
    ip_address: str | None = None,
    user_agent: str | None = None,
    now: datetime | None = None,
) -> ConsentState:
    """Withdraw the consent ``token`` names (committed); a TokenError for a bad token, which
    changes nothing. Withdrawing twice records one withdrawal."""
    data = signer.verify(WITHDRAWAL_PURPOSE, token)
    customer_id, channel, purpose = data.get("c"), data.get("ch"), data.get("p")
    valid = channel in CONSENT_CHANNELS and purpose in PURPOSES
    if not isinstance(customer_id, int) or not valid:
        raise TokenError("malformed", "the withdrawal token does not name a consent")
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise TokenError("unknown", "the withdrawal token names no customer")
    _count_unsubscribe(session, customer, data.get("m"))
    return _withdraw(
        session,
        customer,
        channel=str(channel),
        purpose=str(purpose),
        source="link",
        recorded_by="customer",
        source_detail=None,
        ip_address=ip_address,
        user_agent=user_agent,
        now=now,
    )


def withdraw_consent(
    session: Session,
    *,
    customer: str,
    channel: str,
    purpose: str,
    recorded_by: str,
    source: str = "api",
    source_detail: str | None = None,
    ip_address: str | None = None,
    user_agent: str | None = None,
    now: datetime | None = None,
) -> ConsentState:
    """Withdraw ``customer``'s (the shop's id) consent (committed); idempotent."""
    if channel not in CONSENT_CHANNELS or purpose not in PURPOSES or source not in SOURCES:
        raise ConsentError(
            f"channel, purpose or source unknown: {channel!r}, {purpose!r}, {source!r}"
        )
    return _withdraw(
        session,
        find_customer(session, customer),
        channel=channel,
        purpose=purpose,
        source=source,
        recorded_by=recorded_by,
        source_detail=source_detail,
        ip_address=ip_address,
        user_agent=user_agent,
        now=now,
    )
