"""Referrals on SQLite and PostgreSQL: a member's code, made once; a friend referred with it
gets, with the referrer, their points only once the first qualifying order has passed its
return window (exactly once, however many runs at once); refunds below the minimum keep it
waiting; fraud checks reject or hold for review; over the API too."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from api_helpers import bearer, problem
from campaign_helpers import SECRET
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient
from threads import run_in_threads

from retentio.core.errors import DataError
from retentio.ingest import ingest_customers, ingest_orders
from retentio.loyalty import balance_of, earn_for_order, parse_programme, reverse_for_refund
from retentio.loyalty.referrals import (
    ReferralConflict,
    complete_referrals,
    list_referrals,
    refer,
    referral_code,
    review_referral,
)
from retentio.loyalty.service import configure_programme
from retentio.privacy.errors import NotFoundError
from retentio.store.loyalty_tables import LoyaltyAccount, LoyaltyEntry, LoyaltyReferral
from retentio.store.tables import Event

DEFINITION: dict[str, Any] = {
    "pending_days": 14,
    "referrals": {
        "referrer_points": 500,
        "friend_points": 250,
        "minimum_order": 200,
        "monthly_cap": 2,
        "link": "https://butik.example/?ref={code}",
    },
}
PROGRAMME = parse_programme(DEFINITION)
#: 1 December 2026, 10:00 in Copenhagen.
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
BY = "test"
IDA = {
    "external_id": "ida",
    "email": "ida@example.dk",
    "phone": "+45 20 12 34 56",
    "country": "DK",
    "attributes": {"address": "Nørrebrogade 10, 2200 København N"},
}


#: ida's address in parts.
FIE_ADDRESS = {"line1": "Nørrebrogade 10", "postcode": "2200", "city": "København N"}


@pytest.fixture()
def shop(migrated_engine: Engine) -> Engine:
    """ida (the referrer) and friends: strangers, one sharing her e-mail, one who ordered."""
    people = [
        IDA,
        *({"external_id": name, "email": f"{name}@example.nl"} for name in ("bob", "cas", "dan")),
        {"external_id": "eve", "email": "IDA@example.dk"},
        {"external_id": "fie", "attributes": {"address": FIE_ADDRESS}},
        {"external_id": "gus"},
        {"external_id": "old"},
    ]
    with Session(migrated_engine) as session:
        ingest_customers(session, people, secret=SECRET, actor=BY)
        order = {"external_id": "X-1", "customer_id": "old", "currency": "DKK", "total": "99.00"}
        ingest_orders(session, [{**order, "ordered_at": (T0 - 40 * DAY).isoformat()}], actor=BY)
    return migrated_engine


def code_of(engine: Engine, customer: str = "ida") -> str:
    with Session(engine) as session:
        return referral_code(session, customer, now=T0)


def refer_friend(engine: Engine, friend: str, *, key: str | None = None, **given: Any) -> Any:
    with Session(engine) as session:
        return refer(
            session, PROGRAMME, code=given.pop("code", None) or code_of(engine), friend=friend,
            key=key or f"k-{friend}", now=given.pop("now", T0), recorded_by=BY, **given,
        )  # fmt: skip


def buy(engine: Engine, customer: str, order: str, amount: int, at: datetime) -> None:
    with Session(engine) as session:
        earned = earn_for_order(
            session, PROGRAMME, customer=customer, order_id=order, amount_minor=amount,
            currency="DKK", ordered_at=at, now=at, recorded_by=BY,
        )  # fmt: skip
        assert earned is not None


def complete(engine: Engine, now: datetime) -> int:
    with Session(engine) as session:
        return complete_referrals(session, PROGRAMME, now=now)


def referral_points(engine: Engine) -> dict[str, int]:
    """Points each member got for referrals, from the ledger."""
    with Session(engine) as session:
        rows = session.execute(
            select(LoyaltyEntry.key, LoyaltyEntry.points).where(LoyaltyEntry.rule == "referral")
        ).all()
    return {key: points for key, points in rows}


def refer_list(engine: Engine, **filters: Any) -> list[Any]:
    with Session(engine) as session:
        return list_referrals(session, **filters)


def events(engine: Engine) -> list[dict[str, Any]]:
    with Session(engine) as session:
        found = session.scalars(select(Event).where(Event.name == "referral_completed"))
        return sorted((e.properties for e in found), key=lambda p: p["role"])


def test_a_code_is_made_once_and_is_unique(shop: Engine) -> None:
    first = code_of(shop)
    assert len(first) == 8 and set(first) <= set("34679ACDEFGHJKMNPQRTUVWXY")
    assert code_of(shop) == first  # kept, not drawn again
    assert code_of(shop, "bob") != first
    assert PROGRAMME.referrals is not None
    assert PROGRAMME.referrals.link_for(first) == f"https://butik.example/?ref={first}"
    codes: list[str] = []

    def draw() -> None:
        codes.append(code_of(shop, "gus"))

    run_in_threads(draw, 8)  # at once, for a member without an account yet
    assert len(codes) == 8 and len(set(codes)) == 1
    with Session(shop) as session:
        made = session.scalar(select(func.count()).where(LoyaltyAccount.referral_code.is_not(None)))
        assert made == 3
        with pytest.raises(NotFoundError, match="'nobody'"):
            referral_code(session, "nobody", now=T0)


def test_a_clean_referral_completes_after_the_return_window_once(shop: Engine) -> None:
    made = refer_friend(shop, "bob")
    assert (made.status, made.flags, made.referrer, made.friend) == ("pending", (), "ida", "bob")
    assert complete(shop, T0 + DAY) == 0  # no order yet
    buy(shop, "bob", "B-small", 19_999, T0 + DAY)  # below the minimum of 200 DKK
    buy(shop, "bob", "B-1", 30_000, T0 + 2 * DAY)
    assert complete(shop, T0 + 2 * DAY) == 0
    (waiting,) = refer_list(shop)
    assert (waiting.order_id, waiting.qualifies_at) == ("B-1", T0 + 16 * DAY)
    assert complete(shop, T0 + 16 * DAY - timedelta(seconds=1)) == 0  # in the return window
    assert referral_points(shop) == {} and events(shop) == []
    outcomes: list[int] = []
    barrier = threading.Barrier(6)

    def run() -> None:
        with Session(shop) as session:
            barrier.wait(10)
            outcomes.append(complete_referrals(session, PROGRAMME, now=T0 + 16 * DAY))

    run_in_threads(run, 6)  # six runs at once: one completes it
    assert sorted(outcomes) == [0, 0, 0, 0, 0, 1]
    assert complete(shop, T0 + 40 * DAY) == 0  # and never again
    assert referral_points(shop) == {f"referral:{made.id}:referrer": 500,
                                     f"referral:{made.id}:friend": 250}  # fmt: skip
    assert events(shop) == [
        {"role": "friend", "points": 250, "referral": made.id},
        {"role": "referrer", "points": 500, "referral": made.id},
    ]
    with Session(shop) as session:
        assert balance_of(session, "ida").available == 500
        friend = balance_of(session, "bob")
        assert (friend.available, friend.pending) == (250, 199 + 300)  # orders still pending
    (done,) = refer_list(shop)
    assert (done.status, done.completed_at) == ("completed", T0 + 16 * DAY)


def test_a_refund_below_the_minimum_keeps_it_waiting_for_a_later_order(shop: Engine) -> None:
    refer_friend(shop, "bob")
    buy(shop, "bob", "B-1", 30_000, T0 + DAY)
    assert complete(shop, T0 + DAY) == 0
    with Session(shop) as session:  # 150 of 300 DKK back, before the window ends
        reverse_for_refund(
            session, PROGRAMME, customer="bob", order_id="B-1", amount_minor=30_000,
            refunded_minor=15_000, refund_id="R-1", now=T0 + 5 * DAY, recorded_by=BY,
        )  # fmt: skip
    assert complete(shop, T0 + 15 * DAY) == 0  # the window is over, but the order is too small
    (waiting,) = refer_list(shop)
    assert (waiting.status, waiting.order_id, waiting.qualifies_at) == ("pending", None, None)
    assert complete(shop, T0 + 30 * DAY) == 0  # and stays so
    buy(shop, "bob", "B-2", 20_000, T0 + 31 * DAY)
    assert complete(shop, T0 + 31 * DAY) == 0
    assert refer_list(shop)[0].order_id == "B-2"
    assert complete(shop, T0 + 45 * DAY) == 1
    assert sorted(referral_points(shop).values()) == [250, 500]


def test_self_referral_is_rejected(shop: Engine) -> None:
    mine = refer_friend(shop, "ida")
    assert mine.status == "rejected" and mine.flags[0] == "self"
    buy(shop, "ida", "I-1", 50_000, T0 + DAY)
    assert complete(shop, T0 + 30 * DAY) == 0
    with Session(shop) as session, pytest.raises(ReferralConflict, match="is rejected"):
        review_referral(session, PROGRAMME, mine.id, approve=True, actor=BY, now=T0)


@pytest.mark.parametrize(
    ("friend", "given", "flag"),
    [
        ("eve", {}, "same_email"),  # stored as IDA@example.dk
        ("bob", {"email": " Ida@Example.DK"}, "same_email"),
        ("bob", {"phone": "20 12 34 56"}, "same_phone"),  # read in Denmark, like ida's
        ("fie", {}, "same_address"),  # a mapping of the same address
        ("bob", {"address": "NØRREBROGADE 10, 2200 KØBENHAVN N."}, "same_address"),
        ("old", {}, "already_customer"),  # an order loaded before
    ],
)
def test_suspect_referrals_are_held_until_approved(
    shop: Engine, friend: str, given: dict[str, Any], flag: str
) -> None:
    held = refer_friend(shop, friend, **given)
    assert (held.status, held.flags) == ("flagged", (flag,))
    buy(shop, friend, f"{friend}-1", 30_000, T0 + DAY)
    assert complete(shop, T0 + 30 * DAY) == 0  # held
    assert refer_list(shop, status="flagged") == [held]
    with Session(shop) as session:
        approved = review_referral(
            session, PROGRAMME, held.id, approve=True, actor="admin", now=T0 + 30 * DAY
        )
    assert (approved.status, approved.reviewed_by) == ("pending", "admin")
    assert complete(shop, T0 + 30 * DAY) == 1
    with Session(shop) as session, pytest.raises(ReferralConflict, match="is completed"):
        review_referral(session, PROGRAMME, held.id, approve=False, actor="admin", now=T0)


def test_earned_on_an_order_before_is_already_a_customer(shop: Engine) -> None:
    buy(shop, "gus", "G-0", 10_000, T0 - DAY)
    assert refer_friend(shop, "gus").flags == ("already_customer",)


def test_the_monthly_cap_holds_the_rest_and_counts_on_the_programme_clock(shop: Engine) -> None:
    assert refer_friend(shop, "ida").status == "rejected"  # not counted
    assert refer_friend(shop, "bob").status == "pending"
    assert refer_friend(shop, "cas").status == "pending"
    capped = refer_friend(shop, "dan")
    assert (capped.status, capped.flags) == ("flagged", ("monthly_cap",))
    with Session(shop) as session:
        rejected = review_referral(session, PROGRAMME, capped.id, approve=False, actor="a", now=T0)
    assert rejected.status == "rejected"
    # 23:30 on 31 December in UTC is already January in Copenhagen: a new month.
    new_year = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)
    assert refer_friend(shop, "gus", now=new_year).status == "pending"
    assert [r.friend for r in refer_list(shop, referrer="ida")] == ["gus", "dan", "cas", "bob",
                                                                     "ida"]  # fmt: skip
    assert [r.friend for r in refer_list(shop, status="pending", limit=2)] == ["gus", "cas"]


def test_once_per_key_once_per_friend_and_named_errors(shop: Engine) -> None:
    first = refer_friend(shop, "bob", key="signup-1")
    again = refer_friend(shop, "bob", key="signup-1")
    assert again.repeated and again.id == first.id and not first.repeated
    with pytest.raises(ReferralConflict, match="'bob' was referred before"):
        refer_friend(shop, "bob", key="signup-2")
    with pytest.raises(NotFoundError, match="code: no referral code 'NOPE4444'"):
        refer_friend(shop, "cas", code="nope4444")
    with pytest.raises(NotFoundError, match="friend: .*'nobody'"):
        refer_friend(shop, "nobody")
    with pytest.raises(DataError, match="^email: not an e-mail address$"):
        refer_friend(shop, "cas", email="not-an-address")
    with pytest.raises(DataError, match="^phone: not a valid phone number"):
        refer_friend(shop, "cas", phone="12")
    with pytest.raises(DataError, match="^address: "):
        refer_friend(shop, "cas", address=" -- ")
    with Session(shop) as session:
        with pytest.raises(DataError, match="referrals: the programme has no referrals"):
            refer(
                session, parse_programme({}), code=code_of(shop), friend="cas", key="k",
                now=T0, recorded_by=BY,
            )  # fmt: skip
        with pytest.raises(NotFoundError, match="no referral 999"):
            review_referral(session, PROGRAMME, 999, approve=False, actor=BY, now=T0)
        with pytest.raises(ReferralConflict, match="is pending"):
            review_referral(session, PROGRAMME, first.id, approve=True, actor=BY, now=T0)
        with pytest.raises(DataError, match="status: one of"):
            list_referrals(session, status="done")
        assert session.scalar(select(func.count()).select_from(LoyaltyReferral)) == 1


def test_a_friend_referred_by_many_at_once_is_referred_once(shop: Engine) -> None:
    codes = {name: code_of(shop, name) for name in ("ida", "cas", "dan", "gus")}
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def work(n: int) -> None:
        name = list(codes)[n % 4]
        barrier.wait(10)
        try:
            made = refer_friend(shop, "bob", code=codes[name], key=f"{name}-{n // 4}")
            outcomes.append("repeated" if made.repeated else "made")
        except ReferralConflict:
            outcomes.append("conflict")

    run_in_threads(work, 8, numbered=True)
    assert outcomes.count("made") == 1 and len(outcomes) == 8
    with Session(shop) as session:
        assert session.scalar(select(func.count()).select_from(LoyaltyReferral)) == 1


def test_the_api(client: TestClient, api_keys: dict[str, str], shop: Engine) -> None:
    with Session(shop) as session:
        configure_programme(session, DEFINITION, actor=BY)
    write, read, admin = (bearer(api_keys[s]) for s in ("write", "read", "admin"))
    mine = client.get("/api/v1/loyalty/members/ida/referral", headers=write)
    assert mine.status_code == 200, mine.text
    code = mine.json()["code"]
    assert mine.json() == {"code": code, "link": f"https://butik.example/?ref={code}"}
    assert client.get("/api/v1/loyalty/members/ida/referral", headers=write).json() == mine.json()
    problem(client.get("/api/v1/loyalty/members/ida/referral", headers=read), 403, "forbidden")
    problem(client.get("/api/v1/loyalty/members/nobody/referral", headers=write), 404, "not-found")

    url = "/api/v1/loyalty/referrals"
    body = {"code": code.lower(), "friend": "bob"}
    once = write | {"Idempotency-Key": "ref-bob"}
    made = client.post(url, json=body, headers=once)
    assert made.status_code == 201, made.text
    assert made.json()["status"] == "pending" and made.json()["referrer"] == "ida"
    replay = client.post(url, json=body, headers=once)
    assert replay.status_code == 201 and replay.json() == made.json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    problem(client.post(url, json={**body, "friend": "cas"}, headers=once), 422,
            "idempotency-key-reused")  # fmt: skip
    repeated = client.post(url, json={**body, "key": "ref-bob"}, headers=write)
    assert repeated.status_code == 200 and repeated.json()["repeated"] is True
    taken = client.post(url, json={**body, "key": "ref-bob-2"}, headers=write)
    assert "'bob' was referred before" in problem(taken, 409, "conflict")["detail"]
    nokey = client.post(url, json=body, headers=write)
    assert "key: required" in problem(nokey, 422, "validation-error")["detail"]
    unknown = client.post(url, json={**body, "code": "ZZZZ9999", "key": "x"}, headers=write)
    assert "ZZZZ9999" in problem(unknown, 404, "not-found")["detail"]
    odd = client.post(url, json={**body, "friend": "eve", "key": "x", "pet": 1}, headers=write)
    assert "pet" in problem(odd, 422, "validation-error")["detail"]
    bad = client.post(url, json={**body, "friend": "eve", "key": "x", "email": "x"}, headers=write)
    assert problem(bad, 422, "invalid-data")["detail"] == "email: not an e-mail address"
    problem(client.post(url, json={**body, "key": "y"}, headers=read), 403, "forbidden")

    held = client.post(url, json={**body, "friend": "eve", "key": "ref-eve"}, headers=write)
    assert held.json()["flags"] == ["same_email"] and held.json()["status"] == "flagged"
    listed = client.get(url, params={"status": "flagged"}, headers=read)
    assert [r["friend"] for r in listed.json()] == ["eve"]
    assert len(client.get(url, params={"referrer": "ida"}, headers=read).json()) == 2
    problem(client.get(url, params={"status": "done"}, headers=read), 422, "invalid-data")
    problem(client.get(url, params={"referrer": "nobody"}, headers=read), 404, "not-found")

    approve = f"{url}/{held.json()['id']}/approve"
    problem(client.post(approve, json={}, headers=write), 403, "forbidden")
    approved = client.post(approve, json={}, headers=admin)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "pending" and approved.json()["reviewed_by"]
    again = client.post(f"{url}/{held.json()['id']}/reject", json={}, headers=admin)
    assert "only a flagged referral" in problem(again, 409, "conflict")["detail"]
    problem(client.post(f"{url}/999/reject", json={}, headers=admin), 404, "not-found")
    problem(client.post(approve, json={"why": 1}, headers=admin), 422, "validation-error")
