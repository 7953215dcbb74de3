"""Subscription schedules on the customer's calendar (month ends, daylight saving) and the
policy's checks, each problem named by its path."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from retentio.core.errors import DataError
from retentio.subscriptions import Cadence, PolicyError, parse_policy
from retentio.subscriptions.schedule import renewal_instant

CPH = ZoneInfo("Europe/Copenhagen")


def test_monthly_orders_keep_their_day_and_come_at_month_ends() -> None:
    monthly = Cadence("month", 1)
    anchor = date(2027, 1, 31)
    assert [monthly.nth(anchor, n) for n in range(4)] == [
        date(2027, 1, 31), date(2027, 2, 28), date(2027, 3, 31), date(2027, 4, 30),
    ]  # fmt: skip
    assert monthly.first_after(anchor, date(2027, 2, 28)) == date(2027, 3, 31)
    assert monthly.first_after(anchor, date(2027, 2, 27)) == date(2027, 2, 28)
    assert monthly.first_on_or_after(anchor, date(2027, 2, 28)) == date(2027, 2, 28)
    assert monthly.first_after(anchor, date(2026, 12, 1)) == anchor  # before it began
    leap = Cadence("month", 12).nth(date(2028, 2, 29), 1)
    assert leap == date(2029, 2, 28)


def test_days_and_weeks_step_evenly() -> None:
    fortnight = Cadence("week", 2)
    anchor = date(2027, 3, 1)
    assert fortnight.first_after(anchor, date(2027, 3, 1)) == date(2027, 3, 15)
    assert fortnight.first_after(anchor, date(2027, 3, 14)) == date(2027, 3, 15)
    assert fortnight.first_after(anchor, date(2027, 3, 15)) == date(2027, 3, 29)
    assert Cadence("day", 10).first_after(anchor, date(2027, 3, 25)) == date(2027, 3, 31)
    assert fortnight.longer() == Cadence("week", 4)


@pytest.mark.parametrize(
    ("unit", "count", "field"),
    [("year", 1, "cadence.unit"), ("month", 0, "cadence.count"), ("week", 53, "cadence.count")],
)
def test_a_bad_cadence_is_named(unit: str, count: int, field: str) -> None:
    with pytest.raises(DataError, match=field):
        Cadence.checked(unit, count)


def test_renewals_keep_the_local_time_across_daylight_saving() -> None:
    six = time(6, 0)
    assert renewal_instant(date(2027, 3, 27), six, CPH) == datetime(2027, 3, 27, 5, tzinfo=UTC)
    assert renewal_instant(date(2027, 3, 28), six, CPH) == datetime(2027, 3, 28, 4, tzinfo=UTC)
    assert renewal_instant(date(2027, 10, 31), six, CPH) == datetime(2027, 10, 31, 5, tzinfo=UTC)
    # 02:30 does not exist on the spring change: it moves forward by the hour
    gap = renewal_instant(date(2027, 3, 28), time(2, 30), CPH)
    assert gap.astimezone(CPH).hour == 3


def test_the_default_policy_and_a_full_one() -> None:
    default = parse_policy({})
    assert default.dunning_days == (1, 3, 7, 14) and default.discount_cooldown_days == 100
    assert {r.code for r in default.reasons} >= {"too_expensive", "not_now", "other"}
    assert default.reason("too_expensive") is not None
    assert default.reason("too_expensive").text("da") == "Det er for dyrt"  # type: ignore[union-attr]
    policy = parse_policy(
        {
            "renewal_time": "07:30",
            "dunning": [2, 5],
            "discount": {"percent": 15, "cycles": 2, "cooldown_days": 60},
            "reasons": {"price": {"offers": ["discount", "pause"],
                                  "label": {"en": "Price", "da": "Pris"}}},
        }
    )  # fmt: skip
    assert policy.renewal_time == time(7, 30) and policy.dunning_days == (2, 5)
    assert [r.code for r in policy.reasons] == ["price"]
    assert policy.reasons[0].text("nl") == "Price"  # falls back to English


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"renewal_time": "25:00"}, "renewal_time"),
        ({"dunning": [3, 1]}, "dunning"),
        ({"dunning": [0]}, "dunning[0]"),
        ({"discount": {"percent": 0}}, "discount.percent"),
        ({"reasons": {"x": {"offers": ["refund"]}}}, "reasons.x.offers"),
        ({"reasons": {"x": {"label": {"de": "Preis"}}}}, "reasons.x.label.de"),
        ({"reasons": {}}, "reasons"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_policy_problems_are_named_by_path(data: dict[str, Any], path: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(data)
    assert caught.value.path == path
