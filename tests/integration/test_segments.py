"""Segments on SQLite and PostgreSQL: each kind of condition, two-valued logic, the per-customer
KPIs against the analytics, stored scores, and memberships with entered / exited times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from retentio.core.clock import FixedClock
from retentio.ingest import ingest_customers, ingest_events, ingest_orders
from retentio.privacy import erase_person, publish_default_texts, record_consent
from retentio.segments import (
    SegmentError,
    SegmentNotFound,
    count_members,
    delete_segment,
    export_members,
    find_segment,
    list_segments,
    parse_definition,
    preview_members,
    refresh_scores,
    refresh_segment,
    save_segment,
    scores_as_of,
)
from retentio.store.arrow import read_transactions
from retentio.store.order_stats import refresh_order_stats
from retentio.store.tables import CustomerOrderStats, CustomerSpend, SegmentMembership

SECRET = b"0123456789abcdefghijklmnopqrstuvwxyzABCD"
NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)
CLOCK = FixedClock(NOW)


def at(days_ago: float) -> str:
    return (NOW - timedelta(days=days_ago)).isoformat()


def order(oid: str, customer: str, days_ago: float, total: str, **more: Any) -> dict[str, Any]:
    item = {
        "external_id": oid,
        "customer_id": customer,
        "ordered_at": at(days_ago),
        "currency": "DKK",
        "total": total,
    }
    return item | more


@pytest.fixture()
def shop(migrated_engine: Engine) -> Engine:
    """Six customers:

    A: 3 DKK orders 100/200/300, 10, 40 and 70 days ago (AOV 200, gap 30 days)
    B: 1 order 30 days ago + 12 hours (whole days since: 30), 50 DKK, refunded 20
    C: 2 orders, one cancelled (counts 1), one EUR 99 (spend in DKK 0), 5 days ago
    D: no orders; attributes vip=true, tier "gold", points 120
    E: 1 order 400 days ago, 1000 DKK
    F: no orders, will be erased
    """
    customers = [
        {"external_id": "A", "email": "a@example.com", "country": "dk", "locale": "da-DK"},
        {"external_id": "B", "email": "b@example.com", "country": "NL"},
        {"external_id": "C", "phone": "+4520123456", "country": "DK"},
        {"external_id": "D", "attributes": {"vip": True, "tier": "gold", "points": 120}},
        {"external_id": "E", "email": "e@example.com", "attributes": {"tier": "silver"}},
        {"external_id": "F", "email": "f@example.com", "first_name": "Frida"},
    ]
    orders = [
        order("A1", "A", 70, "100.00"),
        order("A2", "A", 40, "200.00"),
        order("A3", "A", 10, "300.00"),
        order(
            "B1",
            "B",
            30.5,
            "50.00",
            refunds=[{"amount": "20.00", "refunded_at": at(29)}],
            status="partially_refunded",
        ),
        order("C1", "C", 5, "99.00", currency="EUR"),
        order("C2", "C", 3, "10.00", status="cancelled"),
        order("E1", "E", 400, "1000.00"),
    ]
    events = [
        {"customer_id": "A", "name": "viewed_product", "occurred_at": at(1)},
        {"customer_id": "A", "name": "viewed_product", "occurred_at": at(2)},
        {"customer_id": "A", "name": "viewed_product", "occurred_at": at(60)},
        {
            "customer_id": "B",
            "name": "viewed_product",
            "occurred_at": at(3),
            "properties": {"sku": "SKU-1", "price": 10},
        },
        {"customer_id": "E", "name": "opened_email", "occurred_at": at(100)},
    ]
    with Session(migrated_engine) as session:
        ingest_customers(session, customers, secret=SECRET, actor="test")
        ingest_orders(session, orders, secret=SECRET, actor="test")
        ingest_events(session, events, actor="test")
        publish_default_texts(session, actor="test")
        # A: e-mail by soft opt-in (effective); B: by consent, never confirmed (pending).
        for customer, basis in (("A", "soft_opt_in"), ("B", "consent")):
            record_consent(
                session,
                customer=customer,
                channel="email",
                purpose="marketing",
                granted=True,
                source="api",
                recorded_by="test",
                lawful_basis=basis,
                text_version="retentio-1" if basis == "consent" else None,
                language="en" if basis == "consent" else None,
            )
        erase_person(session, SECRET, "F", actor="test")
    return migrated_engine


def members(engine: Engine, where: Any, currency: str | None = "DKK") -> list[str]:
    definition = parse_definition({"name": "t", "currency": currency, "where": where})
    with Session(engine) as session:
        found = sorted(
            row["external_id"] for row in export_members(session, definition, clock=CLOCK)
        )
        assert count_members(session, definition, clock=CLOCK) == len(found)
    return found


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ({"order_count": {"gte": 2}}, ["A"]),
        ({"order_count": 1}, ["B", "C", "E"]),  # C's cancelled order does not count
        ({"order_count": 0}, ["D"]),  # F is erased: never a member
        ({"total_spend": {"gte": 600}}, ["A", "E"]),
        ({"total_spend": {"between": [30, 30]}}, ["B"]),  # 50 less the 20 refunded
        ({"average_order_value": {"gt": 199.99, "lt": 200.01}}, ["A"]),
        ({"days_since_last_order": 30}, ["B"]),  # 30.5 days ago is 30 whole days
        ({"days_since_last_order": {"gt": 30}}, ["E"]),
        ({"days_since_last_order": {"gte": 30}}, ["B", "E"]),
        ({"days_since_last_order": {"lt": 30}}, ["A", "C"]),
        ({"days_since_last_order": {"lte": 10}}, ["A", "C"]),
        ({"days_since_first_order": {"between": [69, 70]}}, ["A"]),
        ({"days_since_last_order": {"exists": False}}, ["D"]),
        ({"average_days_between_orders": {"between": [29.99, 30.01]}}, ["A"]),
        # A: 10 days since the latest order, 30 days between orders: a third of the usual gap.
        ({"overdue_ratio": {"between": [0.33, 0.34]}}, ["A"]),
        ({"not": {"overdue_ratio": {"gte": 0.3}}}, ["B", "C", "D", "E"]),
        ({"last_order_at": {"after": "2026-05-30"}}, ["A", "B", "C"]),
        ({"last_order_at": {"before": "2026-05-30"}}, ["E"]),
        ({"country": "DK"}, ["A", "C"]),  # "dk" is stored upper-cased
        ({"country": ["NL", "DE"]}, ["B"]),
        ({"country": {"exists": False}}, ["D", "E"]),
        ({"locale": {"ne": "da-DK"}}, []),  # unknown locales are not "not da-DK"...
        ({"not": {"locale": "da-DK"}}, ["B", "C", "D", "E"]),  # ...but are outside da-DK
        ({"email": {"exists": True}}, ["A", "B", "E"]),
        ({"attributes.vip": True}, ["D"]),
        ({"attributes.tier": ["gold", "silver"]}, ["D", "E"]),
        ({"attributes.points": {"gte": 100}}, ["D"]),
        ({"attributes.tier": {"exists": True}}, ["D", "E"]),
        ({"event": {"name": "viewed_product"}}, ["A", "B"]),
        ({"event": {"name": "viewed_product", "at_least": 2, "within_days": 7}}, ["A"]),
        ({"event": {"name": "viewed_product", "at_least": 3}}, ["A"]),
        ({"event": {"name": "viewed_product", "properties": {"sku": "SKU-1"}}}, ["B"]),
        ({"event": {"name": "viewed_product", "properties": {"price": 10}}}, ["B"]),
        ({"not": {"event": {"name": "viewed_product"}}}, ["C", "D", "E"]),
        ({"consent": {"channel": "email"}}, ["A"]),  # B's consent awaits confirmation
        ({"consent": {"channel": "sms"}}, []),
        (
            {"any": [{"country": "NL"}, {"all": [{"order_count": 3}, {"locale": "da-DK"}]}]},
            ["A", "B"],
        ),
    ],
)
def test_each_kind_of_condition(shop: Engine, where: Any, expected: list[str]) -> None:
    assert members(shop, where) == expected


@pytest.mark.parametrize(
    "where",
    [
        {"days_since_last_order": {"gt": 20}},
        {"locale": "da-DK"},
        {"attributes.points": {"lt": 500}},
        {"average_days_between_orders": {"gte": 1}},
        {"p_alive": {"lt": 0.5}},
        {"event": {"name": "viewed_product", "within_days": 7}},
    ],
)
def test_not_is_the_complement_even_where_values_are_missing(shop: Engine, where: Any) -> None:
    everyone = members(shop, {"order_count": {"gte": 0}})
    inside, outside = members(shop, where), members(shop, {"not": where})
    assert sorted(inside + outside) == everyone == ["A", "B", "C", "D", "E"]


def test_order_figures_agree_with_the_analytics_of_the_store(shop: Engine) -> None:
    definition = parse_definition(
        {"name": "all", "currency": "DKK", "where": {"order_count": {"gte": 1}}}
    )
    with Session(shop) as session:
        rows = list(
            export_members(
                session, definition, columns=("total_spend", "last_order_at"), clock=CLOCK
            )
        )
    exported = pd.DataFrame(rows).set_index("external_id")
    transactions = read_transactions(shop).to_pandas()
    dkk = transactions[transactions["currency"] == "DKK"]
    spend = dkk.groupby("customer_id")["amount"].sum().reindex(exported.index, fill_value=0)
    orders = transactions[~transactions["is_refund"]]
    assert exported["order_count"].to_dict() == orders.groupby("customer_id").size().to_dict()
    assert exported["total_spend"].to_dict() == pytest.approx(spend.to_dict())
    latest = orders.groupby("customer_id")["ordered_at"].max()
    for customer, value in exported["last_order_at"].items():
        assert pd.Timestamp(value) == pd.Timestamp(latest[customer])


def test_predictions_are_tested_from_the_stored_scores(shop: Engine) -> None:
    where = {"all": [{"p_alive": {"gte": 0}}, {"rfm_segment": {"exists": True}}]}
    with Session(shop) as session:
        assert scores_as_of(session) is None
    assert members(shop, where) == []  # no scores yet: nobody matches
    with Session(shop) as session:
        refreshed = refresh_scores(session, clock=CLOCK)
        assert refreshed.customers == 4  # A, B, C and E bought; F is erased; D never bought
        assert scores_as_of(session) == NOW
    scored = members(shop, {"rfm_segment": {"exists": True}})
    assert scored == ["A", "B", "C", "E"]
    # Four buyers are too few to fit the models: RFM is stored, predictions are not (the note
    # says why), so no one matches a prediction and everyone lacks a risk band.
    assert refreshed.note is not None and refreshed.note.startswith("no predictions")
    assert members(shop, {"p_alive": {"between": [0, 1]}}) == []
    assert members(shop, {"risk_band": {"exists": False}}) == ["A", "B", "C", "D", "E"]


def test_memberships_record_entries_and_exits(shop: Engine) -> None:
    definition = {
        "name": "recent-viewers",
        "description": "Viewed a product in the last week",
        "where": {"event": {"name": "viewed_product", "within_days": 7}},
    }
    with Session(shop) as session:
        saved, created = save_segment(session, definition, clock=CLOCK)
        assert created and saved.members == 0 and saved.refreshed_at is None
        first = refresh_segment(session, "recent-viewers", clock=CLOCK)
        assert (first.entered, first.exited, first.members) == (2, 0, 2)  # A and B
        again = refresh_segment(session, "recent-viewers", clock=CLOCK)
        assert (again.entered, again.exited, again.members) == (0, 0, 2)
        # Five days later B's view (3 days ago) is out of the window; A's (1 day) too: both
        # leave. Then A views again and re-enters: a second stay.
        later = FixedClock(NOW + timedelta(days=6))
        left = refresh_segment(session, "recent-viewers", clock=later)
        assert (left.entered, left.exited, left.members) == (0, 1, 1)
        ingest_events(
            session,
            [
                {
                    "customer_id": "B",
                    "name": "viewed_product",
                    "occurred_at": later.now().isoformat(),
                }
            ],
            actor="test",
        )
        back = refresh_segment(session, "recent-viewers", clock=later)
        assert (back.entered, back.exited, back.members) == (1, 0, 2)
        stays = session.execute(
            select(SegmentMembership.customer_id, SegmentMembership.exited_at).order_by(
                SegmentMembership.id
            )
        ).all()
        assert len(stays) == 3 and sum(1 for _, exited in stays if exited is None) == 2
        assert find_segment(session, "recent-viewers").members == 2
        assert [s.name for s in list_segments(session)] == ["recent-viewers"]


def test_erasure_deletes_the_persons_scores_and_segment_history(shop: Engine) -> None:
    with Session(shop) as session:
        save_segment(session, {"name": "buyers", "where": {"order_count": {"gte": 1}}})
        refresh_scores(session, clock=CLOCK)
        assert refresh_segment(session, "buyers", clock=CLOCK).members == 4
        report = erase_person(session, SECRET, "E", actor="test")
        assert report.derived_deleted == 2  # E's scores and E's membership
        stays = session.scalars(select(SegmentMembership.customer_id)).all()
        assert len(stays) == 3
        result = refresh_segment(session, "buyers", clock=CLOCK)
        assert (result.entered, result.exited, result.members) == (0, 0, 3)
    assert members(shop, {"rfm_segment": {"exists": True}}) == ["A", "B", "C"]


def test_saving_again_replaces_the_definition_and_keeps_the_history(shop: Engine) -> None:
    with Session(shop) as session:
        save_segment(session, {"name": "s", "where": {"country": "DK"}})
        assert refresh_segment(session, "s", clock=CLOCK).members == 2
        saved, created = save_segment(session, {"name": "s", "where": {"country": "NL"}})
        assert (
            not created
            and saved.definition.where
            == parse_definition({"name": "s", "where": {"country": "NL"}}).where
        )
        result = refresh_segment(session, "s", clock=CLOCK)
        assert (result.entered, result.exited, result.members) == (1, 2, 1)
        delete_segment(session, "s")
        with pytest.raises(SegmentNotFound, match="no segment is called 's'"):
            refresh_segment(session, "s", clock=CLOCK)
        assert session.execute(select(SegmentMembership)).first() is None


def test_a_preview_shows_the_tested_fields_and_no_contact_details(shop: Engine) -> None:
    definition = parse_definition(
        {
            "name": "p",
            "currency": "DKK",
            "where": {"all": [{"order_count": {"gte": 1}}, {"total_spend": {"gt": 0}}]},
        }
    )
    with Session(shop) as session:
        rows = preview_members(session, definition, limit=2, clock=CLOCK)
    assert rows == [
        {"external_id": "A", "order_count": 3, "total_spend": 600.0},
        {"external_id": "B", "order_count": 1, "total_spend": 30.0},
    ]


def test_a_definition_that_cannot_be_saved_writes_nothing(shop: Engine) -> None:
    with Session(shop) as session:
        with pytest.raises(SegmentError, match=r"where\.all\[1\]\.p_aliv"):
            save_segment(
                session,
                {"name": "bad", "where": {"all": [{"order_count": 1}, {"p_aliv": {"lt": 1}}]}},
            )
        assert list_segments(session) == []


def test_days_are_shown_whole_as_they_are_compared(shop: Engine) -> None:
    definition = parse_definition({"name": "d", "where": {"days_since_last_order": {"gte": 0}}})
    with Session(shop) as session:
        rows = list(
            export_members(session, definition, columns=("days_since_first_order",), clock=CLOCK)
        )
    shown = {
        r["external_id"]: (r["days_since_last_order"], r["days_since_first_order"]) for r in rows
    }
    assert shown == {"A": (10, 70), "B": (30, 30), "C": (5, 5), "E": (400, 400)}


def _figures(engine: Engine) -> tuple[list[Any], list[Any]]:
    with engine.connect() as connection:
        stats = connection.execute(
            select(
                CustomerOrderStats.customer_id,
                CustomerOrderStats.order_count,
                CustomerOrderStats.first_order_at,
                CustomerOrderStats.last_order_at,
            ).order_by(CustomerOrderStats.customer_id)
        ).all()
        spend = connection.execute(
            select(
                CustomerSpend.customer_id, CustomerSpend.currency, CustomerSpend.spend_minor
            ).order_by(CustomerSpend.customer_id, CustomerSpend.currency)
        ).all()
    return [tuple(r) for r in stats], [tuple(r) for r in spend]


def test_order_writes_keep_the_figures_equal_to_a_recount(shop: Engine) -> None:
    with Session(shop) as session:
        ingest_orders(
            session,
            [
                order("A3", "D", 10, "300.00"),  # moved from A to D
                order("B1", "B", 30.5, "50.00", status="cancelled"),  # no longer counts
                order("E2", "E", 1, "5.00", refunds=[{"amount": "5.00", "refunded_at": at(0)}]),
            ],
            secret=SECRET,
            actor="test",
        )
    kept = _figures(shop)
    with shop.begin() as connection:
        refresh_order_stats(connection, None)  # every customer recounted from the orders
    assert _figures(shop) == kept
    assert members(shop, {"order_count": {"gte": 1}}) == ["A", "C", "D", "E"]
    assert members(shop, {"total_spend": 300}) == ["A", "D"]
    assert members(shop, {"total_spend": 1000}) == ["E"]  # the new order refunded in full


def test_spend_cannot_be_shown_without_a_currency(shop: Engine) -> None:
    definition = parse_definition({"name": "d", "where": {"order_count": {"gte": 1}}})
    with Session(shop) as session, pytest.raises(SegmentError, match="currency"):
        list(export_members(session, definition, columns=("total_spend",), clock=CLOCK))


def test_json_values_of_another_type_do_not_match_and_do_not_break_the_query(
    shop: Engine,
) -> None:
    # D's tier is "gold"; G's is 3. On PostgreSQL, casting "gold" to a number failed the query.
    with Session(shop) as session:
        ingest_customers(
            session, [{"external_id": "G", "attributes": {"tier": 3}}], secret=SECRET, actor="t"
        )
        ingest_events(
            session,
            [
                {
                    "customer_id": "C",
                    "name": "viewed_product",
                    "occurred_at": at(1),
                    "properties": {"price": "ten", "sku": 7},
                }
            ],
            actor="t",
        )
    assert members(shop, {"attributes.tier": {"gt": 1}}) == ["G"]
    assert members(shop, {"attributes.tier": "gold"}) == ["D"]
    assert members(shop, {"attributes.vip": True}) == ["D"]
    assert members(shop, {"event": {"name": "viewed_product", "properties": {"price": 10}}}) == [
        "B"
    ]
    assert members(shop, {"event": {"name": "viewed_product", "properties": {"sku": "SKU-1"}}}) == [
        "B"
    ]


def test_a_preview_says_whether_an_address_is_stored_never_which(shop: Engine) -> None:
    definition = parse_definition({"name": "p", "where": {"email": {"exists": True}}})
    with Session(shop) as session:
        rows = preview_members(session, definition, clock=CLOCK)
    assert rows == [
        {"external_id": "A", "email": True},
        {"external_id": "B", "email": True},
        {"external_id": "E", "email": True},
    ]


def test_concurrent_first_saves_of_one_name_make_one_segment(shop: Engine) -> None:
    from threads import run_in_threads

    errors: list[BaseException] = []

    def save(k: int) -> None:
        try:
            with Session(shop) as session:
                save_segment(session, {"name": "race", "where": {"order_count": {"gte": k}}})
        except BaseException as exc:  # noqa: BLE001 (collected for the assertion)
            errors.append(exc)

    run_in_threads(save, 8, numbered=True)
    assert errors == []
    with Session(shop) as session:
        assert [s.name for s in list_segments(session)] == ["race"]


def test_days_since_an_order_dated_in_the_future_are_floored_on_both_databases(
    shop: Engine,
) -> None:
    with Session(shop) as session:
        ingest_orders(session, [order("H1", "H", -0.5, "5.00")], secret=SECRET, actor="t")
    definition = parse_definition({"name": "d", "where": {"external_id": "H"}})
    with Session(shop) as session:
        (row,) = export_members(
            session, definition, columns=("days_since_last_order",), clock=CLOCK
        )
    assert row["days_since_last_order"] == -1  # half a day ahead: floor(-0.5)
