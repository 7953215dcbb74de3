"""Benchmark segment evaluation over a store of 1,000,000 customers (target: under 2 s each).

Usage (from the repository root)::

    .venv/bin/python benchmarks/segments.py                        # 1M customers; both stores
    .venv/bin/python benchmarks/segments.py --customers 100000 --databases sqlite   # smoke run

Each database gets a fresh store (a SQLite file in a temporary directory; a new PostgreSQL
database at ``--postgres``) migrated with ``retentio.store.upgrade``, then filled directly (SQLite
``executemany``, PostgreSQL ``COPY``; the ingestion path has its own benchmark) with:

- ``--customers`` customers, a quarter of them with a country, all with an attributes JSON;
- orders: 0 to 6 per customer (3 on average), over two years before the observation end, 3 %
  partly refunded;
- scores for every customer who ordered (P(alive), churn risk band, RFM segment, CLV), as
  ``retentio scores refresh`` would store them;
- e-mail marketing consent (granted and confirmed) for 60 % of the customers;
- the per-customer order figures that order writes keep (``refresh_order_stats``);
- events: 2 ``viewed_product`` a customer on average over the last 60 days.

Then each segment of ``SEGMENTS`` is counted (``count_members``: the whole query, members
counted in the database) ``--repeat`` (3) times and the best time kept; and the first is saved
and refreshed twice (``refresh_segment``: every member entered, then nothing changes).

Results: a Markdown table on stdout and ``benchmarks/results/segments-<date>.json``.
"""

from __future__ import annotations

import argparse
import io
import json
import secrets
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from psycopg import sql
from run import RESULTS, command_line, log, machine, source_state
from sqlalchemy.orm import Session

from retentio.core.clock import FixedClock
from retentio.segments import count_members, parse_definition, refresh_segment, save_segment
from retentio.store import make_engine, upgrade
from retentio.store.order_stats import refresh_order_stats

TARGET_S = 2.0
NOW = datetime(2026, 6, 30, 12, tzinfo=UTC)
SEGMENTS: dict[str, dict[str, Any]] = {
    # The example: bought twice, P(alive) below 0.4, consented to e-mail.
    "lapsing-repeat-buyers": {
        "all": [
            {"order_count": {"gte": 2}},
            {"p_alive": {"lt": 0.4}},
            {"consent": {"channel": "email", "purpose": "marketing"}},
        ]
    },
    # Win-back: no order for 90 days, spent 100 EUR or more (refunds netted).
    "win-back": {"all": [{"days_since_last_order": {"gt": 90}}, {"total_spend": {"gte": 100}}]},
    # Browsing but not buying: 2+ product views in 30 days and no order in 30 days.
    "browsers": {
        "all": [
            {"event": {"name": "viewed_product", "at_least": 2, "within_days": 30}},
            {"not": {"days_since_last_order": {"lt": 30}}},
        ]
    },
    # Attributes and scores: Danish customers at risk or worse.
    "danish-at-risk": {
        "all": [{"country": "DK"}, {"risk_band": ["high", "critical"]}, {"clv": {"gte": 10}}]
    },
}


def _text(at: np.ndarray) -> list[str]:
    """Unix seconds as SQLite's stored text (``2026-03-01 09:00:00.000000``)."""
    base = datetime(1970, 1, 1)
    return [(base + timedelta(seconds=float(s))).isoformat(" ", "microseconds") for s in at]


def generate(customers: int, seed: int = 1) -> dict[str, Any]:
    """The store's rows as columns (numpy arrays and lists), the same for both databases."""
    rng = np.random.default_rng(seed)
    now = NOW.timestamp()
    ids = np.arange(1, customers + 1)
    countries = np.where(rng.random(customers) < 0.25, "DK", "NL")
    counts = rng.integers(0, 7, customers)  # 0..6, mean 3
    owners = np.repeat(ids, counts)
    n_orders = len(owners)
    ordered = now - rng.random(n_orders) * 730 * 86400
    totals = rng.integers(500, 20_000, n_orders)
    refunded = np.flatnonzero(rng.random(n_orders) < 0.03)
    buyers = ids[counts > 0]
    p_alive = rng.beta(1.2, 1.5, len(buyers))
    bands = np.array(["low", "medium", "high", "critical"])[
        np.minimum((1 - p_alive) // 0.25, 3).astype(int)
    ]
    segments = np.array(["Champions", "Loyal", "At risk", "Hibernating", "Lost"])
    consented = ids[rng.random(customers) < 0.6]
    viewers = rng.integers(1, customers + 1, 2 * customers)
    viewed = now - rng.random(len(viewers)) * 60 * 86400
    return {
        "customers": (ids, countries),
        "orders": (owners, ordered, totals),
        "refunds": (refunded + 1, totals[refunded] // 2, ordered[refunded] + 86400),
        "scores": (
            buyers,
            p_alive,
            bands,
            segments[rng.integers(0, 5, len(buyers))],
            rng.gamma(2.0, 40.0, len(buyers)),
        ),
        "consents": consented,
        "events": (viewers, viewed),
    }


def rows(data: dict[str, Any], times: Any, true: Any) -> list[tuple[str, str, Any]]:
    """(table, columns, rows) to fill, the same for both databases: ``times`` turns Unix
    seconds into the database's text, ``true`` is its true."""
    ids, countries = data["customers"]
    owners, ordered, totals = data["orders"]
    refunded, amounts, refunded_at = data["refunds"]
    buyers, p_alive, bands, segments, clv = data["scores"]
    consented = data["consents"]
    viewers, viewed = data["events"]
    computed = times(np.array([NOW.timestamp()]))[0]
    return [
        (
            "customers",
            "id, external_id, country, attributes",
            (
                (int(i), f"C{i:08d}", c if i % 4 == 0 else None, "{}")
                for i, c in zip(ids, countries, strict=True)
            ),
        ),
        (
            "orders",
            "id, external_id, customer_id, ordered_at, currency, total_minor, status",
            (
                (n + 1, f"O{n:09d}", int(c), at, "EUR", int(total), "completed")
                for n, (c, at, total) in enumerate(zip(owners, times(ordered), totals, strict=True))
            ),
        ),
        (
            "refunds",
            "order_id, refunded_at, amount_minor",
            (
                (int(o), at, int(a))
                for o, at, a in zip(refunded, times(refunded_at), amounts, strict=True)
            ),
        ),
        (
            "customer_scores",
            "customer_id, p_alive, churn_risk, risk_band, rfm_segment, clv, computed_at",
            (
                (int(c), float(p), 1 - float(p), b, s, float(v), computed)
                for c, p, b, s, v in zip(buyers, p_alive, bands, segments, clv, strict=True)
            ),
        ),
        (
            "consent_events",
            "id, customer_id, channel, purpose, granted, lawful_basis, source, recorded_by",
            (
                (n + 1, int(c), "email", "marketing", true, "consent", "import", "bench")
                for n, c in enumerate(consented)
            ),
        ),
        (
            "consents",
            "customer_id, channel, purpose, granted, lawful_basis, confirmed_at, last_event_id",
            (
                (int(c), "email", "marketing", true, "consent", computed, n + 1)
                for n, c in enumerate(consented)
            ),
        ),
        (
            "events",
            "customer_id, name, properties, occurred_at",
            (
                (int(c), "viewed_product", "{}", at)
                for c, at in zip(viewers, times(viewed), strict=True)
            ),
        ),
    ]


def fill_sqlite(path: Path, data: dict[str, Any]) -> None:
    with sqlite3.connect(path) as db:
        for table, columns, values in rows(data, _text, 1):
            marks = ", ".join("?" for _ in columns.split(","))
            db.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", values)  # noqa: S608
        db.execute("ANALYZE")


def _copy(connection: psycopg.Connection[Any], table: str, columns: str, values: Any) -> None:
    with connection.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as copy:  # noqa: S608
        buffer = io.StringIO()
        for n, row in enumerate(values, 1):
            buffer.write("\t".join("\\N" if v is None else str(v) for v in row) + "\n")
            if n % 100_000 == 0:
                copy.write(buffer.getvalue())
                buffer = io.StringIO()
        copy.write(buffer.getvalue())


def fill_postgres(url: str, data: dict[str, Any]) -> None:
    def utc(seconds: np.ndarray) -> list[str]:
        return [f"{t}+00" for t in _text(seconds)]

    with psycopg.connect(url) as db:
        for table, columns, values in rows(data, utc, "t"):
            _copy(db, table, columns, values)
        for table in ("customers", "orders", "consent_events", "events"):
            db.execute(
                sql.SQL("SELECT setval(pg_get_serial_sequence({}, 'id'), max(id)) FROM {}").format(
                    sql.Literal(table), sql.Identifier(table)
                )
            )
        db.commit()
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("VACUUM ANALYZE")


@contextmanager
def filled_store(kind: str, postgres: str, data: dict[str, Any]) -> Iterator[str]:
    """A fresh store of ``kind`` (sqlite or postgresql) filled with ``data``: its URL. The
    store is deleted afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix=f"retentio-bench-{kind}-"))
    pg_name = None
    try:
        if kind == "sqlite":
            url = f"sqlite:///{workdir / 'bench.db'}"
        else:
            pg_name = f"retentio_bench_{secrets.token_hex(4)}"
            with psycopg.connect(postgres, autocommit=True) as admin:
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(pg_name)))
            url = f"{postgres.rsplit('/', 1)[0]}/{pg_name}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        log(f"{kind}: filling the store")
        started = time.perf_counter()
        if kind == "sqlite":
            fill_sqlite(workdir / "bench.db", data)
        else:
            fill_postgres(url, data)
        engine = make_engine(url)
        with engine.begin() as connection:  # what every order write keeps up to date
            refresh_order_stats(connection, None)
        engine.dispose()
        log(f"{kind}: filled in {time.perf_counter() - started:.0f} s")
        yield url
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if pg_name is not None:
            with psycopg.connect(postgres, autocommit=True) as admin:
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(pg_name)
                    )
                )


def measure(url: str, repeat: int) -> dict[str, Any]:
    engine = make_engine(url)
    clock = FixedClock(NOW)
    results: dict[str, Any] = {}
    try:
        with Session(engine) as session:
            for name, where in SEGMENTS.items():
                definition = parse_definition({"name": name, "currency": "EUR", "where": where})
                times, members = [], 0
                for _ in range(repeat):
                    started = time.perf_counter()
                    members = count_members(session, definition, clock=clock)
                    times.append(time.perf_counter() - started)
                    session.rollback()
                best = min(times)
                log(f"  {name}: {members:,} members, best {best:.2f} s of {repeat}")
                results[name] = {
                    "members": members,
                    "seconds": [round(t, 3) for t in times],
                    "best_s": round(best, 3),
                    "met": best < TARGET_S,
                }
            first = next(iter(SEGMENTS))
            save_segment(session, {"name": first, "where": SEGMENTS[first]})
            refreshes = []
            for _ in range(2):
                started = time.perf_counter()
                outcome = refresh_segment(session, first, clock=clock)
                refreshes.append(
                    {
                        "seconds": round(time.perf_counter() - started, 3),
                        "entered": outcome.entered,
                        "members": outcome.members,
                    }
                )
                log(f"  refresh {first}: {refreshes[-1]}")
    finally:
        engine.dispose()
    return {"segments": results, "refresh": refreshes}


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "| database | customers | segment | members | best s (target < 2) |",
        "|---|---:|---|---:|---:|",
    ]
    for kind, entry in result["databases"].items():
        for name, figures in entry["segments"].items():
            mark = "✓" if figures["met"] else "✗"
            lines.append(
                f"| {kind} | {result['customers']:,} | {name} | {figures['members']:,} | "
                f"{figures['best_s']:.2f} {mark} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    log(f"generating {args.customers:,} customers")
    data = generate(args.customers)
    result: dict[str, Any] = {
        "date": date.today().isoformat(),
        "command": command_line("segments.py") + " " + " ".join(sys.argv[1:]),
        "machine": machine(),
        "source": source_state(),
        "customers": args.customers,
        "orders": len(data["orders"][0]),
        "events": len(data["events"][0]),
        "databases": {},
    }
    for kind in args.databases.split(","):
        with filled_store(kind, args.postgres, data) as url:
            log(f"{kind}: counting")
            result["databases"][kind] = measure(url, args.repeat)
    RESULTS.mkdir(exist_ok=True)
    suffix = "" if args.customers == 1_000_000 else f"-{args.customers}"
    path = RESULTS / f"segments-{result['date']}{suffix}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(markdown(result))  # noqa: T201
    log(f"wrote {path}")


if __name__ == "__main__":
    main()
