"""Bulk reads of the store into the transactions table, on SQLite and PostgreSQL."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from retentio.analytics import kpis, load_transactions
from retentio.analytics.schema import TRANSACTIONS_SCHEMA
from retentio.datasets import generate_shop
from retentio.ingest import ingest_orders
from retentio.store.arrow import read_transactions

ORDERS: list[dict[str, Any]] = [
    {
        "external_id": "O1",
        "customer_id": "C1",
        "ordered_at": "2026-01-05T10:00:00+01:00",
        "currency": "EUR",
        "total": "100.10",
        "refunds": [
            {"refunded_at": "2026-01-09T08:00:00Z", "amount": "10.05"},
            {"external_id": "R2", "refunded_at": "2026-01-10T08:00:00Z", "amount": 5},
        ],
    },
    {
        "external_id": "O2",
        "customer_id": "C1",
        "ordered_at": "2026-02-01T00:30:00+02:00",
        "currency": "EUR",
        "total": 20,
        "status": "partially_refunded",
    },
    {
        "external_id": "O3",
        "customer_id": "C2",
        "ordered_at": "2026-01-20T12:00:00Z",
        "currency": "JPY",
        "total": 1500,
    },
    {
        "external_id": "O4",
        "customer_id": "C2",
        "ordered_at": "2026-01-21T12:00:00Z",
        "currency": "EUR",
        "total": "9.99",
        "status": "cancelled",
        "refunds": [{"refunded_at": "2026-01-22T08:00:00Z", "amount": "9.99"}],
    },
    {
        "external_id": "O5",
        "customer_id": "C3",
        "ordered_at": "2026-01-23T12:00:00Z",
        "currency": "EUR",
        "total": "5",
        "status": "pending",
    },
]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_orders_and_refunds_read_back_as_the_transactions_table(migrated_engine: Engine) -> None:
    with Session(migrated_engine) as session:
        assert ingest_orders(session, ORDERS, actor="t").created == 5
    table = read_transactions(migrated_engine)
    assert table.schema == TRANSACTIONS_SCHEMA
    assert table.schema.metadata == TRANSACTIONS_SCHEMA.metadata
    got = sorted(table.to_pylist(), key=lambda r: (r["order_id"], r["is_refund"], r["amount"]))
    expected = [
        ("C1", "O1", at("2026-01-05T09:00:00+00:00"), 100.10, "EUR", False, "completed"),
        ("C1", "O1", at("2026-01-09T08:00:00+00:00"), -10.05, "EUR", True, "refunded"),
        ("C1", "O1", at("2026-01-10T08:00:00+00:00"), -5.0, "EUR", True, "refunded"),
        ("C1", "O2", at("2026-01-31T22:30:00+00:00"), 20.0, "EUR", False, "partially_refunded"),
        ("C2", "O3", at("2026-01-20T12:00:00+00:00"), 1500.0, "JPY", False, "completed"),
    ]
    names = TRANSACTIONS_SCHEMA.names
    wanted = [dict(zip(names, row, strict=True)) for row in expected]
    assert sorted(wanted, key=lambda r: (r["order_id"], r["is_refund"], r["amount"])) == got


def test_an_empty_store_reads_as_an_empty_table(migrated_engine: Engine) -> None:
    table = read_transactions(migrated_engine)
    assert table.num_rows == 0
    assert table.schema == TRANSACTIONS_SCHEMA


def test_the_url_works_like_the_engine(migrated_engine: Engine, database_url: str) -> None:
    with Session(migrated_engine) as session:
        ingest_orders(session, ORDERS[:1], actor="t")
    assert read_transactions(database_url).num_rows == 3


def _as_items(shop: pa.Table) -> list[dict[str, Any]]:
    """The synthetic shop's export as order items: refund rows become the order's refunds."""
    orders: dict[str, dict[str, Any]] = {}
    for row in shop.to_pylist():
        if row["status"] != "refunded":
            orders[row["order_id"]] = {
                "external_id": row["order_id"],
                "customer_id": row["customer_id"],
                "ordered_at": row["ordered_at"].isoformat(),
                "currency": row["currency"],
                "total": row["amount"],
                "refunds": [],
            }
    for row in shop.to_pylist():
        if row["status"] == "refunded":
            orders[row["order_id"]]["refunds"].append(
                {"refunded_at": row["ordered_at"].isoformat(), "amount": -row["amount"]}
            )
    return list(orders.values())


def test_kpis_on_the_store_equal_kpis_on_the_file(migrated_engine: Engine, tmp_path: Path) -> None:
    shop = generate_shop(300, seed=5)
    path = tmp_path / "orders.parquet"
    import pyarrow.parquet as pq

    pq.write_table(shop, path)
    with Session(migrated_engine) as session:
        result = ingest_orders(session, _as_items(shop), actor="t")
    assert result.failed == 0, result.errors[:3]
    from_file = kpis(
        load_transactions(path, status_col="status", currency_col="currency"),
        observation_end="2026-06-30",
    )
    from_store = kpis(read_transactions(migrated_engine), observation_end="2026-06-30")
    assert list(from_store) == list(from_file)
    for key, value in from_file.items():
        if isinstance(value, float) and math.isnan(value):
            assert math.isnan(from_store[key]), key
        else:
            assert from_store[key] == pytest.approx(value, rel=1e-12), key
