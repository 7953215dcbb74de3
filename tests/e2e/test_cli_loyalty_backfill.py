"""`retentio loyalty backfill`, end to end on a SQLite store: a normalised Parquet file, then
the same orders as a shop's CSV export with its own column names (nothing new the second
time)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cli_helpers import count, invoke, make_database
from sqlalchemy.orm import Session

from retentio.analytics.schema import TRANSACTIONS_SCHEMA
from retentio.loyalty.service import configure_programme
from retentio.store import make_engine

PROGRAMME = {
    "pending_days": 14,
    "tiers": {"levels": [{"name": "Silver", "threshold": 0}, {"name": "Gold", "threshold": 2000}]},
}


def test_backfill_a_parquet_file_then_a_csv_export_of_the_same_orders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = make_database(tmp_path, monkeypatch)
    engine = make_engine(url)
    with Session(engine) as session:
        configure_programme(session, PROGRAMME, actor="test")
    engine.dispose()
    now = datetime.now(UTC)
    rows = [  # customer, order, when, amount, currency, refund
        ("ida", "O-1", now - timedelta(days=300), 1500.0, "DKK", False),
        ("ida", "O-2", now - timedelta(days=200), 800.0, "DKK", False),
        ("ida", "O-2", now - timedelta(days=190), -300.0, "DKK", True),
        ("bob", "O-3", now - timedelta(days=3), 250.0, "DKK", False),  # still pending
        ("bob", "O-4", now - timedelta(days=30), 99.0, "EUR", False),
    ]
    names = ["customer_id", "order_id", "ordered_at", "amount", "currency", "is_refund"]
    values = zip(*rows, strict=True)
    columns = {name: list(column) for name, column in zip(names, values, strict=True)}
    table = pa.table({**columns, "status": [None] * len(rows)}, schema=TRANSACTIONS_SCHEMA)
    pq.write_table(table, tmp_path / "orders.parquet")

    first = invoke("loyalty", "backfill", "orders.parquet", "--json")
    assert first.exit_code == 0, first.output
    result = json.loads(first.stdout)
    assert result["orders_read"] == 4 and result["orders_replayed"] == 3
    assert result["skipped"] == {"not in DKK": 1}
    assert (result["customers_created"], result["members"], result["tiers_set"]) == (2, 2, 2)
    # ida: 1,500 + 800 - 300 available; bob: 250 pending
    assert (result["points_available"], result["points_pending"]) == (2000, 250)
    assert result["refunds_reversed"] == 1 and result["points_expired"] == 0
    entries = count(url, "loyalty_entries")
    assert entries == 4 and count(url, "loyalty_tier_changes") == 2
    assert count(url, "events") == 0  # history fires no journeys

    export = tmp_path / "export.csv"
    lines = ["email,order_no,created,total"] + [
        f"{c},{o},{at.isoformat()},{amount:.2f}"
        for c, o, at, amount, cur, _ in rows
        if cur == "DKK"
    ]
    export.write_text("\n".join(lines) + "\n")
    again = invoke(
        "loyalty", "backfill", str(export), "--customer-col", "email", "--order-col",
        "order_no", "--date-col", "created", "--amount-col", "total", "--currency", "DKK",
    )  # fmt: skip
    assert again.exit_code == 0, again.output
    assert "Replayed 0 of 3 orders" in again.output
    assert "Left out: 3 already in the ledger." in again.output
    assert count(url, "loyalty_entries") == entries
