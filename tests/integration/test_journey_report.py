"""A journey's report on SQLite and PostgreSQL: each entrant measured from when they entered,
over the journey's attribution window, treated against the journey's control group."""

from __future__ import annotations

from datetime import timedelta

from api_helpers import bearer
from campaign_helpers import NOON, SECRET, add_shop, make_worker
from smtp_helpers import Sink
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient
from test_journeys import message, refresh, set_country

from retentio.campaigns import save_journey
from retentio.campaigns.journey_report import journey_report
from retentio.core.clock import FixedClock
from retentio.ingest import ingest_orders
from retentio.segments import save_segment
from retentio.store.campaign_tables import JourneyEntry
from retentio.store.tables import Customer

PEOPLE = [{"external_id": f"c{n}", "email": f"c{n}@example.com"} for n in range(40)]
JOURNEY = {
    "name": "thanks",
    "trigger": {"segment": "quiet"},
    "holdout": 0.5,
    "quiet_hours": False,
    "attribution_days": 10,
    "steps": [{"id": "hello", "send": {"message": message("Thank you")}}],
}


def order(name: str, customer: str, at: object, total: str) -> dict[str, object]:
    return {
        "external_id": name,
        "customer_id": customer,
        "ordered_at": at.isoformat(),  # type: ignore[attr-defined]
        "currency": "DKK",
        "total": total,
    }


def test_entrants_are_measured_from_when_they_entered(
    migrated_engine: Engine, sink: tuple[Sink, int], client: TestClient, api_keys: dict[str, str]
) -> None:
    handler, port = sink
    add_shop(migrated_engine, PEOPLE)
    clock = FixedClock(NOON)
    with Session(migrated_engine) as session:
        save_segment(session, {"name": "quiet", "where": {"country": "DK"}})
        save_journey(session, JOURNEY, clock=clock)
    # Half enter now, half three days later: each has its own window.
    early, late = [f"c{n}" for n in range(20)], [f"c{n}" for n in range(20, 40)]
    set_country(migrated_engine, early, "DK")
    clock.advance(timedelta(minutes=1))
    refresh(migrated_engine, clock)
    worker, channel = make_worker(migrated_engine, port, clock)
    with channel:
        worker.run(until_idle=True)
        clock.advance(timedelta(days=3))
        set_country(migrated_engine, late, "DK")
        refresh(migrated_engine, clock)
        worker.run(until_idle=True)
    with Session(migrated_engine) as session:
        rows = session.execute(
            select(Customer.external_id, JourneyEntry.arm, JourneyEntry.entered_at).join(
                Customer, Customer.id == JourneyEntry.customer_id
            )
        ).all()
    entered = {name: (arm, at) for name, arm, at in rows}
    assert len(entered) == 40 and {arm for arm, _ in entered.values()} == {"treated", "control"}
    # Every control entrant and half the treated ones order 5 days after entering (in the
    # window); early entrants also order 11 days after (out of it). The figures below follow
    # from these alone.
    orders = []
    for name, (_arm, at) in entered.items():
        orders.append(order(f"in-{name}", name, at + timedelta(days=5), "100.00"))
        if name in early:
            orders.append(order(f"after-{name}", name, at + timedelta(days=11), "999.00"))
    treated = sorted(n for n, (arm, _) in entered.items() if arm == "treated")
    converted_treated = treated[: len(treated) // 2]  # only these order in their window
    orders = [
        o
        for o in orders
        if not str(o["external_id"]).startswith("in-")
        or str(o["external_id"])[3:] not in treated
        or str(o["external_id"])[3:] in converted_treated
    ]
    with Session(migrated_engine) as session:
        result = ingest_orders(session, orders, secret=SECRET, actor="test")
        assert result.failed == 0
    clock.advance(timedelta(days=30))  # every window closed
    with Session(migrated_engine) as session:
        report = journey_report(session, "thanks", clock=clock).to_dict()
    control = 40 - len(treated)
    assert report["window"] == {"attribution_days": 10, "entries": 40, "open": 0}
    assert report["arms"]["treated"]["customers"] == len(treated)
    assert report["arms"]["treated"]["converted"] == len(converted_treated)
    assert report["arms"]["control"]["converted"] == control  # every control entrant
    assert report["arms"]["control"]["revenue"] == 100.0 * control  # the late 999s are out
    assert report["lift"]["conversion_rate"]["difference"] < 0
    assert report["funnel"]["sent"] == len(treated)  # control entrants got nothing
    assert len(handler.received) == len(treated)
    assert report["verdict"]
    answer = client.get("/api/v1/journeys/thanks/report", headers=bearer(api_keys["read"]))
    assert answer.status_code == 200, answer.text
    assert answer.json()["window"]["entries"] == 40  # as of the real now: windows still open
    missing = client.get("/api/v1/journeys/nope/report", headers=bearer(api_keys["read"]))
    assert missing.status_code == 404
