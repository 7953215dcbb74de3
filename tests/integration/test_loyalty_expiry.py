"""Points expiry on SQLite and PostgreSQL: per lot, first in first out, after N months; the
whole balance after N months without activity; reminders 30, 7 and 1 days before, once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from campaign_helpers import SECRET
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from retentio.ingest import ingest_customers
from retentio.loyalty import (
    balance_of,
    earn_for_order,
    expire_points,
    parse_programme,
    redeem_points,
)
from retentio.store.loyalty_tables import LoyaltyAccount, LoyaltyEntry
from retentio.store.tables import Event

BY = "test"
JAN = datetime(2025, 1, 10, 12, tzinfo=UTC)
JUN = datetime(2025, 6, 10, 12, tzinfo=UTC)


@pytest.fixture()
def shop(migrated_engine: Engine) -> Engine:
    with Session(migrated_engine) as session:
        ingest_customers(
            session, [{"external_id": n} for n in ("ida", "bob")], secret=SECRET, actor="test"
        )
    return migrated_engine


def earn(session: Session, programme: object, customer: str, order: str, amount: int,
         at: datetime) -> None:  # fmt: skip
    earn_for_order(
        session, programme, customer=customer, order_id=order, amount_minor=amount,  # type: ignore[arg-type]
        currency="DKK", ordered_at=at, now=at, recorded_by=BY,
    )  # fmt: skip


def whole(engine: Engine) -> None:
    """The cached balances are the sums of the entries."""
    with Session(engine) as session:
        cached = session.execute(select(func.sum(LoyaltyAccount.available))).scalar()
        summed = session.execute(select(func.sum(LoyaltyEntry.points))).scalar()
    assert cached == summed


def reminders(engine: Engine) -> list[tuple[int, int, str]]:
    with Session(engine) as session:
        rows = session.scalars(
            select(Event.properties).where(Event.name == "points_expiring").order_by(Event.id)
        )
        return [(p["days"], p["points"], p["expires_at"][:10]) for p in rows]


def test_lots_expire_first_in_first_out(shop: Engine) -> None:
    programme = parse_programme({"pending_days": 0, "expiry": {"months": 12}})
    with Session(shop) as session:
        earn(session, programme, "ida", "A", 10_000, JAN)  # 100 points, expire 2026-01-10
        earn(session, programme, "ida", "B", 20_000, JUN)  # 200 points, expire 2026-06-10
        redeem_points(session, customer="ida", points=50, key="r", now=JUN, recorded_by=BY)
        earn(session, programme, "bob", "C", 30_000, JUN)  # 300 points, untouched
        assert expire_points(session, programme, now=JAN + timedelta(days=364)).points == 0
        first = expire_points(session, programme, now=JAN + timedelta(days=365))
        assert (first.members, first.points) == (1, 50)  # A's 100, less the 50 spent from it
        assert balance_of(session, "ida").available == 200
        again = expire_points(session, programme, now=JAN + timedelta(days=366))
        assert again.points == 0  # nothing twice
        later = expire_points(session, programme, now=JUN + timedelta(days=365))
        assert (later.members, later.points) == (2, 500)  # B's 200 for ida, C's 300 for bob
        assert balance_of(session, "ida").available == 0
        assert balance_of(session, "bob").available == 0
    whole(shop)


def test_reminders_come_30_7_and_1_days_before_once(shop: Engine) -> None:
    programme = parse_programme({"pending_days": 0, "expiry": {"months": 12}})
    due = datetime(2026, 1, 10, 12, tzinfo=UTC)
    with Session(shop) as session:
        earn(session, programme, "ida", "A", 10_000, JAN)
        redeem_points(session, customer="ida", points=30, key="r", now=JAN, recorded_by=BY)
        assert expire_points(session, programme, now=due - timedelta(days=31)).reminders == 0
        run = expire_points(session, programme, now=due - timedelta(days=29))
        assert run.reminders == 1 and run.reminded == {30: 1}
        ida = session.scalars(select(LoyaltyAccount)).one()
        assert (ida.expiring_points, ida.expiring_at) == (70, due)
        session.rollback()
        assert expire_points(session, programme, now=due - timedelta(days=28)).reminders == 0
        assert expire_points(session, programme, now=due - timedelta(days=6)).reminded == {7: 1}
        assert expire_points(session, programme, now=due - timedelta(hours=20)).reminded == {1: 1}
        assert expire_points(session, programme, now=due - timedelta(hours=10)).reminders == 0
        expired = expire_points(session, programme, now=due)
        assert expired.points == 70
        ida = session.scalars(select(LoyaltyAccount)).one()
        assert (ida.expiring_points, ida.expiring_at) == (0, None)
    assert reminders(shop) == [(30, 70, "2026-01-10"), (7, 70, "2026-01-10"),
                               (1, 70, "2026-01-10")]  # fmt: skip
    whole(shop)


def test_the_whole_balance_expires_after_months_without_activity(shop: Engine) -> None:
    programme = parse_programme({"pending_days": 0, "expiry": {"inactive_months": 6}})
    with Session(shop) as session:
        earn(session, programme, "ida", "A", 10_000, JAN)
        earn(session, programme, "bob", "B", 10_000, JAN)
        spring = JAN + timedelta(days=120)
        redeem_points(session, customer="bob", points=10, key="r", now=spring, recorded_by=BY)
        run = expire_points(session, programme, now=datetime(2025, 7, 10, 12, 1, tzinfo=UTC))
        assert (run.members, run.points) == (1, 100)  # ida; bob was active in May
        assert balance_of(session, "ida").available == 0
        assert balance_of(session, "bob").available == 90
        # bob's balance will expire six months after his redemption: reminded 30 days before
        assert expire_points(session, programme, now=spring + timedelta(days=160)).reminders == 1
        assert expire_points(session, programme, now=spring + timedelta(days=185)).points == 90
        assert expire_points(session, programme, now=spring + timedelta(days=400)).points == 0
    assert reminders(shop)[0][:2] == (30, 90)
    whole(shop)


def test_a_late_first_run_sends_only_the_most_urgent_reminder(shop: Engine) -> None:
    programme = parse_programme({"pending_days": 0, "expiry": {"months": 12}})
    due = datetime(2026, 1, 10, 12, tzinfo=UTC)
    with Session(shop) as session:
        earn(session, programme, "ida", "A", 10_000, JAN)
        assert expire_points(session, programme, now=due - timedelta(days=5)).reminded == {7: 1}
        assert expire_points(session, programme, now=due - timedelta(days=4)).reminders == 0
        assert expire_points(session, programme, now=due - timedelta(hours=12)).reminded == {1: 1}
    assert reminders(shop) == [(7, 100, "2026-01-10"), (1, 100, "2026-01-10")]


def test_a_run_looks_at_lots_due_since_the_last_one_and_at_late_ones(shop: Engine) -> None:
    programme = parse_programme({"pending_days": 0, "expiry": {"months": 12}})
    today = datetime(2026, 12, 7, 12, tzinfo=UTC)
    with Session(shop) as session:
        earn(session, programme, "ida", "A", 10_000, JAN)  # expired by the first run
        assert expire_points(session, programme, now=today).points == 100
        # an order of two years ago synced only now: its lot was due long before the last run
        earn_for_order(
            session, programme, customer="bob", order_id="LATE", amount_minor=5_000,
            currency="DKK", ordered_at=datetime(2024, 12, 1, tzinfo=UTC), now=today,
            recorded_by=BY,
        )  # fmt: skip
        assert balance_of(session, "bob").available == 50
        later = expire_points(session, programme, now=today + timedelta(hours=1))
        assert (later.members, later.points) == (1, 50)
        assert expire_points(session, programme, now=today, full=True).points == 0
    whole(shop)
