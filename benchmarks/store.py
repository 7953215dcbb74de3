"""Benchmark the operational store: bulk ingestion and analytics read back with --db.

Usage (from the repository root; PostgreSQL at RETENTIO_BENCH_POSTGRES_URL or
postgresql://postgres@127.0.0.1:5432/test, whose server gets a scratch database)::

    .venv/bin/python benchmarks/store.py                 # about 1,000,000 orders
    .venv/bin/python benchmarks/store.py --customers 20000 --no-postgres   # a smoke run

Generates the synthetic shop (``retentio.datasets.write_shop``, cached under
``benchmarks/data/store/``), turns its rows into order items (refund rows become the order's
refunds) and upserts them with ``retentio.ingest.ingest_orders`` in batches of 10,000 into a
fresh SQLite file and a fresh PostgreSQL database: orders per second, validation included.
Then ``kpis`` on the store (``read_transactions`` + ``kpis``) against ``kpis`` on the Parquet
file (``load_transactions`` + ``kpis``, what ``retentio kpis FILE`` does), best of ``--repeat``.
Prints Markdown and writes ``benchmarks/results/store-<date>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import machine  # noqa: E402  (the machine description every benchmark records)

DATA = HERE / "data" / "store"
RESULTS = HERE / "results"
BATCH = 10_000
OBSERVATION_END = "2026-06-30"
TARGET_ORDERS_PER_S = 20_000
TARGET_KPIS_RATIO = 2.0
POSTGRES_URL = os.environ.get(
    "RETENTIO_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)  # noqa: T201


def shop_file(customers: int) -> Path:
    from retentio.datasets import write_shop

    path = DATA / f"shop-{customers}.parquet"
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        log(f"generating the shop of {customers:,} customers into {path}")
        write_shop(path, customers, 1)
    return path


def order_items(path: Path) -> list[dict[str, Any]]:
    """The shop's rows as order items, refunds attached to their orders."""
    import pyarrow.parquet as pq

    orders: dict[str, dict[str, Any]] = {}
    refunds = []
    for row in pq.read_table(path).to_pylist():
        if row["status"] == "refunded":
            refunds.append(row)
            continue
        orders[row["order_id"]] = {
            "external_id": row["order_id"],
            "customer_id": row["customer_id"],
            "ordered_at": row["ordered_at"].isoformat(),
            "currency": row["currency"],
            "total": row["amount"],
        }
    for row in refunds:
        orders[row["order_id"]].setdefault("refunds", []).append(
            {"refunded_at": row["ordered_at"].isoformat(), "amount": -row["amount"]}
        )
    return list(orders.values())


def ingest(url: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    from sqlalchemy.orm import Session

    from retentio.ingest import ingest_orders
    from retentio.store import make_engine, upgrade

    engine = make_engine(url)
    upgrade(engine)
    created = 0
    started = time.perf_counter()
    with Session(engine) as session:
        for start in range(0, len(items), BATCH):
            result = ingest_orders(session, items[start : start + BATCH], actor="benchmark")
            if result.failed:
                raise SystemExit(f"refused items: {result.errors[:3]}")
            created += result.created
    seconds = time.perf_counter() - started
    again = time.perf_counter()
    with Session(engine) as session:  # idempotent: the first batch once more changes nothing
        repeat = ingest_orders(session, items[:BATCH], actor="benchmark")
    repeat_seconds = time.perf_counter() - again
    engine.dispose()
    assert created == len(items) and repeat.unchanged == min(BATCH, len(items))
    return {
        "orders": len(items),
        "seconds": round(seconds, 2),
        "orders_per_s": round(len(items) / seconds),
        "repeat_batch_seconds": round(repeat_seconds, 3),
    }


def best(repeat: int, job: Callable[[], Any]) -> tuple[float, Any]:
    times, value = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        value = job()
        times.append(time.perf_counter() - started)
    return min(times), value


def kpis_timings(url: str, path: Path, repeat: int) -> dict[str, Any]:
    from retentio.analytics import kpis, load_transactions
    from retentio.store.arrow import read_transactions

    read_db, table_db = best(repeat, lambda: read_transactions(url))
    read_file, table_file = best(
        repeat, lambda: load_transactions(path, status_col="status", currency_col="currency")
    )
    kpis_db, figures_db = best(repeat, lambda: kpis(table_db, observation_end=OBSERVATION_END))
    kpis_file, figures_file = best(
        repeat, lambda: kpis(table_file, observation_end=OBSERVATION_END)
    )
    for key, value in figures_file.items():  # the same answer both ways
        other = figures_db[key]
        assert value == other or abs(value - other) <= 1e-9 * max(1.0, abs(value)), key
    store, file = read_db + kpis_db, read_file + kpis_file
    return {
        "rows": table_db.num_rows,
        "read_store_s": round(read_db, 3),
        "read_file_s": round(read_file, 3),
        "kpis_s": round(kpis_db, 3),
        "store_total_s": round(store, 3),
        "file_total_s": round(file, 3),
        "ratio": round(store / file, 2),
    }


def postgres_database() -> tuple[str, Callable[[], None]]:
    import psycopg
    from psycopg import sql

    name = f"retentio_bench_{secrets.token_hex(4)}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def drop() -> None:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    return f"{POSTGRES_URL.rsplit('/', 1)[0]}/{name}", drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=310_000, help="about 1M orders")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()

    path = shop_file(args.customers)
    items = order_items(path)
    log(f"{len(items):,} orders from {path.name}")
    results: dict[str, Any] = {"date": date.today().isoformat(), "machine": machine()}
    targets = [("sqlite", f"sqlite:///{DATA / 'store.db'}")]
    cleanup: list[Callable[[], None]] = []
    if not args.no_postgres:
        url, drop = postgres_database()
        targets.append(("postgresql", url))
        cleanup.append(drop)
    try:
        for name, url in targets:
            if name == "sqlite":
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{DATA / 'store.db'}{suffix}").unlink(missing_ok=True)
            log(f"{name}: ingesting")
            results[name] = {"ingest": ingest(url, items)}
            log(f"{name}: kpis")
            results[name]["kpis"] = kpis_timings(url, path, args.repeat)
    finally:
        for drop in cleanup:
            drop()

    columns = [
        "store", "orders", "ingest s", "orders/s", "read store s", "read file s", "kpis s",
        "store total s", "file total s", "ratio",
    ]  # fmt: skip
    print("| " + " | ".join(columns) + " |")  # noqa: T201
    print("|---|---|---|---|---|---|---|---|---|---|")  # noqa: T201
    for name, _ in targets:
        i, k = results[name]["ingest"], results[name]["kpis"]
        print(  # noqa: T201
            f"| {name} | {i['orders']:,} | {i['seconds']} | {i['orders_per_s']:,} | "
            f"{k['read_store_s']} | {k['read_file_s']} | {k['kpis_s']} | {k['store_total_s']} | "
            f"{k['file_total_s']} | {k['ratio']} |"
        )
        ok_ingest = i["orders_per_s"] >= TARGET_ORDERS_PER_S
        ok_kpis = k["ratio"] <= TARGET_KPIS_RATIO
        verdict = {True: "met", False: "MISSED"}
        log(f"{name}: ingest target {verdict[ok_ingest]}, kpis target {verdict[ok_kpis]}")
    RESULTS.mkdir(exist_ok=True)
    suffix = "" if args.customers == 310_000 else f"-{args.customers}"
    out = RESULTS / f"store-{results['date']}{suffix}.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    log(f"wrote {out}")


if __name__ == "__main__":
    main()
