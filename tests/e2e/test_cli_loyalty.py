"""`retentio loyalty configure|balance|release`, end to end on a SQLite store."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cli_helpers import invoke, make_database
from sqlalchemy.orm import Session

from retentio.core.errors import DefinitionError
from retentio.loyalty import earn_for_order
from retentio.loyalty.service import current_programme
from retentio.store import make_engine


def test_configure_earn_release_and_balance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = make_database(tmp_path, monkeypatch)
    (tmp_path / "customers.jsonl").write_text(json.dumps({"external_id": "ida"}) + "\n")
    assert invoke("load", "customers.jsonl", "--kind", "customers").exit_code == 0
    (tmp_path / "bad.yaml").write_text("earn: {rounding: sideways}\n")
    bad = invoke("loyalty", "configure", "bad.yaml")
    assert isinstance(bad.exception, DefinitionError)
    assert "earn.rounding: one of down, nearest, up" in str(bad.exception)
    (tmp_path / "programme.yaml").write_text("earn: {points_per_unit: 2}\npending_days: 14\n")
    saved = invoke("loyalty", "configure", "programme.yaml")
    assert saved.exit_code == 0 and "version 1: 2 point(s) per DKK" in saved.output
    assert "pending 14 days, points expire 12 months after they came" in saved.output
    engine = make_engine(url)
    long_ago = datetime.now(UTC) - timedelta(days=20)
    with Session(engine) as session:
        earn_for_order(
            session, current_programme(session), customer="ida", order_id="O-1",
            amount_minor=10_000, currency="DKK", ordered_at=long_ago, now=long_ago,
            recorded_by="test",
        )  # fmt: skip
    engine.dispose()
    assert "200 pending" in invoke("loyalty", "balance", "ida").output
    released = invoke("loyalty", "release")
    assert "of 1 order(s)" in released.output
    shown = json.loads(invoke("loyalty", "balance", "ida", "--json").output)
    assert (shown["available"], shown["pending"]) == (200, 0)
    assert [e["kind"] for e in shown["history"]] == ["release", "earn"]
    missing = invoke("loyalty", "balance", "nobody")
    assert "'nobody'" in str(missing.exception)


def test_expire_and_the_round(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = make_database(tmp_path, monkeypatch)
    (tmp_path / "customers.jsonl").write_text(json.dumps({"external_id": "ida"}) + "\n")
    assert invoke("load", "customers.jsonl", "--kind", "customers").exit_code == 0
    assert "no programme yet" in invoke("loyalty", "run").output
    (tmp_path / "programme.yaml").write_text("pending_days: 0\nexpiry: {months: 12}\n")
    assert invoke("loyalty", "configure", "programme.yaml").exit_code == 0
    engine = make_engine(url)
    ordered = datetime(2025, 3, 1, 12, tzinfo=UTC)
    with Session(engine) as session:
        earn_for_order(
            session, current_programme(session), customer="ida", order_id="O-1",
            amount_minor=10_000, currency="DKK", ordered_at=ordered, now=ordered,
            recorded_by="test",
        )  # fmt: skip
    engine.dispose()
    reminded = invoke("loyalty", "expire", "--at", "2026-02-20T12:00:00+00:00")
    assert reminded.output.startswith("Expired 0 point(s)") and "1 at 30 days" in reminded.output
    bad = invoke("loyalty", "expire", "--at", "2026-02-20")
    assert "give the UTC offset" in str(bad.exception)
    run = json.loads(invoke("loyalty", "run", "--at", "2026-03-02T12:00:00+00:00", "--json").output)
    assert run["ran"] and run["expiry"]["points"] == 100 and run["expiry"]["members"] == 1
    assert json.loads(invoke("loyalty", "balance", "ida", "--json").output)["available"] == 0
