"""A campaign's preview shows the subscription page's link for a customer with a subscription
(pointing at /s/preview, which opens nothing) and leaves it out for one without."""

from __future__ import annotations

from campaign_helpers import NOON, PUBLIC_URL, SECRET, add_shop, campaign
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from retentio.campaigns import parse_campaign
from retentio.campaigns.preview import preview_campaign
from retentio.subscriptions import Cadence, Policy, create_subscription

MESSAGE = {
    "en": {
        "subject": "Your tea",
        "text": "{% if subscription_url is defined %}Change it: {{ subscription_url }}"
        "{% else %}No subscription{% endif %}",
    }
}


def test_the_preview_links_to_the_subscription_page_only_for_subscribers(
    migrated_engine: Engine,
) -> None:
    add_shop(
        migrated_engine,
        [
            {"external_id": "ida", "email": "ida@example.com"},
            {"external_id": "bo", "email": "bo@example.com"},
        ],
    )
    definition = parse_campaign(campaign("tea", message=MESSAGE))
    with Session(migrated_engine) as session:
        create_subscription(
            session,
            Policy(),
            customer="ida",
            cadence=Cadence("month", 1),
            currency="DKK",
            items=[{"product": "TEA", "quantity": 1, "price": "49.00"}],
            now=NOON,
            actor="t",
        )

        def text(customer: str) -> str:
            return preview_campaign(
                session,
                definition,
                secret=SECRET,
                now=NOON,
                customer=customer,
                public_url=PUBLIC_URL,
            ).message.text

        assert text("ida") == f"Change it: {PUBLIC_URL}/s/preview"
        assert text("bo") == "No subscription"
