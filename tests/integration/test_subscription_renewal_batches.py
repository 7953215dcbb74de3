"""The renewal run in several batches, on several connections at once (PostgreSQL) and from
two runs at the same time, on SQLite and PostgreSQL: every due subscription renewed exactly
once, as a single batch renews it."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime
from typing import Any

import pytest
from campaign_helpers import SECRET
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from retentio.ingest import ingest_customers
from retentio.store.subscription_tables import Subscription, SubscriptionEvent, SubscriptionOrder
from retentio.subscriptions import (
    Cadence,
    Policy,
    RenewalRun,
    cancel_subscription,
    create_subscription,
    pause_subscription,
    renew_due,
    renewals,
    skip_order,
)

POLICY = Policy()
MADE = datetime(2027, 3, 1, 9, tzinfo=UTC)
DUE = datetime(2027, 4, 2, 12, tzinfo=UTC)  # every first order is due by then


@pytest.fixture()
def shop(migrated_engine: Engine) -> dict[str, int]:
    """Ten subscriptions of three customers: monthly, every 2 weeks, every 10 days; one paused,
    one with a later order skipped, one whose due date is among its skipped ones, one with a
    save offer's discount, one in its last cycle."""
    people = [
        {"external_id": "ida", "time_zone": "Europe/Copenhagen"},
        {"external_id": "bo", "time_zone": "America/New_York"},
        {"external_id": "al"},
    ]
    made: dict[str, int] = {}
    with Session(migrated_engine) as session:
        ingest_customers(session, people, secret=SECRET, actor="test")
        plans: list[tuple[str, str, Cadence, list[dict[str, Any]], dict[str, Any]]] = [
            ("m1", "ida", Cadence("month", 1), [("A", 2, "120.00")], {}),
            ("m2", "bo", Cadence("month", 1), [("A", 1, "50.00"), ("B", 3, "10.00")], {}),
            ("w2", "al", Cadence("week", 2), [("C", 1, "99.95")], {}),
            ("d10", "ida", Cadence("day", 10), [("D", 1, "30.00")], {"currency": "EUR"}),
            ("last", "bo", Cadence("month", 1), [("E", 1, "40.00")], {"max_cycles": 1}),
            ("skip", "al", Cadence("month", 1), [("F", 1, "25.00")], {}),
            ("paused", "ida", Cadence("month", 1), [("G", 1, "60.00")], {}),
            ("offer", "bo", Cadence("month", 1), [("H", 1, "80.00")], {}),
            ("plain", "al", Cadence("month", 1), [("I", 4, "5.00")], {}),
            ("skipnow", "al", Cadence("month", 1), [("J", 1, "15.00")], {}),
        ]  # type: ignore[list-item]
        for name, customer, cadence, lines, more in plans:
            view = create_subscription(
                session, POLICY, customer=customer, cadence=cadence,
                items=[{"product": p, "quantity": q, "price": price} for p, q, price in lines],
                currency=more.pop("currency", "DKK"), now=MADE, actor="test", **more,
            )  # fmt: skip
            made[name] = int(view.body["id"])
        skip_order(session, POLICY, made["skip"], on=date(2027, 6, 1), key=None, now=MADE,
                   actor="test")  # fmt: skip
        session.get_one(Subscription, made["skipnow"]).skipped = ["2027-04-01"]
        session.commit()
        pause_subscription(session, POLICY, made["paused"], cycles=2, key=None, now=MADE,
                           actor="test")  # fmt: skip
        for step in ({}, {"accept": "discount"}):
            cancel_subscription(session, POLICY, made["offer"], reason="too_expensive", key=None,
                                now=MADE, actor="test", **step)  # fmt: skip
    return made


def outcome(engine: Engine) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[str]]:
    with Session(engine) as session:
        o, s, e = SubscriptionOrder, Subscription, SubscriptionEvent
        orders = session.execute(
            select(
                o.subscription_id, o.cycle, o.due_on, o.amount_minor, o.currency, o.items
            ).order_by(o.subscription_id, o.cycle)
        ).all()
        subs = session.execute(
            select(s.id, s.status, s.cycle, s.next_order_on, s.next_order_at, s.skipped,
                   s.discount).order_by(s.id)
        ).all()  # fmt: skip
        kinds = session.scalars(
            select(e.kind).where(e.occurred_at == DUE).order_by(e.subscription_id, e.id)
        ).all()
    return [tuple(r) for r in orders], [tuple(r) for r in subs], list(kinds)


EXPECTED_AMOUNTS = {
    # 240.00 + 80.00 + 99.95 + 40.00 + 25.00 + 64.00 (80.00 less 20 %) + 20.00; 30.00 EUR
    "DKK": 24_000 + 8_000 + 9_995 + 4_000 + 2_500 + 6_400 + 2_000,
    "EUR": 3_000,
}


def check(run: RenewalRun, engine: Engine, made: dict[str, int]) -> None:
    assert (run.orders, run.skipped, run.expired) == (8, 1, 1)
    assert run.amounts == EXPECTED_AMOUNTS
    orders, subs, kinds = outcome(engine)
    assert [o[0] for o in orders] == sorted(
        made[n] for n in ("m1", "m2", "w2", "d10", "last", "skip", "offer", "plain")
    )
    by_id = {o[0]: o for o in orders}
    assert by_id[made["m2"]][5] == [
        {"product": "A", "quantity": 1, "price_minor": 5_000},
        {"product": "B", "quantity": 3, "price_minor": 1_000},
    ]
    assert by_id[made["offer"]][3] == 6_400 and by_id[made["d10"]][4] == "EUR"
    state = {sub[0]: sub for sub in subs}
    assert state[made["last"]][1] == "expired"
    assert state[made["offer"]][6] is None  # the discount's one cycle used
    # renewed on 1 April; 1 June stays skipped
    assert state[made["skip"]][2] == 1 and state[made["skip"]][5] == ["2027-06-01"]
    # its due date skipped: no order, the next date, the date off the list
    assert state[made["skipnow"]][2] == 0 and state[made["skipnow"]][5] == []
    assert state[made["skipnow"]][3] == date(2027, 5, 1)
    assert state[made["paused"]][1] == "paused" and state[made["paused"]][2] == 0
    # the next date after today, at 06:00 on the customer's clock (New York: 10:00 UTC)
    assert state[made["m2"]][3] == date(2027, 5, 1)
    assert state[made["m2"]][4] == datetime(2027, 5, 1, 10, tzinfo=UTC)
    assert state[made["w2"]][3] > date(2027, 4, 2) and state[made["d10"]][2] == 1
    assert kinds.count("renewed") == 8 and kinds.count("renewal_skipped") == 1
    assert kinds.count("expired") == 1


def test_small_batches_on_several_connections(
    shop: dict[str, int], migrated_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(renewals, "_BATCH", 2)
    with Session(migrated_engine) as session:
        run = renew_due(session, POLICY, now=DUE, workers=3)
        check(run, migrated_engine, shop)
        again = renew_due(session, POLICY, now=DUE, workers=3)
    assert (again.orders, again.skipped, again.expired) == (0, 0, 0)


def test_two_runs_at_once_renew_each_once(
    shop: dict[str, int], migrated_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(renewals, "_BATCH", 1)
    runs: list[RenewalRun] = []
    start = threading.Barrier(2)

    def one() -> None:
        with Session(migrated_engine) as session:
            start.wait()
            runs.append(renew_due(session, POLICY, now=DUE, workers=2))

    threads = [threading.Thread(target=one) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    total = RenewalRun()
    for run in runs:
        renewals._add(total, run)
    check(total, migrated_engine, shop)
