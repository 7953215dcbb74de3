"""Benchmark the REST API: batch ingestion of orders, and live event tracking latency.

Usage (from the repository root)::

    .venv/bin/python benchmarks/api.py                     # 1,000,000 orders; SQLite and PostgreSQL
    .venv/bin/python benchmarks/api.py --orders 100000 --databases sqlite   # a smoke run

Each database gets a fresh store (a SQLite file in a temporary directory; a new PostgreSQL
database at ``--postgres``), migrated with ``retentio init``, a write key from ``retentio apikey
create``, a rate limit of 1,000 requests a second per key (the default 100 would refuse half
of the tracking), and the server started as users start it: ``retentio serve`` in its own process
(``--workers`` (2) uvicorn processes, one per core). Then:

- **ingestion**: the orders (4 per customer on average, one line each) are sent as
  ``POST /api/v1/orders/batch`` bodies of ``--batch`` (10,000) items, each with an
  Idempotency-Key, one after another on one connection per server process (``--streams``
  defaults to ``--workers``: on SQLite one process validates a batch while the other writes). The
  bodies are serialised before the clock starts, so the figure is the server's: orders / wall
  time from the first request to the last answer.
- **tracking**: ``POST /api/v1/events`` at a fixed ``--rps`` (200 a second) for ``--seconds``
  (30), after a checkpoint that writes the bulk load out (then ``os.sync()`` and
  ``SETTLE_S`` quiet seconds) and ``--warmup`` (5) uncounted
  seconds at that rate (the server's thread pool and database connections, and the client's
  64 connections, start then), open loop:
  each request is sent at its scheduled time from a pool of threads, and its latency counts
  from that time (so a stalled server cannot hide its queue).

Results: a Markdown table on stdout and ``benchmarks/results/api-<date>.json`` (a run of one
database updates that database's entry; ``--streams`` sends the batches over more connections).
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
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psycopg
from psycopg import sql
from run import RESULTS, command_line, log, machine, source_state

REPO = Path(__file__).resolve().parent.parent
RETENTIO = str(REPO / ".venv" / "bin" / "retentio")
TARGET_ORDERS_PER_SECOND = 20_000
TARGET_P99_MS = 20.0
SETTLE_S = 5.0  # quiet seconds between the bulk load written out and the tracking
KEEP_ALIVE_S = 4.0  # under uvicorn's keep-alive timeout (5 s)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def order_batches(orders: int, batch: int, seed: int = 1) -> list[bytes]:
    """``orders`` orders of ``orders // 4`` customers in JSON bodies of ``batch`` items."""
    rng = np.random.default_rng(seed)
    customers = rng.integers(0, max(1, orders // 4), size=orders)
    seconds = rng.integers(0, 3 * 365 * 86400, size=orders)
    cents = rng.integers(1_000, 200_000, size=orders)
    start = 1_700_000_000
    bodies = []
    for first in range(0, orders, batch):
        items = []
        for i in range(first, min(first + batch, orders)):
            when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + int(seconds[i])))
            amount = f"{cents[i] // 100}.{cents[i] % 100:02d}"
            items.append(
                {
                    "external_id": f"o{i}",
                    "customer_id": f"c{customers[i]}",
                    "ordered_at": when,
                    "currency": "DKK",
                    "total": amount,
                    "lines": [{"sku": f"SKU-{i % 500}", "quantity": 1, "amount": amount}],
                }
            )
        bodies.append(json.dumps({"items": items}).encode())
    return bodies


class Store:
    """A fresh database of one kind, and a server on it."""

    def __init__(self, kind: str, postgres: str, workdir: Path, workers: int = 1) -> None:
        self.kind = kind
        self.workers = workers
        self.workdir = workdir
        self.admin_url = postgres
        if kind == "sqlite":
            self.url = f"sqlite:///{workdir / 'bench.db'}"
            self.pg_name = None
        else:
            self.pg_name = f"retentio_bench_{secrets.token_hex(4)}"
            with psycopg.connect(postgres, autocommit=True) as admin:
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.pg_name)))
            self.url = f"{postgres.rsplit('/', 1)[0]}/{self.pg_name}"
        self.env = {
            **os.environ,
            "RETENTIO_DATABASE_URL": self.url,
            "RETENTIO_SECRET_KEY": secrets.token_urlsafe(48),
            # The default limit (100 a second per key) would refuse half of 200 a second.
            "RETENTIO_API_RATE_PER_SECOND": "1000",
        }
        self.server: subprocess.Popen[bytes] | None = None

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [RETENTIO, *args], env=self.env, cwd=self.workdir, capture_output=True, check=True
        )
        return done.stdout.decode().strip()

    def start(self) -> str:
        self.cli("init", "--no-secret-file")
        token = self.cli("apikey", "create", "--name", "bench", "--scope", "write")
        port = free_port()
        self.server = subprocess.Popen(
            [RETENTIO, "serve", "--port", str(port), "--log-level", "warning"]
            + ["--workers", str(self.workers)],
            env=self.env,
            cwd=self.workdir,
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/api/v1/health").status_code == 200:
                    self.base, self.token = base, token
                    return base
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("the server did not start")

    def settle(self) -> None:
        """Write the bulk load out before timing the tracking: a checkpoint (and on PostgreSQL
        the VACUUM ANALYZE autovacuum would start by itself) after a million inserts stalls
        commits for a while, which is the bulk load's cost, not tracking's."""
        if self.pg_name is None:
            with sqlite3.connect(self.workdir / "bench.db") as connection:
                connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            os.sync()
            time.sleep(SETTLE_S)
            return
        with psycopg.connect(self.url, autocommit=True) as connection:
            connection.execute("VACUUM ANALYZE")
            connection.execute("CHECKPOINT")
        os.sync()  # what the kernel still holds of the load goes to the disk now, not later
        time.sleep(SETTLE_S)

    def stop(self) -> None:
        if self.server is not None:
            self.server.send_signal(signal.SIGINT)
            self.server.wait(timeout=30)
        if self.pg_name is not None:
            with psycopg.connect(self.admin_url, autocommit=True) as admin:
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(self.pg_name)
                    )
                )


def ingest(store: Store, bodies: list[bytes], orders: int, streams: int = 1) -> dict[str, Any]:
    """Send the batches over ``streams`` connections at once (one after another on each)."""
    headers = {"Authorization": f"Bearer {store.token}", "Content-Type": "application/json"}
    created = [0] * streams

    def send(stream: int) -> None:
        # A new connection per batch: the server processes share one listening socket, and
        # one process would otherwise keep both streams' connections.
        fresh = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(base_url=store.base, timeout=600, limits=fresh) as http:
            for number in range(stream, len(bodies), streams):
                answer = http.post(
                    "/api/v1/orders/batch",
                    content=bodies[number],
                    headers={**headers, "Idempotency-Key": f"bench-{number}"},
                )
                answer.raise_for_status()
                result = answer.json()
                if result["failed"]:
                    raise RuntimeError(f"batch {number}: {result['errors'][:3]}")
                created[stream] += result["created"]
                if number % 10 == 9:
                    log(f"  {store.kind}: batch {number + 1}/{len(bodies)}")

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=streams) as pool:
        list(pool.map(send, range(streams)))
    seconds = time.perf_counter() - started
    if sum(created) != orders:
        raise RuntimeError(f"created {sum(created)} orders, expected {orders}")
    return {
        "orders": orders,
        "streams": streams,
        "seconds": round(seconds, 2),
        "orders_per_second": round(orders / seconds),
        "target_orders_per_second": TARGET_ORDERS_PER_SECOND,
        "met": orders / seconds >= TARGET_ORDERS_PER_SECOND,
    }


def track(store: Store, rps: float, seconds: float, warmup: float) -> dict[str, Any]:
    """Open-loop tracking at ``rps``: ``warmup`` seconds (not counted: the server's thread
    pool, the database connections and the client's connections start), then ``seconds``."""
    headers = {"Authorization": f"Bearer {store.token}"}
    skipped = int(rps * warmup)
    total = skipped + int(rps * seconds)
    latencies = np.full(total, np.nan)
    statuses = np.zeros(total, dtype=np.int64)
    local = threading.local()
    host, port = store.base.removeprefix("http://").split(":")
    bodies = [
        json.dumps(
            {
                "customer_id": f"c{i % 5000}",
                "name": "viewed_product",
                "occurred_at": "2026-11-24T10:00:00Z",
                "properties": {"sku": f"SKU-{i % 500}"},
            }
        ).encode()
        for i in range(1000)
    ]
    sent_headers = {**headers, "Content-Type": "application/json"}

    failures: dict[str, int] = {}

    def client() -> http.client.HTTPConnection:
        # The standard library's client: a fraction of httpx's CPU, which matters when the
        # load generator shares the machine's two cores with the server and the database.
        # A connection idle for longer than the server keeps one open (uvicorn: 5 s) is
        # replaced before use, as pooling clients do: sent on, the request would meet a
        # closed socket (this happened to threads of the pool that sat idle).
        now = time.monotonic()
        if not hasattr(local, "http") or now - local.used > KEEP_ALIVE_S:
            if hasattr(local, "http"):
                local.http.close()
            local.http = http.client.HTTPConnection(host, int(port), timeout=30)
        local.used = now
        return local.http  # type: ignore[no-any-return]

    def send(i: int, due: float) -> None:
        connection = client()
        try:
            connection.request(
                "POST", "/api/v1/events", body=bodies[i % 1000], headers=sent_headers
            )
            answer = connection.getresponse()
            answer.read()
        except (OSError, http.client.HTTPException) as exc:
            failures[type(exc).__name__] = failures.get(type(exc).__name__, 0) + 1
            connection.close()
            del local.http
            return
        local.used = time.monotonic()
        latencies[i] = time.perf_counter() - due
        statuses[i] = answer.status

    gc.collect()
    gc.disable()  # the load generator must not pause: a collection here would read as latency
    with ThreadPoolExecutor(max_workers=64) as pool:
        start = time.perf_counter() + 0.1
        for i in range(total):
            due = start + i / rps
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            pool.submit(send, i, due)
    gc.enable()
    measured = latencies[skipped:]
    done = measured[~np.isnan(measured)] * 1000
    per_second = [
        round(float(np.percentile(done[i : i + int(rps)], 99)), 1)
        for i in range(0, len(done), int(rps))
    ]
    log(f"  p99 per second: {per_second}")
    p50, p95, p99 = (float(np.percentile(done, q)) for q in (50, 95, 99))
    ok = int(np.isin(statuses[skipped:], (200, 201)).sum())
    codes, counts = np.unique(statuses[skipped:], return_counts=True)
    return {
        "requests": total - skipped,
        "warmup_requests": skipped,
        "rps": rps,
        "ok": ok,
        "statuses": {str(code): int(n) for code, n in zip(codes, counts, strict=True)},
        "failures": failures,
        "p50_ms": round(p50, 2),
        "p95_ms": round(p95, 2),
        "p99_ms": round(p99, 2),
        "max_ms": round(float(done.max()), 2),
        "target_p99_ms": TARGET_P99_MS,
        "met": p99 < TARGET_P99_MS and ok == total - skipped,
    }


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "| database | orders | seconds | orders/s (target ≥ 20,000) | events p50 / p95 / p99 ms "
        "(target p99 < 20) |",
        "|---|---:|---:|---:|---:|",
    ]
    for kind, runs in result["databases"].items():
        i, t = runs["ingestion"], runs["tracking"]
        lines.append(
            f"| {kind} | {i['orders']:,} | {i['seconds']:.1f} | {i['orders_per_second']:,} "
            f"{'✓' if i['met'] else '✗'} | {t['p50_ms']:.1f} / {t['p95_ms']:.1f} / "
            f"{t['p99_ms']:.1f} {'✓' if t['met'] else '✗'} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--rps", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument(
        "--streams", type=int, default=0, help="ingestion streams [default: server processes]"
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="retentio serve --workers (both databases)"
    )
    args = parser.parse_args()

    log(f"serialising {args.orders:,} orders in batches of {args.batch:,}")
    bodies = order_batches(args.orders, args.batch)
    result: dict[str, Any] = {
        "date": date.today().isoformat(),
        "command": command_line("api.py") + " " + " ".join(sys.argv[1:]),
        "machine": machine(),
        "source": source_state(),
        "databases": {},
    }
    for kind in args.databases.split(","):
        workdir = Path(tempfile.mkdtemp(prefix=f"retentio-bench-{kind}-"))
        workers = args.workers
        store = Store(kind, args.postgres, workdir, workers)
        try:
            store.start()
            log(f"{kind}: ingesting")
            ingestion = ingest(store, bodies, args.orders, args.streams or workers)
            log(f"{kind}: {ingestion['orders_per_second']:,} orders/s; checkpoint, then tracking")
            store.settle()
            tracking = track(store, args.rps, args.seconds, args.warmup)
            log(f"{kind}: p99 {tracking['p99_ms']} ms")
            result["databases"][kind] = {
                "server_workers": workers,
                "ingestion": ingestion,
                "tracking": tracking,
            }
        finally:
            store.stop()
            shutil.rmtree(workdir, ignore_errors=True)
    RESULTS.mkdir(exist_ok=True)
    suffix = "" if args.orders == 1_000_000 else f"-{args.orders}"
    path = RESULTS / f"api-{result['date']}{suffix}.json"
    if path.exists():  # a run of one database updates its entry and keeps the other's
        earlier = json.loads(path.read_text())
        result["databases"] = {**earlier.get("databases", {}), **result["databases"]}
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(markdown(result))  # noqa: T201
    log(f"wrote {path}")


if __name__ == "__main__":
    main()
