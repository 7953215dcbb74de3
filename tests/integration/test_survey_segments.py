"""Segments on survey answers, on SQLite and PostgreSQL: the latest NPS score and its
category, the latest CSAT score, and days since the last answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from retentio.core.clock import FixedClock
from retentio.feedback import find_survey, record_response, save_survey
from retentio.ingest import ingest_customers
from retentio.segments import SegmentError, count_members, parse_definition, preview_members

NOW = datetime(2026, 12, 3, 12, tzinfo=UTC)
SECRET = b"survey-segment-tests-0123456789-abcdefgh"


@pytest.fixture()
def answered(migrated_engine: Engine) -> Engine:
    """ida: NPS 9 (100 days ago), then 3 (10 days ago): a detractor now; bo: NPS 8 and
    CSAT 5 (40 days ago); cy: a custom answer only (5 days ago); dan: nothing."""
    with Session(migrated_engine) as session:
        ingest_customers(
            session, [{"external_id": n} for n in ("ida", "bo", "cy", "dan")],
            secret=SECRET, actor="test",
        )  # fmt: skip
        for definition in (
            {"name": "nps", "kind": "nps", "throttle_days": 0},
            {"name": "nps-2", "kind": "nps", "throttle_days": 0},
            {"name": "support", "kind": "csat", "throttle_days": 0},
            {
                "name": "why",
                "kind": "custom",
                "throttle_days": 0,
                "questions": [{"id": "q", "type": "text", "text": "Why?"}],
            },
        ):
            save_survey(session, definition, now=NOW - timedelta(days=200))
        answers: list[tuple[str, str, Any, int]] = [
            ("ida", "nps", 9, 100),
            ("ida", "nps-2", 3, 10),
            ("bo", "nps", 8, 40),
            ("bo", "support", 5, 40),
            ("cy", "why", None, 5),
        ]
        for n, (customer, survey, score, days) in enumerate(answers):
            record_response(
                session, find_survey(session, survey), customer, score,
                {"q": "fit"} if score is None else None, None, "api", f"k{n}",
                NOW - timedelta(days=days),
            )  # fmt: skip
    return migrated_engine


def members(engine: Engine, where: dict[str, Any]) -> list[str]:
    definition = parse_definition({"name": "s", "where": where})
    with Session(engine) as session:
        rows = preview_members(session, definition, clock=FixedClock(NOW))
        count = count_members(session, definition, clock=FixedClock(NOW))
    assert count == len(rows)
    return sorted(row["external_id"] for row in rows)


def test_the_latest_nps_answer_counts(answered: Engine) -> None:
    assert members(answered, {"nps_category": "detractor"}) == ["ida"]
    assert members(answered, {"nps_category": "passive"}) == ["bo"]
    assert members(answered, {"nps_category": ["promoter", "passive"]}) == ["bo"]
    assert members(answered, {"nps_score": {"gte": 8}}) == ["bo"]
    assert members(answered, {"nps_score": {"exists": True}}) == ["bo", "ida"]
    # not: the complement, customers without an answer included
    assert members(answered, {"not": {"nps_category": "detractor"}}) == ["bo", "cy", "dan"]


def test_csat_and_days_since_the_last_answer(answered: Engine) -> None:
    assert members(answered, {"csat_score": {"gte": 4}}) == ["bo"]
    assert members(answered, {"days_since_last_survey_answer": {"lte": 10}}) == ["cy", "ida"]
    assert members(answered, {"days_since_last_survey_answer": {"gt": 30}}) == ["bo"]
    assert members(answered, {"days_since_last_survey_answer": {"exists": False}}) == ["dan"]
    assert members(answered, {"last_survey_answer_at": {"after": "2026-11-20"}}) == ["cy", "ida"]


def test_the_preview_shows_the_values(answered: Engine) -> None:
    definition = parse_definition(
        {
            "name": "s",
            "where": {
                "all": [
                    {"nps_category": "detractor"},
                    {"days_since_last_survey_answer": {"gte": 0}},
                ]
            },
        }
    )
    with Session(answered) as session:
        [row] = preview_members(session, definition, clock=FixedClock(NOW))
    assert row["external_id"] == "ida"
    assert row["nps_category"] == "detractor"
    assert row["days_since_last_survey_answer"] == 10


def test_a_category_not_known_is_refused() -> None:
    with pytest.raises(SegmentError) as caught:
        parse_definition({"name": "s", "where": {"nps_category": "fan"}})
    assert caught.value.path == "where.nps_category.eq"
    assert "promoter" in caught.value.reason
