"""``{{ subscription_url }}`` in messages, on SQLite and PostgreSQL: a real worker run sends a
customer the signed link to their newest subscription that is not cancelled, left out for a
customer without one and never click-tracked; the link opens the customer's page."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from campaign_helpers import NOON, PUBLIC_URL, SECRET, SIGNER, add_shop, campaign, save
from campaign_helpers import make_worker as campaign_worker
from smtp_helpers import Sink
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.testclient import TestClient
from test_campaigns import launch, text_of

from retentio.api import ApiConfig, create_app
from retentio.campaigns.definition import SAMPLE_CONTEXT
from retentio.core.clock import FixedClock
from retentio.subscriptions import Cadence, cancel_subscription, create_subscription, current_policy
from retentio.subscriptions.links import read_subscription_token

PEOPLE = [
    {"external_id": "ida", "email": "ida@example.com", "locale": "da-DK"},
    {"external_id": "bob", "email": "bob@example.com", "locale": "en"},
    {"external_id": "eva", "email": "eva@example.com", "locale": "nl"},
]
TEA = [{"product": "TEA-250G", "quantity": 1, "price": "59.00"}]


@pytest.fixture
def api(api_config: ApiConfig) -> Iterator[TestClient]:
    config = replace(api_config, secret=SECRET, signer=SIGNER)
    with TestClient(create_app(config), raise_server_exceptions=False) as client:
        yield client


def subscription(engine: Engine, customer: str, *, cancelled: bool = False) -> int:
    now = datetime.now(UTC)
    with Session(engine) as session:
        policy = current_policy(session)
        made = create_subscription(
            session, policy, customer=customer, items=TEA, cadence=Cadence("month", 1),
            currency="DKK", now=now, actor="test",
        )  # fmt: skip
        ident = int(made.body["id"])
        if cancelled:
            cancel_subscription(
                session, policy, ident, reason="other", confirm=True, key=None, now=now,
                actor="test",
            )  # fmt: skip
    return ident


def test_a_message_links_to_the_newest_open_subscription(
    migrated_engine: Engine, sink: tuple[Sink, int], api: TestClient
) -> None:
    handler, port = sink
    add_shop(migrated_engine, PEOPLE)
    older = subscription(migrated_engine, "ida")
    subscription(migrated_engine, "ida", cancelled=True)  # newer, but cancelled
    subscription(migrated_engine, "bob", cancelled=True)
    first = subscription(migrated_engine, "eva")
    newest = subscription(migrated_engine, "eva")
    assert "subscription_url" in SAMPLE_CONTEXT  # a template may name it when it is saved
    text = "Shop: https://butik.example/new [{{ subscription_url | default('-') }}]"
    message = {"en": {"subject": "Hi", "text": text}}
    save(migrated_engine, campaign(message=message, tracking={"opens": True, "clicks": True}))
    launch(migrated_engine)
    worker, channel = campaign_worker(migrated_engine, port, FixedClock(NOON))
    with channel:
        assert worker.run(until_idle=True).to_dict() == {"sent": 3}
    texts = {str(m["To"]).split("@")[0]: text_of(m) for m in handler.received}
    links = {who: body.split("[")[1].split("]")[0] for who, body in texts.items()}
    assert links["bob"] == "-"  # no subscription that is not cancelled
    assert all("/t/c/" in body for body in texts.values())  # the shop's link is tracked ...
    ida, eva = links["ida"], links["eva"]
    assert ida.startswith(f"{PUBLIC_URL}/s/") and eva.startswith(
        f"{PUBLIC_URL}/s/"
    )  # ... not these
    assert read_subscription_token(SIGNER, ida.rsplit("/", 1)[1]) == older
    assert read_subscription_token(SIGNER, eva.rsplit("/", 1)[1]) == newest != first
    page = api.get(ida.removeprefix(PUBLIC_URL))
    assert page.status_code == 200 and '<html lang="da">' in page.text
