"""Benchmark subscriptions: the renewal run of 1,000,000 active subscriptions, all due.

Usage (from the repository root)::

    .venv/bin/python benchmarks/subscriptions.py          # 1,000,000 subscriptions; both databases
    .venv/bin/python benchmarks/subscriptions.py --subscriptions 100000 --databases sqlite

For each database (one after the other): a fresh store (a SQLite file in a temporary
directory; a new PostgreSQL database at ``--postgres``) migrated with ``retentio init``, then
the seeded shop written straight into its tables, set-based (``executemany`` of one prepared
statement on SQLite, ``COPY`` on PostgreSQL): ``--customers`` customers and
``--subscriptions`` active subscriptions whose next order falls on one of the seven days up
to the run's time (``--at``), every one due; 1-3 items each. The mix: monthly (60 %), every
2 months (10 %), every 2 or 4 weeks (15 %, 5 %), every 30 days (10 %); DKK, EUR, SEK; 4 time
zones; 2 % in their last cycle (they expire), 1 % with the due date skipped, 3 % with a save
offer's discount left. Each run works on its own copy of the seeded store (a file copy;
``CREATE DATABASE ... TEMPLATE``):

- **cli**: ``retentio subscriptions renew --at <at> --json`` in its own process, timed from
  its start to its exit (start-up included), with its CPU time and peak RSS (GNU time; on
  PostgreSQL the server's CPU is not in it); then the same command again, which must make
  nothing.
- **in-process**: ``renew_due(session, policy, now=at)`` alone, timed around the call, in a
  fresh process of its own (``--renew-in-process``).

Each run is checked: one order per renewed subscription, none due afterwards. Results: a
Markdown table on stdout and ``benchmarks/results/subscriptions-<date>.json`` (a run of one
database updates its entry in that day's file).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import psycopg
from psycopg import sql
from run import (
    RESULTS,
    command_line,
    log,
    machine,
    source_state,
    wait_until_idle,
    write_database_results,
)

from retentio.subscriptions.policy import Policy
from retentio.subscriptions.schedule import Cadence, renewal_instant

REPO = Path(__file__).resolve().parent.parent
RETENTIO = str(REPO / ".venv" / "bin" / "retentio")
TARGET_S = 60.0
AT = "2027-06-15T12:00:00+00:00"
ZONES = ("Europe/Copenhagen", "Europe/Amsterdam", "Europe/London", "America/New_York")
CADENCES = (("month", 1), ("month", 2), ("week", 2), ("week", 4), ("day", 30))
CURRENCIES = ("DKK", "EUR", "SEK")


def _text(at: datetime) -> str:
    """A timestamp as the store keeps it on SQLite (UTC wall clock, microseconds)."""
    return at.astimezone(UTC).isoformat(" ", "microseconds")[:26]


def generate(count: int, customers: int, seed: int, at: datetime) -> dict[str, Any]:
    """The seeded subscriptions, items and customers, as columns of Python values."""
    rng = np.random.default_rng(seed)
    policy = Policy()
    today = at.date()
    cadence = rng.choice(len(CADENCES), count, p=[0.6, 0.1, 0.15, 0.05, 0.1])
    zone = rng.choice(len(ZONES), count, p=[0.7, 0.1, 0.1, 0.1])
    currency = rng.choice(len(CURRENCIES), count, p=[0.8, 0.15, 0.05])
    back = rng.integers(1, 8, count)  # due 1-7 days ago: due whatever the zone
    cycle = rng.integers(0, 25, count)
    last = rng.random(count) < 0.02
    skipped_now = rng.random(count) < 0.01
    discounted = rng.random(count) < 0.03
    owner = rng.integers(1, customers + 1, count)
    instants: dict[tuple[date, int], datetime] = {}
    rows = []
    for n in range(count):
        on = today - timedelta(days=int(back[n]))
        unit, every = CADENCES[cadence[n]]
        steps = int(cycle[n])
        # ``steps`` cadences before the due date (a day of the month every month has)
        anchor = Cadence(unit, every).nth(on, -steps)
        key = (on, int(zone[n]))
        if key not in instants:
            instants[key] = renewal_instant(on, policy.renewal_time, ZoneInfo(ZONES[zone[n]]))
        created = datetime.combine(anchor, datetime.min.time(), UTC) - timedelta(days=3)
        rows.append(
            (
                n + 1, int(owner[n]), "active", CURRENCIES[currency[n]], unit, every,
                ZONES[zone[n]], anchor, on, instants[key], steps,
                steps + 1 if last[n] else None,
                json.dumps([on.isoformat()] if skipped_now[n] else []),
                json.dumps({"percent": 20, "cycles": 1}) if discounted[n] else None,
                created, created,
            )
        )  # fmt: skip
    lines = rng.choice(3, count, p=[0.7, 0.25, 0.05]) + 1
    owners = np.repeat(np.arange(1, count + 1), lines)
    number = np.concatenate([np.arange(k) for k in lines]) if count else np.array([], int)
    prices = np.maximum(np.round(np.exp(rng.normal(4.8, 0.5, owners.size)) * 100), 500)
    quantity = rng.integers(1, 4, owners.size)
    items = [
        (int(s), f"SKU-{int(k)}", int(q), int(p))
        for s, k, q, p in zip(owners, number, quantity, prices, strict=True)
    ]
    return {
        "subscriptions": rows,
        "items": items,
        "customers": customers,
        "expected": {
            "orders": int(count - skipped_now.sum()),
            "skipped": int(skipped_now.sum()),
            "expired": int((last & ~skipped_now).sum()),
        },
        "data": {
            "subscriptions": count,
            "customers": customers,
            "items": len(items),
            "seed": seed,
            "at": at.isoformat(),
            "in_last_cycle": int(last.sum()),
            "due_date_skipped": int(skipped_now.sum()),
            "discounted": int(discounted.sum()),
        },  # fmt: skip
    }


_SUBSCRIPTION_COLUMNS = (
    "id, customer_id, status, currency, cadence_unit, cadence_count, time_zone, anchor_on, "
    "next_order_on, next_order_at, cycle, max_cycles, skipped, discount, created_at, updated_at"
)


def _customer_ids(customers: int) -> Iterator[tuple[int, str]]:
    return ((n, f"C{n:07d}") for n in range(1, customers + 1))


def load_sqlite(path: Path, shop: dict[str, Any]) -> None:
    """The shop written with executemany, in one transaction, as the store's types write it."""
    with sqlite3.connect(path) as connection:
        connection.executemany(
            "INSERT INTO customers (id, external_id, attributes) VALUES (?, ?, '{}')",
            _customer_ids(shop["customers"]),
        )
        connection.executemany(
            f"INSERT INTO subscriptions ({_SUBSCRIPTION_COLUMNS}) "  # noqa: S608 (constants)
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                (
                    *row[:7],
                    row[7].isoformat(),
                    row[8].isoformat(),
                    _text(row[9]),
                    *row[10:14],
                    _text(row[14]),
                    _text(row[15]),
                )
                for row in shop["subscriptions"]
            ),  # fmt: skip
        )
        connection.executemany(
            "INSERT INTO subscription_items (subscription_id, product, quantity, price_minor) "
            "VALUES (?, ?, ?, ?)",
            shop["items"],
        )
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def load_postgres(url: str, shop: dict[str, Any]) -> None:
    """The shop written with COPY, then the sequences moved past it and the tables analysed."""
    with psycopg.connect(url) as connection:
        with connection.cursor() as cursor:
            with cursor.copy("COPY customers (id, external_id, attributes) FROM STDIN") as copy:
                for n, name in _customer_ids(shop["customers"]):
                    copy.write_row((n, name, "{}"))
            with cursor.copy(f"COPY subscriptions ({_SUBSCRIPTION_COLUMNS}) FROM STDIN") as copy:
                for row in shop["subscriptions"]:
                    copy.write_row(row)
            with cursor.copy(
                "COPY subscription_items (subscription_id, product, quantity, price_minor) "
                "FROM STDIN"
            ) as copy:
                for item in shop["items"]:
                    copy.write_row(item)
            for table in ("customers", "subscriptions", "subscription_items"):
                cursor.execute(
                    sql.SQL(
                        "SELECT setval(pg_get_serial_sequence({t}, 'id'), "
                        "(SELECT max(id) FROM {i}))"
                    ).format(t=sql.Literal(table), i=sql.Identifier(table))
                )
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")
        connection.execute("CHECKPOINT")


class Store:
    """The seeded store of one kind, and fresh copies of it to run on."""

    def __init__(self, kind: str, postgres: str, workdir: Path) -> None:
        self.kind, self.workdir, self.admin_url = kind, workdir, postgres
        self.databases: list[str] = []
        self.url = self._new("seeded")
        self.env = {**os.environ, "RETENTIO_SECRET_KEY": secrets.token_urlsafe(48)}
        self.cli(self.url, "init", "--no-secret-file")

    def _new(self, name: str, template: str | None = None) -> str:
        if self.kind == "sqlite":
            path = self.workdir / f"{name}.db"
            if template is not None:
                shutil.copyfile(self.workdir / f"{template}.db", path)
            return f"sqlite:///{path}"
        database = f"retentio_bench_{name}_{secrets.token_hex(4)}"
        with psycopg.connect(self.admin_url, autocommit=True) as admin:
            query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database))
            if template is not None:
                query += sql.SQL(" TEMPLATE {}").format(sql.Identifier(self.databases[0]))
            admin.execute(query)
        self.databases.append(database)
        return f"{self.admin_url.rsplit('/', 1)[0]}/{database}"

    def copy(self, name: str) -> str:
        """A fresh copy of the seeded store."""
        return self._new(name, template="seeded")

    def load(self, shop: dict[str, Any]) -> None:
        if self.kind == "sqlite":
            load_sqlite(self.workdir / "seeded.db", shop)
        else:
            load_postgres(self.url, shop)

    def cli(self, url: str, *args: str) -> str:
        done = subprocess.run(
            [RETENTIO, *args], env={**self.env, "RETENTIO_DATABASE_URL": url},
            cwd=self.workdir, capture_output=True, check=True,
        )  # fmt: skip
        return done.stdout.decode().strip()

    def timed(self, url: str, command: list[str]) -> dict[str, Any]:
        """Run ``command``; its wall time, CPU time and peak RSS, stdout. The CPU time and
        RSS are GNU time's (``/usr/bin/time``), whose own small process starts the command: a
        child started from this one would begin with this process's peak RSS (the generated
        shop's gigabyte; Linux keeps it across exec)."""
        out, usage = self.workdir / "out.txt", self.workdir / "usage.txt"
        env = {**self.env, "RETENTIO_DATABASE_URL": url}
        timing = ["/usr/bin/time", "-f", "%U %S %M", "-o", str(usage)]
        with out.open("wb") as sink:
            started = time.perf_counter()
            done = subprocess.run([*timing, *command], env=env, cwd=self.workdir, stdout=sink)
            seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed")
        user, system, peak_kb = usage.read_text().split()[-3:]
        return {
            "seconds": round(seconds, 2),
            "cpu_seconds": round(float(user) + float(system), 2),
            "peak_rss_mb": round(int(peak_kb) / 1024),
            "stdout": out.read_text(),
        }

    def counts(self, url: str, at: str) -> dict[str, int]:
        """Orders, events by kind, and subscriptions still due at ``at`` or expired."""
        queries = {
            "orders": "SELECT count(*) FROM subscription_orders",
            "renewed_events": "SELECT count(*) FROM subscription_events WHERE kind = 'renewed'",
            "expired": "SELECT count(*) FROM subscriptions WHERE status = 'expired'",
        }
        if self.kind == "sqlite":
            due = f"SELECT count(*) FROM subscriptions WHERE status = 'active' AND next_order_at <= '{_text(datetime.fromisoformat(at))}'"  # noqa: E501, S608
            with sqlite3.connect(url.removeprefix("sqlite:///")) as connection:
                found = {k: connection.execute(q).fetchone()[0] for k, q in queries.items()}
                found["still_due"] = connection.execute(due).fetchone()[0]
                return found
        due = f"SELECT count(*) FROM subscriptions WHERE status = 'active' AND next_order_at <= '{at}'"  # noqa: E501, S608
        with psycopg.connect(url) as connection:
            found = {k: connection.execute(q).fetchone()[0] for k, q in queries.items()}
            found["still_due"] = connection.execute(due).fetchone()[0]
            return found

    def drop(self) -> None:
        if self.kind == "postgresql":
            with psycopg.connect(self.admin_url, autocommit=True) as admin:
                for database in reversed(self.databases):
                    admin.execute(
                        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                            sql.Identifier(database)
                        )
                    )


def check(found: dict[str, int], expected: dict[str, int], what: str) -> None:
    wrong = {
        "orders": (found["orders"], expected["orders"]),
        "renewed_events": (found["renewed_events"], expected["orders"]),
        "expired": (found["expired"], expected["expired"]),
        "still_due": (found["still_due"], 0),
    }
    bad = {k: v for k, v in wrong.items() if v[0] != v[1]}
    if bad:
        raise RuntimeError(f"{what}: (found, expected) {bad}")


def run_cli(store: Store, at: str, expected: dict[str, int], idle: float) -> dict[str, Any]:
    url = store.copy("cli")
    busy = wait_until_idle(idle)
    command = [RETENTIO, "subscriptions", "renew", "--at", at, "--json"]
    first = store.timed(url, command)
    result = json.loads(first.pop("stdout"))
    check(store.counts(url, at), expected, "cli")
    second = store.timed(url, command)
    again = json.loads(second.pop("stdout"))
    if again["renewals"]["orders"] != 0:
        raise RuntimeError(f"the second run made orders: {again}")
    orders = result["renewals"]["orders"]
    return {
        **first,
        "cpu_busy_before": None if busy is None else round(busy, 2),
        "orders_per_second": round(orders / first["seconds"]),
        "target_seconds": TARGET_S,
        "met": first["seconds"] < TARGET_S,
        "result": result,
        "second_run": {**second, "result": again},
    }


def run_in_process(store: Store, at: str, expected: dict[str, int], idle: float) -> dict[str, Any]:
    url = store.copy("inprocess")
    busy = wait_until_idle(idle)
    command = [sys.executable, str(Path(__file__).resolve()), "--renew-in-process", url, at]
    run = store.timed(url, command)
    found = json.loads(run.pop("stdout"))
    check(store.counts(url, at), expected, "in-process")
    return {
        **found,
        "process_seconds": run["seconds"],
        "cpu_seconds": run["cpu_seconds"],
        "peak_rss_mb": run["peak_rss_mb"],
        "cpu_busy_before": None if busy is None else round(busy, 2),
        "met": found["seconds"] < TARGET_S,
    }


def renew_in_process(url: str, at: str) -> None:
    """``renew_due`` alone on the store at ``url``, timed around the call; prints JSON."""
    from sqlalchemy.orm import Session

    from retentio.store import make_engine
    from retentio.subscriptions import current_policy, renew_due

    engine = make_engine(url)
    with Session(engine) as session:
        policy = current_policy(session)
        session.rollback()
        started = time.perf_counter()
        run = renew_due(session, policy, now=datetime.fromisoformat(at))
        seconds = time.perf_counter() - started
    engine.dispose()
    print(json.dumps({"seconds": round(seconds, 2), "result": run.to_dict()}))  # noqa: T201


def retentio_source() -> str:
    """Where the measured commands import retentio from (``PYTHONPATH`` may point elsewhere
    than this checkout, to measure other code)."""
    done = subprocess.run(
        [sys.executable, "-c", "import retentio; print(retentio.__file__)"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return str(Path(done.stdout.strip()).parent.parent)


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "| database | `renew` CLI s (target < 60) | orders/s | CPU s | peak RSS MB | second run s "
        "| `renew_due` in-process s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for kind, runs in result["databases"].items():
        c, p = runs.get("cli"), runs.get("in_process")
        cells = ["", "", "", "", ""] if c is None else [
            f"{c['seconds']:.1f} {'✓' if c['met'] else '✗'}", f"{c['orders_per_second']:,}",
            f"{c['cpu_seconds']:.1f}", f"{c['peak_rss_mb']:,}", f"{c['second_run']['seconds']:.1f}",
        ]  # fmt: skip
        cells.append("" if p is None else f"{p['seconds']:.1f}")
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--renew-in-process":
        renew_in_process(sys.argv[2], sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscriptions", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=800_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--at", default=AT, help="the run's time (ISO 8601 with offset)")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--only", choices=["cli", "in-process"], default=None)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument(
        "--idle", type=float, default=120.0, help="seconds to wait for quiet CPUs, at most"
    )
    parser.add_argument(
        "--label", default="", help="a name for the results file (e.g. the code measured)"
    )
    args = parser.parse_args()

    result: dict[str, Any] = {
        "date": date.today().isoformat(),
        "command": command_line("benchmarks/subscriptions.py"),
        "machine": machine(),
        "source": source_state(),
        "retentio_from": retentio_source(),
        "label": args.label,
        "databases": {},
    }
    log(f"generating {args.subscriptions:,} subscriptions of {args.customers:,} customers")
    shop = generate(args.subscriptions, args.customers, args.seed, datetime.fromisoformat(args.at))
    for kind in args.databases.split(","):
        workdir = Path(tempfile.mkdtemp(prefix=f"retentio-bench-subscriptions-{kind}-"))
        store = Store(kind, args.postgres, workdir)
        runs: dict[str, Any] = {"data": shop["data"], "expected": shop["expected"]}
        try:
            started = time.perf_counter()
            store.load(shop)
            runs["load_seconds"] = round(time.perf_counter() - started, 1)
            log(f"{kind}: loaded in {runs['load_seconds']} s")
            if args.only in (None, "cli"):
                runs["cli"] = run_cli(store, args.at, shop["expected"], args.idle)
                log(f"{kind}: retentio subscriptions renew {runs['cli']['seconds']} s")
            if args.only in (None, "in-process"):
                runs["in_process"] = run_in_process(store, args.at, shop["expected"], args.idle)
                log(f"{kind}: renew_due {runs['in_process']['seconds']} s")
        finally:
            store.drop()
            shutil.rmtree(workdir, ignore_errors=True)
        result["databases"][kind] = runs
    suffix = "" if args.subscriptions == 1_000_000 else f"-{args.subscriptions}"
    suffix += f"-{args.label}" if args.label else ""
    path = RESULTS / f"subscriptions-{result['date']}{suffix}.json"
    write_database_results(path, result)
    print(markdown(result))  # noqa: T201
    log(f"wrote {path}")


if __name__ == "__main__":
    main()
