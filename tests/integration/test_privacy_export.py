"""The person export on SQLite and PostgreSQL: complete, schema-valid, audited, CSV-safe."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import timedelta

import pytest
from privacy_helpers import ACTOR, T0, add_customer, add_event, add_order, with_texts
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from retentio.core.errors import DataError
from retentio.feedback import record_response, save_survey, set_preferences
from retentio.loyalty import adjust_points, parse_programme
from retentio.loyalty.coupons import redeem_reward
from retentio.privacy import (
    DEFAULT_TEXT_VERSION,
    NotFoundError,
    audit_entries,
    export_person,
    export_schema,
    export_zip,
    record_consent,
    validate_export,
)
from retentio.store.tables import Customer
from retentio.subscriptions import Cadence, Policy, create_subscription


def make_shop(engine: Engine) -> None:
    with_texts(engine)
    with Session(engine) as session:
        mia = add_customer(
            session,
            "mia-1",
            email="mia@example.nl",
            phone="+31612345678",
            first_name='=HYPERLINK("http://evil")',
            country="NL",
            attributes={"shoe_size": 38},
        )
        other = add_customer(session, "other", email="other@example.nl")
        add_order(session, mia, "A-1", lines=(("S1", "Tea", 500), ("S2", "Cup", 1500)))
        add_order(session, mia, "A-2", at=T0 + timedelta(days=3), refund_minor=700)
        add_order(session, other, "B-1")
        add_event(session, mia, "page_view", {"path": "/tea"}, T0)
        add_event(session, other, "page_view", {"path": "/other"}, T0)
        record_consent(
            session,
            customer="mia-1",
            channel="email",
            purpose="marketing",
            granted=True,
            source="form",
            text_version=DEFAULT_TEXT_VERSION,
            language="nl",
            ip_address="203.0.113.5",
            recorded_by="api:xyz",
        )
    with Session(engine) as session:
        programme = parse_programme(
            {"rewards": [{"id": "tea", "kind": "free_product", "product": "S1", "points": 50}]}
        )
        for customer in ("mia-1", "other"):
            adjust_points(
                session,
                programme,
                customer=customer,
                points=80,
                key=f"welcome-{customer}",
                reason="welcome",
                now=T0,
                recorded_by="test",
            )
        redeem_reward(
            session,
            programme,
            customer="mia-1",
            reward_id="tea",
            key="r1",
            now=T0,
            recorded_by="test",
        )
        create_subscription(
            session,
            Policy(),
            customer="mia-1",
            cadence=Cadence("month", 1),
            currency="EUR",
            items=[{"product": "TEA", "quantity": 1, "price": "9.50"}],
            now=T0,
            actor="test",
        )
        set_preferences(
            session, "mia-1", {"preferred_channel": "sms"}, source="api", actor="test", now=T0
        )
        survey, _created = save_survey(session, {"name": "nps", "kind": "nps"}, now=T0)
        record_response(session, survey, "mia-1", 9, None, "Lovely tea", "api", "a1", now=T0)


def test_the_export_holds_everything_on_the_person_and_nothing_else(
    migrated_engine: Engine,
) -> None:
    make_shop(migrated_engine)
    with Session(migrated_engine) as session:
        first = export_person(session, "mia-1", actor=ACTOR)
        document = export_person(session, "mia-1", actor="api:reader")
    validate_export(document)
    assert document["customer"]["email"] == "mia@example.nl"
    assert document["customer"]["attributes"] == {"shoe_size": 38}
    assert [o["external_id"] for o in document["orders"]] == ["A-1", "A-2"]
    assert [line["name"] for line in document["orders"][0]["lines"]] == ["Tea", "Cup"]
    assert document["orders"][0]["total_minor"] == 2000
    assert document["orders"][1]["refunds"][0]["amount_minor"] == 700
    assert [e["name"] for e in document["events"]] == [
        "page_view",
        "reward_redeemed",
        "survey_answered",
    ]
    assert document["events"][0]["properties"] == {"path": "/tea"}
    [event] = document["consent_events"]
    assert (event["language"], event["ip_address"], event["recorded_by"]) == (
        "nl",
        "203.0.113.5",
        "api:xyz",
    )
    assert "toestemming altijd intrekken" in event["text"]
    assert [c["status"] for c in document["consents"]] == ["pending"]
    assert first["audit"] == []  # accesses before the first export: none
    assert [(a["action"], a["actor"]) for a in document["audit"]] == [("person.export", ACTOR)]
    assert [(e["kind"], e["points"]) for e in document["loyalty_points"]] == [
        ("adjust", 80),
        ("redeem", -50),
    ]
    [coupon] = document["loyalty_coupons"]
    assert (coupon["reward"], coupon["status"]) == ("tea", "issued")
    assert document["loyalty_tiers"] == [] and document["loyalty_referrals"] == []
    assert "other@example.nl" not in json.dumps(document) and "B-1" not in json.dumps(document)
    assert "welcome-other" not in json.dumps(document)
    [subscription] = document["subscriptions"]
    assert subscription["cadence"] == "1 month" and subscription["items"][0]["product"] == "TEA"
    assert [e["kind"] for e in document["subscription_events"]] == ["created"]
    assert document["preferences"][0]["value"] == "sms"
    assert [(r["survey"], r["score"], r["comment"]) for r in document["survey_responses"]] == [
        ("nps", 9, "Lovely tea")
    ]
    with Session(migrated_engine) as session:
        actors = [a.actor for a in audit_entries(session, customer="mia-1")]
    assert actors == [ACTOR, "api:reader"]


def test_the_schema_rejects_a_broken_document(migrated_engine: Engine) -> None:
    make_shop(migrated_engine)
    with Session(migrated_engine) as session:
        document = export_person(session, "mia-1", actor=ACTOR)
        with pytest.raises(NotFoundError):
            export_person(session, "nobody", actor=ACTOR)
    assert export_schema()["$schema"].endswith("2020-12/schema")
    broken = json.loads(json.dumps(document))
    del broken["orders"][0]["currency"]
    with pytest.raises(DataError, match="orders/0"):
        validate_export(broken)
    naive = json.loads(json.dumps(document))
    naive["exported_at"] = "2026-01-01T00:00:00"  # no time zone
    with pytest.raises(DataError, match="exported_at"):
        validate_export(naive)
    extra = {**document, "password": "x"}
    with pytest.raises(DataError):
        validate_export(extra)


def test_the_zip_has_the_json_and_one_neutralised_csv_per_section(migrated_engine: Engine) -> None:
    make_shop(migrated_engine)
    with Session(migrated_engine) as session:
        document = export_person(session, "mia-1", actor=ACTOR)
    archive = zipfile.ZipFile(io.BytesIO(export_zip(document)))
    names = set(archive.namelist())
    assert names == {
        "person.json",
        "customer.csv",
        "orders.csv",
        "order_lines.csv",
        "refunds.csv",
        "events.csv",
        "consents.csv",
        "consent_events.csv",
        "audit.csv",
        "messages.csv",
        "segments.csv",
        "scores.csv",
        "campaigns.csv",
        "journeys.csv",
        "inbox.csv",
        "push_subscriptions.csv",
        "loyalty_points.csv",
        "loyalty_tiers.csv",
        "loyalty_coupons.csv",
        "loyalty_referrals.csv",
        "subscriptions.csv",
        "subscription_orders.csv",
        "subscription_events.csv",
        "preferences.csv",
        "preference_history.csv",
        "survey_responses.csv",
    }
    assert json.loads(archive.read("person.json")) == document

    def rows(name: str) -> list[dict[str, str]]:
        return list(csv.DictReader(io.StringIO(archive.read(name).decode("utf-8"))))

    [customer] = rows("customer.csv")
    assert customer["first_name"] == '\'=HYPERLINK("http://evil")'  # not a formula
    assert customer["phone"] == "'+31612345678"
    assert json.loads(customer["attributes"]) == {"shoe_size": 38}
    lines = rows("order_lines.csv")
    assert [(x["order"], x["name"], x["amount_minor"]) for x in lines] == [
        ("A-1", "Tea", "500"),
        ("A-1", "Cup", "1500"),
        ("A-2", "Candle", "10000"),
    ]
    assert [r["order"] for r in rows("refunds.csv")] == ["A-2"]
    assert len(rows("orders.csv")) == 2 and len(rows("events.csv")) == 3
    assert [(r["kind"], r["points"]) for r in rows("loyalty_points.csv")] == [
        ("adjust", "80"),
        ("redeem", "-50"),
    ]


def test_audit_entries_filter_and_page_with_a_cursor(migrated_engine: Engine) -> None:
    from retentio.privacy import record_access

    make_shop(migrated_engine)
    with Session(migrated_engine) as session:
        mia = session.scalars(select(Customer).where(Customer.external_id == "mia-1")).one()
        for day in range(5):
            actor = "api:a" if day % 2 else "api:b"
            record_access(
                session, actor, "customer.read", mia.id, {"n": day}, now=T0 + timedelta(day)
            )
        record_access(session, "api:a", "customers.list", None, {"count": 3}, now=T0)
        with pytest.raises(DataError, match="e-mail"):
            record_access(session, "api:a", "customer.read", mia.id, {"q": "mia@example.nl"})
        with pytest.raises(DataError, match="e-mail"):  # inside lists and nested objects too
            record_access(session, "api:a", "x", None, {"to": [{"a": ["mia@example.nl"]}]})
        session.commit()
        reads = audit_entries(session, customer="mia-1", action="customer.read")
        assert [r.details["n"] for r in reads] == [0, 1, 2, 3, 4]
        pages, after = [], None
        while True:
            page = audit_entries(session, customer="mia-1", after_id=after, limit=2)
            if not page:
                break
            pages.append([r.details["n"] for r in page])
            after = page[-1].id
        assert pages == [[0, 1], [2, 3], [4]]
        by_actor = audit_entries(session, actor="api:a")
        assert [(r.action, r.customer) for r in by_actor] == [
            ("customer.read", "mia-1"),
            ("customer.read", "mia-1"),
            ("customers.list", None),
        ]
        window = audit_entries(session, since=T0 + timedelta(1), until=T0 + timedelta(3))
        assert [r.details.get("n") for r in window] == [1, 2]
        assert window[0].to_dict()["occurred_at"] == (T0 + timedelta(1)).isoformat()
        with pytest.raises(DataError, match="limit"):
            audit_entries(session, limit=0)
