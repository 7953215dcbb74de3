"""`retentio subscriptions report`, end to end on a SQLite store: text and JSON."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from cli_helpers import invoke, make_database
from sqlalchemy.orm import Session

from retentio.core.errors import ConfigurationError
from retentio.store import make_engine
from retentio.subscriptions import (
    Cadence,
    cancel_subscription,
    create_subscription,
    current_policy,
    renew_due,
)


def test_report_in_text_and_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_database(tmp_path, monkeypatch)
    people = "".join(json.dumps({"external_id": name}) + "\n" for name in ("ida", "bo"))
    (tmp_path / "customers.jsonl").write_text(people)
    assert invoke("load", "customers.jsonl", "--kind", "customers").exit_code == 0
    empty = invoke("subscriptions", "report", "--as-of", "2027-01-31", "--json")
    assert json.loads(empty.stdout)["subscriptions"]["live"] == 0
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    with Session(engine) as session:
        policy = current_policy(session)
        made = {}
        for customer, cadence, price in (
            ("ida", Cadence("month", 1), "49.50"),
            ("bo", Cadence("week", 1), "10.00"),
        ):
            view = create_subscription(
                session, policy, customer=customer, cadence=cadence, currency="DKK",
                items=[{"product": "TEA", "quantity": 1, "price": price}],
                now=datetime(2027, 1, 10, 12, tzinfo=UTC), actor="test",
            )  # fmt: skip
            made[customer] = view.body["id"]
        renew_due(session, policy, now=datetime(2027, 2, 10, 12, tzinfo=UTC))
        when = datetime(2027, 2, 12, 12, tzinfo=UTC)
        for step in ({}, {"confirm": True}):
            cancel_subscription(
                session, policy, made["bo"], reason="too_much", key=None, now=when,
                actor="test", **step,
            )  # fmt: skip
    engine.dispose()
    run = invoke("subscriptions", "report", "--as-of", "2027-02-20", "--json", "--days", "28")
    assert run.exit_code == 0, run.output
    report = json.loads(run.stdout)
    assert report["as_of"] == "2027-02-20" and report["window"]["start"] == "2027-01-24"
    assert report["subscriptions"] == {"active": 1, "paused": 0, "past_due": 0, "live": 1}
    # 49.50 DKK a month
    assert report["revenue"] == [
        {"currency": "DKK", "subscriptions": 1, "mrr": "49.50", "arr": "594.00"}
    ]
    assert report["churn"]["voluntary"] == 1 and report["churn"]["churn_rate"] == 0.5
    assert {o["offer"] for o in report["save_offers"]} == {"cadence", "skip", "pause"}
    assert all(o["declined"] == 1 for o in report["save_offers"])
    assert report["orders"][0]["orders"] == 2 and report["orders"][0]["amount"] == "59.50"
    # bo ended on 12 February, after the first anniversary (10 February): both lived a month
    assert report["cohorts"][0]["cohort"] == "2027-01" and report["cohorts"][0]["active"] == [2, 2]
    text = invoke("subscriptions", "report", "--as-of", "2027-02-20", "--days", "28")
    assert text.exit_code == 0, text.output
    output = text.output
    assert "Subscriptions as of 2027-02-20" in output and "2027-01-24 to 2027-02-20" in output
    for shown in ("49.50", "594.00", "too_much", "2027-01", "not fitted"):
        assert shown in output, shown
    bad = invoke("subscriptions", "report", "--as-of", "20.2.2027")
    assert isinstance(bad.exception, ConfigurationError) and "--as-of" in str(bad.exception)
    assert date.fromisoformat(json.loads(invoke("subscriptions", "report", "--json").stdout)[
        "as_of"]) == datetime.now(UTC).date()  # fmt: skip
