"""Who a batch of deliveries goes to: each customer's address, consent, suppression, recent
sends (for frequency caps) and the values a message may show, read in a few queries per batch
rather than per message. An e-mail address and a phone number come normalised (the number in
E.164); the in-app inbox and webhooks address the customer by external id; push reaches the
customer's devices that are not revoked. The preferences the customer stated
(``customer_preferences``) give a marketing snooze and a chosen frequency for the guards. A
customer's subscription (the newest that is not cancelled or ended) gives the worker
``{{ subscription_url }}``, the signed link to its self-service page (:func:`subscription_url`).

The template context is a plain dict of plain values. A value the customer does not have (no
first name, no scores yet) is left out rather than set to None, so that ``{{ first_name |
default('there') }}`` works and a template that needs it fails by name (StrictUndefined).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from retentio.campaigns.guards import PREFERRED_FREQUENCY_CAPS, PastSend, customer_zone
from retentio.channels.push import PushTarget
from retentio.core.errors import DataError
from retentio.core.signing import Signer
from retentio.privacy.addresses import address_hmac, normalise_address
from retentio.store.campaign_tables import Delivery
from retentio.store.channel_tables import PushSubscription
from retentio.store.feedback_tables import CustomerPreference
from retentio.store.loyalty_tables import LoyaltyAccount, LoyaltyCoupon
from retentio.store.subscription_tables import Subscription
from retentio.store.tables import (
    Consent,
    Customer,
    CustomerOrderStats,
    CustomerScore,
    Suppression,
)

__all__ = ["SUBSCRIPTION_LINK_TTL", "Recipient", "load_recipients", "subscription_url"]

CUSTOMERS: Table = Customer.__table__  # type: ignore[assignment]
STATS: Table = CustomerOrderStats.__table__  # type: ignore[assignment]
SCORES: Table = CustomerScore.__table__  # type: ignore[assignment]
CONSENTS: Table = Consent.__table__  # type: ignore[assignment]
SUPPRESSIONS: Table = Suppression.__table__  # type: ignore[assignment]
DELIVERIES: Table = Delivery.__table__  # type: ignore[assignment]
PUSH: Table = PushSubscription.__table__  # type: ignore[assignment]
LOYALTY: Table = LoyaltyAccount.__table__  # type: ignore[assignment]
COUPONS: Table = LoyaltyCoupon.__table__  # type: ignore[assignment]
PREFERENCES: Table = CustomerPreference.__table__  # type: ignore[assignment]
SUBSCRIPTIONS: Table = Subscription.__table__  # type: ignore[assignment]
#: How far back sends count for caps: the longest default cap (7 local days) and a day more.
SENDS_LOOKBACK = timedelta(days=8)
_SCORES = ("p_alive", "churn_risk", "risk_band", "expected_purchases", "clv", "rfm_segment")
_ADDRESS = {"email": "email", "sms": "phone"}
_BY_ID = ("in_app", "webhook")
#: The stated preferences a message may show (when the customer stated them).
_SHOWN_PREFERENCES = ("favourite_categories", "frequency", "preferred_channel", "sizes", "topics")


@dataclass(slots=True)
class Recipient:
    """One customer as the delivery engine sees them."""

    id: int
    external_id: str
    zone: ZoneInfo
    erased: bool
    addresses: dict[str, str]
    country: str | None
    locale: str | None
    values: dict[str, Any]
    consents: set[tuple[str, str]] = field(default_factory=set)
    suppressed: set[str] = field(default_factory=set)
    unusable: set[str] = field(default_factory=set)  # addresses that cannot be normalised
    sends: list[PastSend] = field(default_factory=list)
    devices: list[PushTarget] = field(default_factory=list)  # push subscriptions not revoked
    snooze_until: date | None = None  # the last day of a marketing snooze the customer chose
    frequency: str | None = None  # the frequency the customer chose (weekly, monthly...)
    subscription_id: int | None = None  # the newest subscription not cancelled or ended

    def context(self, now: datetime, **extra: Any) -> dict[str, Any]:
        """The template context: the customer's values, days since the last order, extras."""
        values = dict(self.values)
        last = values.pop("_last_order_at", None)
        if last is not None:
            values["last_order_date"] = last.astimezone(self.zone).date().isoformat()
            values["days_since_last_order"] = (now - last).days
        values.update({k: v for k, v in extra.items() if v is not None})
        return values


def load_recipients(
    session: Session,
    customer_ids: Collection[int],
    *,
    channel: str,
    secret: bytes,
    now: datetime,
    default_zone: str = "Europe/Copenhagen",
) -> dict[int, Recipient]:
    """The recipients of ``customer_ids`` for ``channel``, by customer id."""
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    c, st, sc = CUSTOMERS.c, STATS.c, SCORES.c
    query = (
        select(*c, st.order_count, st.last_order_at, *(sc[name] for name in _SCORES))
        .outerjoin(STATS, st.customer_id == c.id)
        .outerjoin(SCORES, sc.customer_id == c.id)
        .where(c.id.in_(ids))
    )
    found: dict[int, Recipient] = {}
    for row in session.execute(query).mappings():
        values: dict[str, Any] = {"locale": row["locale"] or ""}
        if row["first_name"]:
            values["first_name"] = row["first_name"]
        values["order_count"] = int(row["order_count"] or 0)
        values["_last_order_at"] = row["last_order_at"]
        values.update({k: row[k] for k in _SCORES if row[k] is not None})
        addresses = {ch: row[col] for ch, col in _ADDRESS.items() if row[col]}
        # The in-app inbox and the shop's own system (webhooks) know the customer by id.
        addresses |= {ch: row["external_id"] for ch in _BY_ID}
        found[row["id"]] = Recipient(
            id=row["id"],
            external_id=row["external_id"],
            zone=customer_zone(row["time_zone"], default_zone),
            erased=row["erased_at"] is not None,
            addresses=addresses,
            country=row["country"],
            locale=row["locale"],
            values=values,
        )
    _add_consents(session, found, ids)
    _add_suppressions(session, found, channel, secret)
    if channel == "push":
        _add_devices(session, found, ids)
    _add_preferences(session, found, ids)
    _add_sends(session, found, ids, now)
    _add_loyalty(session, found, ids, now)
    _add_subscriptions(session, found, ids)
    return found


def _add_preferences(session: Session, found: dict[int, Recipient], ids: list[int]) -> None:
    """The preferences the customer stated: a marketing snooze and a frequency for the
    guards, and what a message may show."""
    p = PREFERENCES.c
    names = ("snooze_until", *_SHOWN_PREFERENCES)
    query = select(p.customer_id, p.name, p.value).where(p.customer_id.in_(ids), p.name.in_(names))
    for customer_id, name, value in session.execute(query):
        recipient = found[customer_id]
        if name == "snooze_until":
            with suppress(ValueError):  # checked when stated; a hand-edited row pauses nothing
                recipient.snooze_until = date.fromisoformat(str(value))
            continue
        if name == "frequency":
            recipient.frequency = str(value)
        recipient.values[name] = value


#: The subscription page's link, as :mod:`retentio.subscriptions.links` makes and reads it
#: (campaigns may not import subscriptions: the two layers are independent; a test checks
#: that this link opens the page): the purpose, and how long a link in a message works.
_SUBSCRIPTION_PURPOSE = "subscription"
SUBSCRIPTION_LINK_TTL = timedelta(days=90)
_OPEN_SUBSCRIPTIONS = ("active", "paused", "past_due")


def subscription_url(signer: Signer, base_url: str, subscription_id: int) -> str:
    """The signed link to subscription ``subscription_id``'s page: ``<base_url>/s/<token>``."""
    token = signer.sign(_SUBSCRIPTION_PURPOSE, {"s": subscription_id}, SUBSCRIPTION_LINK_TTL)
    return f"{base_url.rstrip('/')}/s/{token}"


def _add_subscriptions(session: Session, found: dict[int, Recipient], ids: list[int]) -> None:
    """Each customer's newest subscription that is not cancelled or ended (a customer with
    several gets the link to the newest; with none, the message has no subscription_url)."""
    s = SUBSCRIPTIONS.c
    query = (
        select(s.customer_id, s.id)
        .where(s.customer_id.in_(ids), s.status.in_(_OPEN_SUBSCRIPTIONS))
        .order_by(s.customer_id, s.id)
    )
    for customer_id, subscription_id in session.execute(query):  # the newest wins
        found[customer_id].subscription_id = int(subscription_id)


def _add_loyalty(
    session: Session, found: dict[int, Recipient], ids: list[int], now: datetime
) -> None:
    """Loyalty values for the templates: points, tier, points expiring soon and the newest
    unused coupon (``{{ loyalty_coupon }}`` in a message after a reward_redeemed event)."""
    a = LOYALTY.c
    accounts = select(a.id, a.customer_id, a.available, a.tier, a.expiring_points, a.expiring_at)
    account_of: dict[int, int] = {}
    for account, customer, points, tier, expiring, expire_at in session.execute(
        accounts.where(a.customer_id.in_(ids))
    ):
        recipient = found[customer]
        account_of[account] = customer
        values = recipient.values
        values["loyalty_points"] = int(points)
        if tier is not None:
            values["loyalty_tier"] = tier
        if expiring and expire_at is not None:
            values["loyalty_points_expiring"] = int(expiring)
            values["loyalty_points_expire_date"] = (
                expire_at.astimezone(recipient.zone).date().isoformat()
            )
    if not account_of:
        return
    c = COUPONS.c
    coupons = (
        select(c.account_id, c.code, c.reward_id, c.expires_at)
        .where(c.account_id.in_(list(account_of)), c.status == "issued", c.expires_at > now)
        .order_by(c.account_id, c.id)
    )
    for account, code, reward, expires_at in session.execute(coupons):  # the newest wins
        recipient = found[account_of[account]]
        recipient.values["loyalty_coupon"] = code
        recipient.values["loyalty_coupon_reward"] = reward
        recipient.values["loyalty_coupon_expire_date"] = (
            expires_at.astimezone(recipient.zone).date().isoformat()
        )


def _add_consents(session: Session, found: dict[int, Recipient], ids: list[int]) -> None:
    """Effective grants: granted, and confirmed where double opt-in applies (the ledger sets
    ``confirmed_at`` for every effective grant)."""
    k = CONSENTS.c
    query = select(k.customer_id, k.channel, k.purpose).where(
        k.customer_id.in_(ids), k.granted.is_(True), k.confirmed_at.is_not(None)
    )
    for customer_id, channel, purpose in session.execute(query):
        found[customer_id].consents.add((channel, purpose))


def _add_suppressions(
    session: Session, found: dict[int, Recipient], channel: str, secret: bytes
) -> None:
    if channel not in _ADDRESS:
        return
    digests: dict[str, list[Recipient]] = defaultdict(list)
    for recipient in found.values():
        address = recipient.addresses.get(channel)
        if address is None:
            continue
        try:
            normalised = normalise_address(channel, address, recipient.country)
            digest = address_hmac(secret, channel, address, recipient.country)
        except DataError:
            recipient.unusable.add(channel)
            continue
        if channel == "sms":
            recipient.addresses[channel] = normalised  # an SMS goes to the E.164 number
        digests[digest].append(recipient)
    if not digests:
        return
    s = SUPPRESSIONS.c
    query = select(s.address_hmac).where(s.channel == channel, s.address_hmac.in_(list(digests)))
    for (digest,) in session.execute(query):
        for recipient in digests[digest]:
            recipient.suppressed.add(channel)


def _add_devices(session: Session, found: dict[int, Recipient], ids: list[int]) -> None:
    """Each customer's push subscriptions that are not revoked; one is the push "address"."""
    p = PUSH.c
    query = (
        select(p.customer_id, p.id, p.kind, p.endpoint, p.p256dh, p.auth, p.platform)
        .where(p.customer_id.in_(ids), p.revoked_at.is_(None))
        .order_by(p.id)
    )
    for customer_id, *device in session.execute(query):
        recipient = found[customer_id]
        recipient.devices.append(PushTarget(*device))
        recipient.addresses["push"] = f"{len(recipient.devices)} device(s)"


def _add_sends(
    session: Session, found: dict[int, Recipient], ids: list[int], now: datetime
) -> None:
    d = DELIVERIES.c
    chosen = (PREFERRED_FREQUENCY_CAPS.get(r.frequency or "") for r in found.values())
    # A customer's chosen frequency (monthly: 30 days) may look further back than the caps.
    lookback = max(
        [SENDS_LOOKBACK, *(timedelta(days=(cap.days or 0) + 1) for cap in chosen if cap)]
    )
    query = select(d.customer_id, d.sent_at, d.channel, d.purpose).where(
        d.customer_id.in_(ids), d.sent_at >= now - lookback
    )
    for customer_id, sent_at, channel, purpose in session.execute(query):
        found[customer_id].sends.append(PastSend(sent_at, channel, purpose))
