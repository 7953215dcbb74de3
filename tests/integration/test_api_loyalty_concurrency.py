"""100 concurrent earn, redeem and refund requests on one member through the real HTTP server,
on SQLite and PostgreSQL: each answer is whole, the balance never goes below 0 (the programme
caps refunds at the balance), the cached balance is the sum of the entries, and each key is
applied once."""

from __future__ import annotations

import threading
from typing import Any

import httpx
from api_helpers import bearer
from campaign_helpers import SECRET
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from retentio.ingest import ingest_customers
from retentio.loyalty import configure_programme
from retentio.store.loyalty_tables import LoyaltyAccount, LoyaltyEntry

ORDERED = "2026-12-01T10:00:00+01:00"


def order(n: int, amount: str) -> dict[str, Any]:
    return {"customer": "ida", "order_id": f"O-{n}", "amount": amount, "currency": "DKK",
            "ordered_at": ORDERED}  # fmt: skip


def test_100_concurrent_requests_keep_the_member_whole(
    live_server: str, api_keys: dict[str, str], migrated_engine: Engine
) -> None:
    with Session(migrated_engine) as session:
        ingest_customers(session, [{"external_id": "ida"}], secret=SECRET, actor="test")
        configure_programme(session, {"pending_days": 0, "returns": "cap_at_balance"}, actor="test")
    headers = bearer(api_keys["write"])
    with httpx.Client(base_url=live_server, headers=headers, timeout=60) as client:
        for n in range(20):  # 20 orders of 100 points: 2,000 available
            assert client.post("/api/v1/loyalty/earn", json=order(n, "100.00")).status_code == 200

    requests: list[tuple[str, dict[str, Any], dict[str, str]]] = []
    for n in range(30):  # 30 new orders of 50 points
        requests.append(("/api/v1/loyalty/earn", order(20 + n, "50.00"), {}))
    for n in range(40):  # 40 redemptions of 100 points
        body = {"customer": "ida", "points": 100}
        requests.append(("/api/v1/loyalty/redeem", body, {"Idempotency-Key": f"k{n}"}))
    for n in range(20):  # the first 20 orders refunded in full
        body = {"customer": "ida", "order_id": f"O-{n}", "refund_id": "R-1", "amount": "100.00",
                "refunded": "100.00", "currency": "DKK"}  # fmt: skip
        requests.append(("/api/v1/loyalty/refund", body, {}))
    for n in range(10):  # the same redemption again: applied once, whatever the timing
        body = {"customer": "ida", "points": 100}
        requests.append(("/api/v1/loyalty/redeem", body, {"Idempotency-Key": f"k{n}"}))

    answers: list[tuple[str, int, dict[str, Any]]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(requests))

    def send(path: str, body: dict[str, Any], extra: dict[str, str]) -> None:
        with httpx.Client(base_url=live_server, headers=headers | extra, timeout=60) as client:
            barrier.wait(30)
            response = client.post(path, json=body)
        with lock:
            replayed = response.headers.get("Idempotent-Replayed") == "true"
            answers.append((path, response.status_code, response.json() | {"_replay": replayed}))

    threads = [threading.Thread(target=send, args=request) for request in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(answers) == 100
    statuses = {status for _, status, _ in answers}
    assert statuses <= {200, 409}, [a for a in answers if a[1] not in (200, 409)]
    for path, status, answer in answers:
        if status == 200:
            assert answer["balance"]["available"] >= 0, answer
        else:  # short of points, or the same Idempotency-Key still in flight
            assert answer["type"] in ("/problems/conflict", "/problems/idempotency-in-flight")
            assert path == "/api/v1/loyalty/redeem"
    earned = [a for p, s, a in answers if p.endswith("/earn") and s == 200]
    assert len(earned) == 30
    with Session(migrated_engine) as session:
        account = session.scalars(select(LoyaltyAccount)).one()
        e = LoyaltyEntry
        total, redeemed = session.execute(
            select(func.sum(e.points), func.count().filter(e.kind == "redeem"))
        ).one()
        keys = session.scalars(select(e.key).where(e.kind == "redeem")).all()
    assert account.available == total and account.available >= 0  # cached == sum of entries
    assert len(keys) == len(set(keys)) == redeemed  # each key applied once
    assert redeemed <= 35  # 3,500 points came in all: at most 35 redemptions of 100
    applied = [a for p, s, a in answers if p.endswith("/redeem") and s == 200]
    assert sum(1 for a in applied if not a["_replay"]) == redeemed  # replays change nothing
