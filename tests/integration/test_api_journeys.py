"""/api/v1/journeys on SQLite and PostgreSQL: save, list, get, pause, resume, errors."""

from __future__ import annotations

from api_helpers import bearer, problem
from campaign_helpers import add_shop
from sqlalchemy import Engine
from starlette.testclient import TestClient

JOURNEY = {
    "name": "winback",
    "trigger": {"segment": "buyers"},
    "goal": "order",
    "holdout": 0.1,
    "steps": [
        {"id": "hello", "send": {"message": {"en": {"subject": "Hi", "text": "We miss you"}}}},
        {"wait": {"days": 3}},
        {"send": {"message": {"en": {"subject": "Still here", "text": "Come back"}}}},
    ],
}


def test_save_list_pause_and_resume(
    client: TestClient, api_keys: dict[str, str], migrated_engine: Engine
) -> None:
    add_shop(migrated_engine, [{"external_id": "c1", "email": "c1@example.com"}])
    write, read = bearer(api_keys["write"]), bearer(api_keys["read"])
    created = client.post("/api/v1/journeys", json=JOURNEY, headers=write)
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["name"], body["status"], body["trigger"]) == (
        "winback",
        "active",
        {"segment": "buyers"},
    )
    assert [s["kind"] for s in body["steps"]] == ["send", "wait", "send"]
    assert [j["name"] for j in client.get("/api/v1/journeys", headers=read).json()] == ["winback"]
    paused = client.post("/api/v1/journeys/winback/pause", json={}, headers=write)
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    resumed = client.post("/api/v1/journeys/winback/resume", json={}, headers=write)
    assert resumed.json()["status"] == "active"
    assert client.get("/api/v1/journeys/winback", headers=read).json()["entries"] == {}
    problem(client.post("/api/v1/journeys", json=JOURNEY, headers=write), 409, "conflict")
    # The steps are not campaigns of their own.
    assert client.get("/api/v1/campaigns", headers=read).json() == []


def test_errors_name_the_problem(client: TestClient, api_keys: dict[str, str]) -> None:
    write, read = bearer(api_keys["write"]), bearer(api_keys["read"])
    bad = JOURNEY | {"steps": [{"wait": {"days": -1}}]}
    answer = problem(
        client.post("/api/v1/journeys", json=bad, headers=write), 422, "validation-error"
    )
    assert answer["errors"][0]["field"] == "steps[0].wait.days"
    problem(client.get("/api/v1/journeys/nope", headers=read), 404, "not-found")
    problem(client.post("/api/v1/journeys/nope/pause", json={}, headers=write), 404, "not-found")
