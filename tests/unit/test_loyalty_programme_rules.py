"""The programme's earning rules, tiers, rewards and referral settings: parsed with errors
naming their path, and the pure rules (points of lines, bonuses, tier windows on the
programme's clock, across daylight saving and year ends)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from retentio.loyalty import Line, ProgrammeError, order_points, parse_programme
from retentio.loyalty.earning import bonus_multiplier, limit_start
from retentio.loyalty.rewards import coupon_code
from retentio.loyalty.tiers import add_months

CPH = ZoneInfo("Europe/Copenhagen")
TIERS = {
    "qualify_on": "spend",
    "period": "calendar_year",
    "levels": [
        {"name": "Bronze", "threshold": 0},
        {"name": "Silver", "threshold": 2000, "multiplier": 1.25, "perks": ["Free shipping"]},
        {"name": "Gold", "threshold": 5000, "multiplier": 1.5},
    ],
}


def test_a_full_programme_parses() -> None:
    programme = parse_programme(
        {
            "currency": "EUR",
            "timezone": "Europe/Amsterdam",
            "earn": {
                "points_per_unit": 10,
                "exclude": {"products": ["GIFT-CARD"], "categories": ["gift-cards"]},
                "multipliers": {"products": {"MUG-1": 2}, "categories": {"organic": 1.5}},
            },
            "actions": {"signup": {"points": 50}, "birthday": {"points": 100}},
            "bonuses": [
                {
                    "name": "double-weekend",
                    "multiplier": 2,
                    "starts": "2026-12-05T00:00+01:00",
                    "ends": "2026-12-07T00:00+01:00",
                    "applies_to": ["spend", "signup"],
                }
            ],
            "tiers": TIERS,
            "rewards": [
                {"id": "5-off", "kind": "amount_off", "amount": 5, "points": 500},
                {
                    "id": "free-mug",
                    "kind": "free_product",
                    "product": "MUG-1",
                    "points": 900,
                    "tier": "Silver",
                    "limit": {"count": 1, "per": "year"},
                },
            ],  # fmt: skip
            "referrals": {"link": "https://shop.example/?ref={code}", "minimum_order": 20},
            "reminders": [7, 30],
        }
    )
    assert programme.zone == ZoneInfo("Europe/Amsterdam")
    assert programme.actions["birthday"].limit is not None  # once a year by default
    assert programme.actions["birthday"].limit.per == "year"
    assert programme.actions["signup"].limit is None
    assert programme.tiers is not None and programme.tiers.levels[1].threshold == 200_000
    assert programme.reminder_days == (30, 7)
    assert programme.rewards[0].value("EUR") == {"kind": "amount_off", "amount": "5.00",
                                                 "currency": "EUR"}  # fmt: skip
    assert programme.value_per_point() == Decimal("0.01")  # 5 EUR for 500 points
    assert programme.referrals is not None
    assert programme.referrals.minimum_order_minor == 2000
    assert programme.referrals.link_for("AB12") == "https://shop.example/?ref=AB12"


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"earn": {"exclude": {"skus": []}}}, "earn.exclude.skus"),
        ({"earn": {"multipliers": {"products": {"A": -1}}}}, "earn.multipliers.products.A"),
        ({"actions": {"review": {}}}, "actions.review.points"),
        (
            {"actions": {"review": {"points": 5, "limit": {"count": 1, "per": "week"}}}},
            "actions.review.limit.per",
        ),  # fmt: skip
        ({"actions": {"spend": {"points": 5}}}, "actions.spend"),
        ({"actions": {"referral": {"points": 5}}}, "actions.referral"),
        (
            {
                "bonuses": [
                    {
                        "name": "x",
                        "multiplier": 2,
                        "starts": "2026-12-05",
                        "ends": "2026-12-07T00:00+01:00",
                    }
                ]
            },
            "bonuses[0].starts",
        ),  # fmt: skip
        (
            {
                "bonuses": [
                    {
                        "name": "x",
                        "multiplier": 2,
                        "starts": "2026-12-07T00:00+01:00",
                        "ends": "2026-12-05T00:00+01:00",
                    }
                ]
            },
            "bonuses[0].ends",
        ),  # fmt: skip
        (
            {
                "bonuses": [
                    {
                        "name": "x",
                        "multiplier": 2,
                        "starts": "2026-12-05T00:00+01:00",
                        "ends": "2026-12-07T00:00+01:00",
                        "applies_to": ["review"],
                    }
                ]
            },
            "bonuses[0].applies_to",
        ),  # fmt: skip
        ({"tiers": {"levels": []}}, "tiers.levels"),
        ({"tiers": {**TIERS, "period": "forever"}}, "tiers.period"),
        (
            {"tiers": {"levels": [{"name": "A", "threshold": 10}, {"name": "B", "threshold": 5}]}},
            "tiers.levels[1].threshold",
        ),  # fmt: skip
        (
            {"tiers": {"levels": [{"name": "A", "threshold": 0}, {"name": "A", "threshold": 5}]}},
            "tiers.levels[1].name",
        ),  # fmt: skip
        ({"rewards": [{"id": "x", "kind": "amount_off", "points": 5}]}, "rewards[0].amount"),
        ({"rewards": [{"id": "x", "kind": "cashback", "points": 5}]}, "rewards[0].kind"),
        (
            {"rewards": [{"id": "x", "kind": "free_shipping", "points": 5, "percent": 3}]},
            "rewards[0].percent",
        ),  # fmt: skip
        (
            {"rewards": [{"id": "x", "kind": "free_shipping", "points": 5, "tier": "Gold"}]},
            "rewards[0].tier",
        ),  # fmt: skip
        (
            {
                "rewards": [
                    {"id": "x", "kind": "free_shipping", "points": 5},
                    {"id": "x", "kind": "free_shipping", "points": 6},
                ]
            },
            "rewards[1].id",
        ),  # fmt: skip
        ({"referrals": {"link": "https://shop.example/"}}, "referrals.link"),
        ({"reminders": [7, 7]}, "reminders"),
        ({"point_value": -1}, "point_value"),
    ],
)
def test_problems_are_named_by_their_path(data: dict[str, Any], path: str) -> None:
    with pytest.raises(ProgrammeError) as caught:
        parse_programme(data)
    assert caught.value.path == path


def test_points_on_the_net_amount_of_the_lines_that_count() -> None:
    programme = parse_programme(
        {
            "earn": {
                "minimum_order": 100,
                "exclude": {"categories": ["gift-cards"]},
                "multipliers": {"products": {"MUG-1": 2}, "categories": {"organic": 1.5}},
            }
        }
    )
    # 600 DKK order with 50 shipping and 50 tax: 500 net
    assert order_points(programme, 60_000, "DKK", shipping_minor=5_000, tax_minor=5_000) == 500
    assert order_points(programme, 10_000, "DKK", shipping_minor=1) == 0  # 99.99 net: below
    lines = [
        Line(20_000, "GC-50", "gift-cards"),  # excluded
        Line(10_000, "MUG-1", "kitchen"),  # x2 (the product's multiplier wins)
        Line(20_000, "TEA", "organic"),  # x1.5
    ]
    # 500 net in the lines' proportions: 0.4 * 0 + 0.2 * 2 + 0.4 * 1.5 = 1.0 -> 500
    assert order_points(programme, 50_000, "DKK", lines=lines) == 500
    # an order discount spreads over the lines: 400 net -> 400
    assert order_points(programme, 50_000, "DKK", lines=lines, shipping_minor=10_000) == 400
    assert order_points(programme, 50_000, "DKK", lines=lines[:1]) == 0  # only excluded
    assert order_points(programme, 50_000, "DKK", multiplier=Decimal("1.25")) == 625


def test_bonuses_run_in_their_window_for_their_segment_and_do_not_stack() -> None:
    programme = parse_programme(
        {
            "actions": {"review": {"points": 10}},
            "bonuses": [
                {"name": "weekend", "multiplier": 2, "starts": "2026-12-05T00:00+01:00",
                 "ends": "2026-12-07T00:00+01:00"},
                {"name": "vip", "multiplier": 3, "starts": "2026-12-01T00:00+01:00",
                 "ends": "2026-12-31T00:00+01:00", "segment": "vip",
                 "applies_to": ["spend", "review"]},
            ]
        }
    )  # fmt: skip
    saturday = datetime(2026, 12, 5, 12, tzinfo=UTC)
    just_before = datetime(2026, 12, 4, 22, 59, tzinfo=UTC)  # 23:59 in Copenhagen
    just_after = datetime(2026, 12, 6, 23, 0, tzinfo=UTC)  # 00:00 on the 7th
    bonuses = programme.bonuses
    assert bonus_multiplier(bonuses, "spend", saturday, set()) == 2
    assert bonus_multiplier(bonuses, "spend", just_before, set()) == 1
    assert bonus_multiplier(bonuses, "spend", just_after, set()) == 1
    assert bonus_multiplier(bonuses, "spend", saturday, {"vip"}) == 3  # the highest, not 6
    assert bonus_multiplier(bonuses, "review", saturday, set()) == 1
    assert bonus_multiplier(bonuses, "review", saturday, {"vip"}) == 3


def test_calendar_months_on_the_programmes_clock() -> None:
    jan31 = datetime(2026, 1, 31, 9, tzinfo=UTC)
    assert add_months(jan31, 1, CPH) == datetime(2026, 2, 28, 9, tzinfo=UTC)
    assert add_months(jan31, -2, CPH) == datetime(2025, 11, 30, 9, tzinfo=UTC)
    # across the spring change: 10:00 in Copenhagen stays 10:00 (09:00 -> 08:00 UTC)
    winter = datetime(2026, 3, 15, 9, tzinfo=UTC)
    assert add_months(winter, 1, CPH) == datetime(2026, 4, 15, 8, tzinfo=UTC)
    assert add_months(datetime(2026, 12, 7, 3, tzinfo=UTC), 12, CPH).year == 2027


def test_limit_periods_start_at_local_midnight() -> None:
    late = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)  # 00:30 on 1 January in Copenhagen
    assert limit_start(late, "year", CPH) == datetime(2027, 1, 1, tzinfo=CPH)
    assert limit_start(late, "month", CPH) == datetime(2027, 1, 1, tzinfo=CPH)
    assert limit_start(late, "day", CPH) == datetime(2027, 1, 1, tzinfo=CPH)
    assert limit_start(late, "lifetime", CPH) is None


def test_tier_windows_and_holding_periods_at_the_year_end() -> None:
    rules = parse_programme({"tiers": TIERS}).tiers
    assert rules is not None
    assert rules.tier_for(199_999) is not None and rules.tier_for(199_999).name == "Bronze"  # type: ignore[union-attr]
    assert rules.tier_for(200_000).name == "Silver"  # type: ignore[union-attr]
    # 23:30 UTC on 31 December is already the new year in Copenhagen
    new_year = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)
    assert rules.window_start(new_year, CPH) == datetime(2027, 1, 1, tzinfo=CPH)
    old_year = datetime(2026, 12, 31, 22, 30, tzinfo=UTC)
    assert rules.window_start(old_year, CPH) == datetime(2026, 1, 1, tzinfo=CPH)
    # reached in 2026: held through 2027; the review then looks at 2027 and renews to 2028
    assert rules.held_until(old_year, CPH) == datetime(2028, 1, 1, tzinfo=CPH)
    until = datetime(2028, 1, 1, tzinfo=CPH)
    assert rules.window_start(until, CPH) == datetime(2027, 1, 1, tzinfo=CPH)
    assert rules.renewed_until(until, CPH) == datetime(2029, 1, 1, tzinfo=CPH)
    rolling = parse_programme({"tiers": {**TIERS, "period": "rolling_12_months"}}).tiers
    assert rolling is not None
    at = datetime(2026, 3, 31, 12, tzinfo=UTC)
    assert rolling.window_start(at, CPH) == datetime(2025, 3, 31, 12, tzinfo=UTC)
    assert rolling.held_until(at, CPH) == datetime(2027, 3, 31, 12, tzinfo=UTC)
    assert rolling.next_above("Silver").name == "Gold"  # type: ignore[union-attr]
    assert rolling.next_above("Gold") is None and rolling.rank("Platinum") == 0


def test_coupon_codes_are_long_and_unambiguous() -> None:
    codes = {coupon_code() for _ in range(2_000)}
    assert len(codes) == 2_000
    body = next(iter(codes)).removeprefix("LOY-").replace("-", "")
    assert len(body) == 12 and not set(body) & set("01IOLSBZ58 2")
