"""Survey answers and segment memberships read into Arrow, on SQLite and PostgreSQL: the same
rows as stored, keyed by external ids, in the analytics' schemas."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from retentio import SEGMENT_MEMBERSHIPS_SCHEMA, SURVEY_RESPONSES_SCHEMA, nps_by_segment
from retentio.feedback import find_survey, record_response, save_survey
from retentio.ingest import ingest_customers
from retentio.segments import refresh_segment, save_segment
from retentio.store.feedback_arrow import read_segment_memberships, read_survey_responses
from retentio.store.tables import Customer, SegmentMembership

NOW = datetime(2026, 12, 3, 12, 30, 15, 123456, tzinfo=UTC)
SECRET = b"feedback-arrow-tests-0123456789-abcdefgh"


def test_answers_and_memberships_in_arrow(migrated_engine: Engine) -> None:
    assert read_survey_responses(migrated_engine).num_rows == 0  # an empty store
    assert read_survey_responses(migrated_engine).schema == SURVEY_RESPONSES_SCHEMA
    assert read_segment_memberships(migrated_engine).schema == SEGMENT_MEMBERSHIPS_SCHEMA
    with Session(migrated_engine) as session:
        ingest_customers(
            session, [{"external_id": n, "country": c} for n, c in
                      (("ida, \"the first\"", "DK"), ("bo", "DK"), ("cy", "NL"))],
            secret=SECRET, actor="test",
        )  # fmt: skip
        nps, _ = save_survey(session, {"name": "nps", "kind": "nps", "throttle_days": 0}, now=NOW)
        save_survey(
            session,
            {"name": "why", "kind": "custom", "throttle_days": 0,
             "questions": [{"id": "q", "type": "text", "text": "?"}]},
            now=NOW,
        )  # fmt: skip
        why = find_survey(session, "why")
        answers = [
            (nps, 'ida, "the first"', 10, None, 0),
            (nps, "bo", 3, None, 1),
            (why, "bo", None, {"q": "x"}, 2),
        ]
        for n, (survey, customer, score, given, days) in enumerate(answers):
            record_response(
                session, survey, customer, score, given, None, "api", f"k{n}",
                NOW - timedelta(days=days),
            )  # fmt: skip
        save_segment(session, {"name": "danes", "where": {"country": "DK"}})
        save_segment(session, {"name": "all", "where": {"order_count": {"gte": 0}}})
        refresh_segment(session, "danes")
        refresh_segment(session, "all")
        cy = session.scalar(select(Customer.id).where(Customer.external_id == "cy"))
        session.execute(  # cy left "all": a closed stay is not a membership
            update(SegmentMembership)
            .where(SegmentMembership.customer_id == cy)
            .values(exited_at=NOW)
        )
        session.commit()
    responses = read_survey_responses(migrated_engine)
    rows = sorted(responses.to_pylist(), key=lambda r: r["responded_at"])
    assert rows == [
        {
            "customer_id": "bo",
            "survey": "why",
            "kind": "custom",
            "score": None,
            "responded_at": NOW - timedelta(days=2),
        },
        {
            "customer_id": "bo",
            "survey": "nps",
            "kind": "nps",
            "score": 3,
            "responded_at": NOW - timedelta(days=1),
        },
        {
            "customer_id": 'ida, "the first"',
            "survey": "nps",
            "kind": "nps",
            "score": 10,
            "responded_at": NOW,
        },
    ]
    only = read_survey_responses(migrated_engine, survey=nps.id)
    assert sorted(only["customer_id"].to_pylist()) == ["bo", 'ida, "the first"']
    memberships = read_segment_memberships(migrated_engine)
    assert sorted(memberships.to_pylist(), key=lambda r: (r["segment"], r["customer_id"])) == [
        {"segment": "all", "customer_id": "bo"},
        {"segment": "all", "customer_id": 'ida, "the first"'},
        {"segment": "danes", "customer_id": "bo"},
        {"segment": "danes", "customer_id": 'ida, "the first"'},
    ]
    table = nps_by_segment(responses, memberships).set_index("segment")
    assert table.loc["danes", "nps"] == 0.0  # one promoter, one detractor
