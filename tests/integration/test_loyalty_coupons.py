"""Rewards for points on SQLite and PostgreSQL: a redemption debits the points and issues a
unique coupon in one transaction, within the reward's limit and tier, once per key, also under
concurrent requests; the shop uses the coupon once; cancelling it unused refunds the points."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from campaign_helpers import SECRET
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from retentio.core.errors import DataError
from retentio.ingest import ingest_customers
from retentio.loyalty import InsufficientPoints, adjust_points, balance_of, parse_programme
from retentio.loyalty.coupons import (
    CouponStateError,
    RewardUnavailable,
    cancel_coupon,
    coupon_by_code,
    redeem_reward,
    rewards_for,
    use_coupon,
)
from retentio.privacy.errors import NotFoundError
from retentio.store.loyalty_tables import LoyaltyAccount, LoyaltyCoupon, LoyaltyEntry
from retentio.store.tables import Event

BY = "test"
NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)
PROGRAMME = parse_programme(
    {
        "tiers": {"levels": [{"name": "Bronze", "threshold": 0},
                             {"name": "Gold", "threshold": 5000}]},
        "rewards": [
            {"id": "50-off", "kind": "amount_off", "amount": 50, "points": 500,
             "limit": {"count": 2, "per": "month"}},
            {"id": "vip-mug", "kind": "free_product", "product": "MUG-1", "points": 100,
             "tier": "Gold", "valid_days": 30},
        ],
    }
)  # fmt: skip


@pytest.fixture()
def shop(migrated_engine: Engine) -> Engine:
    with Session(migrated_engine) as session:
        ingest_customers(session, [{"external_id": "ida"}], secret=SECRET, actor="test")
        adjust_points(
            session, PROGRAMME, customer="ida", points=1_200, key="start", reason="opening",
            now=NOW, recorded_by=BY,
        )  # fmt: skip
    return migrated_engine


def redeem(session: Session, key: str, reward: str = "50-off", now: datetime = NOW) -> object:
    return redeem_reward(
        session, PROGRAMME, customer="ida", reward_id=reward, key=key, now=now, recorded_by=BY
    )


def test_a_redemption_issues_a_coupon_that_is_used_once(shop: Engine) -> None:
    with Session(shop) as session:
        coupon = redeem_reward(
            session, PROGRAMME, customer="ida", reward_id="50-off", key="k1", now=NOW,
            recorded_by=BY,
        )  # fmt: skip
        assert coupon.status == "issued" and coupon.points == 500
        assert coupon.value == {"kind": "amount_off", "amount": "50.00", "currency": "DKK"}
        assert coupon.balance is not None and coupon.balance.available == 700
        assert coupon.expires_at == NOW + timedelta(days=90)
        again = redeem_reward(
            session, PROGRAMME, customer="ida", reward_id="50-off", key="k1", now=NOW,
            recorded_by=BY,
        )  # fmt: skip
        assert again.repeated and again.code == coupon.code
        assert balance_of(session, "ida").available == 700  # debited once
        used = use_coupon(session, code=coupon.code, order_id="O-7", now=NOW)
        assert used.status == "used" and used.order_id == "O-7"
        assert use_coupon(session, code=coupon.code, order_id="O-7", now=NOW).repeated
        with pytest.raises(CouponStateError, match="was used on order O-7"):
            use_coupon(session, code=coupon.code, order_id="O-8", now=NOW)
        with pytest.raises(CouponStateError, match="was used"):
            cancel_coupon(session, PROGRAMME, code=coupon.code, now=NOW, recorded_by=BY)
        with pytest.raises(NotFoundError):
            coupon_by_code(session, "LOY-NOPE")
        assert coupon_by_code(session, coupon.code).customer == "ida"
    with Session(shop) as session:
        event = session.scalars(select(Event).where(Event.name == "reward_redeemed")).one()
        assert event.properties["code"] == coupon.code and event.properties["points"] == 500


def test_limits_tiers_and_points_refuse_and_change_nothing(shop: Engine) -> None:
    with Session(shop) as session:
        redeem(session, "k1")
        redeem(session, "k2")
        with pytest.raises(RewardUnavailable, match="2 time\\(s\\) per month"):
            redeem(session, "k3")
        # the next month on the programme's clock (Copenhagen): the limit starts again
        adjust_points(
            session, PROGRAMME, customer="ida", points=300, key="more", reason="goodwill",
            now=NOW, recorded_by=BY,
        )  # fmt: skip
        redeem(session, "k3", now=datetime(2026, 12, 31, 23, 30, tzinfo=UTC))
        with pytest.raises(InsufficientPoints, match="500 needed, 0 available"):
            redeem(session, "k4", now=datetime(2027, 1, 2, tzinfo=UTC))
        with pytest.raises(RewardUnavailable, match="needs the Gold tier"):
            redeem(session, "k5", reward="vip-mug")
        with pytest.raises(DataError, match="'cake' is not in the catalogue"):
            redeem(session, "k6", reward="cake")
        listed = {r["id"]: r for r in rewards_for(session, PROGRAMME, "ida", now=NOW)}
        assert listed["50-off"]["redeemable"] is False
        assert listed["50-off"]["why_not"] == [
            "500 more points needed",
            "50-off can be redeemed 2 time(s) per month; reached",
        ]
        assert listed["vip-mug"]["why_not"] == ["100 more points needed",
                                                "vip-mug needs the Gold tier"]  # fmt: skip
        assert [r["id"] for r in rewards_for(session, PROGRAMME, None, now=NOW)] == [
            "50-off",
            "vip-mug",
        ]
    with Session(shop) as session:
        assert session.scalar(select(func.count()).select_from(LoyaltyCoupon)) == 3


def test_cancelling_an_unused_coupon_refunds_its_points_once(shop: Engine) -> None:
    with Session(shop) as session:
        coupon = redeem_reward(
            session, PROGRAMME, customer="ida", reward_id="50-off", key="k1", now=NOW,
            recorded_by=BY,
        )  # fmt: skip
        late = NOW + timedelta(days=91)
        with pytest.raises(CouponStateError, match="expired"):
            use_coupon(session, code=coupon.code, order_id="O-1", now=late)
        back = cancel_coupon(session, PROGRAMME, code=coupon.code, now=late, recorded_by=BY)
        assert back.status == "cancelled" and back.balance is not None
        assert back.balance.available == 1_200
        twice = cancel_coupon(session, PROGRAMME, code=coupon.code, now=late, recorded_by=BY)
        assert twice.repeated and balance_of(session, "ida").available == 1_200
        with pytest.raises(CouponStateError, match="cancelled"):
            use_coupon(session, code=coupon.code, order_id="O-1", now=NOW)
        refunds = select(LoyaltyEntry).where(
            LoyaltyEntry.rule == "reward", LoyaltyEntry.kind == "reverse"
        )
        refund = session.scalars(refunds).one()
        opening = session.scalars(select(LoyaltyEntry).where(LoyaltyEntry.kind == "adjust")).one()
        # back as a lot that expires when the spent one would have: not as new points
        assert refund.points == 500 and refund.expires_at == opening.expires_at


def test_concurrent_redemptions_respect_the_limit_and_the_balance(shop: Engine) -> None:
    """20 requests at once for a reward limited to 2 a month: exactly 2 coupons, 1,000 points."""
    errors: list[BaseException] = []
    kinds: list[str] = []

    def one(n: int) -> None:
        try:
            with Session(shop) as session:
                redeem(session, f"c{n}")
            kinds.append("ok")
        except RewardUnavailable:
            kinds.append("refused")
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert sorted(kinds).count("ok") == 2
    with Session(shop) as session:
        assert session.scalar(select(func.count()).select_from(LoyaltyCoupon)) == 2
        account = session.scalars(select(LoyaltyAccount)).one()
        assert account.available == 200
        assert session.scalar(select(func.sum(LoyaltyEntry.points))) == 200
