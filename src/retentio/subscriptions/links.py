"""Signed links to a customer's subscription page (``/s/<token>``), and what one opens.

The token (:class:`retentio.core.signing.Signer`, purpose :data:`SUBSCRIPTION_PURPOSE`) names
the subscription by internal id (``s``) and nothing else: tokens end up in logs and browser
histories, so they carry no address or name. A link is valid for :data:`SUBSCRIPTION_LINK_TTL`
(90 days) unless made with another ``ttl``: long enough for a message to stay useful over a
few order cycles, short enough that an old forwarded message stops working; every message
carries a fresh one. A tampered or expired token, or one made for another purpose (a
preference-centre or unsubscribe link), is a :class:`~retentio.core.signing.TokenError` and
opens nothing.

The delivery worker makes the same token for ``{{ subscription_url }}`` without importing this
package (campaigns and subscriptions are independent layers): ``retentio.campaigns.recipients``
signs the same purpose and data, and a test checks that its link opens the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from retentio.core.errors import DataError
from retentio.core.signing import Signer, TokenError
from retentio.privacy.errors import NotFoundError
from retentio.store.subscription_tables import Subscription
from retentio.store.tables import Customer
from retentio.subscriptions.cancellation import offers_for
from retentio.subscriptions.policy import Policy
from retentio.subscriptions.records import (
    SubscriptionView,
    cadence_of,
    local_today,
    show,
)

__all__ = [
    "SUBSCRIPTION_LINK_TTL",
    "SUBSCRIPTION_PURPOSE",
    "LinkedSubscription",
    "offers_now",
    "open_subscription",
    "read_subscription_token",
    "subscription_link",
    "subscription_token",
]

SUBSCRIPTION_PURPOSE = "subscription"
#: How long a link opens the subscription's page.
SUBSCRIPTION_LINK_TTL = timedelta(days=90)
#: How far ahead the page offers order dates to skip (the actions' own limit).
_HORIZON = timedelta(days=366)


def _checked_id(subscription_id: Any) -> int:
    if type(subscription_id) is not int or subscription_id < 1:
        raise DataError(f"subscription_id: a positive whole number, not {subscription_id!r}")
    return subscription_id


def subscription_token(
    signer: Signer, subscription_id: int, ttl: timedelta = SUBSCRIPTION_LINK_TTL
) -> str:
    """A signed token opening subscription ``subscription_id``'s page for ``ttl``."""
    return signer.sign(SUBSCRIPTION_PURPOSE, {"s": _checked_id(subscription_id)}, ttl)


def subscription_link(
    signer: Signer, base_url: str, subscription_id: int, ttl: timedelta = SUBSCRIPTION_LINK_TTL
) -> str:
    """The page's address under ``base_url`` (the server's public address):
    ``<base_url>/s/<token>``, valid for ``ttl`` (default 90 days)."""
    if not base_url.startswith(("https://", "http://")):
        raise DataError(f"base_url: an http(s):// address, not {base_url!r}")
    token = subscription_token(signer, subscription_id, ttl)
    return f"{base_url.rstrip('/')}/s/{token}"


def read_subscription_token(signer: Signer, token: str) -> int:
    """The subscription ``token`` opens, if it is intact, for this page and unexpired; a
    TokenError (which changes nothing) otherwise."""
    data = signer.verify(SUBSCRIPTION_PURPOSE, token)
    found = data.get("s")
    if type(found) is not int or found < 1:
        raise TokenError("malformed", "the subscription token does not name a subscription")
    return found


@dataclass(frozen=True, slots=True)
class LinkedSubscription:
    """What a link opens: the subscription as the API shows it, its customer's locale, the
    coming order dates that can be skipped and the customer's local date today."""

    view: SubscriptionView
    locale: str | None
    coming: tuple[date, ...]
    today: date


def _row(session: Session, subscription_id: int) -> tuple[Subscription, Customer]:
    row = session.get(Subscription, subscription_id)
    customer = None if row is None else session.get(Customer, row.customer_id)
    if row is None or customer is None or customer.erased_at is not None:
        raise NotFoundError(f"no subscription {subscription_id}")
    return row, customer


def open_subscription(
    session: Session, subscription_id: int, *, now: datetime, coming: int = 6
) -> LinkedSubscription:
    """The subscription a link names, for its page; a NotFoundError when it or its customer
    is gone (erased). Only reads."""
    row, customer = _row(session, subscription_id)
    today = local_today(row, now)
    dates: list[date] = []
    if row.status == "active":
        cadence, skipped, day = cadence_of(row), set(row.skipped or []), row.next_order_on
        while len(dates) < coming and day <= today + _HORIZON:
            if day.isoformat() not in skipped:
                dates.append(day)
            day = cadence.first_after(row.anchor_on, day)
    return LinkedSubscription(show(session, row), customer.locale, tuple(dates), today)


def offers_now(
    session: Session, policy: Policy, subscription_id: int, reason: str, *, now: datetime
) -> list[dict[str, Any]]:
    """The save offers ``reason`` gets now, without recording them (a repeated request of the
    cancellation flow shows again what the first one recorded); a DataError for an unknown
    reason."""
    row, _customer = _row(session, subscription_id)
    found = policy.reason(reason)
    if found is None:
        raise DataError(f"reason: {reason!r} is not a cancellation reason")
    return offers_for(policy, row, found, now)
