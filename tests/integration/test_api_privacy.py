"""Consent and privacy over HTTP: double opt-in, one-click withdrawal, export, erasure, audit."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pytest
from api_helpers import bearer, problem
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from retentio.privacy import DEFAULT_TEXT_VERSION, publish_default_texts, validate_export
from retentio.store.tables import Base

EMAIL = "Mette.Lund@Example.DK"
PHONE = "+45 31 41 59 26"
NAME = "Mettelise"


@pytest.fixture()
def shop(client: TestClient, api_keys: dict[str, str], migrated_engine: Engine) -> TestClient:
    """A store with the default consent texts and one customer with an order and an event."""
    with Session(migrated_engine) as session:
        publish_default_texts(session, actor="test")
    write = bearer(api_keys["write"])
    customer = {"external_id": "c1", "email": EMAIL, "phone": PHONE, "first_name": NAME}
    assert (
        client.post("/api/v1/customers/batch", json={"items": [customer]}, headers=write).json()[
            "created"
        ]
        == 1
    )
    order = {
        "external_id": "o1",
        "customer_id": "c1",
        "ordered_at": "2026-03-01T10:00:00+01:00",
        "currency": "DKK",
        "total": "100",
    }
    assert (
        client.post("/api/v1/orders/batch", json={"items": [order]}, headers=write).status_code
        == 200
    )
    event = {
        "customer_id": "c1",
        "name": "newsletter_form",
        "occurred_at": "2026-03-01T10:00:00Z",
        "properties": {"typed_email": EMAIL},
    }
    assert client.post("/api/v1/events", json=event, headers=write).status_code == 201
    return client


def _consent(client: TestClient, key: str, channel: str = "email") -> dict[str, Any]:
    states = client.get("/api/v1/customers/c1/consents", headers=bearer(key)).json()
    return next(s for s in states if s["channel"] == channel and s["purpose"] == "marketing")


def test_double_opt_in_needs_a_post_and_works_once(
    shop: TestClient, api_keys: dict[str, str]
) -> None:
    started = shop.post(
        "/api/v1/customers/c1/consents/double-opt-in",
        json={
            "text_version": DEFAULT_TEXT_VERSION,
            "language": "da",
            "source_detail": "https://shop.dk/",
        },
        headers=bearer(api_keys["write"]),
    )
    assert started.status_code == 201, started.text
    body = started.json()
    assert body["consent"]["status"] == "pending"
    assert body["confirm_url"] in body["message"]["body"]
    path = body["confirm_url"].removeprefix("http://testserver")
    assert _consent(shop, api_keys["read"])["status"] == "pending"

    page = shop.get(path)  # a link scanner or a preview: nothing happens
    assert page.status_code == 200 and '<form method="post"' in page.text
    assert _consent(shop, api_keys["read"])["status"] == "pending"

    confirmed = shop.post(path)
    assert confirmed.status_code == 200, confirmed.text
    assert _consent(shop, api_keys["read"])["status"] == "granted"
    assert shop.post(path).status_code == 410  # single use
    tampered = shop.post(path[:-3] + ("aaa" if not path.endswith("aaa") else "bbb"))
    assert tampered.status_code in (400, 410)


def test_one_click_withdrawal_needs_no_login_and_a_get_changes_nothing(
    shop: TestClient, api_keys: dict[str, str]
) -> None:
    granted = shop.post(
        "/api/v1/customers/c1/consents",
        json={
            "channel": "sms",
            "purpose": "marketing",
            "granted": True,
            "lawful_basis": "soft_opt_in",
        },
        headers=bearer(api_keys["write"]),
    )
    assert granted.status_code == 201, granted.text
    assert granted.json()["status"] == "granted"
    link = shop.get(
        "/api/v1/customers/c1/consents/withdrawal-link?channel=sms&purpose=marketing",
        headers=bearer(api_keys["write"]),
    ).json()
    path = link["url"].removeprefix("http://testserver")
    assert shop.get(path).status_code == 200
    assert _consent(shop, api_keys["read"], "sms")["status"] == "granted"

    token = link["token"]
    forged = path.replace(token, token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"))
    assert shop.post(forged, data={"List-Unsubscribe": "One-Click"}).status_code == 400
    assert _consent(shop, api_keys["read"], "sms")["status"] == "granted"

    done = shop.post(path, data={"List-Unsubscribe": "One-Click"}, follow_redirects=False)
    assert done.status_code == 200 and "location" not in done.headers
    assert _consent(shop, api_keys["read"], "sms")["status"] == "withdrawn"
    assert shop.post(path).status_code == 200  # twice is harmless


def test_soft_opt_in_needs_an_order_and_unknown_customers_are_404(
    client: TestClient, api_keys: dict[str, str]
) -> None:
    write = bearer(api_keys["write"])
    client.post("/api/v1/customers/batch", json={"items": [{"external_id": "new"}]}, headers=write)
    refused = client.post(
        "/api/v1/customers/new/consents",
        json={
            "channel": "email",
            "purpose": "marketing",
            "granted": True,
            "lawful_basis": "soft_opt_in",
        },
        headers=write,
    )
    assert "order" in problem(refused, 422, "invalid-data")["detail"]
    missing = client.get("/api/v1/customers/ghost/consents", headers=bearer(api_keys["read"]))
    problem(missing, 404, "not-found")


def test_the_export_holds_everything_and_needs_an_admin_key(
    shop: TestClient, api_keys: dict[str, str]
) -> None:
    problem(
        shop.get("/api/v1/customers/c1/export", headers=bearer(api_keys["read"])), 403, "forbidden"
    )
    exported = shop.get("/api/v1/customers/c1/export", headers=bearer(api_keys["admin"]))
    assert exported.status_code == 200, exported.text
    document = exported.json()
    validate_export(document)
    assert document["customer"]["email"] == EMAIL.lower()
    assert [o["external_id"] for o in document["orders"]] == ["o1"]
    assert document["events"][0]["properties"] == {"typed_email": EMAIL}
    packed = shop.get("/api/v1/customers/c1/export?format=zip", headers=bearer(api_keys["admin"]))
    assert packed.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(packed.content)) as archive:
        names = set(archive.namelist())
        assert "person.json" in names and any(n.endswith(".csv") for n in names)
        assert json.loads(archive.read("person.json"))["customer"]["external_id"] == "c1"


def _everything(engine: Engine) -> str:
    found = []
    with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            for row in connection.execute(text(f"SELECT * FROM {table.name}")):  # noqa: S608
                found.append(" ".join(str(v) for v in row))
    return "\n".join(found).lower()


def test_erasure_leaves_no_pii_and_a_reimport_is_refused(
    shop: TestClient, api_keys: dict[str, str], migrated_engine: Engine
) -> None:
    admin = bearer(api_keys["admin"])
    shop.get("/api/v1/customers/c1", headers=admin)  # scores and an audit entry exist
    bad = {"items": [{"external_id": "c1", "email": EMAIL, "phone": "not a phone " + EMAIL}]}
    echoed = shop.post(
        "/api/v1/customers/batch",
        json=bad,
        headers={**bearer(api_keys["write"]), "Idempotency-Key": "echo"},
    )
    assert echoed.json()["failed"] == 1
    before = _everything(migrated_engine)
    assert EMAIL.lower() in before and NAME.lower() in before

    erased = shop.post("/api/v1/customers/c1/erase", json={}, headers=admin)
    assert erased.status_code == 200, erased.text
    report = erased.json()
    assert report["orders_kept"] == 1 and report["events_deleted"] == 1
    assert report["suppressions_added"] >= 2

    after = _everything(migrated_engine)
    for needle in (EMAIL.lower(), "mette.lund", NAME.lower(), "+4531415926", "31 41 59 26"):
        assert needle not in after, needle
    with Session(migrated_engine) as session:
        assert session.execute(select(text("count(*)")).select_from(text("orders"))).scalar() == 1

    again = shop.post(
        "/api/v1/customers/batch",
        json={"items": [{"external_id": "c9", "email": " mette.lund@example.dk"}]},
        headers=bearer(api_keys["write"]),
    ).json()
    assert again["failed"] == 1 and "suppressed" in again["errors"][0]["message"]
    problem(shop.get("/api/v1/customers/c1", headers=admin), 404, "not-found")


def test_the_audit_log_answers_who_read_what(shop: TestClient, api_keys: dict[str, str]) -> None:
    reader = api_keys["read"]
    assert shop.get("/api/v1/customers/c1", headers=bearer(reader)).status_code == 200
    problem(shop.get("/api/v1/audit", headers=bearer(reader)), 403, "forbidden")
    page = shop.get("/api/v1/audit?customer=c1", headers=bearer(api_keys["admin"])).json()
    reads = [e for e in page["items"] if e["action"] == "customer.read"]
    assert reads and reads[0]["actor"] == f"api:{reader.split('_')[1]}"
    assert all(e["customer"] == "c1" for e in page["items"])
    first = shop.get("/api/v1/audit?limit=1", headers=bearer(api_keys["admin"])).json()
    second = shop.get(
        f"/api/v1/audit?limit=1&cursor={first['next_cursor']}", headers=bearer(api_keys["admin"])
    ).json()
    assert first["items"][0]["id"] < second["items"][0]["id"]


def test_audit_times_must_have_an_offset_and_a_sane_year(
    shop: TestClient, api_keys: dict[str, str]
) -> None:
    # schemathesis sent year 1 with a +00:01 offset: converting it to UTC overflowed (a 500).
    admin = bearer(api_keys["admin"])
    for since in ("0001-01-01T00:00:00%2B00:01", "2026-01-01T00:00:00", "2200-01-01T00:00:00Z"):
        problem(shop.get(f"/api/v1/audit?since={since}", headers=admin), 422, "validation-error")
    assert shop.get("/api/v1/audit?since=2026-01-01T00:00:00Z", headers=admin).status_code == 200


def test_an_observation_end_past_2199_is_refused(
    shop: TestClient, api_keys: dict[str, str]
) -> None:
    # schemathesis: 2263-01-01 overflowed pandas' nanosecond times (a 500 on PostgreSQL).
    reader = bearer(api_keys["read"])
    for route in ("kpis", "cohorts", "rfm"):
        answer = shop.get(f"/api/v1/{route}?observation_end=2263-01-01", headers=reader)
        problem(answer, 422, "validation-error")
    since = "/api/v1/customers?updated_since=0001-01-01T00:00:00%2B00:01"
    problem(shop.get(since, headers=reader), 422, "validation-error")
