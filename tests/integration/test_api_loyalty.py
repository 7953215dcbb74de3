"""/api/v1/loyalty on SQLite and PostgreSQL: a member's balances and history, earning on an
order, redeeming (409 when short) and adjusting, each once per key."""

from __future__ import annotations

from api_helpers import bearer, problem
from campaign_helpers import SECRET
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from retentio.ingest import ingest_customers
from retentio.loyalty.service import configure_programme


def test_earn_redeem_adjust_and_the_member(
    client: TestClient, api_keys: dict[str, str], migrated_engine: Engine
) -> None:
    with Session(migrated_engine) as session:
        ingest_customers(session, [{"external_id": "ida"}], secret=SECRET, actor="test")
        assert configure_programme(session, {"pending_days": 0}, actor="test") == 1
    write, read = bearer(api_keys["write"]), bearer(api_keys["read"])
    order = {
        "customer": "ida",
        "order_id": "O-1",
        "amount": "499.00",
        "currency": "DKK",
        "ordered_at": "2026-12-01T10:00:00+00:00",
    }
    earned = client.post("/api/v1/loyalty/earn", json=order, headers=write)
    assert earned.status_code == 200, earned.text
    assert earned.json()["points"] == 499 and earned.json()["repeated"] is False
    again = client.post("/api/v1/loyalty/earn", json=order, headers=write)
    assert again.json()["repeated"] is True and again.json()["balance"]["available"] == 499
    spend = {"customer": "ida", "points": 400}
    short = client.post(
        "/api/v1/loyalty/redeem",
        json={**spend, "points": 500},
        headers=write | {"Idempotency-Key": "k0"},
    )
    assert "500 asked, 499 available" in problem(short, 409, "conflict")["detail"]
    redeemed = client.post(
        "/api/v1/loyalty/redeem", json=spend, headers=write | {"Idempotency-Key": "k1"}
    )
    assert redeemed.status_code == 200 and redeemed.json()["balance"]["available"] == 99
    nokey = client.post("/api/v1/loyalty/redeem", json=spend, headers=write)
    assert "key: required" in problem(nokey, 422, "validation-error")["detail"]
    fixed = client.post(
        "/api/v1/loyalty/adjust",
        json={"customer": "ida", "points": -9, "reason": "typo", "key": "fix-1"},
        headers=write,
    )
    assert fixed.json()["balance"]["available"] == 90
    member = client.get("/api/v1/loyalty/members/ida", headers=read)
    assert member.status_code == 200
    body = member.json()
    assert (body["available"], body["pending"], body["earned"]) == (90, 0, 499)
    assert [e["kind"] for e in body["history"]] == ["adjust", "redeem", "earn"]
    problem(client.get("/api/v1/loyalty/members/nobody", headers=read), 404, "not-found")
    odd = client.post("/api/v1/loyalty/earn", json={**order, "amount": "4.999"}, headers=write)
    assert "amount" in problem(odd, 422, "validation-error")["detail"]
    euros = client.post(
        "/api/v1/loyalty/earn", json={**order, "order_id": "O-2", "currency": "EUR"}, headers=write
    )
    problem(euros, 422, "invalid-data")  # another currency earns nothing
    problem(client.post("/api/v1/loyalty/redeem", json=spend, headers=read), 403, "forbidden")
