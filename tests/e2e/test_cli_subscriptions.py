"""`retentio subscriptions configure|renew`, end to end on a SQLite store."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cli_helpers import invoke, make_database
from sqlalchemy.orm import Session

from retentio.core.errors import DefinitionError
from retentio.store import make_engine
from retentio.subscriptions import Cadence, create_subscription, current_policy


def test_configure_and_renew(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = make_database(tmp_path, monkeypatch)
    (tmp_path / "customers.jsonl").write_text(json.dumps({"external_id": "ida"}) + "\n")
    assert invoke("load", "customers.jsonl", "--kind", "customers").exit_code == 0
    (tmp_path / "bad.yaml").write_text("dunning: [7, 1]\n")
    bad = invoke("subscriptions", "configure", "bad.yaml")
    assert isinstance(bad.exception, DefinitionError) and "dunning" in str(bad.exception)
    (tmp_path / "policy.yaml").write_text('renewal_time: "07:00"\ndunning: [2, 5]\n')
    saved = invoke("subscriptions", "configure", "policy.yaml")
    assert "version 1: renewals at 07:00" in saved.output and "after 2, 5 days" in saved.output
    engine = make_engine(url)
    with Session(engine) as session:
        create_subscription(
            session,
            current_policy(session),
            customer="ida",
            cadence=Cadence("month", 1),
            items=[{"product": "TEA", "quantity": 1, "price": "49.50"}],
            currency="DKK",
            now=datetime(2027, 1, 10, 12, tzinfo=UTC),
            actor="test",
        )
    engine.dispose()
    early = invoke("subscriptions", "renew", "--at", "2027-02-10T05:59:00+01:00")
    assert early.output.startswith("Made 0 renewal order(s)")
    run = json.loads(
        invoke("subscriptions", "renew", "--at", "2027-02-10T07:00:00+01:00", "--json").output
    )
    assert run["renewals"]["orders"] == 1 and run["renewals"]["amounts"] == {"DKK": 4950}
    assert run["charges"] is None  # no payment adapter: the shop reads the pending orders
    again = invoke("subscriptions", "renew", "--at", "2027-02-10T08:00:00+01:00")
    assert again.output.startswith("Made 0 renewal order(s)")
