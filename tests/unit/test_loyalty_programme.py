"""The loyalty programme's configuration and the points of an order and of a refund."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from retentio.loyalty import Programme, ProgrammeError, order_points, parse_programme, refund_points


def test_defaults_and_a_full_definition() -> None:
    assert parse_programme({}) == Programme()
    eur = parse_programme(
        {
            "currency": "eur",
            "earn": {"points_per_unit": 10, "minimum_order": "25.50", "rounding": "nearest"},
            "pending_days": 30,
            "expiry": {"inactive_months": 18},
            "returns": "cap_at_balance",
        }
    )
    assert eur.currency == "EUR" and eur.points_per_unit == Decimal(10)
    assert eur.minimum_order_minor == 2550 and eur.rounding == "nearest"
    assert (eur.pending_days, eur.expiry_months, eur.inactive_months) == (30, None, 18)
    assert parse_programme({"expiry": False}).expiry_months is None


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"colour": 1}, "colour"),
        ({"currency": "kroner"}, "currency"),
        ({"earn": {"points_per_unit": -1}}, "earn.points_per_unit"),
        ({"earn": {"points_per_unit": "many"}}, "earn.points_per_unit"),
        ({"earn": {"points_per_unit": True}}, "earn.points_per_unit"),
        ({"earn": {"rounding": "half"}}, "earn.rounding"),
        ({"earn": {"per": 1}}, "earn.per"),
        ({"pending_days": 1.5}, "pending_days"),
        ({"expiry": {"months": 0}}, "expiry.months"),
        ({"expiry": {"days": 3}}, "expiry.days"),
        ({"returns": "forgive"}, "returns"),
    ],
)
def test_problems_are_named_by_path(data: dict[str, Any], path: str) -> None:
    with pytest.raises(ProgrammeError) as caught:
        parse_programme(data)
    assert caught.value.path == path


@pytest.mark.parametrize(
    ("programme", "amount", "currency", "points"),
    [
        ({}, 24_950, "DKK", 249),  # 1 point per DKK, rounded down
        ({"earn": {"rounding": "nearest"}}, 24_950, "DKK", 250),
        ({"earn": {"rounding": "up"}}, 24_901, "DKK", 250),
        ({"currency": "EUR", "earn": {"points_per_unit": 10}}, 1_999, "EUR", 199),
        ({"earn": {"points_per_unit": 0.5}}, 10_000, "dkk", 50),
        ({"earn": {"minimum_order": 100}}, 9_999, "DKK", 0),
        ({"earn": {"minimum_order": 100}}, 10_000, "DKK", 100),
        ({}, 10_000, "EUR", 0),  # another currency earns nothing
        ({}, -500, "DKK", 0),
        ({"currency": "JPY"}, 1_234, "JPY", 1_234),  # no minor unit
    ],
)
def test_order_points(programme: dict[str, Any], amount: int, currency: str, points: int) -> None:
    assert order_points(parse_programme(programme), amount, currency) == points


def test_refunds_in_parts_take_back_exactly_what_was_earned() -> None:
    earned, amount = 101, 10_000
    first = refund_points(earned, amount, 5_000, 0)
    second = refund_points(earned, amount, 10_000, first)
    assert (first, second, first + second) == (51, 50, 101)
    assert refund_points(earned, amount, 20_000, 0) == 101  # more than the order: all of it
    assert refund_points(earned, amount, 10_000, 101) == 0
    assert refund_points(0, amount, 5_000, 0) == 0
