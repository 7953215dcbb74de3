"""The bulk backfill of historical orders on SQLite and PostgreSQL: the same balances, pending
points, points earned, expired points and tiers as replaying each order one by one through the
ledger; idempotent; refunds in proportion; other currencies left out; a bad row writes nothing.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from retentio.analytics.schema import TRANSACTIONS_SCHEMA
from retentio.core.errors import DataError
from retentio.ingest import ingest_orders
from retentio.loyalty import (
    Programme,
    earn_for_order,
    expire_points,
    order_points,
    parse_programme,
    release_due,
    reverse_for_refund,
)
from retentio.loyalty.backfill import add_months_us, backfill_orders, spend_points_of
from retentio.loyalty.service import configure_programme
from retentio.loyalty.store_orders import sync_store_orders
from retentio.loyalty.tiering import qualifying_value
from retentio.loyalty.tiers import add_months
from retentio.store.loyalty_tables import (
    LoyaltyAccount,
    LoyaltyEntry,
    LoyaltyProgramme,
    LoyaltyTierChange,
)
from retentio.store.tables import Customer, Event

NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
TICK = timedelta(microseconds=1)
LEVELS = [
    {"name": "Bronze", "threshold": 0},
    {"name": "Silver", "threshold": 2000},
    {"name": "Gold", "threshold": 6000},
]
ROLLING_DEFINITION = {
    "pending_days": 14,
    "earn": {"points_per_unit": 1.5, "minimum_order": 100, "rounding": "nearest"},
    "expiry": {"months": 12},
    "tiers": {"qualify_on": "spend", "period": "rolling_12_months", "grace_days": 30,
              "levels": LEVELS},
}  # fmt: skip
ROLLING = parse_programme(ROLLING_DEFINITION)
CALENDAR = parse_programme({
    "pending_days": 7,
    "earn": {"points_per_unit": 0.7, "rounding": "up"},
    "expiry": {"months": 6},
    "returns": "cap_at_balance",
    "tiers": {"qualify_on": "points", "period": "calendar_year", "grace_days": 10,
              "levels": [{"name": "Silver", "threshold": 500},
                         {"name": "Gold", "threshold": 3000}]},
})  # fmt: skip
INACTIVE = parse_programme({
    "pending_days": 0, "earn": {"points_per_unit": 2}, "expiry": {"inactive_months": 6},
})  # fmt: skip

Row = tuple[str, str, datetime, Decimal, str, bool]


def table(rows: list[Row]) -> pa.Table:
    columns = list(zip(*rows, strict=True)) if rows else [[]] * 6
    names = ["customer_id", "order_id", "ordered_at", "amount", "currency", "is_refund"]
    data = {n: list(c) for n, c in zip(names, columns, strict=True)}
    data["amount"] = [float(a) for a in data["amount"]]
    data["status"] = [None] * len(rows)
    return pa.table(data, schema=TRANSACTIONS_SCHEMA)


def history(seed: int, prefix: str) -> list[Row]:
    """A small shop: 40 customers with 1-7 orders each over three years (a month or more
    apart, so a refund lands before the customer's next order), some below the minimum, some
    in EUR, a third refunded in one or two parts within 25 days, a few inside the return
    window now."""
    rng = random.Random(seed)
    rows: list[Row] = []
    for c in range(40):
        customer = f"{prefix}c{c}"
        at = NOW - timedelta(days=rng.uniform(20, 1100))
        if c % 8 == 0:
            at = NOW - timedelta(days=rng.uniform(1, 12))  # inside the return window
        for n in range(rng.randint(1, 7)):
            if at >= NOW:
                break
            order = f"{prefix}o{c}-{n}"
            cents = rng.choice([rng.randint(50, 9_999), rng.randint(10_000, 600_000)])
            currency = "EUR" if rng.random() < 0.1 else "DKK"
            amount = Decimal(cents) / 100
            rows.append((customer, order, at, amount, currency, False))
            refund_at = at
            left = amount
            for _ in range(rng.choice([0, 0, 1, 2])):
                refund_at += timedelta(days=rng.uniform(0.01, 12), microseconds=rng.randint(1, 999))
                part = min(left, (amount * Decimal(rng.choice([25, 50, 100]))) / 100).quantize(
                    Decimal("0.01")
                )
                if refund_at >= NOW or part <= 0:
                    break
                left -= part
                rows.append((customer, order, refund_at, -part, currency, True))
            at += timedelta(days=rng.uniform(31, 200), microseconds=rng.randint(1, 999_999))
    return rows


def replay_one_by_one(engine: Engine, programme: Programme, rows: list[Row]) -> None:
    """The reference: each order and refund through the ledger at its time, the release job
    before each, then the release and expiry jobs now."""
    with Session(engine) as session:
        session.add_all(
            Customer(external_id=c, attributes={}) for c in sorted({r[0] for r in rows})
        )
        session.commit()
        events = sorted(rows, key=lambda r: (r[2], r[5]))
        amount: dict[str, int] = {}
        refunded: dict[str, int] = defaultdict(int)
        for n, (customer, order, at, value, currency, is_refund) in enumerate(events):
            release_due(session, programme, now=at)
            minor = int(value * 100)
            if not is_refund:
                amount[order] = minor
                earn_for_order(
                    session, programme, customer=customer, order_id=order, amount_minor=minor,
                    currency=currency, ordered_at=at, now=at, recorded_by="test",
                )  # fmt: skip
                continue
            refunded[order] -= minor
            reverse_for_refund(
                session, programme, customer=customer, order_id=order,
                amount_minor=amount[order], refunded_minor=refunded[order], refund_id=f"R{n}",
                now=at, recorded_by="test",
            )  # fmt: skip
        release_due(session, programme, now=NOW)
        expire_points(session, programme, now=NOW)


def members(engine: Engine, prefix: str) -> dict[str, dict[str, Any]]:
    """Each member's balances, tier, expired points, and whether the cached balances are the
    sums of the entries; keyed by the external id without ``prefix``."""
    e, a, c = LoyaltyEntry, LoyaltyAccount, Customer
    with Session(engine) as session:
        expired = dict(
            session.execute(
                select(e.account_id, func.sum(-e.points))
                .where(e.kind == "expire")
                .group_by(e.account_id)
            ).all()
        )
        sums = {
            account: (int(points), int(pending))
            for account, points, pending in session.execute(
                select(e.account_id, func.sum(e.points), func.sum(e.pending_points)).group_by(
                    e.account_id
                )
            )
        }
        found = {}
        for account, external_id in session.execute(
            select(a, c.external_id)
            .join(c, c.id == a.customer_id)
            .where(c.external_id.startswith(prefix))
        ):
            found[external_id.removeprefix(prefix)] = {
                "available": account.available,
                "pending": account.pending,
                "earned": account.earned,
                "expired": int(expired.get(account.id, 0)),
                "tier": account.tier,
                "tier_until": account.tier_until,
                "cached_is_sum": sums[account.id] == (account.available, account.pending),
            }
        return found


def tiers_by_the_rule(engine: Engine, programme: Programme, prefix: str) -> dict[str, Any]:
    """The tier the backfill promises, worked out from a ledger with the tiers' own
    functions, earn by earn: the highest tier an earn reached over the window ending at it,
    among the earns whose tier is still held now (with when it is held until)."""
    rules = programme.tiers
    assert rules is not None
    zone = programme.zone
    e, a, c = LoyaltyEntry, LoyaltyAccount, Customer
    found: dict[str, Any] = {}
    with Session(engine) as session:
        earns = session.execute(
            select(c.external_id, e.account_id, e.occurred_at)
            .join(a, a.id == e.account_id)
            .join(c, c.id == a.customer_id)
            .where(e.kind == "earn", c.external_id.startswith(prefix))
            .order_by(e.occurred_at)
        ).all()
        for external_id, account, at in earns:
            until = rules.held_until(at, zone)
            if rules.review_at(until) <= NOW:
                continue  # moved down by now
            start = rules.window_start(at + TICK, zone)
            tier = rules.tier_for(qualifying_value(session, rules, account, start, at + TICK))
            name = external_id.removeprefix(prefix)
            best = found.get(name)
            if tier is not None and (best is None or rules.rank(tier.name) >= rules.rank(best[0])):
                found[name] = (tier.name, until)
    return found


# ------------------------------------------------------------------------ pure parts first


ZONES = ["Europe/Copenhagen", "America/New_York", "Australia/Lord_Howe", "Pacific/Apia", "UTC"]


@pytest.mark.parametrize("zone", ZONES)
def test_months_are_added_as_add_months_does(zone: str) -> None:
    rng = np.random.default_rng(7)
    start = int(datetime(2009, 1, 1, tzinfo=UTC).timestamp()) * 1_000_000
    instants = rng.integers(start, start + 20 * 365 * 86_400_000_000, 4_000)
    # and every half hour of the months in which clocks change, and of leap-year month ends
    hour = 1_800_000_000
    hours = [
        int(datetime(year, month, 1, tzinfo=UTC).timestamp()) * 1_000_000 + n * hour + 7
        for year, months in ((2011, (3, 4, 9, 10, 11, 12)), (2024, (1, 2, 3, 10)), (2025, (3, 10)))
        for month in months
        for n in range(-96, 31 * 48)
    ]
    instants = np.concatenate([instants, np.array(hours, dtype=np.int64)])
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    for months in (-12, 1, 6, 12):
        moved = add_months_us(instants, months, ZoneInfo(zone))
        expected = [
            (add_months(epoch + timedelta(microseconds=int(at)), months, ZoneInfo(zone)) - epoch)
            // TICK
            for at in instants.tolist()
        ]
        assert moved.tolist() == expected


def test_points_are_order_points() -> None:
    rng = random.Random(3)
    amounts = np.array([rng.randint(-100, 10**9) for _ in range(3_000)] + [0, 1, 99, 100, 150])
    for rate in ("1", "0.5", "1.25", "2", "0.1", "3.333", "0.07"):
        for rounding in ("down", "nearest", "up"):
            for currency in ("DKK", "JPY", "KWD"):
                programme = parse_programme({
                    "currency": currency, "earn": {"points_per_unit": rate, "rounding": rounding,
                                                   "minimum_order": 1},
                })  # fmt: skip
                expected = [order_points(programme, int(x), currency) for x in amounts.tolist()]
                assert spend_points_of(programme, amounts).tolist() == expected, (rate, rounding)


# ------------------------------------------------------------------------------ the ledger


@pytest.mark.parametrize(
    "programme",
    [ROLLING, CALENDAR, INACTIVE],
    ids=["rolling-spend", "calendar-points", "no-window-inactive"],
)
def test_backfill_gives_the_ledger_of_the_one_by_one_replay(
    migrated_engine: Engine, programme: Programme
) -> None:
    seed = {id(ROLLING): 11, id(CALENDAR): 12}.get(id(programme), 13)
    replay_one_by_one(migrated_engine, programme, history(seed, "r-"))
    rows = history(seed, "b-")
    result = backfill_orders(migrated_engine, programme, table(rows), now=NOW, recorded_by="test")
    one_by_one, bulk = members(migrated_engine, "r-"), members(migrated_engine, "b-")
    assert bulk.keys() == one_by_one.keys() and len(bulk) >= 20
    for name, expected in one_by_one.items():
        got = bulk[name]
        assert got["cached_is_sum"] and expected["cached_is_sum"], name
        for key in ("available", "pending", "earned", "expired"):
            assert got[key] == expected[key], (name, key, got, expected)
    purchases = [r for r in rows if not r[5]]
    assert result.orders_read == len(purchases)
    assert result.members == len(bulk) == result.customers_created
    assert result.points_expired == sum(m["expired"] for m in bulk.values()) > 0
    assert result.skipped["not in DKK"] == sum(1 for r in purchases if r[4] == "EUR")
    assert result.refunds_reversed > 5
    assert result.points_pending == sum(m["pending"] for m in bulk.values())
    assert (result.points_pending > 0) == (programme.pending_days > 0)
    ours = Customer.external_id.startswith("b-")
    with Session(migrated_engine) as session:  # history fires no journeys (reminders are now's)
        names = set(session.scalars(select(Event.name).join(Customer).where(ours)))
        assert names <= {"points_expiring"}
    if programme.tiers is None:
        assert result.tiers_set == 0 and all(m["tier"] is None for m in bulk.values())
        return
    ruled = tiers_by_the_rule(migrated_engine, programme, "r-")
    for name, got in bulk.items():
        assert (got["tier"], got["tier_until"]) == ruled.get(name, (None, None)), name
        reference = one_by_one[name]
        if reference["tier"] is not None and ruled.get(name, (None,))[0] == reference["tier"]:
            assert got["tier_until"] == reference["tier_until"], name  # none moved down
    assert result.tiers_set == sum(1 for m in bulk.values() if m["tier"]) > 0
    assert any(m["tier"] is None for m in bulk.values())  # only orders long ago
    assert len({m["tier"] for m in bulk.values()}) >= 3
    with Session(migrated_engine) as session:
        moves = select(LoyaltyTierChange.direction).join(LoyaltyAccount).join(Customer)
        assert set(session.scalars(moves.where(ours))) == {"backfill"}


def ledger(engine: Engine) -> tuple[list[Any], list[Any]]:
    with Session(engine) as session:
        entries = session.execute(select(LoyaltyEntry).order_by(LoyaltyEntry.id)).scalars()
        accounts = session.execute(select(LoyaltyAccount).order_by(LoyaltyAccount.id)).scalars()
        return (
            [(x.key, x.points, x.pending_points, x.occurred_at) for x in entries],
            [(x.id, x.available, x.pending, x.earned, x.tier, x.tier_until) for x in accounts],
        )


def test_a_second_run_changes_nothing(migrated_engine: Engine) -> None:
    rows = history(5, "")
    first = backfill_orders(migrated_engine, ROLLING, table(rows), now=NOW, recorded_by="t")
    before = ledger(migrated_engine)
    again = backfill_orders(migrated_engine, ROLLING, table(rows), now=NOW, recorded_by="t")
    assert ledger(migrated_engine) == before
    assert first.orders_replayed > 0 and again.orders_replayed == 0
    assert again.orders_already_in_ledger == first.orders_replayed
    assert (again.customers_created, again.points_expired, again.tiers_set) == (0, 0, 0)
    more = [*rows, ("new", "o-new", NOW - timedelta(days=30), Decimal("500.00"), "DKK", False)]
    third = backfill_orders(migrated_engine, ROLLING, table(more), now=NOW, recorded_by="t")
    assert (third.orders_replayed, third.customers_created) == (1, 1)


def test_refunds_take_back_in_proportion_pending_first(migrated_engine: Engine) -> None:
    old, new = NOW - timedelta(days=100), NOW - timedelta(days=5)
    rows: list[Row] = [
        ("ida", "O-1", old, Decimal("1000.00"), "DKK", False),  # 1,500 points
        ("ida", "O-1", old + timedelta(days=2), Decimal("-250.00"), "DKK", True),  # pending
        ("ida", "O-1", old + timedelta(days=40), Decimal("-100.00"), "DKK", True),  # available
        ("bob", "O-2", new, Decimal("300.00"), "DKK", False),  # 450 pending
        ("bob", "O-2", new + timedelta(days=1), Decimal("-100.00"), "DKK", True),
        ("bob", "O-3", new, Decimal("40.00"), "DKK", False),  # below the minimum
        ("eve", "O-4", new, Decimal("400.00"), "EUR", False),  # another currency
        ("eve", "O-5", new, Decimal("-10.00"), "DKK", True),  # its order is not here
    ]
    result = backfill_orders(migrated_engine, ROLLING, table(rows), now=NOW, recorded_by="t")
    assert result.skipped == {
        "not in DKK": 1,
        "earn no points (amount, minimum order)": 1,
        "refund rows of orders not in the input": 1,
    }
    assert (result.orders_replayed, result.refunds_reversed, result.members) == (2, 2, 2)
    with Session(migrated_engine) as session:
        entries = {
            (x.key, x.kind): (x.points, x.pending_points, x.amount_minor, x.refers_to is not None)
            for x in session.scalars(select(LoyaltyEntry))
        }
        assert entries[("order:O-1", "earn")] == (1125, 375, 100_000, False)
        assert entries[("refund:O-1:backfill", "reverse")] == (-150, -375, -35_000, True)
        assert entries[("order:O-2", "earn")] == (0, 450, 30_000, False)
        assert entries[("refund:O-2:backfill", "reverse")] == (0, -150, -10_000, True)
        ida, bob = members(migrated_engine, "")["ida"], members(migrated_engine, "")["bob"]
        assert (ida["available"], ida["pending"], ida["earned"]) == (975, 0, 975)
        assert (bob["available"], bob["pending"], bob["earned"]) == (0, 300, 300)
        # the live path goes on from there: the rest of O-1 refunded, O-2 released
        rest = reverse_for_refund(
            session, ROLLING, customer="ida", order_id="O-1", amount_minor=100_000,
            refunded_minor=100_000, refund_id="R-9", now=NOW, recorded_by="t",
        )  # fmt: skip
        assert rest is not None and (rest.points, rest.pending_points) == (-975, 0)
        assert release_due(session, ROLLING, now=NOW + timedelta(days=14)) == 1
        bob = members(migrated_engine, "")["bob"]
        assert (bob["available"], bob["pending"]) == (300, 0)


def test_the_stores_refunds_take_nothing_back_twice_after_a_backfill(
    migrated_engine: Engine,
) -> None:
    """History loaded into the store too (``retentio load``): the round then meets the
    backfilled orders' refunds in the store's refunds, and must not take them back again."""
    old = NOW - timedelta(days=100)
    refunds = [
        (old + timedelta(days=2), Decimal("250.00")),
        (old + timedelta(days=40), Decimal("100.00")),
    ]
    order = {
        "external_id": "O-1", "customer_id": "ida", "ordered_at": old.isoformat(),
        "currency": "DKK", "total": "1000.00",
        "refunds": [{"refunded_at": at.isoformat(), "amount": str(a)} for at, a in refunds],
    }  # fmt: skip
    with Session(migrated_engine) as session:
        ingest_orders(session, [order], actor="test")
        configure_programme(session, ROLLING_DEFINITION, actor="test")
        # the programme began before the order: the round meets its refunds (an earlier
        # start leaves them to the backfill alone)
        session.execute(update(LoyaltyProgramme).values(created_at=old - timedelta(days=1)))
        session.commit()
    rows: list[Row] = [("ida", "O-1", old, Decimal("1000.00"), "DKK", False)]
    rows += [("ida", "O-1", at, -a, "DKK", True) for at, a in refunds]
    backfill_orders(migrated_engine, ROLLING, table(rows), now=NOW, recorded_by="t")
    before = members(migrated_engine, "")["ida"]
    assert (before["available"], before["earned"]) == (975, 975)
    with Session(migrated_engine) as session:
        assert sync_store_orders(session, ROLLING, now=NOW).refunds == 2
    assert members(migrated_engine, "")["ida"] == before


def test_inactivity_expires_on_the_day_expire_points_does(migrated_engine: Engine) -> None:
    programme = parse_programme({"pending_days": 0, "expiry": {"inactive_months": 1}})
    zone = programme.zone
    now = datetime(2026, 3, 31, 10, 0, tzinfo=zone)  # a month after 28 February is 28 March
    when = ((2, 27, 12), (2, 28, 9), (2, 28, 15), (3, 1, 9))
    lasts = [datetime(2026, month, day, hour, tzinfo=zone) for month, day, hour in when]
    with Session(migrated_engine) as session:
        session.add_all(Customer(external_id=f"r{n}", attributes={}) for n in range(len(lasts)))
        session.commit()
        for n, last in enumerate(lasts):
            earn_for_order(
                session, programme, customer=f"r{n}", order_id=f"r{n}", amount_minor=50_000,
                currency="DKK", ordered_at=last, now=last, recorded_by="test",
            )  # fmt: skip
        expire_points(session, programme, now=now)
    rows: list[Row] = [
        (f"b{n}", f"b{n}", last, Decimal("500.00"), "DKK", False) for n, last in enumerate(lasts)
    ]
    backfill_orders(migrated_engine, programme, table(rows), now=now, recorded_by="test")
    found = members(migrated_engine, "")
    expired = [found[f"r{n}"]["expired"] for n in range(len(lasts))]
    assert expired == [500, 500, 500, 0]
    assert [found[f"b{n}"]["expired"] for n in range(len(lasts))] == expired


def test_a_bad_row_writes_nothing(migrated_engine: Engine) -> None:
    rows: list[Row] = [
        ("ida", "O-1", NOW - timedelta(days=3), Decimal("100.00"), "DKK", False),
        ("ida", "O-1", NOW - timedelta(days=2), Decimal("20.00"), "DKK", True),
        ("bob", "O-2", NOW + timedelta(days=1), Decimal("100.00"), "DKK", False),
        ("bob", "O-3", NOW - timedelta(days=3), Decimal("100.001"), "DKK", False),
        ("", "O-4", NOW - timedelta(days=3), Decimal("100.00"), "DKK", False),
        ("eve", "O-1", NOW - timedelta(days=1), Decimal("100.00"), "DKK", False),
    ]
    with pytest.raises(DataError) as raised:
        backfill_orders(migrated_engine, ROLLING, table(rows), now=NOW, recorded_by="t")
    message = str(raised.value)
    assert message.startswith("5 of 6 row(s) are invalid, so nothing was written")
    for expected in (
        "row 2 (order O-1): amount: positive on a refund",
        "row 3 (order O-2): ordered_at: after now",
        "row 4 (order O-3): amount: more decimals than DKK has",
        "row 5 (order O-4): customer_id: missing",
        "row 6 (order O-1): order_id: the order is on an earlier row already",
    ):
        assert expected in message
    with Session(migrated_engine) as session:
        for kind in (Customer, LoyaltyAccount, LoyaltyEntry):
            assert session.scalar(select(func.count()).select_from(kind)) == 0


def test_tiers_are_set_from_history_and_only_ever_up(migrated_engine: Engine) -> None:
    year = timedelta(days=365)
    rows: list[Row] = [
        ("ida", "O-1", NOW - 2 * year, Decimal("9000.00"), "DKK", False),  # Gold, long ago
        ("ida", "O-2", NOW - year / 2, Decimal("2500.00"), "DKK", False),  # Silver, still held
        ("bob", "O-3", NOW - year / 3, Decimal("3000.00"), "DKK", False),
        ("bob", "O-4", NOW - year / 4, Decimal("3500.00"), "DKK", False),  # Gold: 6,500
        ("bob", "O-5", NOW - year / 5, Decimal("100.00"), "DKK", False),  # Gold again
    ]
    result = backfill_orders(migrated_engine, ROLLING, table(rows), now=NOW, recorded_by="t")
    zone = ROLLING.zone
    assert result.tiers_set == 2
    with Session(migrated_engine) as session:
        accounts = {
            c.external_id: a
            for a, c in session.execute(select(LoyaltyAccount, Customer).join(Customer))
        }
        ida, bob = accounts["ida"], accounts["bob"]
        assert (ida.tier, ida.tier_since) == ("Silver", rows[1][2])
        assert ida.tier_until == add_months(rows[1][2], 12, zone)
        assert (bob.tier, bob.tier_since) == ("Gold", rows[3][2])
        assert bob.tier_until == add_months(rows[4][2], 12, zone)
        changes = session.scalars(select(LoyaltyTierChange)).all()
        assert sorted((c.from_tier, c.to_tier, c.direction, c.qualifying) for c in changes) == [
            (None, "Gold", "backfill", 660_000),  # the value of the last order that reached it
            (None, "Silver", "backfill", 250_000),
        ]
        ida.tier, ida.tier_until = "Gold", NOW + year  # reached live meanwhile
        session.commit()
    later = [("ida", "O-6", NOW - timedelta(days=20), Decimal("10.00") * 400, "DKK", False)]
    again = backfill_orders(migrated_engine, ROLLING, table(later), now=NOW, recorded_by="t")
    assert again.tiers_set == 0  # Silver (6,500 over the window) does not move Gold down
    with Session(migrated_engine) as session:
        tier = session.scalar(
            select(LoyaltyAccount.tier).join(Customer).where(Customer.external_id == "ida")
        )
        assert tier == "Gold"
