"""Segments on stated preferences, on SQLite and PostgreSQL: the preferred channel and frequency
as text, a list that contains a topic or a category, the snooze's last day compared by date,
and not stated at all."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from retentio.core.clock import FixedClock
from retentio.feedback import set_preferences
from retentio.ingest import ingest_customers
from retentio.segments import count_members, parse_definition, preview_members
from retentio.store.feedback_tables import CustomerPreference
from retentio.store.tables import Customer

SECRET = b"preference-segments-secret-0123456789-abcd"
NOW = datetime(2026, 12, 3, 11, 0, tzinfo=UTC)
STATED: dict[str, dict[str, Any]] = {
    "ann": {"preferred_channel": "sms", "frequency": "weekly", "topics": ["news", "offers"]},
    "ben": {"preferred_channel": "email", "topics": ["news"], "snooze_until": "2026-12-24"},
    "cat": {"favourite_categories": ["Running", "Tents"], "snooze_until": "2027-03-01"},
    "dan": {"frequency": "monthly", "topics": []},
    "eve": {},
}


@pytest.fixture()
def shop(migrated_engine: Engine) -> Engine:
    with Session(migrated_engine) as session:
        people = [{"external_id": name} for name in STATED]
        ingest_customers(session, people, secret=SECRET, actor="test")
        for name, values in STATED.items():
            set_preferences(session, name, values, source="api", actor="test", now=NOW)
    return migrated_engine


def members(engine: Engine, where: dict[str, Any]) -> list[str]:
    definition = parse_definition({"name": "s", "where": where})
    with Session(engine) as session:
        found = preview_members(session, definition, limit=100, clock=FixedClock(NOW))
        assert count_members(session, definition, clock=FixedClock(NOW)) == len(found)
    return [row["external_id"] for row in found]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ({"preferred_channel": "sms"}, ["ann"]),
        ({"preferred_channel": {"ne": "sms"}}, ["ben"]),  # a stated value other than sms
        ({"not": {"preferred_channel": "sms"}}, ["ben", "cat", "dan", "eve"]),
        ({"frequency": ["weekly", "monthly"]}, ["ann", "dan"]),
        ({"frequency": {"exists": False}}, ["ben", "cat", "eve"]),
        ({"topics": {"contains": "offers"}}, ["ann"]),
        ({"topics": {"contains": "news"}}, ["ann", "ben"]),
        ({"topics": {"exists": True}}, ["ann", "ben", "dan"]),  # dan chose none
        # Who may get an offer: chose offers, or never said which topics.
        (
            {"any": [{"topics": {"contains": "offers"}}, {"topics": {"exists": False}}]},
            ["ann", "cat", "eve"],
        ),
        ({"not": {"topics": {"contains": "offers"}}}, ["ben", "cat", "dan", "eve"]),
        ({"favourite_categories": {"contains": "Tents"}}, ["cat"]),
        ({"snoozed_until": {"after": "2026-12-24"}}, ["ben", "cat"]),  # on or after
        ({"snoozed_until": {"after": "2026-12-25"}}, ["cat"]),
        ({"snoozed_until": {"before": "2026-12-24"}}, []),
        ({"snoozed_until": {"before": "2027-01-01"}}, ["ben"]),
        ({"snoozed_until": {"exists": False}}, ["ann", "dan", "eve"]),
    ],
)
def test_stated_preferences_select_customers(
    shop: Engine, where: dict[str, Any], expected: list[str]
) -> None:
    assert members(shop, where) == expected


def test_the_preview_shows_the_stated_values(shop: Engine) -> None:
    definition = parse_definition(
        {
            "name": "s",
            "where": {
                "all": [
                    {"topics": {"contains": "news"}},
                    {"snoozed_until": {"exists": True}},
                    {"preferred_channel": {"exists": True}},
                ]
            },
        }
    )
    with Session(shop) as session:
        rows = preview_members(session, definition, clock=FixedClock(NOW))
    assert rows == [
        {
            "external_id": "ben",
            "preferred_channel": "email",
            "snoozed_until": "2026-12-24",
            "topics": ["news"],
        }
    ]


def test_a_list_stored_as_something_else_matches_nothing(shop: Engine) -> None:
    """A hand-edited row (a text where a list belongs) neither matches nor breaks the query."""
    with Session(shop) as session:
        eve = session.scalars(select(Customer.id).where(Customer.external_id == "eve")).one()
        session.add(
            CustomerPreference(
                customer_id=eve, name="topics", value="offers", source="import", updated_at=NOW
            )
        )
        session.commit()
    assert members(shop, {"topics": {"contains": "offers"}}) == ["ann"]
    assert members(shop, {"topics": {"exists": True}}) == ["ann", "ben", "dan", "eve"]
