"""/api/v1/campaigns on SQLite and PostgreSQL: save a draft, preview, launch, report, errors."""

from __future__ import annotations

import time
from dataclasses import replace

from api_helpers import bearer, count_rows, problem
from campaign_helpers import add_shop, campaign, make_worker
from smtp_helpers import Sink, message_ids
from sqlalchemy import Engine
from starlette.testclient import TestClient

from retentio.api import ApiConfig, create_app
from retentio.core.clock import SystemClock
from retentio.store.campaign_tables import CampaignAudience, Delivery

PEOPLE = [
    {"external_id": f"c{n}", "email": f"c{n}@example.com", "locale": "da" if n % 2 else "en"}
    for n in range(30)
]


def test_save_preview_launch_and_report(
    client: TestClient, api_keys: dict[str, str], migrated_engine: Engine
) -> None:
    add_shop(migrated_engine, PEOPLE)
    write, read = bearer(api_keys["write"]), bearer(api_keys["read"])
    created = client.post("/api/v1/campaigns", json=campaign(holdout=0.2), headers=write)
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["name"], body["status"], body["segment"], body["holdout"]) == (
        "winback",
        "draft",
        "buyers",
        0.2,
    )
    replaced = client.post("/api/v1/campaigns", json=campaign(holdout=0.25), headers=write)
    assert replaced.status_code == 200 and replaced.json()["holdout"] == 0.25
    listed = client.get("/api/v1/campaigns", headers=read).json()
    assert [c["name"] for c in listed] == ["winback"]
    by_id = client.get(f"/api/v1/campaigns/{body['id']}", headers=read)
    assert by_id.json()["name"] == "winback"

    preview = client.post(
        "/api/v1/campaigns/winback/preview", json={"customer": "c1"}, headers=read
    )
    assert preview.status_code == 200, preview.text
    shown = preview.json()
    assert (shown["customer"], shown["locale"], shown["subject"]) == (
        "c1",
        "da",
        "Vi savner dig, du",
    )
    assert "Kode: KOM-TILBAGE" in shown["text"]
    assert count_rows(migrated_engine, Delivery) == 0  # a preview writes nothing

    launched = client.post(
        f"/api/v1/campaigns/{body['id']}/launch",
        json={},
        headers=write | {"Idempotency-Key": "launch-1"},
    )
    assert launched.status_code == 200, launched.text
    result = launched.json()
    assert result["audience"] == 30 and result["treated"] + result["control"] == 30
    assert count_rows(migrated_engine, CampaignAudience) == 30
    assert count_rows(migrated_engine, Delivery) == result["treated"]
    same = client.post(
        f"/api/v1/campaigns/{body['id']}/launch",
        json={},
        headers=write | {"Idempotency-Key": "launch-1"},
    )
    assert same.json() == result  # the stored answer; nothing queued twice
    problem(
        client.post("/api/v1/campaigns/winback/launch", json={}, headers=write), 409, "conflict"
    )
    problem(client.post("/api/v1/campaigns", json=campaign(), headers=write), 409, "conflict")

    report = client.get(f"/api/v1/campaigns/{body['id']}/report", headers=read)
    assert report.status_code == 200, report.text
    figures = report.json()
    assert figures["funnel"]["queued"] == result["treated"]
    assert figures["funnel"]["waiting"] == result["treated"]  # no worker has run
    assert figures["arms"]["control"]["customers"] == result["control"]
    assert figures["lift"]["conversion_rate"]["detectable"] is False
    assert figures["verdict"].startswith("No detectable effect")


def test_errors_name_the_problem(
    client: TestClient, api_keys: dict[str, str], migrated_engine: Engine
) -> None:
    add_shop(migrated_engine, PEOPLE[:3])
    write, read = bearer(api_keys["write"]), bearer(api_keys["read"])
    bad = problem(
        client.post("/api/v1/campaigns", json=campaign(holdout=0.9), headers=write),
        422,
        "validation-error",
    )
    assert bad["errors"] == [
        {"field": "holdout", "message": "a share in [0, 0.5] (default 0.1), not 0.9"}
    ]
    message = campaign()["message"] | {"en": {"text": "{{ ''.__class__.__mro__ }}"}}
    escape = problem(
        client.post("/api/v1/campaigns", json=campaign(message=message), headers=write),
        422,
        "validation-error",
    )
    assert escape["errors"][0]["field"] == "message.en.text"
    problem(client.get("/api/v1/campaigns/nope", headers=read), 404, "not-found")
    problem(client.get("/api/v1/campaigns/nope/report", headers=read), 404, "not-found")
    problem(client.post("/api/v1/campaigns", json=campaign(), headers=read), 403, "forbidden")
    assert count_rows(migrated_engine, Delivery) == 0


def test_the_server_sends_what_is_launched_with_its_worker_thread(
    api_config: ApiConfig, api_keys: dict[str, str], migrated_engine: Engine, sink: tuple[Sink, int]
) -> None:
    handler, port = sink
    add_shop(migrated_engine, PEOPLE[:5])
    config = replace(
        api_config,
        delivery_worker=lambda: make_worker(migrated_engine, port, SystemClock())[0],
    )
    with TestClient(create_app(config)) as client:
        write = bearer(api_keys["write"])
        draft = campaign(quiet_hours=False)  # the server's clock is real: it may be night
        assert client.post("/api/v1/campaigns", json=draft, headers=write).status_code == 201
        launched = client.post("/api/v1/campaigns/winback/launch", json={}, headers=write)
        assert launched.status_code == 200, launched.text
        deadline = time.monotonic() + 30
        while len(message_ids(handler)) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
    assert sorted(str(m["To"]) for m in handler.received) == [f"c{n}@example.com" for n in range(5)]
