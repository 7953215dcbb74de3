"""Benchmark loyalty: the backfill of historical orders, and single earns and redemptions
through the API.

Usage (from the repository root)::

    .venv/bin/python benchmarks/loyalty.py          # 1,000,000 orders of 100,000 members; both
    .venv/bin/python benchmarks/loyalty.py --orders 100000 --members 10000 --databases sqlite

For each database (one after the other): a fresh store (a SQLite file in a temporary
directory; a new PostgreSQL database at ``--postgres``), migrated with ``retentio init``, the
programme below saved with ``retentio loyalty configure``, then

- **backfill**: ``retentio loyalty backfill orders.parquet --json`` in its own process, timed
  from its start to its exit (the CLI's start-up and reading the file included), with its CPU
  time and peak RSS (``wait4``); then the same command again, which must replay nothing.
  The orders are generated here, seeded: ``--members`` customers with ``--orders`` orders
  over the three years before the run (uniform times, 10 a member on average, lognormal
  amounts of about 250 DKK), 3 % refunded 1 hour to 30 days later (30 % of those by half);
  order ids follow time, as shops number them.
- **api**: ``retentio serve`` (one process) on the backfilled store, a write key, the key's
  rate limit raised (the default 100 a second would refuse some of these), the server's
  start-up loyalty round left to finish (up to ``--settle`` seconds for the CPUs to go
  quiet), then one keep-alive connection sends ``--warmup`` uncounted and ``--requests``
  timed ``POST /api/v1/loyalty/earn`` (a new order of a random member each), then as many
  ``POST /api/v1/loyalty/redeem`` (1 point of a member with points, a key each), one after
  another: the latency of each from sending to the last byte of the answer.

Results: a Markdown table on stdout and ``benchmarks/results/loyalty-<date>.json`` (a run of
one database or part updates its entries in that day's file).
"""

from __future__ import annotations

import argparse
import gc
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
from psycopg import sql
from run import (
    RESULTS,
    command_line,
    cpu_busy,
    log,
    machine,
    source_state,
    wait_until_idle,
    write_database_results,
)

from retentio.analytics.schema import TRANSACTIONS_SCHEMA

REPO = Path(__file__).resolve().parent.parent
RETENTIO = str(REPO / ".venv" / "bin" / "retentio")
TARGET_BACKFILL_S = 60.0
TARGET_P99_MS = 25.0
YEARS_US = 3 * 365 * 86_400_000_000
PROGRAMME = """\
currency: DKK
earn: {points_per_unit: 1}  # no minimum: all 1,000,000 orders earn
pending_days: 14
expiry: {months: 12}
tiers:
  qualify_on: spend
  period: rolling_12_months
  grace_days: 30
  levels:
    - {name: Bronze, threshold: 0}
    - {name: Silver, threshold: 5000, multiplier: 1.25}
    - {name: Gold, threshold: 15000, multiplier: 1.5}
"""


def generate(path: Path, orders: int, members: int, seed: int, end_us: int) -> dict[str, Any]:
    """The seeded shop's orders and refunds, normalised, ending at ``end_us``."""
    rng = np.random.default_rng(seed)
    at = np.sort(end_us - rng.integers(0, YEARS_US, orders))
    who = rng.integers(0, members, orders)
    cents = np.maximum(np.round(np.exp(rng.normal(5.5, 0.9, orders)) * 100), 1000).astype(int)
    refunded = np.flatnonzero(rng.random(orders) < 0.03)
    refund_at = at[refunded] + rng.integers(3_600_000_000, 30 * 86_400_000_000, refunded.size)
    refunded, refund_at = refunded[refund_at < end_us], refund_at[refund_at < end_us]
    half = rng.random(refunded.size) < 0.3
    back = np.where(half, cents[refunded] // 2, cents[refunded])
    rows = np.concatenate([np.arange(orders), refunded])
    table = pa.table(
        {
            "customer_id": [f"C{c:07d}" for c in who[rows].tolist()],
            "order_id": [f"O{o:08d}" for o in rows.tolist()],
            "ordered_at": pa.array(np.concatenate([at, refund_at]), pa.timestamp("us", "UTC")),
            "amount": np.concatenate([cents, -back]) / 100,
            "currency": ["DKK"] * rows.size,
            "is_refund": np.arange(rows.size) >= orders,
            "status": pa.nulls(rows.size, pa.string()),
        },
        schema=TRANSACTIONS_SCHEMA,
    )
    pq.write_table(table, path)
    ends = datetime.fromtimestamp(end_us / 1e6, UTC).isoformat()
    return {"orders": orders, "refund_rows": int(refunded.size), "members": members,
            "seed": seed, "ends": ends}  # fmt: skip


class Store:
    """A fresh migrated store of one kind, with the programme saved."""

    def __init__(self, kind: str, postgres: str, workdir: Path) -> None:
        self.kind, self.workdir, self.admin_url = kind, workdir, postgres
        self.pg_name: str | None = None
        if kind == "sqlite":
            self.url = f"sqlite:///{workdir / 'bench.db'}"
        else:
            self.pg_name = f"retentio_bench_{secrets.token_hex(4)}"
            with psycopg.connect(postgres, autocommit=True) as admin:
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.pg_name)))
            self.url = f"{postgres.rsplit('/', 1)[0]}/{self.pg_name}"
        self.env = {
            **os.environ,
            "RETENTIO_DATABASE_URL": self.url,
            "RETENTIO_SECRET_KEY": secrets.token_urlsafe(48),
            "RETENTIO_API_RATE_PER_SECOND": "10000",
            "RETENTIO_API_RATE_BURST": "10000",
        }
        self.cli("init", "--no-secret-file")
        (workdir / "programme.yaml").write_text(PROGRAMME)
        self.cli("loyalty", "configure", "programme.yaml")

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [RETENTIO, *args], env=self.env, cwd=self.workdir, capture_output=True, check=True
        )
        return done.stdout.decode().strip()

    def timed(self, *args: str) -> dict[str, Any]:
        """Run the CLI; its wall time, CPU time and peak RSS (its own, from wait4), stdout."""
        out = self.workdir / "out.txt"
        with out.open("wb") as sink:
            started = time.perf_counter()
            child = subprocess.Popen([RETENTIO, *args], env=self.env, cwd=self.workdir, stdout=sink)
            _pid, status, usage = os.wait4(child.pid, 0)
            seconds = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed with {child.returncode}")
        return {
            "seconds": round(seconds, 2),
            "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
            "peak_rss_mb": round(usage.ru_maxrss / 1024),  # kilobytes on Linux
            "stdout": out.read_text(),
        }

    def rich_members(self, limit: int) -> list[str]:
        """Members with at least 100 points available."""
        query = (
            "SELECT c.external_id FROM loyalty_accounts a JOIN customers c "
            f"ON c.id = a.customer_id WHERE a.available >= 100 ORDER BY a.id LIMIT {int(limit)}"
        )
        if self.pg_name is None:
            with sqlite3.connect(self.workdir / "bench.db") as connection:
                return [row[0] for row in connection.execute(query)]
        with psycopg.connect(self.url) as connection:
            return [row[0] for row in connection.execute(query)]  # type: ignore[arg-type]

    def settle(self) -> None:
        """Write the bulk load out before the latencies are timed (as benchmarks/api.py)."""
        if self.pg_name is None:
            with sqlite3.connect(self.workdir / "bench.db") as connection:
                connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        else:
            with psycopg.connect(self.url, autocommit=True) as connection:
                connection.execute("VACUUM ANALYZE")
                connection.execute("CHECKPOINT")
        os.sync()

    def drop(self) -> None:
        if self.pg_name is not None:
            with psycopg.connect(self.admin_url, autocommit=True) as admin:
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(self.pg_name)
                    )
                )


def backfill(store: Store, orders: Path, idle: float) -> dict[str, Any]:
    busy = wait_until_idle(idle)  # another process's work would read as the backfill's time
    first = store.timed("loyalty", "backfill", str(orders), "--json")
    result = json.loads(first.pop("stdout"))
    second = store.timed("loyalty", "backfill", str(orders), "--json")
    again = json.loads(second.pop("stdout"))
    if (again["orders_replayed"], again["orders_already_in_ledger"]) != (
        0,
        result["orders_replayed"],
    ):
        raise RuntimeError(f"the second run replayed orders: {again}")
    return {
        **first,
        "cpu_busy_before": None if busy is None else round(busy, 2),
        "orders_per_second": round(result["orders_replayed"] / first["seconds"]),
        "target_seconds": TARGET_BACKFILL_S,
        "met": first["seconds"] < TARGET_BACKFILL_S,
        "result": result,
        "second_run": {**second, "result": again},
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def latencies(
    store: Store, members: list[str], warmup: int, requests: int, settle: float, seed: int
) -> dict[str, Any]:
    """Serve the store; time single earns, then single redemptions, on one connection."""
    token = store.cli("apikey", "create", "--name", "bench", "--scope", "write")
    rich = store.rich_members(5_000)
    port = free_port()
    server = subprocess.Popen(
        [RETENTIO, "serve", "--port", str(port), "--log-level", "warning"],
        env=store.env,
        cwd=store.workdir,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/v1/health").status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.2)
        wait_until_idle(settle, 0.3)  # the server's start-up loyalty round
        rng = np.random.default_rng(seed)
        now = datetime.now(UTC).isoformat()
        earns = [
            {"customer": members[int(i)], "order_id": f"bench-{n}", "amount": "249.00",
             "currency": "DKK", "ordered_at": now}
            for n, i in enumerate(rng.integers(0, len(members), warmup + requests))
        ]  # fmt: skip
        redeems = [
            {"customer": rich[n % len(rich)], "points": 1, "key": f"bench-{n}"}
            for n in range(warmup + requests)
        ]
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        busy_before = cpu_busy(1.0)
        found = {
            "earn": _send(connection, "/api/v1/loyalty/earn", earns, headers, warmup),
            "redeem": _send(connection, "/api/v1/loyalty/redeem", redeems, headers, warmup),
        }
        connection.close()
        return {"cpu_busy_before": round(busy_before, 2), **found}
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=60)


def _send(
    connection: http.client.HTTPConnection, path: str, bodies: list[dict[str, Any]],
    headers: dict[str, str], warmup: int,
) -> dict[str, Any]:  # fmt: skip
    """POST each body in turn; the latencies after the first ``warmup`` of them."""
    encoded = [json.dumps(body).encode() for body in bodies]
    spent = np.zeros(len(encoded))
    statuses: dict[str, int] = {}
    gc.collect()
    gc.disable()  # a collection in the client would read as the server's latency
    try:
        for n, body in enumerate(encoded):
            started = time.perf_counter()
            connection.request("POST", path, body=body, headers=headers)
            answer = connection.getresponse()
            answer.read()
            spent[n] = time.perf_counter() - started
            if n >= warmup:
                statuses[str(answer.status)] = statuses.get(str(answer.status), 0) + 1
    finally:
        gc.enable()
    timed = spent[warmup:] * 1000
    p50, p95, p99 = (float(np.percentile(timed, q)) for q in (50, 95, 99))
    return {
        "requests": int(timed.size),
        "warmup_requests": warmup,
        "statuses": statuses,
        "p50_ms": round(p50, 2),
        "p95_ms": round(p95, 2),
        "p99_ms": round(p99, 2),
        "max_ms": round(float(timed.max()), 2),
        "target_p99_ms": TARGET_P99_MS,
        "met": p99 < TARGET_P99_MS and statuses == {"200": int(timed.size)},
    }


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "| database | backfill s (target < 60) | orders/s | CPU s | peak RSS MB | second run s "
        "| earn p50 / p95 / p99 ms | redeem p50 / p95 / p99 ms (target p99 < 25) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for kind, runs in result["databases"].items():
        b, api = runs.get("backfill"), runs.get("api")
        cells = ["", "", "", "", ""] if b is None else [
            f"{b['seconds']:.1f} {'✓' if b['met'] else '✗'}", f"{b['orders_per_second']:,}",
            f"{b['cpu_seconds']:.1f}", f"{b['peak_rss_mb']:,}", f"{b['second_run']['seconds']:.1f}",
        ]  # fmt: skip
        for part in ("earn", "redeem"):
            t = None if api is None else api[part]
            cells.append("" if t is None else f"{t['p50_ms']:.1f} / {t['p95_ms']:.1f} / "
                         f"{t['p99_ms']:.1f} {'✓' if t['met'] else '✗'}")  # fmt: skip
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--only", choices=["backfill", "api"], default=None)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--requests", type=int, default=3_000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--settle", type=float, default=60.0, help="seconds, at most")
    parser.add_argument(
        "--idle", type=float, default=120.0, help="seconds to wait for quiet CPUs, at most"
    )
    args = parser.parse_args()

    result: dict[str, Any] = {
        "date": date.today().isoformat(),
        "command": command_line("benchmarks/loyalty.py"),
        "machine": machine(),
        "source": source_state(),
        "databases": {},
    }
    for kind in args.databases.split(","):
        workdir = Path(tempfile.mkdtemp(prefix=f"retentio-bench-loyalty-{kind}-"))
        orders = workdir / "orders.parquet"
        end_us = (time.time_ns() // 1000) - 3_600_000_000  # an hour ago
        store = Store(kind, args.postgres, workdir)
        runs: dict[str, Any] = {
            "data": generate(orders, args.orders, args.members, args.seed, end_us)
        }
        try:
            if args.only in (None, "backfill"):
                log(f"{kind}: backfilling {args.orders:,} orders of {args.members:,} members")
                runs["backfill"] = backfill(store, orders, args.idle)
                log(f"{kind}: backfill {runs['backfill']['seconds']} s")
            else:  # the latencies need the backfilled store all the same
                store.cli("loyalty", "backfill", str(orders), "--json")
            if args.only in (None, "api"):
                store.settle()
                members = [f"C{c:07d}" for c in range(args.members)]
                runs["api"] = latencies(
                    store, members, args.warmup, args.requests, args.settle, args.seed
                )
                log(f"{kind}: earn p99 {runs['api']['earn']['p99_ms']} ms, redeem p99 "
                    f"{runs['api']['redeem']['p99_ms']} ms")  # fmt: skip
        finally:
            store.drop()
            shutil.rmtree(workdir, ignore_errors=True)
        result["databases"][kind] = runs
    default = (args.orders, args.members) == (1_000_000, 100_000)
    suffix = "" if default else f"-{args.orders}-{args.members}"
    path = RESULTS / f"loyalty-{result['date']}{suffix}.json"
    write_database_results(path, result)
    print(markdown(result))  # noqa: T201
    log(f"wrote {path}")


if __name__ == "__main__":
    main()
