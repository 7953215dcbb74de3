"""The subscriptions read into Arrow and their report, on SQLite and PostgreSQL: a month of
subscriptions made, paused, resumed, offered, discounted, renewed, cancelled by the customer
and by failed payments, and expired, through the services; then the tables, the figures and
``GET /api/v1/subscriptions/report``."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa
import pytest
from api_helpers import bearer, problem
from campaign_helpers import SECRET
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from retentio.analytics import (
    SUBSCRIPTION_EVENTS_SCHEMA,
    SUBSCRIPTION_ORDERS_SCHEMA,
    SUBSCRIPTIONS_SCHEMA,
    subscription_status,
)
from retentio.ingest import ingest_customers
from retentio.store.subscription_arrow import read_subscriptions
from retentio.store.subscription_tables import SubscriptionOrder
from retentio.subscriptions import (
    Cadence,
    Policy,
    cancel_subscription,
    create_subscription,
    pause_subscription,
    record_payment,
    renew_due,
    resume_subscription,
)
from retentio.subscriptions.report import subscription_report_of

POLICY = Policy()
BY = "test"


def day(month: int, dom: int, hour: int = 12) -> datetime:
    return datetime(2027, month, dom, hour, tzinfo=UTC)


def make(session: Session, customer: str, cadence: Cadence, price: str, **more: Any) -> int:
    made = create_subscription(
        session,
        POLICY,
        customer=customer,
        items=[{"product": "COFFEE", "quantity": 1, "price": price}],
        cadence=cadence,
        currency=more.pop("currency", "DKK"),
        now=day(3, 1, 9),
        actor=BY,
        **more,
    )
    return int(made.body["id"])


def cancel(session: Session, sub: int, reason: str, when: datetime, **more: Any) -> Any:
    return cancel_subscription(
        session, POLICY, sub, reason=reason, key=None, now=when, actor=BY, **more
    )


@pytest.fixture()
def month(migrated_engine: Engine) -> dict[str, int]:
    """Five subscriptions from 1 March 2027 (see the test's docstring)."""
    people = [{"external_id": "ida", "time_zone": "Europe/Copenhagen"}, {"external_id": "bo"}]
    with Session(migrated_engine) as session:
        ingest_customers(session, people, secret=SECRET, actor="test")
        a = make(session, "ida", Cadence("month", 1), "240.00")
        b = make(session, "bo", Cadence("week", 2), "100.00")
        c = make(session, "ida", Cadence("day", 10), "30.00", currency="EUR")
        d = make(session, "bo", Cadence("month", 1), "50.00", max_cycles=1)
        e = make(session, "bo", Cadence("month", 1), "80.00")
        pause_subscription(session, POLICY, b, cycles=1, key=None, now=day(3, 5), actor=BY)
        resume_subscription(session, POLICY, b, key=None, now=day(3, 10), actor=BY)
        renew_due(session, POLICY, now=day(4, 2))  # one order each; d expires
        orders = {o.subscription_id: o.id for o in session.query(SubscriptionOrder)}
        record_payment(session, POLICY, orders[a], outcome="succeeded", key=None,
                       now=day(4, 3), actor=BY)  # fmt: skip
        cancel(session, a, "too_expensive", day(4, 5, 10))  # shown: discount, cadence, skip
        cancel(session, a, "too_expensive", day(4, 5, 11), confirm=True)  # declined, cancelled
        cancel(session, b, "not_now", day(4, 3, 10))  # shown: pause, skip
        cancel(session, b, "not_now", day(4, 3, 11), accept="pause")
        cancel(session, e, "too_expensive", day(4, 6, 10))
        cancel(session, e, "too_expensive", day(4, 6, 11), accept="discount")  # 20 % off next
        for n, when in enumerate((day(4, 3), day(4, 4), day(4, 6), day(4, 8), day(4, 9))):
            record_payment(session, POLICY, orders[c], outcome="failed", key=f"f{n}", now=when,
                           actor=BY)  # fmt: skip
    return {"a": a, "b": b, "c": c, "d": d, "e": e}


def test_the_tables_read_in_bulk(migrated_engine: Engine, month: dict[str, int]) -> None:
    tables = read_subscriptions(migrated_engine)
    assert tables.has_subscriptions
    assert tables.subscriptions.schema.equals(SUBSCRIPTIONS_SCHEMA)
    assert tables.events.schema.equals(SUBSCRIPTION_EVENTS_SCHEMA)
    assert tables.orders.schema.equals(SUBSCRIPTION_ORDERS_SCHEMA)
    subs = tables.subscriptions.to_pandas().set_index("subscription_id")
    a, b, c, d, e = (month[k] for k in "abcde")
    assert subs.loc[[a, b, c, d, e], "status"].tolist() == [
        "cancelled", "paused", "cancelled", "expired", "active",
    ]  # fmt: skip
    assert subs.loc[a, "customer_id"] == "ida" and subs.loc[c, "currency"] == "EUR"
    assert (subs.loc[b, "cadence_unit"], subs.loc[b, "cadence_count"]) == ("week", 2)
    # e's next order has the save offer's 20 % off; the others their items' price
    assert subs.loc[[a, b, c, d, e], "next_amount_minor"].tolist() == [
        24_000, 10_000, 3_000, 5_000, 6_400,
    ]  # fmt: skip
    assert subs.loc[a, "ended_at"].to_pydatetime() == day(4, 5, 11)
    assert subs.loc[c, "ended_at"].to_pydatetime() == day(4, 9)
    assert subs.loc[d, "ended_at"].to_pydatetime() == day(4, 2)  # its expired event
    assert subs.loc[[b, e], "ended_at"].isna().all()
    assert subs.loc[[a, c], "cancel_reason"].tolist() == ["too_expensive", "payment_failed"]
    assert subs.loc[a, "started_at"].to_pydatetime() == day(3, 1, 9)

    events = tables.events.to_pandas().sort_values("event_id")
    assert "renewed" not in set(events["kind"])  # the kinds the analytics read only
    cancelled = events[events["kind"] == "subscription_cancelled"].set_index("subscription_id")
    assert cancelled.loc[a, "voluntary"] and not cancelled.loc[c, "voluntary"]
    assert cancelled.loc[c, "reason"] == "payment_failed"
    offers = events[events["kind"].str.startswith("offer_")]
    assert sorted(offers.loc[offers["subscription_id"] == a, "offer"]) == sorted(
        ["discount", "cadence", "skip"] * 2
    )
    assert events.loc[events["kind"] == "offer_accepted", "offer"].tolist() == ["pause", "discount"]
    # replayed to the last day, the events give each subscription its status now
    status = subscription_status(tables.subscriptions, tables.events, as_of="2027-04-10")
    assert status.to_dict() == subs["status"].to_dict()

    orders = tables.orders.to_pandas().set_index("subscription_id")
    assert len(orders) == 5 and set(orders["kind"]) == {"renewal"}
    assert orders.loc[a, "status"] == "paid" and orders.loc[c, "status"] == "cancelled"
    assert orders.loc[a, "paid_at"].to_pydatetime() == day(4, 3)
    assert orders.loc[a, "due_on"] == date(2027, 4, 1) and orders.loc[c, "amount_minor"] == 3_000
    assert pa.types.is_date32(tables.orders.schema.field("due_on").type)


def test_the_report(migrated_engine: Engine, month: dict[str, int]) -> None:
    """As of 10 April, over the 41 days from 1 March: b paused (the save offer), e active at
    64.00 DKK (20 % off its next order); a cancelled itself, c by five failed payments, d
    expired; b paused twice (resumed, then still paused); e took the discount, b the pause."""
    report = subscription_report_of(migrated_engine, as_of=date(2027, 4, 10), days=41)
    assert report["window"] == {"start": "2027-03-01", "end": "2027-04-10", "days": 41}
    assert report["subscriptions"] == {"active": 1, "paused": 1, "past_due": 0, "live": 2}
    assert report["revenue"] == [
        {"currency": "DKK", "subscriptions": 1, "mrr": "64.00", "arr": "768.00"}
    ]
    assert report["churn"] == {
        "live_at_start": 0, "started": 5, "at_risk": 5, "cancelled": 2, "voluntary": 1,
        "involuntary": 1, "expired": 1, "churn_rate": 0.4, "voluntary_rate": 0.2,
        "involuntary_rate": 0.2,
    }  # fmt: skip
    assert report["pauses"] == {
        "subscriptions": 5, "paused_subscriptions": 1, "pauses": 2, "resumed": 1,
        "cancelled": 0, "still_paused": 1, "pause_rate": 0.2, "resume_rate": 1.0,
    }  # fmt: skip
    offers = {(o["reason"], o["offer"]): o for o in report["save_offers"]}
    assert offers[("too_expensive", "discount")] == {
        "reason": "too_expensive", "offer": "discount", "shown": 2, "accepted": 1,
        "declined": 1, "acceptance_rate": 0.5,
    }  # fmt: skip
    assert offers[("not_now", "pause")]["acceptance_rate"] == 1.0
    assert offers[("not_now", "skip")]["accepted"] == 0
    assert report["orders"] == [
        {"currency": "DKK", "orders": 4, "amount": "470.00", "paid": 1, "paid_amount": "240.00",
         "failing": 0, "lost": 0},
        {"currency": "EUR", "orders": 1, "amount": "30.00", "paid": 0, "paid_amount": "0.00",
         "failing": 0, "lost": 1},
    ]  # fmt: skip
    (cohort,) = report["cohorts"]  # all began in March; one anniversary passed (1 April)
    assert cohort["cohort"] == "2027-03" and cohort["active"] == [5, 5]
    assert not cohort["fitted"] and cohort["note"] == "fewer than 2 periods observed"
    assert cohort["alpha"] is None and cohort["projected"] == []
    # a week after the start: the dunning had not begun; the offers came later
    early = subscription_report_of(migrated_engine, as_of=date(2027, 3, 7), days=7)
    assert early["subscriptions"] == {"active": 4, "paused": 1, "past_due": 0, "live": 5}
    assert early["save_offers"] == [] and early["orders"] == []
    assert early["cohorts"][0]["active"] == [5]
    assert (
        subscription_report_of(migrated_engine, as_of=date(2027, 4, 10), cohorts=0)["cohorts"] == []
    )


def test_the_report_over_the_api(
    client: TestClient, api_keys: dict[str, str], migrated_engine: Engine, month: dict[str, int]
) -> None:
    read = bearer(api_keys["read"])
    answer = client.get(
        "/api/v1/subscriptions/report", params={"as_of": "2027-04-10", "days": 41}, headers=read
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body == subscription_report_of(migrated_engine, as_of=date(2027, 4, 10), days=41)
    today = client.get("/api/v1/subscriptions/report", headers=read).json()
    assert today["as_of"] == datetime.now(UTC).date().isoformat()
    assert today["window"]["days"] == 30
    problem(client.get("/api/v1/subscriptions/report"), 401, "unauthorized")
    bad = client.get("/api/v1/subscriptions/report", params={"days": 0}, headers=read)
    problem(bad, 422, "validation-error")
    # the subscription routes still answer by id
    one = client.get(f"/api/v1/subscriptions/{month['e']}", headers=read)
    assert one.status_code == 200 and one.json()["next_amount"] == "64.00"
