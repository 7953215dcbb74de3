"""Ingestion through the API: batches with per-item errors or atomic, tracking, idempotency."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from api_helpers import bearer, count_rows, problem
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from retentio.store.tables import Customer, Event, IdempotencyKey, Order

ORDER = {
    "external_id": "o1",
    "customer_id": "c1",
    "ordered_at": "2026-03-01T10:00:00+01:00",
    "currency": "DKK",
    "total": "249.95",
    "lines": [{"sku": "TEA-1", "name": "Tea", "quantity": 2, "amount": "249.95"}],
}
EVENT = {"customer_id": "c1", "name": "viewed_product", "occurred_at": "2026-03-01T10:00:00Z"}


def test_a_batch_writes_the_valid_items_and_reports_the_others_by_index(
    client: TestClient, api_keys: dict[str, str], migrated_engine: Engine
) -> None:
    items: list[Any] = [
        {"external_id": "c1", "email": "Anna@Example.DK", "country": "dk"},
        {"external_id": "c2", "email": "not an address"},
        "not an object",
        {"external_id": "c3", "favourite_colour": "blue"},
        {"external_id": "c4", "phone": "20 12 34 56", "country": "DK"},
    ]
    response = client.post(
        "/api/v1/customers/batch", json={"items": items}, headers=bearer(api_keys["write"])
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["received"], body["created"], body["updated"], body["failed"]) == (5, 2, 0, 3)
    assert sorted({e["index"] for e in body["errors"]}) == [1, 2, 3]
    fields = {e["index"]: e["field"] for e in body["errors"]}
    assert fields[1] == "email" and fields[3] == "favourite_colour"
    with Session(migrated_engine) as session:
        stored = {c.external_id: c for c in session.scalars(select(Customer))}
    assert sorted(stored) == ["c1", "c4"]
    assert stored["c1"].email == "anna@example.dk" and stored["c4"].phone == "+4520123456"

    again = client.post(
        "/api/v1/customers/batch",
        json={"items": [{"external_id": "c1", "first_name": "Anna"}]},
        headers=bearer(api_keys["write"]),
    ).json()
    assert (again["created"], again["updated"]) == (0, 1)


def test_an_atomic_batch_with_one_bad_item_writes_nothing(
    client: TestClient, api_keys: dict[str, str], migrated_engine: Engine
) -> None:
    bad = {**ORDER, "external_id": "o2", "ordered_at": "2026-03-01T10:00:00"}
    response = client.post(
        "/api/v1/orders/batch?atomic=true",
        json={"items": [ORDER, bad]},
        headers=bearer(api_keys["write"]),
    )
    found = problem(response, 422, "batch-rejected")
    assert found["errors"][0]["index"] == 1 and found["errors"][0]["field"] == "ordered_at"
    assert count_rows(migrated_engine, Order) == 0
    assert count_rows(migrated_engine, Customer) == 0
    loose = client.post(
        "/api/v1/orders/batch", json={"items": [ORDER, bad]}, headers=bearer(api_keys["write"])
    ).json()
    assert (loose["created"], loose["failed"]) == (1, 1)
    assert count_rows(migrated_engine, Order) == 1


def test_orders_show_on_the_customer_profile(client: TestClient, api_keys: dict[str, str]) -> None:
    second = {**ORDER, "external_id": "o2", "ordered_at": "2026-04-01T10:00:00+02:00"}
    second = {
        **second,
        "total": "100",
        "lines": [],
        "refunds": [{"refunded_at": "2026-04-03T09:00:00Z", "amount": "40"}],
    }
    written = client.post(
        "/api/v1/orders/batch", json={"items": [ORDER, second]}, headers=bearer(api_keys["write"])
    )
    assert written.json()["created"] == 2
    profile = client.get("/api/v1/customers/c1", headers=bearer(api_keys["read"]))
    assert profile.status_code == 200, profile.text
    body = profile.json()
    assert body["customer"]["external_id"] == "c1"
    (totals,) = body["totals"]
    assert totals["currency"] == "DKK" and totals["orders"] == 2
    assert totals["revenue_minor"] == 24995 + 10000 and totals["refunded_minor"] == 4000
    assert totals["avg_days_between_orders"] > 30
    assert [o["external_id"] for o in body["recent_orders"]] == ["o2", "o1"]
    assert body["recent_orders"][1]["lines"][0]["amount_minor"] == 24995
    assert body["scores"]["segment"] is not None and body["scores"]["frequency"] == 2
    page = client.get(
        "/api/v1/customers/c1/orders?limit=1", headers=bearer(api_keys["read"])
    ).json()
    assert [o["external_id"] for o in page["items"]] == ["o1"]
    rest = client.get(
        f"/api/v1/customers/c1/orders?limit=1&cursor={page['next_cursor']}",
        headers=bearer(api_keys["read"]),
    ).json()
    assert [o["external_id"] for o in rest["items"]] == ["o2"]


def test_tracking_an_event_is_deduplicated_by_its_external_id(
    client: TestClient, api_keys: dict[str, str], migrated_engine: Engine
) -> None:
    event = {**EVENT, "external_id": "e1", "properties": {"sku": "TEA-1"}}
    first = client.post("/api/v1/events", json=event, headers=bearer(api_keys["write"]))
    assert first.status_code == 201 and first.json() == {"created": True}
    again = client.post("/api/v1/events", json=event, headers=bearer(api_keys["write"]))
    assert again.status_code == 200 and again.json() == {"created": False}
    bad = client.post(
        "/api/v1/events",
        json={**EVENT, "occurred_at": "yesterday"},
        headers=bearer(api_keys["write"]),
    )
    assert problem(bad, 422, "validation-error")["errors"][0]["field"] == "occurred_at"
    assert count_rows(migrated_engine, Event) == 1


def test_an_idempotency_key_replays_the_stored_answer_and_refuses_another_body(
    client: TestClient, api_keys: dict[str, str], migrated_engine: Engine
) -> None:
    headers = {**bearer(api_keys["write"]), "Idempotency-Key": "order-sync-1"}
    first = client.post("/api/v1/events", json=EVENT, headers=headers)
    assert first.status_code == 201
    replay = client.post("/api/v1/events", json=EVENT, headers=headers)
    assert replay.status_code == 201 and replay.json() == first.json()
    assert replay.headers["idempotent-replayed"] == "true"
    assert count_rows(migrated_engine, Event) == 1
    other = client.post("/api/v1/events", json={**EVENT, "name": "other"}, headers=headers)
    problem(other, 422, "idempotency-key-reused")
    # The key is scoped per API key: another key may use the same value.
    mine = {**bearer(api_keys["admin"]), "Idempotency-Key": "order-sync-1"}
    assert client.post("/api/v1/events", json=EVENT, headers=mine).status_code == 201
    assert count_rows(migrated_engine, Event) == 2
    # A stored rejection is replayed too.
    atomic = {**bearer(api_keys["write"]), "Idempotency-Key": "bad-batch"}
    bad = {"items": [{"external_id": "x", "nope": 1}]}
    rejected = client.post("/api/v1/customers/batch?atomic=true", json=bad, headers=atomic)
    problem(rejected, 422, "batch-rejected")
    replayed = client.post("/api/v1/customers/batch?atomic=true", json=bad, headers=atomic)
    assert problem(replayed, 422, "batch-rejected") == rejected.json()
    # The query string is part of the request: the same body without atomic is another request.
    loose = client.post("/api/v1/customers/batch", json=bad, headers=atomic)
    problem(loose, 422, "idempotency-key-reused")


def test_a_request_in_flight_with_the_same_key_gets_409(
    client: TestClient, api_keys: dict[str, str], migrated_engine: Engine
) -> None:
    headers = {**bearer(api_keys["write"]), "Idempotency-Key": "slow"}
    assert client.post("/api/v1/events", json=EVENT, headers=headers).status_code == 201
    with Session(migrated_engine) as session:  # as if the first request were still running
        row = session.scalars(select(IdempotencyKey)).one()
        row.state, row.response_status, row.response_body = "started", None, None
        session.commit()
    busy = client.post("/api/v1/events", json=EVENT, headers=headers)
    problem(busy, 409, "idempotency-in-flight")
    assert busy.headers["retry-after"] == "1"
    assert count_rows(migrated_engine, Event) == 1


def _parallel(calls: int, send: Any) -> list[httpx.Response]:
    with ThreadPoolExecutor(max_workers=calls) as pool:
        return list(pool.map(lambda _: send(), range(calls)))


def test_twenty_parallel_requests_with_one_key_have_one_effect(
    live_server: str, api_keys: dict[str, str], migrated_engine: Engine
) -> None:
    headers = {**bearer(api_keys["write"]), "Idempotency-Key": "burst"}
    with httpx.Client(base_url=live_server, timeout=30) as http:
        responses = _parallel(20, lambda: http.post("/api/v1/events", json=EVENT, headers=headers))
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {201, 409}, statuses
    assert 201 in statuses
    assert count_rows(migrated_engine, Event) == 1


def test_twenty_parallel_upserts_of_one_customer_make_one_row(
    live_server: str, api_keys: dict[str, str], migrated_engine: Engine
) -> None:
    body = {"items": [{"external_id": "same", "first_name": "Anna"}]}
    with httpx.Client(base_url=live_server, timeout=30) as http:
        responses = _parallel(
            20,
            lambda: http.post(
                "/api/v1/customers/batch", json=body, headers=bearer(api_keys["write"])
            ),
        )
    assert [r.status_code for r in responses] == [200] * 20, [r.text for r in responses]
    assert sum(r.json()["created"] for r in responses) == 1
    assert count_rows(migrated_engine, Customer) == 1


def test_nul_characters_are_refused_by_field_on_both_databases(
    client: TestClient, api_keys: dict[str, str], migrated_engine: Engine
) -> None:
    items = [{"external_id": "c\u00001"}, {"external_id": "ok", "first_name": "A\u0000"}]
    body = client.post(
        "/api/v1/customers/batch", json={"items": items}, headers=bearer(api_keys["write"])
    ).json()
    assert [(e["index"], e["field"]) for e in body["errors"]] == [
        (0, "external_id"),
        (1, "first_name"),
    ]
    assert "NUL" in body["errors"][0]["message"]
    assert count_rows(migrated_engine, Customer) == 0


def test_a_profile_survives_a_store_the_scores_cannot_use(
    client: TestClient, api_keys: dict[str, str]
) -> None:
    future = {**ORDER, "ordered_at": "2199-01-01T00:00:00Z"}  # nothing before today
    client.post("/api/v1/orders/batch", json={"items": [future]}, headers=bearer(api_keys["write"]))
    profile = client.get("/api/v1/customers/c1", headers=bearer(api_keys["read"]))
    assert profile.status_code == 200, profile.text
    scores = profile.json()["scores"]
    assert scores["segment"] is None and "no scores" in scores["note"]


def test_kpis_cohorts_and_rfm_read_the_store(
    client: TestClient, api_keys: dict[str, str], migrated_engine: Engine
) -> None:
    from retentio.analytics import kpis
    from retentio.store.arrow import read_transactions

    orders = [
        {
            **ORDER,
            "external_id": f"o{i}",
            "customer_id": f"c{i % 3}",
            "ordered_at": f"2026-0{1 + i % 6}-1{i % 9}T10:00:00+01:00",
            "total": f"{10 + i}.50",
        }
        for i in range(12)
    ]
    client.post("/api/v1/orders/batch", json={"items": orders}, headers=bearer(api_keys["write"]))
    read = bearer(api_keys["read"])
    body = client.get("/api/v1/kpis?observation_end=2026-06-30", headers=read).json()
    expected = kpis(read_transactions(migrated_engine), observation_end="2026-06-30")
    assert body["kpis"]["orders"] == expected["orders"] == 12
    assert body["kpis"]["revenue"] == pytest.approx(expected["revenue"])
    assert set(body["trend"]) == set(body["kpis"]) and body["monthly"]
    cohorts = client.get("/api/v1/cohorts?observation_end=2026-06-30", headers=read).json()
    assert sum(r["active_customers"] for r in cohorts if r["period_number"] == 0) == 3
    segments = client.get("/api/v1/rfm?observation_end=2026-06-30", headers=read).json()
    assert sum(r["customers"] for r in segments) == 3
