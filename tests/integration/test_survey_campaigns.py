"""Surveys through the campaign engine, on SQLite and PostgreSQL, to a real SMTP server: a
campaign's message carries the signed survey links, the throttle skips a customer surveyed
recently, the answer to the message is accepted, and journeys close the loop on the
``survey_answered`` event (a detractor gets an apology, a promoter a review ask)."""

from __future__ import annotations

import re
from datetime import timedelta
from email.message import Message

import pytest
from campaign_helpers import (
    NOON,
    PUBLIC_URL,
    SECRET,
    SIGNER,
    add_shop,
    campaign,
    deliveries,
    make_worker,
)
from smtp_helpers import Sink
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from retentio.campaigns import (
    CampaignError,
    JourneyError,
    advance_journeys,
    launch_campaign,
    parse_campaign,
    save_campaign,
    save_journey,
)
from retentio.campaigns.preview import preview_campaign
from retentio.core.clock import FixedClock
from retentio.feedback import find_survey, read_survey_token, record_response, save_survey
from retentio.store.campaign_tables import Campaign, Delivery
from retentio.store.tables import Customer

CUSTOMERS = [
    {"external_id": "ida", "email": "ida@example.com", "locale": "da-DK"},
    {"external_id": "bob", "email": "bob@example.com", "locale": "en"},
    {"external_id": "eva", "email": "eva@example.com", "locale": "en"},
]
ASK = {
    "en": {
        "subject": "How did we do?",
        "text": "Rate us: {{ survey_url }} -- 10: {{ survey_score_urls[10] }}",
    }
}


def text_of(message: Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode()
    raise AssertionError("no text part")


def answer(engine: Engine, url: str, score: int) -> None:
    """What the page does when the form is sent: the link's answer, its key and source."""
    link = read_survey_token(SIGNER, url.rsplit("/f/", 1)[1].split("?", 1)[0])
    with Session(engine) as session:
        survey = find_survey(session, link.survey_id)
        record_response(
            session, survey, link.customer_id, score, None, None, link.source, link.key,
            NOON + timedelta(minutes=5), link.delivery_id,
        )  # fmt: skip


@pytest.fixture()
def shop(migrated_engine: Engine) -> Engine:
    add_shop(migrated_engine, CUSTOMERS)
    with Session(migrated_engine) as session:
        save_survey(session, {"name": "nps", "kind": "nps"}, now=NOON)
        save_survey(session, {"name": "support", "kind": "csat"}, now=NOON)
    return migrated_engine


def test_a_survey_campaign_links_throttles_and_takes_its_answer(
    shop: Engine, sink: tuple[Sink, int]
) -> None:
    handler, port = sink
    with Session(shop) as session:  # bob answered another survey a week ago
        support = find_survey(session, "support")
        record_response(
            session, support, "bob", 5, None, None, "api", "k1", NOON - timedelta(days=7)
        )
        save_campaign(session, campaign("ask-nps", survey="nps", message=ASK))
        launch_campaign(session, "ask-nps", clock=FixedClock(NOON))
    worker, channel = make_worker(shop, port, FixedClock(NOON))
    with channel:
        assert worker.run(until_idle=True).to_dict() == {"sent": 2, "skipped": 1}
    assert deliveries(shop)["bob"] == (
        "skipped",
        "surveyed within 90 days (answered 'support' on 2026-11-26)",
    )
    texts = {str(m["To"]): text_of(m) for m in handler.received}
    ida = texts["ida@example.com"]
    url = re.search(rf"{re.escape(PUBLIC_URL)}/f/\S+", ida)
    assert url is not None and "?score=" not in url.group(0)
    assert f"{url.group(0)}?score=10" in ida
    link = read_survey_token(SIGNER, url.group(0).rsplit("/", 1)[1])
    with Session(shop) as session:
        ida_id = session.scalar(select(Customer.id).where(Customer.external_id == "ida"))
        sent = session.scalar(select(Delivery.id).where(Delivery.customer_id == ida_id))
    assert (link.customer_id, link.delivery_id, link.locale) == (ida_id, sent, "da-DK")
    answer(shop, url.group(0), 3)  # the message asked: its own answer is not throttled

    with Session(shop) as session:  # asking again within 90 days: nobody
        save_campaign(session, campaign("ask-again", survey="nps", message=ASK))
        launch_campaign(session, "ask-again", clock=FixedClock(NOON + timedelta(days=2)))
    later = FixedClock(NOON + timedelta(days=2))
    worker, channel = make_worker(shop, port, later)
    with channel:
        assert worker.run(until_idle=True).to_dict() == {"skipped": 3}
    with Session(shop) as session:
        details = sorted(
            session.scalars(
                select(Delivery.detail)
                .join(Campaign, Campaign.id == Delivery.campaign_id)
                .where(Campaign.name == "ask-again")
            )
        )
    assert details == [
        "surveyed within 90 days (answered 'nps' on 2026-12-03)",
        "surveyed within 90 days (answered 'support' on 2026-11-26)",
        "surveyed within 90 days (was sent 'nps' on 2026-12-03)",
    ]


def test_a_survey_must_exist_and_its_links_need_the_key(migrated_engine: Engine) -> None:
    add_shop(migrated_engine, CUSTOMERS)
    with Session(migrated_engine) as session:
        with pytest.raises(CampaignError) as caught:
            save_campaign(session, campaign("ask", survey="nope", message=ASK))
        assert caught.value.path == "survey"
        with pytest.raises(CampaignError) as caught:
            save_campaign(session, campaign("ask", message=ASK))  # links without a survey
        assert caught.value.path == "message.en.text"
        journey = {
            "name": "j",
            "trigger": {"event": "order_placed"},
            "steps": [{"send": {"message": ASK, "survey": "nope"}}],
        }
        with pytest.raises(JourneyError) as caught:
            save_journey(session, journey)
        assert caught.value.path == "steps[0].send.survey"
        save_survey(session, {"name": "nope", "kind": "nps"}, now=NOON)
        save_journey(session, journey)
        step = session.scalars(select(Campaign).where(Campaign.name == "j--step-1")).one()
        assert step.definition["survey"] == "nope"
        preview = preview_campaign(
            session, parse_campaign(campaign("ask", survey="nope", message=ASK)),
            secret=SECRET, now=NOON, customer="ida", public_url=PUBLIC_URL,
        )  # fmt: skip
        assert preview.message.text == (
            f"Rate us: {PUBLIC_URL}/f/preview -- 10: {PUBLIC_URL}/f/preview?score=10"
        )


def test_journeys_close_the_loop_on_the_answer(shop: Engine, sink: tuple[Sink, int]) -> None:
    handler, port = sink
    clock = FixedClock(NOON)
    loop = {
        "name": "close-the-loop",
        "trigger": {"event": "survey_answered"},
        "holdout": 0,
        "quiet_hours": False,
        "steps": [
            {
                "branch": {
                    "if": {
                        "event": {
                            "name": "survey_answered",
                            "properties": {"category": "detractor"},
                        }
                    },
                    "goto": "sorry",
                }
            },
            {
                "branch": {
                    "if": {
                        "event": {"name": "survey_answered", "properties": {"category": "promoter"}}
                    },
                    "goto": "review",
                }
            },
            {"exit": {}},
            {
                "id": "sorry",
                "send": {"message": {"en": {"subject": "We are sorry", "text": "Call us."}}},
            },
            {"exit": {}},
            {
                "id": "review",
                "send": {"message": {"en": {"subject": "Review us?", "text": "Thanks!"}}},
            },
        ],
    }
    with Session(shop) as session:
        save_journey(session, loop, clock=clock)
        nps = find_survey(session, "nps")
        for name, score in (("ida", 2), ("bob", 10), ("eva", 8)):
            record_response(
                session, nps, name, score, None, None, "api", f"{name}-1",
                NOON + timedelta(minutes=1),
            )  # fmt: skip
    clock.advance(timedelta(minutes=5))
    with Session(shop) as session:
        advance_journeys(session, clock=clock)
    worker, channel = make_worker(shop, port, clock)
    with channel:
        assert worker.run(until_idle=True).to_dict() == {"sent": 2}
    got = {str(m["To"]): str(m["Subject"]) for m in handler.received}
    assert got == {"ida@example.com": "We are sorry", "bob@example.com": "Review us?"}
