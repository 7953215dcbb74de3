"""Surveys and their answers in the store, on SQLite and PostgreSQL: saved and replaced,
answers once per key, throttled per person, each told to journeys by one event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from retentio.feedback import (
    AnswerError,
    SurveyConflict,
    SurveyError,
    SurveyNotFound,
    SurveyThrottled,
    archive_survey,
    can_ask,
    find_survey,
    list_responses,
    list_surveys,
    record_response,
    save_survey,
)
from retentio.ingest import ingest_customers
from retentio.privacy.errors import NotFoundError
from retentio.store.campaign_tables import Campaign, Delivery
from retentio.store.feedback_tables import SurveyResponse
from retentio.store.tables import Customer, Event

NOW = datetime(2026, 12, 3, 12, tzinfo=UTC)
SECRET = b"survey-tests-secret-0123456789-abcdefgh"
NPS = {"name": "nps", "kind": "nps"}
CSAT = {"name": "support", "kind": "csat", "throttle_days": 30}


def shop(engine: Engine, *names: str) -> None:
    with Session(engine) as session:
        ingest_customers(
            session, [{"external_id": n, "email": f"{n}@example.com"} for n in names],
            secret=SECRET, actor="test",
        )  # fmt: skip


def answer(
    session: Session, survey: str, customer: str | int, score: Any, key: str, **extra: Any
) -> Any:
    saved = find_survey(session, survey)
    return record_response(
        session,
        saved,
        customer,
        score,
        extra.get("answers"),
        extra.get("comment"),
        extra.get("source", "api"),
        key,
        extra.get("now", NOW),
        extra.get("delivery_id"),
    )


def events(engine: Engine) -> list[tuple[str, dict[str, Any]]]:
    with Session(engine) as session:
        rows = session.execute(
            select(Customer.external_id, Event.properties)
            .join(Customer, Customer.id == Event.customer_id)
            .where(Event.name == "survey_answered")
            .order_by(Event.id)
        )
        return [(name, dict(properties)) for name, properties in rows]


def test_save_replace_list_and_archive(migrated_engine: Engine) -> None:
    with Session(migrated_engine) as session:
        saved, created = save_survey(session, NPS, now=NOW)
        assert created and saved.status == "active" and saved.kind == "nps"
        again, created = save_survey(session, NPS | {"throttle_days": 60}, now=NOW)
        assert not created and again.id == saved.id
        assert again.definition.throttle_days == 60
        save_survey(session, CSAT, now=NOW)
        assert [s.name for s in list_surveys(session)] == ["nps", "support"]
        assert find_survey(session, saved.id).name == "nps"
        assert find_survey(session, str(saved.id)).name == "nps"
        archived = archive_survey(session, "support", now=NOW)
        assert archived.status == "archived"
        assert [s.name for s in list_surveys(session, status="active")] == ["nps"]
        revived, _ = save_survey(session, CSAT, now=NOW)
        assert revived.status == "active"
        with pytest.raises(SurveyNotFound):
            find_survey(session, "nope")
        with pytest.raises(SurveyNotFound):
            find_survey(session, 99_999_999_999)
        with pytest.raises(SurveyError, match="kind"):
            save_survey(session, {"name": "x", "kind": "poll"}, now=NOW)
        with pytest.raises(SurveyError, match="status"):
            list_surveys(session, status="gone")


def test_an_answer_is_recorded_once_per_key_with_its_event(migrated_engine: Engine) -> None:
    shop(migrated_engine, "ida", "bo")
    with Session(migrated_engine) as session:
        save_survey(session, NPS, now=NOW)
        first = answer(session, "nps", "ida", 4, "k1", comment="Slow delivery")
        assert (first.score, first.repeated, first.comment) == (4, False, "Slow delivery")
        assert first.to_dict()["category"] == "detractor"
        repeat = answer(session, "nps", "ida", 10, "k1")  # the same key: the first stands
        assert repeat.repeated and repeat.id == first.id and repeat.score == 4
        promoter = answer(session, "nps", "bo", 10, "k1")  # keys are per customer
        assert not promoter.repeated and promoter.id != first.id
        assert [r.customer for r in list_responses(session, "nps")] == ["ida", "bo"]
        assert [r.score for r in list_responses(session, "nps", customer="bo")] == [10]
        assert list_responses(session, "nps", after=first.id, limit=5)[0].id == promoter.id
    assert events(migrated_engine) == [
        (
            "ida",
            {
                "survey": "nps",
                "kind": "nps",
                "score": 4,
                "category": "detractor",
                "source": "api",
                "response": first.id,
            },
        ),
        (
            "bo",
            {
                "survey": "nps",
                "kind": "nps",
                "score": 10,
                "category": "promoter",
                "source": "api",
                "response": promoter.id,
            },
        ),
    ]


def test_a_csat_answer_says_whether_satisfied(migrated_engine: Engine) -> None:
    shop(migrated_engine, "ida")
    with Session(migrated_engine) as session:
        save_survey(session, CSAT, now=NOW)
        answer(session, "support", "ida", 4, "k1")
    assert events(migrated_engine)[0][1]["satisfied"] is True


def test_bad_answers_write_nothing(migrated_engine: Engine) -> None:
    shop(migrated_engine, "ida")
    with Session(migrated_engine) as session:
        save_survey(session, NPS, now=NOW)
        with pytest.raises(AnswerError, match="score"):
            answer(session, "nps", "ida", 11, "k1")
        with pytest.raises(AnswerError, match="source"):
            answer(session, "nps", "ida", 5, "k1", source="fax")
        with pytest.raises(AnswerError, match="key"):
            answer(session, "nps", "ida", 5, "")
        with pytest.raises(NotFoundError):
            answer(session, "nps", "nobody", 5, "k1")
        archive_survey(session, "nps", now=NOW)
        with pytest.raises(SurveyConflict, match="archived"):
            answer(session, "nps", "ida", 5, "k1")
        assert session.scalar(select(func.count()).select_from(SurveyResponse)) == 0
        assert session.scalar(select(func.count()).select_from(Event)) == 0


def test_throttling_across_surveys(migrated_engine: Engine) -> None:
    shop(migrated_engine, "ida")
    with Session(migrated_engine) as session:
        nps, _ = save_survey(session, NPS, now=NOW)
        support, _ = save_survey(session, CSAT, now=NOW)
        assert can_ask(session, nps, "ida", NOW)
        answer(session, "nps", "ida", 9, "k1")
        assert not can_ask(session, nps, "ida", NOW + timedelta(days=89))
        assert not can_ask(session, support, "ida", NOW + timedelta(days=29))
        with pytest.raises(SurveyThrottled, match="answered survey 'nps' on 2026-12-03"):
            answer(session, "support", "ida", 5, "k2", now=NOW + timedelta(days=10))
        with pytest.raises(SurveyThrottled, match="one survey per 90 days"):
            answer(session, "nps", "ida", 5, "k2", now=NOW + timedelta(days=89))
        # a repeat of the first key is not throttled: it returns the first answer
        assert answer(session, "nps", "ida", 9, "k1", now=NOW + timedelta(days=10)).repeated
        # the CSAT survey's own window is 30 days; the NPS survey's 90
        assert can_ask(session, support, "ida", NOW + timedelta(days=31))
        later = answer(session, "support", "ida", 5, "k3", now=NOW + timedelta(days=31))
        assert not later.repeated
        assert not can_ask(session, nps, "nobody", NOW)
        archive_survey(session, "support", now=NOW)
        assert not can_ask(session, support, "ida", NOW + timedelta(days=400))


def test_a_survey_message_throttles_others_but_not_its_own_answer(
    migrated_engine: Engine,
) -> None:
    shop(migrated_engine, "ida")
    with Session(migrated_engine) as session:
        nps, _ = save_survey(session, NPS, now=NOW)
        support, _ = save_survey(session, CSAT, now=NOW)
        campaign = Campaign(
            name="ask-nps", channel="email", purpose="surveys", definition={"survey": "nps"},
            holdout=0.0, status="done",
        )  # fmt: skip
        session.add(campaign)
        session.flush()
        ida = session.scalar(select(Customer.id).where(Customer.external_id == "ida"))
        assert ida is not None
        delivery = Delivery(
            source=f"campaign:{campaign.id}", campaign_id=campaign.id, customer_id=ida,
            channel="email", purpose="surveys", status="sent", not_before=NOW, sent_at=NOW,
        )  # fmt: skip
        session.add(delivery)
        session.commit()
        assert not can_ask(session, nps, ida, NOW + timedelta(days=1))
        assert not can_ask(session, support, ida, NOW + timedelta(days=1))
        with pytest.raises(SurveyThrottled, match="was sent survey 'nps'"):
            answer(session, "support", ida, 5, "k1", now=NOW + timedelta(days=1))
        recorded = answer(
            session, "nps", ida, 8, "message:1", source="message", delivery_id=delivery.id,
            now=NOW + timedelta(days=2),
        )  # fmt: skip
        assert recorded.delivery_id == delivery.id and recorded.customer == "ida"


def test_custom_answers_are_stored_as_given(migrated_engine: Engine) -> None:
    shop(migrated_engine, "ida")
    definition = {
        "name": "why",
        "kind": "custom",
        "throttle_days": 0,
        "questions": [
            {"id": "reason", "type": "choice", "text": "Why?", "options": ["price", "fit"]},
            {"id": "effort", "type": "scale", "min": 1, "max": 5, "text": "Easy?"},
        ],
    }
    with Session(migrated_engine) as session:
        save_survey(session, definition, now=NOW)
        first = answer(session, "why", "ida", None, "k1", answers={"reason": "fit", "effort": 2})
        second = answer(session, "why", "ida", None, "k2", answers={"effort": 5})  # no throttle
        assert first.answers == {"reason": "fit", "effort": 2}
        assert second.answers == {"effort": 5} and second.score is None
        with pytest.raises(SurveyConflict, match="kind cannot become nps"):
            save_survey(session, {"name": "why", "kind": "nps"}, now=NOW)
    assert [e[1]["kind"] for e in events(migrated_engine)] == ["custom", "custom"]
