"""The round earns for the orders the shop sends retentio, on SQLite and PostgreSQL: each order
placed since the programme began earns once (also when the shop posts it to /loyalty/earn
too), history does not, pending orders wait, refunds and cancellations take their share back,
and a second round changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from campaign_helpers import SECRET
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from retentio.ingest import ingest_orders
from retentio.loyalty import (
    balance_of,
    configure_programme,
    current_programme,
    earn_for_order,
)
from retentio.loyalty.store_orders import sync_store_orders
from retentio.store.loyalty_tables import LoyaltyEntry, LoyaltyProgramme

BEGAN = datetime(2026, 11, 1, tzinfo=UTC)
NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)


def order(external_id: str, at: datetime, total: str, **extra: Any) -> dict[str, Any]:
    return {"external_id": external_id, "customer_id": "ida", "ordered_at": at.isoformat(),
            "currency": "DKK", "total": total, **extra}  # fmt: skip


def load(engine: Engine, *orders: dict[str, Any]) -> None:
    with Session(engine) as session:
        result = ingest_orders(session, list(orders), secret=SECRET, actor="test")
        assert not result.errors, result.errors


def run(engine: Engine, now: datetime = NOW) -> dict[str, int]:
    with Session(engine) as session:
        return sync_store_orders(session, current_programme(session), now=now).to_dict()


def test_store_orders_earn_once_and_give_back_on_refunds(migrated_engine: Engine) -> None:
    with Session(migrated_engine) as session:
        configure_programme(session, {"pending_days": 0, "earn": {"minimum_order": 100}},
                            actor="test")  # fmt: skip
        session.execute(update(LoyaltyProgramme).values(created_at=BEGAN))
        session.commit()
    late = BEGAN + timedelta(days=10)
    load(
        migrated_engine,
        order("H-1", BEGAN - timedelta(days=30), "900.00"),  # history: not earned here
        order("O-1", late, "500.00", lines=[{"sku": "TEA", "amount": "500.00"}]),
        order("O-2", late, "40.00"),  # below the minimum: decided once, 0 points
        order("O-3", late, "300.00", status="pending"),  # earns once it is completed
        order("O-4", late, "200.00"),  # cancelled later
    )
    assert run(migrated_engine) == {"orders": 3, "refunds": 0, "cancelled": 0}
    with Session(migrated_engine) as session:
        assert balance_of(session, "ida").available == 700
        repeat = earn_for_order(
            session, current_programme(session), customer="ida", order_id="O-1",
            amount_minor=50_000, currency="DKK", ordered_at=late, now=NOW, recorded_by="shop",
        )  # fmt: skip
        assert repeat is not None and repeat.repeated  # the shop posting it too earns nothing more
    assert run(migrated_engine) == {"orders": 0, "refunds": 0, "cancelled": 0}
    refund = {"external_id": "R-1", "refunded_at": (late + timedelta(days=2)).isoformat(),
              "amount": "100.00"}  # fmt: skip
    load(
        migrated_engine,
        order("O-3", late, "300.00", status="completed"),
        order("O-1", late, "500.00", status="partially_refunded", refunds=[refund]),
        order("O-4", late, "200.00", status="cancelled"),
    )
    assert run(migrated_engine) == {"orders": 1, "refunds": 1, "cancelled": 1}
    with Session(migrated_engine) as session:
        # 500 + 200 + 300, less 100 for the refund and 200 for the cancellation
        assert balance_of(session, "ida").available == 700
        assert session.scalar(select(func.count()).where(LoyaltyEntry.order_id == "H-1")) == 0
        zero = session.scalars(select(LoyaltyEntry).where(LoyaltyEntry.order_id == "O-2")).one()
        assert zero.points == 0 and "earns nothing" in (zero.note or "")
    assert run(migrated_engine) == {"orders": 0, "refunds": 0, "cancelled": 0}


def test_no_programme_means_no_points(migrated_engine: Engine) -> None:
    load(migrated_engine, order("O-1", NOW - timedelta(days=1), "500.00"))
    assert run(migrated_engine) == {"orders": 0, "refunds": 0, "cancelled": 0}
    with Session(migrated_engine) as session:
        configure_programme(session, {"orders_from_store": False}, actor="test")
        session.execute(update(LoyaltyProgramme).values(created_at=BEGAN))
        session.commit()
    assert run(migrated_engine) == {"orders": 0, "refunds": 0, "cancelled": 0}
