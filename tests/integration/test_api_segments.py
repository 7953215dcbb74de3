"""/api/v1/segments on SQLite and PostgreSQL: save, count, preview, refresh, members, errors."""

from __future__ import annotations

from typing import Any

from api_helpers import bearer, count_rows, problem
from sqlalchemy import Engine
from starlette.testclient import TestClient

from retentio.store.tables import Segment, SegmentMembership

REPEAT = {
    "name": "repeat-buyers",
    "description": "Two orders or more",
    "where": {"order_count": {"gte": 2}},
}


def _load(client: TestClient, keys: dict[str, str]) -> None:
    orders = [
        {
            "external_id": f"O{i}",
            "customer_id": f"C{i % 3}",  # C0: 2 orders, C1: 2, C2: 1
            "ordered_at": f"2026-05-0{i + 1}T10:00:00Z",
            "currency": "EUR",
            "total": "10.00",
        }
        for i in range(5)
    ]
    answer = client.post(
        "/api/v1/orders/batch", json={"items": orders}, headers=bearer(keys["write"])
    )
    assert answer.status_code == 200, answer.text


def test_save_count_preview_refresh_and_page_through_members(
    client: TestClient, api_keys: dict[str, str]
) -> None:
    _load(client, api_keys)
    write, read = bearer(api_keys["write"]), bearer(api_keys["read"])
    created = client.post("/api/v1/segments", json=REPEAT, headers=write)
    assert created.status_code == 201, created.text
    assert created.json()["members"] == 0 and created.json()["refreshed_at"] is None
    replaced = client.post("/api/v1/segments", json=REPEAT, headers=write)
    assert replaced.status_code == 200
    assert [s["name"] for s in client.get("/api/v1/segments", headers=read).json()] == [
        "repeat-buyers"
    ]

    counted = client.get("/api/v1/segments/repeat-buyers/count", headers=read).json()
    assert counted == {"segment": "repeat-buyers", "members": 2, "scores_computed_at": None}
    preview = client.get("/api/v1/segments/repeat-buyers/preview?limit=1", headers=read).json()
    assert preview["members"] == 2
    assert preview["rows"] == [{"external_id": "C0", "order_count": 2}]

    refreshed = client.post("/api/v1/segments/repeat-buyers/refresh", json={}, headers=write)
    assert refreshed.status_code == 200, refreshed.text
    assert {k: refreshed.json()[k] for k in ("entered", "exited", "members")} == {
        "entered": 2,
        "exited": 0,
        "members": 2,
    }
    first = client.get("/api/v1/segments/repeat-buyers/members?limit=1", headers=read).json()
    assert len(first["items"]) == 1
    rest = client.get(
        f"/api/v1/segments/repeat-buyers/members?limit=1&cursor={first['next_cursor']}",
        headers=read,
    ).json()
    paged = [m["external_id"] for m in first["items"] + rest["items"]]
    assert sorted(paged) == ["C0", "C1"]
    assert client.get("/api/v1/segments/repeat-buyers", headers=read).json()["members"] == 2


def test_preview_an_unsaved_definition_writes_nothing(
    client: TestClient, api_keys: dict[str, str], migrated_engine: Engine
) -> None:
    _load(client, api_keys)
    answer = client.post(
        "/api/v1/segments/preview",
        json={"name": "once", "where": {"order_count": 1}},
        headers=bearer(api_keys["read"]),
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["members"] == 1 and answer.json()["rows"][0]["external_id"] == "C2"
    assert count_rows(migrated_engine, Segment) == 0


def test_errors_name_the_problem(
    client: TestClient, api_keys: dict[str, str], migrated_engine: Engine
) -> None:
    write, read = bearer(api_keys["write"]), bearer(api_keys["read"])
    bad: dict[str, Any] = {"name": "x", "where": {"all": [{"order_count": 1}, {"p_aliv": 1}]}}
    body = problem(
        client.post("/api/v1/segments", json=bad, headers=write), 422, "validation-error"
    )
    assert body["errors"] == [
        {"field": "where.all[1].p_aliv", "message": body["errors"][0]["message"]}
    ]
    assert "unknown field 'p_aliv'" in body["detail"]
    problem(client.get("/api/v1/segments/nope/count", headers=read), 404, "not-found")
    problem(client.post("/api/v1/segments/nope/refresh", json={}, headers=write), 404, "not-found")
    problem(
        client.post("/api/v1/segments", json=REPEAT, headers=read), 403, "forbidden"
    )  # a read key cannot save
    assert client.post("/api/v1/segments", json=REPEAT, headers=write).status_code == 201
    problem(
        client.post("/api/v1/segments/repeat-buyers/refresh", json={"x": 1}, headers=write),
        422,
        "validation-error",
    )
    assert client.delete("/api/v1/segments/repeat-buyers", headers=write).status_code == 204
    assert (
        count_rows(migrated_engine, Segment) == count_rows(migrated_engine, SegmentMembership) == 0
    )
    problem(client.delete("/api/v1/segments/repeat-buyers", headers=write), 404, "not-found")


def test_saving_is_idempotent_by_key(
    client: TestClient, api_keys: dict[str, str], migrated_engine: Engine
) -> None:
    headers = {**bearer(api_keys["write"]), "Idempotency-Key": "save-1"}
    first = client.post("/api/v1/segments", json=REPEAT, headers=headers)
    again = client.post("/api/v1/segments", json=REPEAT, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    other = client.post("/api/v1/segments", json={**REPEAT, "description": "x"}, headers=headers)
    problem(other, 422, "idempotency-key-reused")
    assert count_rows(migrated_engine, Segment) == 1
