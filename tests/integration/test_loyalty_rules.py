"""The programme's rules on the ledger, on SQLite and PostgreSQL: actions within their limits,
bonus campaigns for a segment, tiers up at once and down after their period and grace (on the
programme's clock), and every move told as an event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from campaign_helpers import SECRET
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from retentio.core.errors import DataError
from retentio.ingest import ingest_customers
from retentio.loyalty import (
    LimitReached,
    Programme,
    adjust_points,
    earn_for_action,
    earn_for_order,
    expire_points,
    parse_programme,
    reverse_for_refund,
    review_tiers,
)
from retentio.loyalty.birthdays import grant_birthdays
from retentio.segments import count_members, parse_definition, refresh_segment, save_segment
from retentio.store.customers import customer_by_external_id
from retentio.store.loyalty_tables import LoyaltyAccount, LoyaltyTierChange
from retentio.store.tables import Event

CPH = ZoneInfo("Europe/Copenhagen")
BY = "test"


@pytest.fixture()
def shop(migrated_engine: Engine) -> Engine:
    people = [{"external_id": name} for name in ("ida", "bob")]
    with Session(migrated_engine) as session:
        ingest_customers(session, people, secret=SECRET, actor="test")
    return migrated_engine


def events(engine: Engine, name: str) -> list[dict[str, Any]]:
    with Session(engine) as session:
        return [
            dict(p)
            for p in session.scalars(
                select(Event.properties).where(Event.name == name).order_by(Event.id)
            )
        ]


def order(
    session: Session, programme: Programme, customer: str, order_id: str, amount: int,
    at: datetime,
) -> int:  # fmt: skip
    posted = earn_for_order(
        session, programme, customer=customer, order_id=order_id, amount_minor=amount,
        currency="DKK", ordered_at=at, now=at, recorded_by=BY,
    )  # fmt: skip
    return 0 if posted is None else posted.points + posted.pending_points


def account(engine: Engine, customer: str = "ida") -> LoyaltyAccount:
    with Session(engine) as session:
        found = customer_by_external_id(session, customer)
        assert found is not None
        row = session.scalars(
            select(LoyaltyAccount).where(LoyaltyAccount.customer_id == found.id)
        ).one()
        session.expunge(row)
        return row


def test_actions_earn_within_their_limits(shop: Engine) -> None:
    programme = parse_programme(
        {
            "actions": {
                "signup": {"points": 50, "limit": {"count": 1, "per": "lifetime"}},
                "review": {"points": 20, "limit": {"count": 2, "per": "month"}},
                "birthday": {"points": 100},
            }
        }
    )
    dec = datetime(2026, 12, 10, 12, tzinfo=UTC)
    with Session(shop) as session:

        def act(action: str, key: str, at: datetime = dec) -> int:
            return earn_for_action(
                session, programme, customer="ida", action=action, key=key, now=at,
                recorded_by=BY,
            ).balance.available  # fmt: skip

        assert act("signup", "s1") == 50
        with pytest.raises(LimitReached, match="at most 1 time"):
            act("signup", "s2")
        assert act("review", "r1") == 70 and act("review", "r2") == 90
        again = earn_for_action(
            session, programme, customer="ida", action="review", key="r2", now=dec, recorded_by=BY
        )
        assert again.repeated and again.balance.available == 90  # a repeat, not a third
        with pytest.raises(LimitReached, match="2 time\\(s\\) per month"):
            act("review", "r3")
        # 23:30 UTC on 31 December is January in Copenhagen: a new month and a new year
        new_month = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)
        assert act("review", "r3", new_month) == 110
        assert act("birthday", "2026", dec) == 210
        with pytest.raises(LimitReached):
            act("birthday", "2026-again", dec + timedelta(days=5))
        assert act("birthday", "2027", new_month) == 310  # once a year, the programme's year
        with pytest.raises(DataError, match="'survey' is not an action.*birthday, review"):
            act("survey", "x")
    earned = events(shop, "points_earned")
    assert [e["rule"] for e in earned] == ["signup", "review", "review", "review", "birthday",
                                          "birthday"]  # fmt: skip
    assert earned[0] == {"points": 50, "pending": False, "rule": "signup", "order_id": None,
                         "balance": 50}  # fmt: skip


def test_bonus_campaigns_multiply_for_their_segment_in_their_window(shop: Engine) -> None:
    programme = parse_programme(
        {
            "pending_days": 0,
            "bonuses": [
                {"name": "vip-week", "multiplier": 2, "segment": "vip",
                 "starts": "2026-12-01T00:00+01:00", "ends": "2026-12-08T00:00+01:00"}
            ],
        }
    )  # fmt: skip
    with Session(shop) as session:
        save_segment(session, {"name": "vip", "where": {"external_id": {"eq": "ida"}}})
        refresh_segment(session, "vip")
        inside = datetime(2026, 12, 3, 12, tzinfo=UTC)
        outside = datetime(2026, 12, 7, 23, 0, tzinfo=UTC)  # 00:00 on the 8th in Copenhagen
        assert order(session, programme, "ida", "O-1", 10_000, inside) == 200
        assert order(session, programme, "bob", "O-2", 10_000, inside) == 100  # not a member
        assert order(session, programme, "ida", "O-3", 10_000, outside) == 100


TIERS: dict[str, Any] = {
    "qualify_on": "spend",
    "period": "calendar_year",
    "grace_days": 30,
    "levels": [
        {"name": "Bronze", "threshold": 0},
        {"name": "Silver", "threshold": 2000, "multiplier": 1.5},
        {"name": "Gold", "threshold": 5000, "multiplier": 2},
    ],
}


def test_calendar_year_tiers_move_up_at_once_and_down_after_the_grace(shop: Engine) -> None:
    programme = parse_programme({"tiers": TIERS, "actions": {"review": {"points": 10}}})
    with Session(shop) as session:
        march = datetime(2026, 3, 10, 12, tzinfo=UTC)
        assert order(session, programme, "ida", "O-1", 150_000, march) == 1500
        assert account(shop).tier == "Bronze"
        june = datetime(2026, 6, 10, 12, tzinfo=UTC)
        assert order(session, programme, "ida", "O-2", 60_000, june) == 600  # reaches Silver
        silver = account(shop)
        assert silver.tier == "Silver"
        assert silver.tier_until == datetime(2028, 1, 1, tzinfo=CPH)  # held through 2027
        assert order(session, programme, "ida", "O-3", 40_000, june) == 600  # at Silver's 1.5
        review = earn_for_action(
            session, programme, customer="ida", action="review", key="r", now=june,
            recorded_by=BY,
        )  # fmt: skip
        assert review.points == 10  # a tier multiplies what purchases earn, not actions
        # 2027: 23:30 UTC on New Year's Eve 2026 is already 2027 in Copenhagen
        eve = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)
        order(session, programme, "ida", "O-4", 50_000, eve)
        # not reviewed before the end and the grace period
        assert review_tiers(session, programme, now=datetime(2028, 1, 30, tzinfo=UTC)) == 0
        assert review_tiers(session, programme, now=datetime(2028, 2, 1, tzinfo=UTC)) == 1
        assert account(shop).tier == "Bronze"  # 500 DKK in 2027: Bronze
        assert review_tiers(session, programme, now=datetime(2028, 2, 2, tzinfo=UTC)) == 0
    moves = [(e["from"], e["to"], e["direction"]) for e in events(shop, "tier_changed")]
    assert moves == [(None, "Bronze", "up"), ("Bronze", "Silver", "up"),
                     ("Silver", "Bronze", "down")]  # fmt: skip
    with Session(shop) as session:
        assert session.scalar(select(func.count()).select_from(LoyaltyTierChange)) == 3


def test_reaching_a_tier_again_renews_it_and_refunds_count_against_it(shop: Engine) -> None:
    programme = parse_programme(
        {"pending_days": 0, "tiers": {**TIERS, "period": "rolling_12_months", "grace_days": 0}}
    )
    with Session(shop) as session:
        start = datetime(2026, 1, 15, 12, tzinfo=UTC)
        order(session, programme, "ida", "O-1", 250_000, start)  # Silver until 2027-01-15
        assert account(shop).tier == "Silver"
        later = datetime(2026, 11, 1, 12, tzinfo=UTC)
        order(session, programme, "ida", "O-2", 10_000, later)  # 2,600 in the last 12 months
        renewed = account(shop)
        assert renewed.tier == "Silver" and renewed.tier_until is not None
        assert renewed.tier_until.astimezone(CPH).date().isoformat() == "2027-11-01"
        # a refund of most of the first order: the window ending 2027-11-01 holds only O-2
        reverse_for_refund(
            session, programme, customer="ida", order_id="O-1", amount_minor=250_000,
            refunded_minor=250_000, refund_id="R-1", now=later, recorded_by=BY,
        )  # fmt: skip
        assert review_tiers(session, programme, now=datetime(2027, 11, 2, tzinfo=UTC)) == 1
        assert account(shop).tier == "Bronze"
        # bob reaches Gold at once from nothing
        order(session, programme, "bob", "O-9", 600_000, later)
        assert account(shop, "bob").tier == "Gold"


def test_segments_on_tier_balance_and_points_expiring(shop: Engine) -> None:
    programme = parse_programme({"pending_days": 0, "tiers": TIERS, "expiry": {"months": 12}})
    with Session(shop) as session:
        order(session, programme, "ida", "O-1", 600_000, datetime(2026, 1, 5, tzinfo=UTC))
        order(session, programme, "bob", "O-2", 5_000, datetime(2026, 11, 5, tzinfo=UTC))
        expire_points(session, programme, now=datetime(2026, 12, 20, tzinfo=UTC))

        def members(where: dict[str, Any]) -> int:
            return count_members(session, parse_definition({"name": "probe", "where": where}))

        assert members({"loyalty_tier": "Gold"}) == 1
        assert members({"loyalty_tier": {"in": ["Bronze", "Gold"]}}) == 2
        assert members({"loyalty_points": {"gte": 6000}}) == 1  # ida's 6,000
        assert members({"loyalty_points": {"exists": True}}) == 2
        assert members({"loyalty_points_expiring": {"gt": 0}}) == 1  # ida's, on 5 January
        assert members({"loyalty_points_expire_at": {"before": "2027-01-06"}}) == 1
        assert members({"not": {"loyalty_points": {"gt": 0}}}) == 0


def test_birthday_points_come_on_the_members_own_day_once_a_year(shop: Engine) -> None:
    programme = parse_programme({"actions": {"birthday": {"points": 100}}})
    with Session(shop) as session:
        for name, birthday in (("ida", "1990-12-10"), ("bob", "02-29")):
            row = customer_by_external_id(session, name)
            assert row is not None
            row.attributes = {"birthday": birthday}
            row.time_zone = "America/New_York" if name == "bob" else None
        session.commit()
        for name in ("ida", "bob"):
            earn_for_action(
                session, programme, customer=name, action="birthday", key="joined-2025",
                now=datetime(2025, 6, 1, tzinfo=UTC), recorded_by=BY,
            )  # fmt: skip
        eve = datetime(2026, 12, 9, 22, 30, tzinfo=UTC)  # 23:30 on the 9th in Copenhagen
        assert grant_birthdays(session, programme, now=eve) == 0
        morning = datetime(2026, 12, 9, 23, 30, tzinfo=UTC)  # 00:30 on the 10th
        assert grant_birthdays(session, programme, now=morning) == 1
        assert grant_birthdays(session, programme, now=morning + timedelta(days=2)) == 0
        # bob, born on 29 February, in New York: 28 February 2027 begins at 05:00 UTC
        assert grant_birthdays(session, programme, now=datetime(2027, 2, 28, 4, tzinfo=UTC)) == 0
        assert grant_birthdays(session, programme, now=datetime(2027, 2, 28, 6, tzinfo=UTC)) == 1
        # a round missed for two days catches up
        assert grant_birthdays(session, programme, now=datetime(2027, 12, 12, tzinfo=UTC)) == 1
    assert account(shop).available == 300 and account(shop, "bob").available == 200


def test_a_new_years_eve_birthday_caught_up_on_new_years_day(shop: Engine) -> None:
    programme = parse_programme({"actions": {"birthday": {"points": 100}}})
    with Session(shop) as session:
        row = customer_by_external_id(session, "ida")
        assert row is not None
        row.attributes = {"birthday": "12-31"}
        session.commit()
        adjust_points(
            session, programme, customer="ida", points=1, key="joined", reason="joined",
            now=datetime(2026, 6, 1, tzinfo=UTC), recorded_by=BY,
        )  # fmt: skip
        assert grant_birthdays(session, programme, now=datetime(2027, 1, 1, 12, tzinfo=UTC)) == 1
        # counted in 2026, the birthday's year: 2027's comes on its own day
        assert grant_birthdays(session, programme, now=datetime(2027, 12, 31, 12, tzinfo=UTC)) == 1
    assert account(shop).available == 201
