"""Campaigns over SMS, the in-app inbox and webhooks, end to end on SQLite and PostgreSQL: the
worker sends through real local servers (an HTTP SMS provider, an HTTPS webhook receiver),
checks each channel's consent, retries what the provider asks to retry, and suppresses what
it says is gone."""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import trustme
from campaign_helpers import MAIL_FROM, NOON, PUBLIC_URL, SECRET, SIGNER, campaign, deliveries
from http_helpers import Answer, Receiver, http_receiver, https_receiver
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from retentio.campaigns import Worker, WorkerOptions, launch_campaign, save_campaign
from retentio.channels import (
    HttpSmsChannel,
    InboxChannel,
    SmsSettings,
    WebhookChannel,
    verify,
)
from retentio.core.clock import FixedClock
from retentio.ingest import ingest_customers, ingest_orders
from retentio.privacy import (
    erase_person,
    export_person,
    export_zip,
    publish_default_texts,
    publish_text,
    record_consent,
)
from retentio.privacy.suppression import is_suppressed
from retentio.segments import save_segment
from retentio.store.campaign_tables import Delivery
from retentio.store.channel_tables import InboxMessage

CUSTOMERS = [
    {"external_id": "ida", "phone": "20 12 34 56", "country": "DK", "locale": "da-DK",
     "first_name": "Ida"},
    {"external_id": "bob", "phone": "+31 6 12345678", "locale": "nl", "first_name": "Bob"},
    {"external_id": "eva", "phone": "+44 7911 123456", "locale": "en"},
    {"external_id": "no-consent", "phone": "+4530123456"},
    {"external_id": "bad-number", "phone": "12", "country": "DK"},
]  # fmt: skip
KEY = bytes(range(32))
HOOK_HOST = "hooks.shop.test"


def add_customers(engine: Engine, channel: str, consented: list[str]) -> None:
    orders = [
        {
            "external_id": f"O-{c['external_id']}",
            "customer_id": c["external_id"],
            "ordered_at": (NOON - timedelta(days=30)).isoformat(),
            "currency": "DKK",
            "total": "100.00",
        }
        for c in CUSTOMERS
    ]
    with Session(engine) as session:
        ingest_customers(session, CUSTOMERS, secret=SECRET, actor="test")
        ingest_orders(session, orders, secret=SECRET, actor="test")
        publish_default_texts(session, actor="test")
        publish_text(
            session,
            version="app-1",
            language="en",
            channel=channel,
            purpose="marketing",
            text="Offers in the app. You can withdraw your consent at any time.",
            actor="test",
        )
        for name in consented:
            record_consent(
                session,
                customer=name,
                channel=channel,
                purpose="marketing",
                granted=True,
                source="api",
                recorded_by="test",
                text_version="app-1",
                language="en",
            )
        save_segment(session, {"name": "buyers", "where": {"order_count": {"gte": 1}}})


def launch(engine: Engine, definition: dict[str, Any]) -> None:
    with Session(engine) as session:
        save_campaign(session, definition)
        launch_campaign(session, definition["name"], clock=FixedClock(NOON))


def worker(engine: Engine, channels: dict[str, Any], clock: FixedClock, **options: Any) -> Worker:
    return Worker(
        sessionmaker(engine),
        channels,
        secret=SECRET,
        signer=SIGNER,
        mail_from=MAIL_FROM,
        public_url=PUBLIC_URL,
        options=WorkerOptions(**({"poll_seconds": 0.01} | options)),
        clock=clock,
    )


SMS_MESSAGE = {
    "default_locale": "en",
    "en": {"text": "Hi {{ first_name | default('there') }}, 10% off with {{ offer_code }}"},
    "da": {"text": "Hej {{ first_name }}, 10% rabat med {{ offer_code }}"},
    "nl": {"text": "Hoi {{ first_name }}, 10% korting: {{ offer_code }}. Stop? Antwoord STOP"},
}


@pytest.fixture
def provider() -> Iterator[Receiver]:
    with http_receiver() as receiver:
        yield receiver


def sms_channel(provider: Receiver) -> HttpSmsChannel:
    return HttpSmsChannel(SmsSettings(f"{provider.url}/sms", sender="Butikken"))


def test_an_sms_campaign_reaches_consenting_numbers_once_with_how_to_stop(
    migrated_engine: Engine, provider: Receiver
) -> None:
    add_customers(migrated_engine, "sms", ["ida", "bob", "eva", "bad-number"])
    launch(migrated_engine, campaign("sms-offer", channel="sms", message=SMS_MESSAGE))
    counter = iter(range(1, 100))
    provider.answer = lambda _r: Answer(201, {"id": f"sm_{next(counter)}"})
    clock = FixedClock(NOON)
    with worker(migrated_engine, {"sms": sms_channel(provider)}, clock) as w:
        w.run(until_idle=True)
        w.run(until_idle=True)  # nothing more is due
    texts = {r.json()["to"]: r.json()["text"] for r in provider.received()}
    assert len(provider.received()) == 3
    assert texts == {
        "+4520123456": "Hej Ida, 10% rabat med KOM-TILBAGE\nAfmeld: svar STOP",
        "+31612345678": "Hoi Bob, 10% korting: KOM-TILBAGE. Stop? Antwoord STOP",
        "+447911123456": "Hi there, 10% off with KOM-TILBAGE\nReply STOP to opt out",
    }
    assert {r.json()["from"] for r in provider.received()} == {"Butikken"}
    keys = [r.headers["Idempotency-Key"] for r in provider.received()]
    assert all(key.endswith(".campaign-1") for key in keys) and len(set(keys)) == 3
    found = deliveries(migrated_engine)
    assert found["no-consent"] == ("skipped", "no consent for sms marketing")
    assert found["bad-number"] == ("skipped", "no usable sms address")
    with Session(migrated_engine) as session:
        sent = session.execute(
            select(Delivery.message_id, Delivery.provider_id).where(Delivery.status == "sent")
        ).all()
    assert sorted(m for m, _ in sent) == sorted(keys)
    assert {p for _, p in sent} == {"sm_1", "sm_2", "sm_3"}


def test_an_sms_provider_answering_500_then_429_is_tried_again_when_it_asks(
    migrated_engine: Engine, provider: Receiver
) -> None:
    add_customers(migrated_engine, "sms", ["ida"])
    launch(migrated_engine, campaign("sms-retry", channel="sms", message=SMS_MESSAGE))
    answers = iter(
        [Answer(500, {"error": "oops"}), Answer(429, None, {"Retry-After": "7200"}), Answer(201)]
    )
    provider.answer = lambda _r: next(answers)
    clock = FixedClock(NOON)
    with worker(migrated_engine, {"sms": sms_channel(provider)}, clock) as w:
        first = w.run_once().to_dict()  # the others have no consent
        assert first == {"retry": 1, "skipped": 4}  # 500: after the first backoff (1 min)
        clock.advance(timedelta(seconds=61))
        assert w.run_once().to_dict() == {"retry": 1}  # 429: after the provider's 2 hours
        clock.advance(timedelta(minutes=119))
        assert w.run_once().claimed == 0  # its Retry-After is not over
        clock.advance(timedelta(minutes=2))
        assert w.run_once().to_dict() == {"sent": 1}
    assert len(provider.received()) == 3
    keys = {r.headers["Idempotency-Key"] for r in provider.received()}
    assert len(keys) == 1  # the same key on every try: the provider drops a repeat
    assert deliveries(migrated_engine)["ida"][0] == "sent"


def test_a_number_the_provider_calls_invalid_is_suppressed_and_a_rejection_is_not(
    migrated_engine: Engine, provider: Receiver
) -> None:
    add_customers(migrated_engine, "sms", ["ida", "bob"])
    launch(migrated_engine, campaign("sms-bad", channel="sms", message=SMS_MESSAGE))
    by_number = {
        "+4520123456": Answer(400, {"reason": "invalid_number"}),
        "+31612345678": Answer(400, {"reason": "sender_not_registered"}),
    }
    provider.answer = lambda r: by_number[r.json()["to"]]
    with worker(migrated_engine, {"sms": sms_channel(provider)}, FixedClock(NOON)) as w:
        assert w.run(until_idle=True).to_dict() == {"bounced": 1, "failed": 1, "skipped": 3}
    found = deliveries(migrated_engine)
    assert found["ida"] == ("bounced", "HTTP 400 invalid_number")
    assert found["bob"] == ("failed", "HTTP 400 sender_not_registered")
    with Session(migrated_engine) as session:
        assert is_suppressed(session, SECRET, channel="sms", address="+4520123456")
        assert not is_suppressed(session, SECRET, channel="sms", address="+31612345678")


def test_sms_waits_in_the_queue_for_a_worker_that_has_the_channel(
    migrated_engine: Engine, provider: Receiver
) -> None:
    add_customers(migrated_engine, "sms", ["ida"])
    launch(migrated_engine, campaign("sms-later", channel="sms", message=SMS_MESSAGE))
    inbox_only = {"in_app": InboxChannel(migrated_engine)}
    with worker(migrated_engine, inbox_only, FixedClock(NOON)) as w:
        assert w.run(until_idle=True).claimed == 0
    assert deliveries(migrated_engine)["ida"] == ("queued", None)
    with worker(migrated_engine, {"sms": sms_channel(provider)}, FixedClock(NOON)) as w:
        assert w.run(until_idle=True).to_dict() == {"sent": 1, "skipped": 4}


INBOX_MESSAGE = {
    "default_locale": "en",
    "en": {"subject": "A gift for you", "text": "Use {{ offer_code }}", "html": "<b>Gift</b>"},
    "da": {"subject": "En gave til dig, {{ first_name }}", "text": "Brug {{ offer_code }}"},
}


def test_an_in_app_campaign_fills_each_consenting_inbox_once(migrated_engine: Engine) -> None:
    add_customers(migrated_engine, "in_app", ["ida", "eva", "bad-number"])
    definition = campaign(
        "gift", channel="in_app", message=INBOX_MESSAGE, link="butik://offers/gift"
    )
    launch(migrated_engine, definition)
    channel = InboxChannel(migrated_engine)
    with worker(migrated_engine, {"in_app": channel}, FixedClock(NOON)) as w:
        assert w.run(until_idle=True).to_dict() == {"sent": 3, "skipped": 2}
    with Session(migrated_engine) as session:
        rows = session.scalars(select(InboxMessage).order_by(InboxMessage.id)).all()
        titles = sorted(r.title for r in rows)
        delivery_ids = [r.delivery_id for r in rows]
        assert {r.link for r in rows} == {"butik://offers/gift"}
        first = rows[0]
    assert titles == ["A gift for you", "A gift for you", "En gave til dig, Ida"]
    assert len(set(delivery_ids)) == 3
    # A retry of a delivery that is in the inbox already (a crash before its outcome was
    # recorded) finds it there: sent, and not shown twice.
    from retentio.channels import OutgoingInboxMessage

    again = channel.send(
        OutgoingInboxMessage(first.delivery_id or 0, first.customer_id, "x", "", "", None, NOON)
    )
    assert again.status == "sent" and again.provider_id == str(first.id)
    with Session(migrated_engine) as session:
        assert len(session.scalars(select(InboxMessage)).all()) == 3


def test_the_inbox_is_in_the_export_and_goes_on_erasure(migrated_engine: Engine) -> None:
    add_customers(migrated_engine, "in_app", ["ida"])
    launch(migrated_engine, campaign("gift", channel="in_app", message=INBOX_MESSAGE))
    with worker(migrated_engine, {"in_app": InboxChannel(migrated_engine)}, FixedClock(NOON)) as w:
        w.run(until_idle=True)
    with Session(migrated_engine) as session:
        exported = export_person(session, "ida", actor="test")
        assert [m["title"] for m in exported["inbox"]] == ["En gave til dig, Ida"]
        assert export_zip(exported)  # the schema's new sections pack into CSVs too
        report = erase_person(session, SECRET, "ida", actor="test")
        assert report.channel_rows_deleted == 1
        assert session.scalars(select(InboxMessage)).all() == []


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def hooks(ca: trustme.CA) -> Iterator[Receiver]:
    with https_receiver(ca, HOOK_HOST) as receiver:
        yield receiver


def webhook_channel(ca: trustme.CA) -> WebhookChannel:
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return WebhookChannel(
        KEY,
        allowed=(ipaddress.ip_network("127.0.0.0/8"),),
        resolver=lambda host, _port: ["127.0.0.1"] if host == HOOK_HOST else [host],
        verify_tls=client,
    )


def test_a_webhook_campaign_posts_signed_events_for_the_consent_it_names(
    migrated_engine: Engine, hooks: Receiver, ca: trustme.CA
) -> None:
    add_customers(migrated_engine, "sms", ["ida", "bob"])
    definition = campaign(
        "hook",
        channel="webhook",
        webhook={"url": f"{hooks.url}/retentio", "consent": "sms"},
        message={"en": {"text": "Hi {{ first_name }}"}},
        link="https://butik.example/gift",
    )
    launch(migrated_engine, definition)
    with worker(migrated_engine, {"webhook": webhook_channel(ca)}, FixedClock(NOON)) as w:
        assert w.run(until_idle=True).to_dict() == {"sent": 2, "skipped": 3}
    events = hooks.received()
    assert all(verify(KEY, r.headers, r.body) for r in events)
    bodies = sorted((r.json() for r in events), key=lambda b: b["data"]["customer"]["external_id"])
    assert [b["data"]["customer"] for b in bodies] == [
        {"external_id": "bob"},
        {"external_id": "ida"},
    ]
    first = bodies[0]
    assert first["type"] == "retentio.message"
    assert first["data"]["message"] == {"locale": "en", "subject": "", "text": "Hi Bob"}
    assert first["data"]["campaign"] == "hook" and first["data"]["purpose"] == "marketing"
    assert first["data"]["link"] == "https://butik.example/gift"
    assert first["data"]["unsubscribe_url"].startswith(f"{PUBLIC_URL}/u/")
    assert "phone" not in str(bodies)  # the shop's system knows its customer by id
    ids = {r.headers["webhook-id"] for r in events}
    assert len(ids) == 2 and all(i.startswith("msg_") for i in ids)
    assert deliveries(migrated_engine)["eva"] == ("skipped", "no consent for sms marketing")


def test_a_webhook_to_an_internal_address_fails_without_a_request(
    migrated_engine: Engine, ca: trustme.CA
) -> None:
    add_customers(migrated_engine, "sms", ["ida"])
    definition = campaign(
        "inside",
        channel="webhook",
        purpose="transactional",
        webhook={"url": "https://169.254.169.254/latest/meta-data/"},
        message={"en": {"text": "x"}},
    )
    launch(migrated_engine, definition)
    with worker(migrated_engine, {"webhook": webhook_channel(ca)}, FixedClock(NOON)) as w:
        outcome = w.run(until_idle=True).to_dict()
    assert outcome == {"failed": 5}  # transactional: every customer, none reached
    status, detail = deliveries(migrated_engine)["ida"]
    assert status == "failed" and "link-local" in (detail or "")
