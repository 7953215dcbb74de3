"""Subscriptions on SQLite and PostgreSQL: made once per key; paused, resumed, skipped,
swapped, changed and ordered now; renewed once per cycle and never while paused; the
cancellation flow with its save offers; payments and the dunning schedule."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from campaign_helpers import SECRET
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from retentio.core.errors import DataError
from retentio.ingest import ingest_customers
from retentio.privacy.errors import NotFoundError
from retentio.store.subscription_tables import SubscriptionEvent, SubscriptionOrder
from retentio.store.tables import Event
from retentio.subscriptions import (
    Cadence,
    Policy,
    SubscriptionStateError,
    cancel_subscription,
    change_subscription,
    create_subscription,
    order_now,
    pause_subscription,
    record_payment,
    renew_due,
    resume_subscription,
    retries_due,
    skip_order,
    swap_product,
)

POLICY = Policy()
BY = "test"
#: 10:00 in Copenhagen on Monday 1 March 2027.
T0 = datetime(2027, 3, 1, 9, tzinfo=UTC)
MONTHLY = Cadence("month", 1)
ITEMS = [{"product": "COFFEE-1KG", "quantity": 2, "price": "120.00"}]


@pytest.fixture()
def shop(migrated_engine: Engine) -> Engine:
    people = [{"external_id": "ida", "time_zone": "Europe/Copenhagen"}, {"external_id": "bo"}]
    with Session(migrated_engine) as session:
        ingest_customers(session, people, secret=SECRET, actor="test")
    return migrated_engine


def make(session: Session, **changes: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "customer": "ida",
        "items": ITEMS,
        "cadence": MONTHLY,
        "currency": "DKK",
        "now": T0,
        "actor": BY,
    } | changes
    return create_subscription(session, POLICY, **args).to_dict()


def orders(engine: Engine) -> list[tuple[int, str, date, int]]:
    with Session(engine) as session:
        o = SubscriptionOrder
        rows = session.execute(select(o.cycle, o.kind, o.due_on, o.amount_minor).order_by(o.id))
        return [tuple(row) for row in rows]  # type: ignore[misc]


def kinds(engine: Engine) -> list[str]:
    with Session(engine) as session:
        e = SubscriptionEvent
        return list(session.scalars(select(e.kind).order_by(e.id)))


def test_a_subscription_is_made_once_and_renews_once_per_cycle(shop: Engine) -> None:
    with Session(shop) as session:
        made = make(session, key="checkout-1")
        assert made["status"] == "active" and made["next_order_on"] == date(2027, 4, 1)
        assert made["next_amount"] == "240.00" and made["time_zone"] == "Europe/Copenhagen"
        again = make(session, key="checkout-1")
        assert again["repeated"] and again["id"] == made["id"]
        with pytest.raises(NotFoundError):
            make(session, customer="nobody")
        with pytest.raises(DataError, match=r"items\[0\].quantity"):
            make(session, items=[{"product": "A", "quantity": 0, "price": "1.00"}])
        with pytest.raises(DataError, match="first_order_on"):
            make(session, first_order_on=date(2027, 3, 1))
        due = datetime(2027, 4, 1, 4, tzinfo=UTC)  # 06:00 in Copenhagen, summer time
        assert renew_due(session, POLICY, now=due - timedelta(minutes=1)).orders == 0
        run = renew_due(session, POLICY, now=due)
        assert run.orders == 1 and run.amounts == {"DKK": 24_000}
        assert renew_due(session, POLICY, now=due + timedelta(hours=1)).orders == 0  # once
        # far behind (the worker was away for three months): one order, then the next date
        late = datetime(2027, 7, 15, tzinfo=UTC)
        assert renew_due(session, POLICY, now=late).orders == 1
    assert orders(shop) == [
        (1, "renewal", date(2027, 4, 1), 24_000),
        (2, "renewal", date(2027, 5, 1), 24_000),
    ]
    with Session(shop) as session:
        made = make(session, key="checkout-1")
        assert made["next_order_on"] == date(2027, 8, 1) and made["cycle"] == 2


def test_no_renewal_while_paused_and_resuming_twice_changes_nothing(shop: Engine) -> None:
    with Session(shop) as session:
        sub = make(session)["id"]
        paused = pause_subscription(session, POLICY, sub, cycles=2, key="p1", now=T0, actor=BY)
        assert paused.body["status"] == "paused" and paused.body["pause_until"] == date(2027, 6, 1)
        assert pause_subscription(
            session, POLICY, sub, cycles=2, key="p1", now=T0, actor=BY
        ).repeated
        with pytest.raises(SubscriptionStateError, match="paused subscription cannot pause"):
            pause_subscription(session, POLICY, sub, key="p2", now=T0, actor=BY)
        for month in (4, 5):  # the two orders the pause covers
            assert renew_due(session, POLICY, now=datetime(2027, month, 2, tzinfo=UTC)).orders == 0
        # three days before the pause ends: journeys are told, once
        assert renew_due(session, POLICY, now=datetime(2027, 5, 29, 12, tzinfo=UTC)).reminders == 1
        assert renew_due(session, POLICY, now=datetime(2027, 5, 30, 12, tzinfo=UTC)).reminders == 0
        back = resume_subscription(
            session, POLICY, sub, key="r1", now=T0 + timedelta(days=70), actor=BY
        )
        assert back.body["status"] == "active" and back.body["next_order_on"] == date(2027, 6, 1)
        twice = resume_subscription(
            session, POLICY, sub, key="r2", now=T0 + timedelta(days=70), actor=BY
        )
        assert twice.repeated and twice.body["status"] == "active"
        with pytest.raises(DataError, match="at most 90 days"):
            pause_subscription(
                session, POLICY, sub, until=date(2027, 12, 1), key="p3", now=T0, actor=BY
            )
    assert orders(shop) == []
    with Session(shop) as session:
        names = session.scalars(select(Event.name).order_by(Event.id)).all()
    assert names == ["subscription_paused", "pause_ending_soon", "subscription_resumed"]


def test_a_pause_from_a_later_date_and_an_open_ended_one(shop: Engine) -> None:
    with Session(shop) as session:
        sub = make(session)["id"]
        later = pause_subscription(
            session, POLICY, sub, starting=date(2027, 3, 20), key="p", now=T0, actor=BY
        )
        assert later.body["status"] == "active" and later.body["pause_from"] == date(2027, 3, 20)
        assert later.body["pause_until"] == date(2027, 6, 18)  # 90 days: the longest pause
        assert renew_due(session, POLICY, now=datetime(2027, 3, 20, 0, tzinfo=UTC)).paused == 1
        assert renew_due(session, POLICY, now=datetime(2027, 4, 2, tzinfo=UTC)).orders == 0
        run = renew_due(session, POLICY, now=datetime(2027, 6, 18, 12, tzinfo=UTC))
        assert run.resumed == 1
    assert "pause_scheduled" in kinds(shop)


def test_skip_swap_change_and_order_now(shop: Engine) -> None:
    with Session(shop) as session:
        sub = make(session)["id"]
        skipped = skip_order(session, POLICY, sub, key="s1", now=T0, actor=BY)
        assert skipped.body["next_order_on"] == date(2027, 5, 1)
        later = skip_order(session, POLICY, sub, on=date(2027, 7, 1), key="s2", now=T0, actor=BY)
        assert later.body["skipped"] == ["2027-07-01"]
        with pytest.raises(DataError, match="not one of the coming order dates"):
            skip_order(session, POLICY, sub, on=date(2027, 7, 2), key="s3", now=T0, actor=BY)
        swapped = swap_product(
            session,
            sub,
            product="COFFEE-1KG",
            to="DECAF-1KG",
            price_minor=11_000,
            key="w1",
            now=T0,
            actor=BY,
        )
        assert swapped.body["items"] == [{"product": "DECAF-1KG", "quantity": 2, "price": "110.00"}]
        changed = change_subscription(
            session, POLICY, sub, quantities={"DECAF-1KG": 3}, key="c1", now=T0, actor=BY
        )
        assert changed.body["next_amount"] == "330.00"
        for month in (5, 6, 7, 8):
            renew_due(session, POLICY, now=datetime(2027, month, 1, 12, tzinfo=UTC))
        now = order_now(
            session, POLICY, sub, key="n1", now=datetime(2027, 8, 10, tzinfo=UTC), actor=BY
        )
        assert now.body["next_order_on"] == date(2027, 9, 10)
        weekly = change_subscription(
            session,
            POLICY,
            sub,
            cadence=Cadence("week", 2),
            key="c2",
            now=datetime(2027, 8, 10, tzinfo=UTC),
            actor=BY,
        )
        assert weekly.body["cadence"] == {"unit": "week", "count": 2}
    # April and July skipped; May, June, August renewed; then ordered now
    assert [(c, k, d) for c, k, d, _ in orders(shop)] == [
        (1, "renewal", date(2027, 5, 1)),
        (2, "renewal", date(2027, 6, 1)),
        (3, "renewal", date(2027, 8, 1)),
        (4, "order_now", date(2027, 8, 10)),
    ]


def test_the_cancellation_flow_offers_what_the_reason_calls_for(shop: Engine) -> None:
    with Session(shop) as session:
        sub = make(session)["id"]
        asked = cancel_subscription(
            session, POLICY, sub, reason="too_expensive", key="x1", now=T0, actor=BY
        )
        assert not asked.cancelled
        assert [o["offer"] for o in asked.offers] == ["discount", "cadence", "skip"]
        took = cancel_subscription(
            session,
            POLICY,
            sub,
            reason="too_expensive",
            accept="discount",
            key="x2",
            now=T0,
            actor=BY,
        )
        assert took.accepted == "discount" and took.subscription.body["next_amount"] == "192.00"
        renew_due(session, POLICY, now=datetime(2027, 4, 1, 12, tzinfo=UTC))
        # 60 days on: the discount is within its 100-day cooldown, not offered again
        again = cancel_subscription(
            session,
            POLICY,
            sub,
            reason="too_expensive",
            key="x3",
            now=T0 + timedelta(days=60),
            actor=BY,
        )
        assert [o["offer"] for o in again.offers] == ["cadence", "skip"]
        with pytest.raises(DataError, match="'discount' is not offered"):
            cancel_subscription(
                session,
                POLICY,
                sub,
                reason="too_expensive",
                accept="discount",
                key="x4",
                now=T0 + timedelta(days=60),
                actor=BY,
            )
        with pytest.raises(DataError, match="not a cancellation reason"):
            cancel_subscription(session, POLICY, sub, reason="bored", key="x5", now=T0, actor=BY)
        gone = cancel_subscription(
            session,
            POLICY,
            sub,
            reason="too_expensive",
            confirm=True,
            note="moving abroad",
            key="x6",
            now=T0 + timedelta(days=60),
            actor=BY,
        )
        assert gone.cancelled and gone.subscription.body["status"] == "cancelled"

        with pytest.raises(SubscriptionStateError, match="cancelled already"):
            cancel_subscription(
                session, POLICY, sub, reason="other", confirm=True, key="x7", now=T0, actor=BY
            )
    assert orders(shop)[0][3] == 19_200  # the discounted renewal
    history = kinds(shop)
    assert history.count("offer_shown") == 5 and history.count("offer_accepted") == 1
    assert history.count("offer_declined") == 2  # the cadence and skip shown before cancelling
    with Session(shop) as session:
        cancelled = session.scalars(
            select(Event).where(Event.name == "subscription_cancelled")
        ).one()
        assert cancelled.properties["voluntary"] is True


def test_the_swap_offer_names_the_product_it_replaces(shop: Engine) -> None:
    two = [*ITEMS, {"product": "FILTERS", "quantity": 1, "price": "25.00"}]
    with Session(shop) as session:
        sub = make(session, items=two)["id"]

        def swap(key: str, accept: str | None = "swap", **given: Any) -> Any:
            return cancel_subscription(
                session, POLICY, sub, reason="product", accept=accept, key=key, now=T0,
                actor=BY, **given,
            )  # fmt: skip

        assert "swap" in [o["offer"] for o in swap("a1", accept=None).offers]
        with pytest.raises(DataError, match=r"swap_from: .*\(COFFEE-1KG, FILTERS\): name one"):
            swap("a2", swap_to="DECAF-1KG")
        with pytest.raises(DataError, match="swap_from: 'MUG' is not in the subscription"):
            swap("a3", swap_from="MUG", swap_to="DECAF-1KG")
        with pytest.raises(DataError, match="swap_to: only with accept: swap"):
            swap("a6", accept="discount", swap_to="DECAF-1KG")
        with pytest.raises(DataError, match="swap_to: 'FILTERS' is in the subscription already"):
            swap("a4", swap_from="COFFEE-1KG", swap_to="FILTERS")
        took = swap("a5", swap_from="COFFEE-1KG", swap_to="DECAF-1KG")
        assert took.accepted == "swap" and not took.cancelled
        assert [(i["product"], i["price"]) for i in took.subscription.body["items"]] == [
            ("DECAF-1KG", "120.00"),
            ("FILTERS", "25.00"),
        ]
        accepted = session.scalars(
            select(SubscriptionEvent.data).where(
                SubscriptionEvent.subscription_id == sub, SubscriptionEvent.kind == "offer_accepted"
            )
        ).one()
        assert accepted == {
            "reason": "product", "offer": "swap", "from": "COFFEE-1KG", "to": "DECAF-1KG"
        }  # fmt: skip


def test_failed_payments_follow_the_dunning_schedule(shop: Engine) -> None:
    with Session(shop) as session:
        make(session)
        renew_due(session, POLICY, now=datetime(2027, 4, 1, 12, tzinfo=UTC))
        order = session.scalars(select(SubscriptionOrder.id)).one()
        failed_at = datetime(2027, 4, 1, 13, tzinfo=UTC)
        first = record_payment(
            session,
            POLICY,
            order,
            outcome="failed",
            reason="card_declined",
            key="f1",
            now=failed_at,
            actor="psp",
        )
        assert first.status == "past_due" and first.order["status"] == "retrying"
        assert first.order["next_attempt_at"] == failed_at + timedelta(days=1)
        assert retries_due(session, now=failed_at + timedelta(hours=23)) == 0
        assert retries_due(session, now=failed_at + timedelta(days=1)) == 1
        for n, days in enumerate((3, 7, 14), start=2):
            again = record_payment(
                session,
                POLICY,
                order,
                outcome="failed",
                key=f"f{n}",
                now=failed_at + timedelta(days=days - 1),
                actor="psp",
            )
            assert again.order["next_attempt_at"] == failed_at + timedelta(days=days)
            retries_due(session, now=failed_at + timedelta(days=days))
        final = record_payment(
            session,
            POLICY,
            order,
            outcome="failed",
            key="f5",
            now=failed_at + timedelta(days=15),
            actor="psp",
        )
        assert final.status == "cancelled" and final.order["status"] == "cancelled"
        with pytest.raises(SubscriptionStateError, match="cancelled already"):
            record_payment(
                session, POLICY, order, outcome="succeeded", key="s", now=T0, actor="psp"
            )
        # another subscription: a failure, then a success makes it active again
        other = make(session, customer="bo")["id"]
        renew_due(session, POLICY, now=datetime(2027, 4, 2, tzinfo=UTC))
        second = session.scalars(
            select(SubscriptionOrder.id).where(SubscriptionOrder.subscription_id == other)
        ).one()
        record_payment(session, POLICY, second, outcome="failed", key="g1", now=T0, actor="psp")
        paid = record_payment(
            session,
            POLICY,
            second,
            outcome="succeeded",
            key="g2",
            reference="ch_123",
            now=T0,
            actor="psp",
        )
        assert paid.status == "active" and paid.order["status"] == "paid"
        assert record_payment(
            session, POLICY, second, outcome="succeeded", key="g2", now=T0, actor="psp"
        ).repeated
    with Session(shop) as session:
        cancelled = session.scalars(
            select(Event).where(Event.name == "subscription_cancelled")
        ).one()
        assert cancelled.properties["voluntary"] is False
        failures = session.scalar(select(func.count()).where(Event.name == "payment_failed"))
    assert failures == 6  # five for the first order, one for the second
