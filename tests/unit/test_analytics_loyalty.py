"""retentio.analytics.loyalty: members against other customers, redemption, the points
liability and the tiers, on small tables whose figures are worked out by hand here."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

from retentio.analytics import (
    LOYALTY_ENTRIES_SCHEMA,
    LOYALTY_MEMBERS_SCHEMA,
    TIER_CHANGES_SCHEMA,
    historical_clv,
    member_comparison,
    points_liability,
    redemption_rate,
    tier_distribution,
    tier_migration,
)
from retentio.analytics.loyalty import DAYS_PER_YEAR
from retentio.analytics.schema import TRANSACTIONS_SCHEMA
from retentio.core.errors import ConfigurationError, EmptyDataError, SchemaError

END = date(2024, 12, 31)
LEVELS = ["Bronze", "Silver", "Gold"]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def transactions(rows: list[tuple[str, str, str, float]]) -> pa.Table:
    """(customer, order, ISO time, amount) rows; a negative amount is a refund."""
    return pa.Table.from_pylist(
        [
            {
                "customer_id": c,
                "order_id": o,
                "ordered_at": at(d),
                "amount": a,
                "currency": "EUR",
                "is_refund": a < 0,
                "status": None,
            }
            for c, o, d, a in rows
        ],
        schema=TRANSACTIONS_SCHEMA,
    )


# a: member, two orders (the second partly refunded) and one after the observation end;
# b: member, one order; c, d: no account; e: joined after the observation end (so not yet a
# member then); f: a member who has bought nothing.
ORDERS = transactions(
    [
        ("a", "1", "2024-01-01T09:00", 100.0),
        ("a", "2", "2024-07-01T09:00", 50.0),
        ("a", "2", "2024-07-05T09:00", -10.0),
        ("a", "9", "2025-01-05T09:00", 999.0),
        ("b", "3", "2024-10-01T12:00", 30.0),
        ("c", "4", "2024-03-01T12:00", 20.0),
        ("c", "5", "2024-04-01T12:00", 40.0),
        ("d", "6", "2024-12-01T12:00", 60.0),
        ("e", "7", "2024-05-01T12:00", 10.0),
    ]
)


def members(rows: list[tuple[str, str | None, str | None, int, int]]) -> pa.Table:
    """(customer, joined ISO time, tier, available, pending) rows."""
    return pa.Table.from_pylist(
        [
            {
                "customer_id": c,
                "joined_at": None if j is None else at(j),
                "tier": t,
                "available": a,
                "pending": p,
                "earned": max(a, 0) + p,
            }
            for c, j, t, a, p in rows
        ],
        schema=LOYALTY_MEMBERS_SCHEMA,
    )


MEMBERS = members(
    [
        ("a", "2024-01-01T09:00", "Gold", 1234, 40),
        ("b", "2024-06-01T00:00", "Bronze", 30, 0),
        ("e", "2025-01-10T00:00", "Platinum", 0, 0),
        ("f", "2024-12-31T23:59", None, -15, 0),
        ("g", "2024-02-01T00:00", "Bronze", 0, 0),
    ]
)


def by_group(frame: pd.DataFrame) -> dict[str, dict[str, Any]]:
    return {row["group"]: row for row in frame.to_dict("records")}


def test_members_and_non_members_compared_by_hand() -> None:
    got = by_group(member_comparison(ORDERS, MEMBERS, observation_end=END))
    assert list(got) == ["members", "non_members", "difference"]
    m, n, d = got["members"], got["non_members"], got["difference"]
    # Members a and b: 3 orders, 100 + 50 - 10 + 30 = 170 net, a bought twice.
    assert (m["customers"], m["orders"], m["repeat_customers"]) == (2, 3, 1)
    assert m["revenue"] == pytest.approx(170.0)
    # a: 2024-01-01 to 2024-12-31 is 366 days (a leap year); b: 1 Oct to 31 Dec, 92 days.
    assert m["customer_years"] == pytest.approx(458 / 365.25)
    assert m["repeat_purchase_rate"] == pytest.approx(0.5)
    assert m["average_order_value"] == pytest.approx(170 / 3)
    assert m["purchase_frequency"] == pytest.approx(3 / (458 / 365.25))
    assert m["historical_clv"] == pytest.approx(85.0)
    # c, d and e (who joined only after the end): 4 orders, 130 net; c from 1 March (306
    # days), d from 1 December (31), e from 1 May (245).
    assert (n["customers"], n["orders"], n["repeat_customers"]) == (3, 4, 1)
    assert n["revenue"] == pytest.approx(130.0)
    assert n["repeat_purchase_rate"] == pytest.approx(1 / 3)
    assert n["average_order_value"] == pytest.approx(32.5)
    assert n["purchase_frequency"] == pytest.approx(4 / (582 / 365.25))
    assert n["historical_clv"] == pytest.approx(130 / 3)
    assert d["repeat_purchase_rate"] == pytest.approx(0.5 - 1 / 3)
    assert d["average_order_value"] == pytest.approx(170 / 3 - 32.5)
    assert d["purchase_frequency"] == pytest.approx(3 * 365.25 / 458 - 4 * 365.25 / 582)
    assert d["historical_clv"] == pytest.approx(85 - 130 / 3)
    for count in ("customers", "orders", "repeat_customers", "revenue", "customer_years"):
        assert pd.isna(d[count])
    assert DAYS_PER_YEAR == 365.25


def test_the_clv_is_historical_clv_of_each_groups_orders() -> None:
    got = by_group(member_comparison(ORDERS, MEMBERS, observation_end=END))
    mine = ORDERS.filter(pa.compute.is_in(ORDERS["customer_id"], pa.array(["a", "b"])))
    others = ORDERS.filter(pa.compute.is_in(ORDERS["customer_id"], pa.array(["c", "d", "e"])))
    for group, orders in (("members", mine), ("non_members", others)):
        expected = historical_clv(orders, observation_end=END)["historical_clv"].iloc[0]
        assert got[group]["historical_clv"] == pytest.approx(expected)


def test_membership_is_as_of_the_observation_end() -> None:
    later = by_group(member_comparison(ORDERS, MEMBERS, observation_end="2025-01-10"))
    # e joined on the 10th: a member now; a's order of 5 January counts too.
    assert later["members"]["customers"] == 3
    assert later["members"]["orders"] == 5
    assert later["members"]["revenue"] == pytest.approx(170.0 + 999.0 + 10.0)


def test_no_members_leaves_the_member_ratios_missing() -> None:
    got = by_group(member_comparison(ORDERS, MEMBERS.slice(0, 0), observation_end=END))
    assert got["members"]["customers"] == 0 and got["members"]["orders"] == 0
    for ratio in ("repeat_purchase_rate", "average_order_value", "purchase_frequency"):
        assert math.isnan(got["members"][ratio])
        assert math.isnan(got["difference"][ratio])
    assert got["non_members"]["customers"] == 5  # a to e: everyone who bought
    assert got["non_members"]["revenue"] == pytest.approx(300.0)


def test_members_without_a_join_time_count_and_pandas_works() -> None:
    table = pd.DataFrame({"customer_id": ["c", "d"], "joined_at": [None, None]})
    got = by_group(member_comparison(ORDERS, table, observation_end=END))
    assert got["members"]["customers"] == 2 and got["members"]["orders"] == 3


def test_member_comparison_checks_its_inputs() -> None:
    with pytest.raises(SchemaError, match="members: missing column"):
        member_comparison(ORDERS, pd.DataFrame({"customer_id": ["a"]}), observation_end=END)
    with pytest.raises(ConfigurationError, match="members: cannot use a list"):
        member_comparison(ORDERS, ["a"], observation_end=END)
    with pytest.raises(EmptyDataError):
        member_comparison(ORDERS, MEMBERS, observation_end="2023-12-31")


def entries(rows: list[tuple[str, str, int, int, str | None, str]]) -> pa.Table:
    """(customer, kind, points, pending points, rule, ISO time) rows."""
    return pa.Table.from_pylist(
        [
            {
                "customer_id": c,
                "kind": k,
                "points": p,
                "pending_points": q,
                "rule": r,
                "order_id": None,
                "amount_minor": None,
                "occurred_at": at(t),
            }
            for c, k, p, q, r, t in rows
        ],
        schema=LOYALTY_ENTRIES_SCHEMA,
    )


LEDGER = entries(
    [
        ("a", "earn", 0, 100, "spend", "2024-01-01T09:00"),
        ("a", "release", 100, -100, None, "2024-01-15T09:00"),
        ("a", "earn", 0, 50, "spend", "2024-07-01T09:00"),
        ("a", "reverse", 0, -10, None, "2024-07-05T09:00"),  # a refund of the order
        ("a", "redeem", -60, 0, None, "2024-08-01T09:00"),
        ("a", "redeem", -20, 0, "reward", "2024-09-01T09:00"),
        ("a", "reverse", 20, 0, "reward", "2024-09-02T09:00"),  # that reward cancelled
        ("a", "expire", -5, 0, None, "2025-01-15T09:00"),
        ("b", "earn", 30, 0, "signup", "2024-10-01T12:00"),
        ("b", "redeem", -10, 0, "reward", "2024-10-02T12:00"),
        ("b", "reverse", 10, 0, "reward", "2024-10-03T12:00"),  # b's only reward, cancelled
        ("f", "adjust", 10, 0, "manual", "2024-12-31T23:59"),
    ]
)


def test_redemption_rate_by_hand() -> None:
    got = redemption_rate(LEDGER, members=MEMBERS)
    # Earned: 100 + 50 - 10 (refunded) + 30 = 170; the cancelled rewards' refunds are not
    # earnings. Redeemed: 60 + 20 - 20 + 10 - 10 = 60, all by a.
    assert got.points_earned == 170
    assert got.points_redeemed == 60
    assert got.points_expired == 5
    assert got.redemption_rate == pytest.approx(60 / 170)
    assert got.redemptions == 1
    assert (got.members, got.redeemers) == (5, 1)
    assert got.redeemer_share == pytest.approx(1 / 5)


def test_without_members_the_customers_with_entries_are_the_members() -> None:
    got = redemption_rate(LEDGER)
    assert (got.members, got.redeemers) == (3, 1)
    assert got.redeemer_share == pytest.approx(1 / 3)


def test_redemption_within_a_window() -> None:
    got = redemption_rate(LEDGER, start="2024-07-01", end="2024-09-01")
    # earn 50, reverse -10, redeem 60 and 20; the cancellation on 2 September is outside.
    assert (got.points_earned, got.points_redeemed, got.redemptions) == (40, 80, 2)
    assert got.redemption_rate == pytest.approx(2.0)
    assert got.points_expired == 0
    early = redemption_rate(LEDGER, end=date(2024, 1, 14))
    assert (early.points_earned, early.points_redeemed) == (100, 0)


def test_no_redemptions_and_no_entries() -> None:
    earned_only = redemption_rate(LEDGER.slice(0, 3))
    assert (earned_only.points_earned, earned_only.points_redeemed) == (150, 0)
    assert earned_only.redemption_rate == 0.0
    assert earned_only.redeemer_share == 0.0
    nothing = redemption_rate(LEDGER.slice(0, 0), members=MEMBERS.slice(0, 0))
    assert nothing.points_earned == 0 and nothing.members == 0
    assert math.isnan(nothing.redemption_rate) and math.isnan(nothing.redeemer_share)


def test_redemption_rate_needs_the_ledgers_columns() -> None:
    with pytest.raises(SchemaError, match="entries: missing column.*rule"):
        redemption_rate(LEDGER.drop_columns(["rule"]))


def test_points_liability_in_money() -> None:
    owed = points_liability(MEMBERS, Decimal("0.1"), "dkk")
    # Available: 1234 + 30 + 0 + 0, and f's -15 apart; pending: 40.
    assert (owed.members, owed.available_points, owed.pending_points) == (5, 1264, 40)
    assert owed.negative_points == -15
    assert owed.outstanding_points == 1304
    assert owed.currency == "DKK" and owed.value_per_point == Decimal("0.1")
    assert owed.available_value == Decimal("126.40")
    assert owed.pending_value == Decimal("4.00")
    assert owed.outstanding_value == Decimal("130.40")


def test_points_liability_rounds_to_the_minor_unit_half_to_even() -> None:
    table = members([("x", None, None, 25, 35)])
    owed = points_liability(table, 0.1, "JPY")  # 2.5 and 3.5 yen
    assert (owed.available_value, owed.pending_value) == (Decimal("2"), Decimal("4"))


def test_points_liability_without_a_value_is_points_only() -> None:
    owed = points_liability(MEMBERS, None, "DKK")
    assert owed.outstanding_points == 1304
    assert owed.value_per_point is None
    assert owed.available_value is None and owed.pending_value is None
    assert owed.outstanding_value is None


def test_points_liability_of_no_members_and_bad_values() -> None:
    owed = points_liability(MEMBERS.slice(0, 0), "0.25", "EUR")
    assert (owed.members, owed.outstanding_points) == (0, 0)
    assert owed.outstanding_value == Decimal("0.00")
    for bad in ("-0.1", "abc", float("nan")):
        with pytest.raises(ConfigurationError, match="value_per_point"):
            points_liability(MEMBERS, bad, "EUR")


def test_tier_distribution_in_level_order() -> None:
    got = tier_distribution(MEMBERS, LEVELS)
    rows = list(got.itertuples(index=False, name=None))
    assert rows == [
        ("Bronze", 2, 0.4),
        ("Silver", 0, 0.0),
        ("Gold", 1, 0.2),
        ("Platinum", 1, 0.2),  # held, but not a level any more
        (None, 1, 0.2),
    ]


def test_tier_distribution_without_members_or_levels() -> None:
    empty = tier_distribution(MEMBERS.slice(0, 0), LEVELS)
    assert list(empty["tier"]) == [*LEVELS, None]
    assert list(empty["members"]) == [0, 0, 0, 0]
    assert empty["share"].isna().all()
    plain = tier_distribution(members([("x", None, None, 0, 0)]), [])
    assert list(plain.itertuples(index=False, name=None)) == [(None, 1, 1.0)]


CHANGES = pa.Table.from_pylist(
    [
        {"customer_id": c, "from_tier": f, "to_tier": t, "direction": d, "qualifying": 0,
         "changed_at": at(w)}
        for c, f, t, d, w in [
            ("a", None, "Bronze", "up", "2024-01-01T09:00"),
            ("a", "Bronze", "Gold", "up", "2024-07-01T09:00"),
            ("a", "Gold", "Silver", "down", "2025-02-01T00:00"),  # after the window
            ("b", "Bronze", "Silver", "backfill", "2023-12-31T23:59"),  # before it
            ("b", None, "Bronze", "up", "2024-10-01T12:00"),
            ("e", "Platinum", "Bronze", "down", "2024-12-31T23:59"),
            ("g", None, "Bronze", "up", "2024-01-01T00:00"),
            ("h", "Silver", "Bronze", "down", "2024-06-01T00:00"),
            ("h", "Bronze", None, "down", "2024-08-01T00:00"),
        ]
    ],
    schema=TIER_CHANGES_SCHEMA,
)  # fmt: skip


def test_tier_migration_counts_the_moves_in_the_window() -> None:
    got = tier_migration(CHANGES, start="2024-01-01", end=END, levels=LEVELS)
    assert list(got.columns) == ["from_tier", "to_tier", "direction", "moves"]
    assert list(got.itertuples(index=False, name=None)) == [
        (None, "Bronze", "up", 3),
        ("Bronze", None, "down", 1),
        ("Bronze", "Gold", "up", 1),
        ("Silver", "Bronze", "down", 1),
        ("Platinum", "Bronze", "down", 1),  # not a level: after the levels
    ]
    assert got["moves"].dtype == "int64"


def test_tier_migration_of_an_empty_window_and_a_backwards_one() -> None:
    none = tier_migration(CHANGES, start="2022-01-01", end="2022-12-31")
    assert none.empty and list(none.columns) == ["from_tier", "to_tier", "direction", "moves"]
    backfilled = tier_migration(CHANGES, start="2023-12-31", end="2023-12-31")
    assert list(backfilled.itertuples(index=False, name=None)) == [
        ("Bronze", "Silver", "backfill", 1)
    ]
    with pytest.raises(ConfigurationError, match="after end"):
        tier_migration(CHANGES, start="2024-02-01", end="2024-01-01")
