"""/api/v1/loyalty on SQLite and PostgreSQL: a member's balances and history, earning on an
order, redeeming (409 when short) and adjusting, each once per key."""

from __future__ import annotations

from api_helpers import bearer, problem
from campaign_helpers import SECRET
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from retentio.ingest import ingest_customers
from retentio.loyalty.service import configure_programme
from retentio.store.loyalty_tables import LoyaltyEntry


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


PROGRAMME = {
    "pending_days": 0,
    "actions": {"review": {"points": 20, "limit": {"count": 1, "per": "day"}}},
    "tiers": {
        "levels": [
            {"name": "Bronze", "threshold": 0},
            {"name": "Silver", "threshold": 1000, "multiplier": 1.5, "perks": ["Free shipping"]},
        ]
    },
    "rewards": [
        {"id": "50-off", "kind": "amount_off", "amount": 50, "points": 500},
        {"id": "vip", "kind": "free_shipping", "points": 100, "tier": "Silver"},
    ],
}


def test_programme_actions_lines_rewards_and_coupons(
    client: TestClient, api_keys: dict[str, str], migrated_engine: Engine
) -> None:
    with Session(migrated_engine) as session:
        ingest_customers(session, [{"external_id": "ida"}], secret=SECRET, actor="test")
    admin, write = bearer(api_keys["admin"]), bearer(api_keys["write"])
    read = bearer(api_keys["read"])
    empty = client.get("/api/v1/loyalty/programme", headers=read).json()
    assert empty == {"version": None, "definition": {}, "versions": []}
    bad = client.put("/api/v1/loyalty/programme", json={"tiers": {"levels": []}}, headers=admin)
    assert problem(bad, 422, "validation-error")["errors"][0]["field"] == "tiers.levels"
    problem(client.put("/api/v1/loyalty/programme", json=PROGRAMME, headers=write), 403,
            "forbidden")  # fmt: skip
    saved = client.put("/api/v1/loyalty/programme", json=PROGRAMME, headers=admin)
    assert saved.status_code == 200 and saved.json()["version"] == 1
    # an order with lines, shipping and tax: 600 net at Bronze
    order = {
        "customer": "ida", "order_id": "O-1", "amount": "800.00", "currency": "DKK",
        "ordered_at": "2026-12-01T10:00:00+01:00", "shipping": "50.00", "tax": "150.00",
        "lines": [{"amount": "500.00", "product": "TEA"}, {"amount": "100.00", "product": "MUG"}],
    }  # fmt: skip
    earned = client.post("/api/v1/loyalty/earn", json=order, headers=write)
    assert earned.status_code == 200, earned.text
    assert earned.json()["points"] == 600
    review = {"customer": "ida", "action": "review", "key": "review-1"}
    assert client.post("/api/v1/loyalty/earn", json=review, headers=write).json()["points"] == 20
    limited = client.post("/api/v1/loyalty/earn", json={**review, "key": "review-2"},
                          headers=write)  # fmt: skip
    assert "at most 1 time(s) per day" in problem(limited, 409, "conflict")["detail"]
    both = client.post("/api/v1/loyalty/earn", json={**order, "action": "review"}, headers=write)
    assert "not both" in problem(both, 422, "validation-error")["detail"]
    # reaching Silver: 1,100 DKK net in the window
    more = {**order, "order_id": "O-2", "amount": "500.00", "shipping": None, "tax": None,
            "lines": []}  # fmt: skip
    assert client.post("/api/v1/loyalty/earn", json=more, headers=write).json()["points"] == 500
    member = client.get("/api/v1/loyalty/members/ida", headers=read).json()
    assert member["available"] == 1_120
    assert member["tier"]["name"] == "Silver" and member["tier"]["perks"] == ["Free shipping"]
    assert member["tier"]["value"] == "1100.00" and member["tier"]["next"] is None
    assert member["referral"] == {"code": None, "link": None}
    catalogue = client.get("/api/v1/loyalty/rewards?customer=ida", headers=read).json()
    assert [(r["id"], r["redeemable"]) for r in catalogue["rewards"]] == [("50-off", True),
                                                                        ("vip", True)]  # fmt: skip
    redeemed = client.post(
        "/api/v1/loyalty/redeem", json={"customer": "ida", "reward": "50-off"},
        headers=write | {"Idempotency-Key": "buy-1"},
    )  # fmt: skip
    assert redeemed.status_code == 200, redeemed.text
    coupon = redeemed.json()["coupon"]
    assert redeemed.json()["balance"]["available"] == 620 and coupon["status"] == "issued"
    replay = client.post(
        "/api/v1/loyalty/redeem", json={"customer": "ida", "reward": "50-off"},
        headers=write | {"Idempotency-Key": "buy-1"},
    )  # fmt: skip
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json() == redeemed.json()
    other = client.post(
        "/api/v1/loyalty/redeem", json={"customer": "ida", "reward": "vip"},
        headers=write | {"Idempotency-Key": "buy-1"},
    )  # fmt: skip
    problem(other, 422, "idempotency-key-reused")
    code = coupon["code"]
    shown = client.get(f"/api/v1/loyalty/coupons/{code}", headers=read).json()
    assert shown["value"] == {"kind": "amount_off", "amount": "50.00", "currency": "DKK"}
    used = client.post(f"/api/v1/loyalty/coupons/{code}/use", json={"order_id": "O-3"},
                       headers=write)  # fmt: skip
    assert used.json()["status"] == "used"
    cancel = client.post(f"/api/v1/loyalty/coupons/{code}/cancel", json={}, headers=write)
    assert "was used on order O-3" in problem(cancel, 409, "conflict")["detail"]
    problem(client.get("/api/v1/loyalty/coupons/LOY-NOPE", headers=read), 404, "not-found")
    second = client.post(
        "/api/v1/loyalty/redeem", json={"customer": "ida", "reward": "vip", "key": "buy-2"},
        headers=write,
    ).json()["coupon"]  # fmt: skip
    back = client.post(f"/api/v1/loyalty/coupons/{second['code']}/cancel", json={},
                       headers=write)  # fmt: skip
    assert back.json()["status"] == "cancelled" and back.json()["balance"]["available"] == 620
    listed = client.get("/api/v1/loyalty/programme", headers=read).json()
    assert listed["version"] == 1 and [v["version"] for v in listed["versions"]] == [1]


def test_times_ahead_negative_amounts_and_bad_text_are_refused(
    client: TestClient, api_keys: dict[str, str], migrated_engine: Engine
) -> None:
    with Session(migrated_engine) as session:
        ingest_customers(session, [{"external_id": "ida"}], secret=SECRET, actor="test")
        configure_programme(session, {"actions": {"review": {"points": 5}}}, actor="test")
    write = bearer(api_keys["write"])
    order = {"customer": "ida", "order_id": "O-1", "amount": "100.00", "currency": "DKK",
             "ordered_at": "2026-12-01T10:00:00+00:00"}  # fmt: skip

    def refused(body: dict[str, object], slug: str = "validation-error") -> str:
        return str(problem(client.post("/api/v1/loyalty/earn", json=body, headers=write), 422,
                           slug)["detail"])  # fmt: skip

    assert "is in the future" in refused({**order, "ordered_at": "2099-01-01T00:00:00+00:00"},
                                         "invalid-data")  # fmt: skip
    action = {"customer": "ida", "action": "review", "key": "r1"}
    assert "occurred_at" in refused({**action, "occurred_at": "2099-01-01T00:00:00+00:00"},
                                    "invalid-data")  # fmt: skip
    assert "ordered_at" in refused({**order, "ordered_at": "2026-12-01T10:00:00"})  # no offset
    lines = [{"amount": "-100.00", "category": "gift-cards"}, {"amount": "200.00"}]
    assert "lines[0].amount: not negative" in refused({**order, "lines": lines})
    assert "shipping: not negative" in refused({**order, "shipping": "-5.00"})
    assert "customer" in refused({**order, "customer": "ida\x00"})
    with Session(migrated_engine) as session:
        assert session.scalar(select(func.count()).select_from(LoyaltyEntry)) == 0
