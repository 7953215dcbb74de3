"""The loyalty ledger on SQLite and PostgreSQL: purchase points pending then released, redeem,
adjust, refunds in proportion, every change once per key, and under 100 concurrent requests
the cached balance stays the sum of the entries and never goes below 0."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from campaign_helpers import NOON, SECRET
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from retentio.core.errors import DataError
from retentio.ingest import ingest_customers
from retentio.loyalty import (
    InsufficientPoints,
    OrderConflict,
    adjust_points,
    balance_of,
    earn_for_order,
    parse_programme,
    redeem_points,
    release_due,
    reverse_for_refund,
)
from retentio.privacy.errors import NotFoundError
from retentio.store.loyalty_tables import LoyaltyAccount, LoyaltyEntry

PROGRAMME = parse_programme({"pending_days": 14})
BY = "test"


@pytest.fixture()
def members(migrated_engine: Engine) -> Engine:
    people = [{"external_id": name} for name in ("ida", "bob")]
    with Session(migrated_engine) as session:
        ingest_customers(session, people, secret=SECRET, actor="test")
    return migrated_engine


def sums(engine: Engine) -> tuple[int, int, int, int]:
    """(cached available, sum of points, cached pending, sum of pending points), all members."""
    with Session(engine) as session:
        cached = session.execute(
            select(func.sum(LoyaltyAccount.available), func.sum(LoyaltyAccount.pending))
        ).one()
        ledger = session.execute(
            select(func.sum(LoyaltyEntry.points), func.sum(LoyaltyEntry.pending_points))
        ).one()
    return int(cached[0] or 0), int(ledger[0] or 0), int(cached[1] or 0), int(ledger[1] or 0)


def earn(session: Session, order: str, amount: int, customer: str = "ida") -> object:
    return earn_for_order(
        session,
        PROGRAMME,
        customer=customer,
        order_id=order,
        amount_minor=amount,
        currency="DKK",
        ordered_at=NOON,
        now=NOON,
        recorded_by=BY,
    )


def test_purchase_points_wait_out_the_return_window(members: Engine) -> None:
    with Session(members) as session:
        first = earn(session, "O-1", 49_900)
        assert first is not None and first.pending_points == 499 and first.points == 0
        again = earn(session, "O-1", 49_900)  # the order loaded twice
        assert again is not None and again.repeated and again.entry_id == first.entry_id
        assert earn(session, "O-tiny", 0) is None
        balance = balance_of(session, "ida")
        assert (balance.available, balance.pending, balance.earned) == (0, 499, 499)
        with pytest.raises(InsufficientPoints, match="100 asked, 0 available"):
            redeem_points(session, customer="ida", points=100, key="r1", now=NOON, recorded_by=BY)
        assert release_due(session, PROGRAMME, now=NOON + timedelta(days=13)) == 0
        assert release_due(session, PROGRAMME, now=NOON + timedelta(days=14)) == 1
        assert release_due(session, PROGRAMME, now=NOON + timedelta(days=15)) == 0  # once
        balance = balance_of(session, "ida")
        assert (balance.available, balance.pending) == (499, 0)
        spent = redeem_points(
            session, customer="ida", points=400, key="r1", now=NOON, recorded_by=BY
        )
        assert spent.balance.available == 99
        repeat = redeem_points(
            session, customer="ida", points=400, key="r1", now=NOON, recorded_by=BY
        )
        assert repeat.repeated and repeat.balance.available == 99  # applied once
    assert sums(members)[:2] == (99, 99)


def test_refunds_take_back_points_in_proportion(members: Engine) -> None:
    with Session(members) as session:
        earn(session, "O-2", 20_000)  # 200 pending
        half = reverse_for_refund(
            session, PROGRAMME, customer="ida", order_id="O-2", amount_minor=20_000,
            refunded_minor=10_000, refund_id="R-1", now=NOON, recorded_by=BY,
        )  # fmt: skip
        assert half is not None and half.pending_points == -100 and half.points == 0
        release_due(session, PROGRAMME, now=NOON + timedelta(days=14))
        assert balance_of(session, "ida").available == 100  # what the refund left
        redeem_points(session, customer="ida", points=100, key="r2", now=NOON, recorded_by=BY)
        rest = reverse_for_refund(
            session, PROGRAMME, customer="ida", order_id="O-2", amount_minor=20_000,
            refunded_minor=20_000, refund_id="R-2", now=NOON, recorded_by=BY,
        )  # fmt: skip
        assert rest is not None and rest.points == -100  # spent already: below 0 (allowed)
        assert balance_of(session, "ida").available == -100
        assert balance_of(session, "ida").earned == 0
        capped = parse_programme({"returns": "cap_at_balance"})
        earn(session, "O-3", 10_000, customer="bob")
        release_due(session, capped, now=NOON + timedelta(days=14))
        redeem_points(session, customer="bob", points=80, key="r3", now=NOON, recorded_by=BY)
        back = reverse_for_refund(
            session, capped, customer="bob", order_id="O-3", amount_minor=10_000,
            refunded_minor=10_000, refund_id="R-3", now=NOON, recorded_by=BY,
        )  # fmt: skip
        assert back is not None and back.balance.available == 0  # capped at the 20 left
    assert sums(members)[:2] == (-100, -100) and sums(members)[2:] == (0, 0)


def test_adjustments_need_a_reason_and_unknown_members_are_named(members: Engine) -> None:
    with Session(members) as session:
        made = adjust_points(
            session, PROGRAMME, customer="bob", points=50, key="a1", reason="goodwill", now=NOON,
            recorded_by=BY,
        )  # fmt: skip
        assert made.balance.available == 50
        with pytest.raises(DataError, match="reason"):
            adjust_points(
                session, PROGRAMME, customer="bob", points=5, key="a2", reason=" ", now=NOON,
                recorded_by=BY,
            )  # fmt: skip
        with pytest.raises(NotFoundError, match="'nobody'"):
            balance_of(session, "nobody")


def test_concurrent_earns_redeems_and_refunds_keep_the_ledger_whole(members: Engine) -> None:
    """100 requests on one member at once: 40 redemptions of 30 points against a balance of
    600 (so at most 30 can succeed, with the 30 adjustments of +10 that run among them), 20
    refund reversals and 10 repeats of earlier keys."""
    with Session(members) as session:
        adjust_points(
            session, PROGRAMME, customer="ida", points=600, key="start", reason="opening", now=NOON,
            recorded_by=BY,
        )  # fmt: skip
        for n in range(20):
            earn(session, f"C-{n}", 5_000)  # 50 pending each
    outcomes: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(20)

    def work(n: int) -> None:
        with Session(members) as session:
            if n < 20:
                barrier.wait(10)
            try:
                if n < 40:
                    redeem_points(
                        session, customer="ida", points=30, key=f"c{n}", now=NOON, recorded_by=BY
                    )
                    result = "redeemed"
                elif n < 70:
                    adjust_points(
                        session, PROGRAMME, customer="ida", points=10, key=f"c{n}", reason="bonus",
                        now=NOON, recorded_by=BY,
                    )  # fmt: skip
                    result = "adjusted"
                elif n < 90:
                    reverse_for_refund(
                        session, PROGRAMME, customer="ida", order_id=f"C-{n - 70}",
                        amount_minor=5_000, refunded_minor=5_000, refund_id="R",
                        now=NOON, recorded_by=BY,
                    )  # fmt: skip
                    result = "reversed"
                else:
                    redeem_points(
                        session, customer="ida", points=30, key=f"c{n - 90}", now=NOON,
                        recorded_by=BY,
                    )  # fmt: skip
                    result = "repeat"
            except InsufficientPoints:
                result = "refused"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(100)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(outcomes) == 100
    available, points, pending, pending_points = sums(members)
    assert available == points and pending == pending_points  # cached == sum of entries
    assert pending == 0  # every purchase was refunded before its release
    with Session(members) as session:
        redeemed = session.scalar(select(func.count()).where(LoyaltyEntry.kind == "redeem"))
        keys = session.scalar(select(func.count(func.distinct(LoyaltyEntry.key))))
        total = session.scalar(select(func.count()).select_from(LoyaltyEntry))
    assert keys == total  # each key once
    assert available == 600 + 30 * 10 - 30 * int(redeemed or 0)
    assert available >= 0 and int(redeemed or 0) <= 30  # never overspent
    assert outcomes.count("refused") >= 40 - 30  # the rest were refused, changing nothing


def test_a_key_is_the_members_own_and_an_order_belongs_to_one_member(members: Engine) -> None:
    with Session(members) as session:
        for name in ("ida", "bob"):
            adjust_points(
                session, PROGRAMME, customer=name, points=100, key="welcome", reason="welcome",
                now=NOON, recorded_by=BY,
            )  # fmt: skip
            spent = redeem_points(
                session, customer=name, points=30, key="checkout-1", now=NOON, recorded_by=BY
            )
            assert not spent.repeated and spent.balance.customer == name
        assert balance_of(session, "ida").available == balance_of(session, "bob").available == 70
        earn(session, "O-9", 10_000)
        with pytest.raises(OrderConflict, match="'O-9' earned points for another member"):
            earn(session, "O-9", 10_000, customer="bob")
        assert balance_of(session, "bob").pending == 0


def test_a_capped_refund_forgives_and_a_later_one_takes_only_its_share(members: Engine) -> None:
    capped = parse_programme({"pending_days": 0, "returns": "cap_at_balance"})
    with Session(members) as session:
        earn_for_order(
            session, capped, customer="bob", order_id="O-7", amount_minor=20_000,
            currency="DKK", ordered_at=NOON, now=NOON, recorded_by=BY,
        )  # fmt: skip
        redeem_points(session, customer="bob", points=200, key="all", now=NOON, recorded_by=BY)

        def refund(refunded: int, refund_id: str) -> object:
            return reverse_for_refund(
                session, capped, customer="bob", order_id="O-7", amount_minor=20_000,
                refunded_minor=refunded, refund_id=refund_id, now=NOON, recorded_by=BY,
            )  # fmt: skip

        first = refund(10_000, "R-1")  # half: 100 points, but the balance is 0
        assert first is not None and first.points == 0  # capped: forgiven
        adjust_points(
            session, capped, customer="bob", points=600, key="more", reason="goodwill",
            now=NOON, recorded_by=BY,
        )  # fmt: skip
        second = refund(12_000, "R-2")  # to 60%: its own 10% share, 20 points
        assert second is not None and second.points == -20
        assert refund(12_000, "R-3") is None  # nothing new refunded


def test_the_spend_of_a_refund_leaves_the_tiers_even_when_no_point_is_left(
    members: Engine,
) -> None:
    cents = parse_programme({"pending_days": 0, "earn": {"points_per_unit": 0.01}})
    with Session(members) as session:
        earn_for_order(
            session,
            cents,
            customer="bob",
            order_id="O-8",
            amount_minor=100_000,
            currency="DKK",
            ordered_at=NOON,
            now=NOON,
            recorded_by=BY,
        )  # fmt: skip  10 points
        for refunded, refund_id in ((95_000, "R-1"), (100_000, "R-2")):
            reverse_for_refund(
                session, cents, customer="bob", order_id="O-8", amount_minor=100_000,
                refunded_minor=refunded, refund_id=refund_id, now=NOON, recorded_by=BY,
            )  # fmt: skip
        spend = session.scalar(
            select(func.sum(LoyaltyEntry.amount_minor)).where(LoyaltyEntry.order_id == "O-8")
        )
        assert spend == 0 and balance_of(session, "bob").available == 0
