"""Benchmark NPS by segment over 1,000,000 survey answers (target: under 2 s).

Usage (from the repository root)::

    .venv/bin/python benchmarks/feedback.py                      # 1M answers; both stores
    .venv/bin/python benchmarks/feedback.py --answers 100000 --customers 20000 --databases sqlite

Each database gets a fresh store (a SQLite file in a temporary directory; a new PostgreSQL
database at ``--postgres``) migrated with ``retentio.store.upgrade``, then filled directly
(SQLite ``executemany``, PostgreSQL ``COPY``; answering through the API has its own tests) with

- ``--customers`` customers (200,000);
- four NPS surveys (a quarter each) and ``--answers`` answers (1,000,000) spread over them and
  the customers (5 per customer on average), scores drawn so that the NPS is about 10, over the
  year before the observation end;
- ten saved segments whose memberships overlap: a customer is in segment k with probability
  0.05 * (k + 1), so in 2.75 segments on average (550,000 open memberships).

Then, ``--repeat`` (3) times, the best kept:

- **read**: ``read_survey_responses`` and ``read_segment_memberships``
  (``retentio.store.feedback_arrow``), the answers and memberships into Arrow;
- **nps_by_segment**: ``retentio.nps_by_segment`` on those tables: the target's 2 s;
- and, once, the result checked against a plain pandas merge and group-by.

The CPUs are waited for (``--idle``, up to 120 s) until other processes leave them quiet,
and how busy they were is recorded. Results: a Markdown table on stdout and
``benchmarks/results/feedback-<date>.json``.
"""

from __future__ import annotations

import argparse
import io
import json
import secrets
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql
from run import RESULTS, command_line, log, machine, source_state, wait_until_idle

from retentio import nps_by_segment
from retentio.store import make_engine, upgrade
from retentio.store.feedback_arrow import read_segment_memberships, read_survey_responses

TARGET_S = 2.0
NOW = datetime(2026, 6, 30, 12, tzinfo=UTC)
SEGMENTS = 10
SURVEYS = 4
#: Score weights 0..10: 30 % detractors, 30 % passives, 40 % promoters (NPS about 10).
WEIGHTS = np.array([2, 2, 2, 3, 3, 8, 10, 15, 15, 20, 20], dtype=float)


def generate(customers: int, answers: int, seed: int = 7) -> dict[str, Any]:
    """The rows as numpy columns, the same for both databases."""
    rng = np.random.default_rng(seed)
    who = rng.integers(1, customers + 1, answers)
    scores = rng.choice(11, size=answers, p=WEIGHTS / WEIGHTS.sum())
    at = NOW.timestamp() - rng.random(answers) * 365 * 86400
    survey = (np.floor((NOW.timestamp() - at) / (365 * 86400 / SURVEYS))).astype(int) % SURVEYS
    chance = 0.05 * (np.arange(SEGMENTS) + 1)
    inside = rng.random((customers, SEGMENTS)) < chance
    member_customer, member_segment = np.nonzero(inside)
    return {
        "customers": customers,
        "answers": (who, survey + 1, scores, at),
        "memberships": (member_segment + 1, member_customer + 1),
    }


def _text(seconds: np.ndarray) -> list[str]:
    """Unix seconds as SQLite's stored text (``2026-03-01 09:00:00.000000``)."""
    base = datetime(1970, 1, 1)
    return [(base + timedelta(seconds=float(s))).isoformat(" ", "microseconds") for s in seconds]


def rows(data: dict[str, Any], times: Any) -> list[tuple[str, str, Any]]:
    """(table, columns, rows) to fill: ``times`` turns Unix seconds into the database's text."""
    who, survey, scores, at = data["answers"]
    segment, member = data["memberships"]
    stamp = times(np.array([NOW.timestamp()]))[0]
    return [
        (
            "customers",
            "id, external_id, attributes",
            ((i, f"C{i:08d}", "{}") for i in range(1, data["customers"] + 1)),
        ),
        (
            "surveys",
            "id, name, kind, definition, throttle_days, status, created_at, updated_at",
            (
                (
                    n,
                    f"nps-q{n}",
                    "nps",
                    json.dumps({"name": f"nps-q{n}", "kind": "nps"}),
                    90,
                    "active",
                    stamp,
                    stamp,
                )
                for n in range(1, SURVEYS + 1)
            ),
        ),  # fmt: skip
        (
            "survey_responses",
            "id, survey_id, customer_id, score, answers, source, key, responded_at",
            (
                (n + 1, int(s), int(c), int(v), "{}", "api", f"bench:{n}", t)
                for n, (c, s, v, t) in enumerate(zip(who, survey, scores, times(at), strict=True))
            ),
        ),
        (
            "segments",
            "id, name, description, definition, members",
            (
                (k, f"segment-{k:02d}", "", "{}", int((segment == k).sum()))
                for k in range(1, SEGMENTS + 1)
            ),
        ),
        (
            "segment_memberships",
            "id, segment_id, customer_id, entered_at",
            (
                (n + 1, int(k), int(c), stamp)
                for n, (k, c) in enumerate(zip(segment, member, strict=True))
            ),
        ),
    ]


def fill_sqlite(path: Path, data: dict[str, Any]) -> None:
    with sqlite3.connect(path) as db:
        for table, columns, values in rows(data, _text):
            marks = ", ".join("?" for _ in columns.split(","))
            db.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", values)
        db.execute("ANALYZE")


def _copy(connection: psycopg.Connection[Any], table: str, columns: str, values: Any) -> None:
    with connection.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
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
        for table, columns, values in rows(data, utc):
            _copy(db, table, columns, values)
        db.commit()
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("VACUUM ANALYZE")


@contextmanager
def filled_store(kind: str, postgres: str, data: dict[str, Any]) -> Iterator[str]:
    """A fresh store of ``kind`` filled with ``data``: its URL; deleted afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix=f"retentio-bench-feedback-{kind}-"))
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


def plain_pandas(responses: Any, memberships: Any) -> pd.DataFrame:
    """The same figures the plain way (a merge, then a group-by): the check."""
    answers = responses.to_pandas()[["customer_id", "score"]]
    joined = memberships.to_pandas().merge(answers, on="customer_id")
    category = np.where(joined["score"] >= 9, "p", np.where(joined["score"] <= 6, "d", "n"))
    counts = pd.crosstab(joined["segment"], category)
    return pd.DataFrame(
        {
            "responses": counts.sum(axis=1),
            "promoters": counts["p"],
            "detractors": counts["d"],
            "nps": 100.0 * (counts["p"] - counts["d"]) / counts.sum(axis=1),
        }
    )


def measure(url: str, repeat: int, idle: float) -> dict[str, Any]:
    busy = wait_until_idle(idle)
    reads, computes = [], []
    table = pd.DataFrame()
    responses = memberships = None
    for _ in range(repeat):
        started = time.perf_counter()
        responses = read_survey_responses(url)
        memberships = read_segment_memberships(url)
        reads.append(time.perf_counter() - started)
        started = time.perf_counter()
        table = nps_by_segment(responses, memberships)
        computes.append(time.perf_counter() - started)
        log(f"  read {reads[-1]:.2f} s, nps_by_segment {computes[-1]:.2f} s")
    assert responses is not None and memberships is not None
    expected = plain_pandas(responses, memberships)
    got = table.set_index("segment")
    for column in ("responses", "promoters", "detractors"):
        assert got[column].tolist() == expected[column].tolist(), column
    assert np.allclose(got["nps"].to_numpy(), expected["nps"].to_numpy())
    return {
        "cpu_busy_before": None if busy is None else round(busy, 2),
        "answers": responses.num_rows,
        "memberships": memberships.num_rows,
        "read_s": [round(t, 3) for t in reads],
        "nps_by_segment_s": [round(t, 3) for t in computes],
        "best_read_s": round(min(reads), 3),
        "best_nps_by_segment_s": round(min(computes), 3),
        "met": min(computes) < TARGET_S,
        "nps": {str(k): round(float(v), 2) for k, v in zip(got.index, got["nps"], strict=True)},
        "checked_against_pandas": True,
    }


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "| database | answers | memberships | read (Arrow) s | nps_by_segment s (target < 2) |",
        "|---|---:|---:|---:|---:|",
    ]
    for kind, entry in result["databases"].items():
        mark = "✓" if entry["met"] else "✗"
        lines.append(
            f"| {kind} | {entry['answers']:,} | {entry['memberships']:,} | "
            f"{entry['best_read_s']:.2f} | {entry['best_nps_by_segment_s']:.2f} {mark} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--answers", type=int, default=1_000_000)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--idle", type=float, default=120.0, help="seconds to wait for quiet CPUs, at most"
    )
    args = parser.parse_args()
    log(f"generating {args.answers:,} answers of {args.customers:,} customers")
    data = generate(args.customers, args.answers)
    result: dict[str, Any] = {
        "date": date.today().isoformat(),
        "command": command_line("feedback.py"),
        "machine": machine(),
        "source": source_state(),
        "customers": args.customers,
        "answers": args.answers,
        "segments": SEGMENTS,
        "databases": {},
    }
    for kind in args.databases.split(","):
        with filled_store(kind, args.postgres, data) as url:
            log(f"{kind}: measuring")
            result["databases"][kind] = measure(url, args.repeat, args.idle)
    RESULTS.mkdir(exist_ok=True)
    suffix = "" if args.answers == 1_000_000 else f"-{args.answers}"
    path = RESULTS / f"feedback-{result['date']}{suffix}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(markdown(result))
    log(f"wrote {path}")


if __name__ == "__main__":
    main()
