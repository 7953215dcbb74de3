"""/api/v1/subscriptions on SQLite and PostgreSQL: made, changed and cancelled through the
contract paths, each POST once per key; the orders and the payment outcomes; the policy."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from api_helpers import bearer, problem
from campaign_helpers import SECRET
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from retentio.api.routes import subscriptions as routes
from retentio.ingest import ingest_customers
from retentio.subscriptions import current_policy, pause_subscription, renew_due

BODY = {
    "customer": "ida",
    "items": [{"product": "TEA-250G", "quantity": 2, "price": "59.00"}],
    "cadence": {"unit": "week", "count": 4},
    "currency": "DKK",
}


def test_the_contract_paths_end_to_end(
    client: TestClient, api_keys: dict[str, str], migrated_engine: Engine
) -> None:
    with Session(migrated_engine) as session:
        ingest_customers(session, [{"external_id": "ida"}], secret=SECRET, actor="test")
    write, read, admin = (bearer(api_keys[s]) for s in ("write", "read", "admin"))
    once = write | {"Idempotency-Key": "signup-1"}
    made = client.post("/api/v1/subscriptions", json=BODY, headers=once)
    assert made.status_code == 201, made.text
    sub = made.json()
    assert sub["status"] == "active" and sub["next_amount"] == "118.00"
    replay = client.post("/api/v1/subscriptions", json=BODY, headers=once)
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    again = client.post("/api/v1/subscriptions", json={**BODY, "key": "signup-1"}, headers=write)
    assert again.status_code == 200 and again.json()["id"] == sub["id"]  # the same key in the body
    base = f"/api/v1/subscriptions/{sub['id']}"
    assert client.get(base, headers=read).json()["cadence"] == {"unit": "week", "count": 4}
    link = client.get(f"{base}/link", headers=write).json()
    assert "/s/" in link["url"] and client.get(link["url"]).status_code == 200  # the page opens
    problem(client.get(f"{base}/link", headers=read), 403, "forbidden")

    def act(action: str, body: dict[str, object], key: str) -> dict[str, object]:
        answer = client.post(
            f"{base}/{action}", json=body, headers=write | {"Idempotency-Key": key}
        )
        assert answer.status_code == 200, answer.text
        result: dict[str, object] = answer.json()
        return result

    assert act("skip", {}, "k1")["skipped"] == []
    assert (
        act("swap", {"product": "TEA-250G", "to": "TEA-500G", "price": "99.00"}, "k2")[
            "next_amount"
        ]
        == "198.00"
    )
    assert act("change", {"quantities": {"TEA-500G": 1}}, "k3")["next_amount"] == "99.00"
    assert act("pause", {"cycles": 1}, "k4")["status"] == "paused"
    assert act("resume", {}, "k5")["status"] == "active"
    assert act("order-now", {}, "k6")["cycle"] == 1
    asked = client.post(f"{base}/cancel", json={"reason": "not_now"}, headers=write).json()
    assert not asked["cancelled"] and [o["offer"] for o in asked["offers"]] == ["pause", "skip"]
    took = client.post(
        f"{base}/cancel", json={"reason": "not_now", "accept": "pause"}, headers=write
    ).json()
    assert took["accepted"] == "pause" and took["subscription"]["status"] == "paused"
    state = client.post(f"{base}/skip", json={}, headers=write)
    assert "paused subscription cannot skip" in problem(state, 409, "conflict")["detail"]
    bad = client.post(f"{base}/pause", json={"cycles": 99}, headers=write)
    problem(bad, 422, "validation-error")
    problem(client.get("/api/v1/subscriptions/999999", headers=read), 404, "not-found")
    problem(client.post(f"{base}/skip", json={}, headers=read), 403, "forbidden")
    gone = client.post(
        f"{base}/cancel",
        json={"reason": "not_now", "confirm": True, "note": "travelling"},
        headers=write,
    )
    assert gone.json()["cancelled"] and gone.json()["subscription"]["cancel_reason"] == "not_now"
    history = client.get(f"{base}/history", headers=read).json()["events"]
    # confirmed straight after taking the pause: no offer shown since, none declined
    assert [e["kind"] for e in history][:2] == ["subscription_cancelled", "offer_accepted"]
    listed = client.get("/api/v1/subscriptions?customer=ida&status=cancelled", headers=read)
    assert [s["id"] for s in listed.json()["subscriptions"]] == [sub["id"]]


def test_the_swap_offer_over_the_api_names_the_product_replaced(
    client: TestClient, api_keys: dict[str, str], migrated_engine: Engine
) -> None:
    with Session(migrated_engine) as session:
        ingest_customers(session, [{"external_id": "ida"}], secret=SECRET, actor="test")
    write = bearer(api_keys["write"])
    mug = {"product": "MUG", "quantity": 1, "price": "80.00"}
    made = client.post(
        "/api/v1/subscriptions", json={**BODY, "items": [*BODY["items"], mug]}, headers=write
    )  # fmt: skip
    cancel = f"/api/v1/subscriptions/{made.json()['id']}/cancel"
    asked = client.post(cancel, json={"reason": "product"}, headers=write).json()
    assert [o["offer"] for o in asked["offers"]] == ["swap", "discount"]
    offer = {"reason": "product", "accept": "swap", "swap_to": "CUP"}
    unnamed = client.post(cancel, json=offer, headers=write)
    assert (
        "swap_from: the subscription has several products (MUG, TEA-250G)"
        in problem(unnamed, 422, "invalid-data")["detail"]
    )
    took = client.post(cancel, json={**offer, "swap_from": "MUG"}, headers=write)
    assert took.status_code == 200, took.text
    assert [i["product"] for i in took.json()["subscription"]["items"]] == ["TEA-250G", "CUP"]


def test_orders_and_payment_outcomes(
    client: TestClient, api_keys: dict[str, str], migrated_engine: Engine
) -> None:
    with Session(migrated_engine) as session:
        ingest_customers(session, [{"external_id": "ida"}], secret=SECRET, actor="test")
    write, read = bearer(api_keys["write"]), bearer(api_keys["read"])
    sub = client.post("/api/v1/subscriptions", json={**BODY, "key": "s"}, headers=write).json()
    with Session(migrated_engine) as session:
        due = datetime.combine(
            date.fromisoformat(sub["next_order_on"]), datetime.min.time(), tzinfo=UTC
        ) + timedelta(days=1)
        assert renew_due(session, current_policy(session), now=due).orders == 1
    pending = client.get("/api/v1/subscriptions/orders?status=pending", headers=read).json()
    [order] = pending["orders"]
    assert order["amount_minor"] == 11_800 and order["cycle"] == 1
    failed = client.post(
        "/api/v1/subscriptions/payments",
        json={"order": order["id"], "outcome": "failed", "reason": "declined", "key": "p1"},
        headers=write,
    )
    assert failed.status_code == 200 and failed.json()["subscription_status"] == "past_due"
    paid = client.post(
        "/api/v1/subscriptions/payments",
        json={"order": order["id"], "outcome": "succeeded", "key": "p2"},
        headers=write,
    )
    assert (
        paid.json()["order"]["status"] == "paid" and paid.json()["subscription_status"] == "active"
    )
    again = client.post(
        "/api/v1/subscriptions/payments",
        json={"order": order["id"], "outcome": "failed", "key": "p3"},
        headers=write,
    )
    assert "is paid already" in problem(again, 409, "conflict")["detail"]
    unknown = client.post(
        "/api/v1/subscriptions/payments",
        json={"order": 424242, "outcome": "failed", "key": "p4"},
        headers=write,
    )
    problem(unknown, 404, "not-found")


def test_the_policy_is_versioned(
    client: TestClient, api_keys: dict[str, str], migrated_engine: Engine
) -> None:
    admin, read = bearer(api_keys["admin"]), bearer(api_keys["read"])
    default = client.get("/api/v1/subscriptions/policy", headers=read).json()
    assert default["dunning"] == [1, 3, 7, 14] and default["discount"]["cooldown_days"] == 100
    bad = client.put("/api/v1/subscriptions/policy", json={"dunning": [7, 1]}, headers=admin)
    assert problem(bad, 422, "validation-error")["errors"][0]["field"] == "dunning"
    saved = client.put(
        "/api/v1/subscriptions/policy",
        json={"max_pause_days": 60, "reasons": {"price": {"offers": ["discount"]}}},
        headers=admin,
    )
    assert saved.status_code == 200 and saved.json()["max_pause_days"] == 60
    assert [r["code"] for r in saved.json()["reasons"]] == ["price"]


class _Aborted(Exception):
    """What psycopg raises when PostgreSQL breaks a deadlock (its SQLSTATE)."""

    sqlstate = "40P01"


def test_a_change_aborted_to_break_a_deadlock_runs_again(
    client: TestClient,
    api_keys: dict[str, str],
    migrated_engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with Session(migrated_engine) as session:
        ingest_customers(session, [{"external_id": "ida"}], secret=SECRET, actor="test")
    write = bearer(api_keys["write"])
    sub = client.post("/api/v1/subscriptions", json=BODY, headers=write).json()
    calls = []

    def aborted_once(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs["key"])
        if len(calls) == 1:
            raise OperationalError("UPDATE subscriptions ...", {}, _Aborted())
        return pause_subscription(*args, **kwargs)

    monkeypatch.setattr(routes, "pause_subscription", aborted_once)
    once = write | {"Idempotency-Key": "pause-1"}
    paused = client.post(f"/api/v1/subscriptions/{sub['id']}/pause", json={}, headers=once)
    assert paused.status_code == 200, paused.text
    assert paused.json()["status"] == "paused" and calls == ["pause-1", "pause-1"]

    def aborted_otherwise(*_args: Any, **_kwargs: Any) -> Any:
        calls.append("resume")
        raise OperationalError("UPDATE subscriptions ...", {}, Exception("disk I/O error"))

    monkeypatch.setattr(routes, "resume_subscription", aborted_otherwise)
    failed = client.post(f"/api/v1/subscriptions/{sub['id']}/resume", json={}, headers=write)
    assert failed.status_code == 500 and calls.count("resume") == 1  # not a deadlock: once
