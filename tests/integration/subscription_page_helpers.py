"""Helpers for the subscription page's tests: a customer with a subscription, its signed
link, the hidden fields of a form on a page, and what the database holds."""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from retentio.core.signing import Signer
from retentio.ingest import ingest_customers
from retentio.store.subscription_tables import (
    Subscription,
    SubscriptionEvent,
    SubscriptionItem,
    SubscriptionOrder,
)
from retentio.subscriptions import Cadence, create_subscription, current_policy
from retentio.subscriptions.links import subscription_token

SECRET = b"subscription-page-tests-secret-0123456789"
ZONE = ZoneInfo("Europe/Copenhagen")
TEA = [{"product": "TEA-250G", "quantity": 2, "price": "59.00"}]


def subscribe(
    engine: Engine,
    customer: str = "ida",
    *,
    locale: str | None = "da-DK",
    items: list[dict[str, Any]] | None = None,
    cadence: Cadence | None = None,
) -> int:
    """A customer (made if new) with a new active subscription (every 4 weeks unless
    ``cadence`` says otherwise): its id."""
    with Session(engine) as session:
        person: dict[str, Any] = {"external_id": customer, "time_zone": "Europe/Copenhagen"}
        if locale is not None:
            person["locale"] = locale
        ingest_customers(session, [person], secret=SECRET, actor="test")
        view = create_subscription(
            session,
            current_policy(session),
            customer=customer,
            items=items or TEA,
            cadence=cadence or Cadence("week", 4),
            currency="DKK",
            now=datetime.now(UTC),
            actor="test",
        )
    return int(view.body["id"])


def today() -> date:
    """The customers' local date (they live in Copenhagen)."""
    return datetime.now(ZONE).date()


def page_path(signer: Signer, subscription_id: int) -> str:
    """The page's path for a fresh link to ``subscription_id``."""
    return f"/s/{subscription_token(signer, subscription_id)}"


def hidden_fields(page: str, form_id: str) -> dict[str, str]:
    """What a browser would send for form ``form_id`` on ``page`` as it stands: its inputs'
    values (radios and checkboxes when checked), each select's chosen (or first) option and
    each textarea's text."""
    found = re.search(rf'<form [^>]*id="{re.escape(form_id)}">(.*?)</form>', page, re.S)
    assert found is not None, f"no form {form_id!r} on the page"
    form, fields = found[1], {}
    for tag in re.findall(r"<input [^>]*>", form):
        attributes = dict(re.findall(r'([a-z-]+)="([^"]*)"', tag))
        kind, name = attributes.get("type", "text"), attributes.get("name")
        if name is None or (kind in ("radio", "checkbox") and " checked" not in tag):
            continue
        fields[name] = attributes.get("value", "")
    for name, options in re.findall(r'<select [^>]*name="([^"]+)"[^>]*>(.*?)</select>', form, re.S):
        values = re.findall(r'<option value="([^"]*)"( selected)?', options)
        chosen = [v for v, selected in values if selected] or [values[0][0]]
        fields[name] = chosen[0]
    for name, text in re.findall(
        r'<textarea [^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', form, re.S
    ):
        fields[name] = text
    return {html.unescape(k): html.unescape(v) for k, v in fields.items()}


def row(engine: Engine, subscription_id: int) -> Subscription:
    with Session(engine) as session:
        found = session.get(Subscription, subscription_id)
        assert found is not None
        session.expunge(found)
        return found


def quantities(engine: Engine, subscription_id: int) -> dict[str, int]:
    with Session(engine) as session:
        query = select(SubscriptionItem.product, SubscriptionItem.quantity).where(
            SubscriptionItem.subscription_id == subscription_id
        )
        return {product: quantity for product, quantity in session.execute(query)}


def events(engine: Engine, subscription_id: int) -> list[str]:
    """The kinds of the subscription's events, oldest first."""
    with Session(engine) as session:
        query = (
            select(SubscriptionEvent.kind)
            .where(SubscriptionEvent.subscription_id == subscription_id)
            .order_by(SubscriptionEvent.id)
        )
        return list(session.scalars(query))


def orders(engine: Engine, subscription_id: int) -> int:
    with Session(engine) as session:
        query = select(func.count()).where(SubscriptionOrder.subscription_id == subscription_id)
        return int(session.scalar(query) or 0)
