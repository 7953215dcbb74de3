"""Stated preferences on SQLite and PostgreSQL: stored with source and time, one history row per
change and none for an unchanged value, all or nothing, the birthday mirrored for loyalty."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from retentio.feedback import (
    PreferenceError,
    end_snooze,
    parse_topics,
    preference_history,
    preferences_of,
    set_preferences,
    snooze,
)
from retentio.ingest import ingest_customers
from retentio.privacy import erase_person, export_person, export_zip
from retentio.privacy.errors import NotFoundError
from retentio.store.feedback_tables import CustomerPreference, PreferenceEvent
from retentio.store.tables import Customer

SECRET = b"preference-tests-secret-0123456789-abcdefgh"
NOW = datetime(2026, 12, 3, 11, 0, tzinfo=UTC)


@pytest.fixture()
def shop(migrated_engine: Engine) -> Engine:
    people = [
        {"external_id": "ida", "email": "ida@example.com", "locale": "da-DK"},
        {"external_id": "tom", "email": "tom@example.com", "time_zone": "America/New_York"},
    ]
    with Session(migrated_engine) as session:
        ingest_customers(session, people, secret=SECRET, actor="test")
    return migrated_engine


def events(engine: Engine) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(PreferenceEvent)) or 0


def test_preferences_are_stored_with_source_time_and_history(shop: Engine) -> None:
    values = {
        "topics": ["offers", "news"],
        "favourite_categories": ["Running", "Tents"],
        "preferred_channel": "email",
        "frequency": "weekly",
        "birthday": "1990-04-01",
        "sizes": {"shoes": "39", "tops": "M"},
    }
    with Session(shop) as session:
        update = set_preferences(session, "ida", values, source="api", actor="api:rk_1", now=NOW)
    assert update.changed == (
        "birthday",
        "favourite_categories",
        "frequency",
        "preferred_channel",
        "sizes",
        "topics",
    )
    assert update.preferences.values["topics"] == ["news", "offers"]
    assert events(shop) == 6
    with Session(shop) as session:
        stated = preferences_of(session, "ida")
        assert stated.values == {**values, "topics": ["news", "offers"]}
        assert stated.sources == dict.fromkeys(values, "api")
        assert stated.updated_at["sizes"] == NOW
        document = stated.to_dict()
        assert document["stated"]["frequency"] == {
            "source": "api",
            "updated_at": "2026-12-03T11:00:00+00:00",
        }
        # The birthday also goes where the loyalty programme reads it.
        customer = session.scalars(select(Customer).where(Customer.external_id == "ida")).one()
        assert customer.attributes == {"birthday": "1990-04-01"}

    # The same values again change nothing and record nothing; one change records one row.
    later = NOW + timedelta(hours=1)
    with Session(shop) as session:
        again = set_preferences(session, "ida", values, source="api", actor="api:rk_1", now=later)
        assert again.changed == ()
        moved = set_preferences(
            session,
            "ida",
            {"frequency": "monthly", "sizes": {"tops": "M", "shoes": "39"}},
            source="preference_centre",
            actor="customer",
            now=later,
        )
        assert moved.changed == ("frequency",)
    assert events(shop) == 7
    with Session(shop) as session:
        history = preference_history(session, "ida")
        assert history[0].to_dict() == {
            "name": "frequency",
            "value": "monthly",
            "source": "preference_centre",
            "recorded_at": "2026-12-03T12:00:00+00:00",
            "recorded_by": "customer",
        }
        assert [c.name for c in history[1:]] == sorted(values, reverse=True)
        assert {c.value for c in history if c.name == "frequency"} == {"weekly", "monthly"}
        assert preferences_of(session, "ida").sources["frequency"] == "preference_centre"


def test_clearing_and_replacing(shop: Engine) -> None:
    with Session(shop) as session:
        set_preferences(
            session,
            "ida",
            {"birthday": "04-01", "frequency": "weekly", "topics": ["news"]},
            source="api",
            actor="t",
            now=NOW,
        )
        cleared = set_preferences(
            session, "ida", {"birthday": None}, source="api", actor="t", now=NOW
        )
        assert cleared.changed == ("birthday",)
        assert "birthday" not in cleared.preferences.values
        customer = session.scalars(select(Customer).where(Customer.external_id == "ida")).one()
        assert "birthday" not in customer.attributes
        # Clearing what is not there records nothing.
        assert (
            set_preferences(
                session, "ida", {"birthday": None}, source="api", actor="t", now=NOW
            ).changed
            == ()
        )
        # PUT semantics: what is not given is cleared.
        replaced = set_preferences(
            session, "ida", {"frequency": "weekly"}, source="api", actor="t", now=NOW, replace=True
        )
        assert replaced.changed == ("topics",)
        assert replaced.preferences.values == {"frequency": "weekly"}
        history = preference_history(session, "ida")
        assert [(c.name, c.value) for c in history[:2]] == [("topics", None), ("birthday", None)]


def test_a_bad_value_writes_nothing(shop: Engine) -> None:
    with Session(shop) as session:
        with pytest.raises(PreferenceError) as caught:
            set_preferences(
                session,
                "ida",
                {"frequency": "weekly", "sizes": {"shoes": ""}},
                source="api",
                actor="t",
                now=NOW,
            )
        assert caught.value.field == "sizes.shoes"
        with pytest.raises(PreferenceError, match="source: one of"):
            set_preferences(session, "ida", {"frequency": "weekly"}, source="web", actor="t")
        with pytest.raises(NotFoundError):
            set_preferences(session, "nobody", {"frequency": "weekly"}, source="api", actor="t")
        with pytest.raises(NotFoundError):
            preferences_of(session, "nobody")
        assert session.scalar(select(func.count()).select_from(CustomerPreference)) == 0
    assert events(shop) == 0


def test_topics_are_the_shops(shop: Engine) -> None:
    topics = parse_topics(["running", "hiking"])
    with Session(shop) as session:
        with pytest.raises(PreferenceError, match="unknown topic 'news'"):
            set_preferences(
                session, "ida", {"topics": ["news"]}, source="api", actor="t", topics=topics
            )
        done = set_preferences(
            session, "ida", {"topics": ["hiking"]}, source="api", actor="t", topics=topics
        )
        assert done.preferences.values["topics"] == ["hiking"]


def test_snooze_on_the_customers_clock(shop: Engine) -> None:
    # 03:00 UTC on 3 December is still 2 December in New York.
    early = datetime(2026, 12, 3, 3, 0, tzinfo=UTC)
    with Session(shop) as session:
        tom = snooze(session, "tom", 30, source="preference_centre", actor="customer", now=early)
        assert tom.preferences.snoozed_until == date(2027, 1, 1)
        ida = snooze(session, "ida", 60, source="preference_centre", actor="customer", now=early)
        assert ida.preferences.values["snooze_until"] == "2027-02-01"
        with pytest.raises(PreferenceError, match="days: one of 30, 60, 90"):
            snooze(session, "ida", 14, source="api", actor="t", now=early)
        ended = end_snooze(session, "ida", source="preference_centre", actor="customer")
        assert ended.changed == ("snooze_until",)
        assert ended.preferences.snoozed_until is None


def test_export_and_erasure_take_the_preferences_along(shop: Engine) -> None:
    with Session(shop) as session:
        set_preferences(
            session,
            "ida",
            {"birthday": "1990-04-01", "sizes": {"shoes": "=39"}},
            source="preference_centre",
            actor="customer",
            now=NOW,
        )
        document = export_person(session, "ida", actor="t")
        archive = zipfile.ZipFile(io.BytesIO(export_zip(document)))
        assert {"person.json", "preferences.csv", "preference_history.csv"} <= set(
            archive.namelist()
        )
        person = json.loads(archive.read("person.json"))
        assert {p["name"]: p["value"] for p in person["preferences"]} == {
            "birthday": "1990-04-01",
            "sizes": {"shoes": "=39"},
        }
        assert len(person["preference_history"]) == 2
        assert "'{" not in archive.read("preferences.csv").decode()  # JSON cells stay JSON
        assert person["customer"]["attributes"] == {"birthday": "1990-04-01"}
        customer_id = session.scalars(
            select(Customer.id).where(Customer.external_id == "ida")
        ).one()
        report = erase_person(session, SECRET, "ida", actor="customer")
        assert not report.already_erased
        assert session.scalar(select(func.count()).select_from(CustomerPreference)) == 0
        assert session.scalar(select(func.count()).select_from(PreferenceEvent)) == 0
        with pytest.raises(PreferenceError, match="customer: the customer has been erased"):
            set_preferences(
                session,
                session.get(Customer, customer_id) or "",
                {"frequency": "weekly"},
                source="api",
                actor="t",
            )
