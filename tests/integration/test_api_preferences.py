"""Stated preferences over the API, on SQLite and PostgreSQL: read, PATCH and PUT with an
Idempotency-Key, history, 404 for an unknown customer, 422 naming the field, and a signed link
to the preference centre."""

from __future__ import annotations

from typing import Any

import pytest
from api_helpers import bearer, count_rows, problem
from sqlalchemy import Engine
from starlette.testclient import TestClient

from retentio.api import ApiConfig
from retentio.privacy.preference_links import read_preference_token
from retentio.store.feedback_tables import PreferenceEvent
from retentio.store.tables import AuditEntry

PATH = "/api/v1/customers/c1/preferences"


@pytest.fixture()
def shop(client: TestClient, api_keys: dict[str, str]) -> TestClient:
    people = [{"external_id": "c1", "email": "c1@example.com", "time_zone": "Europe/Amsterdam"}]
    answer = client.post(
        "/api/v1/customers/batch", json={"items": people}, headers=bearer(api_keys["write"])
    )
    assert answer.status_code == 200, answer.text
    return client


def test_patch_put_and_read(
    shop: TestClient, api_keys: dict[str, str], migrated_engine: Engine
) -> None:
    write, read = bearer(api_keys["write"]), bearer(api_keys["read"])
    assert shop.get(PATH, headers=read).json() == {
        "customer": "c1",
        "preferences": {},
        "stated": {},
    }
    body = {
        "preferences": {
            "topics": ["offers", "news"],
            "frequency": "monthly",
            "sizes": {"shoes": "42"},
            "birthday": "05-17",
        }
    }
    headers = {**write, "Idempotency-Key": "prefs-1"}
    first = shop.patch(PATH, json=body, headers=headers)
    assert first.status_code == 200, first.text
    done = first.json()
    assert done["changed"] == ["birthday", "frequency", "sizes", "topics"]
    assert done["preferences"]["topics"] == ["news", "offers"]
    assert done["stated"]["sizes"]["source"] == "api"
    # The same key and body: the stored answer, nothing written again.
    again = shop.patch(PATH, json=body, headers=headers)
    assert again.json() == done and again.headers["Idempotent-Replayed"] == "true"
    assert count_rows(migrated_engine, PreferenceEvent) == 4
    # The same key with another body is refused.
    other = {"preferences": {"frequency": "weekly"}}
    problem(shop.patch(PATH, json=other, headers=headers), 422, "idempotency-key-reused")
    # A new PATCH of an unchanged value records nothing.
    unchanged = shop.patch(PATH, json={"preferences": {"frequency": "monthly"}}, headers=write)
    assert unchanged.json()["changed"] == []
    # PUT replaces: what is not given is cleared; the source is kept with each value.
    put = {"preferences": {"frequency": "weekly", "preferred_channel": "sms"}, "source": "import"}
    replaced = shop.put(PATH, json=put, headers=write).json()
    assert replaced["preferences"] == {"frequency": "weekly", "preferred_channel": "sms"}
    assert replaced["changed"] == ["birthday", "frequency", "preferred_channel", "sizes", "topics"]
    assert replaced["stated"]["frequency"]["source"] == "import"
    read_back = shop.get(PATH, headers=read).json()
    assert read_back["preferences"] == replaced["preferences"]
    history = shop.get(f"{PATH}/history?limit=3", headers=read).json()
    assert [(c["name"], c["value"]) for c in history["items"]] == [
        ("topics", None),
        ("sizes", None),
        ("preferred_channel", "sms"),
    ]
    assert history["items"][0]["recorded_by"].startswith("api:")
    # Reading a person's preferences is audited.
    assert count_rows(migrated_engine, AuditEntry) >= 3


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"preferences": {"topics": ["gossip"]}}, "preferences.topics[0]"),
        ({"preferences": {"birthday": "31-12"}}, "preferences.birthday"),
        ({"preferences": {"sizes": {"shoes": ""}}}, "preferences.sizes.shoes"),
        ({"preferences": {"snooze_until": "2020-01-01"}}, "preferences.snooze_until"),
        ({"preferences": {"frequency": "hourly"}}, "preferences.frequency"),
        ({"preferences": {"colour": "blue"}}, "preferences.colour"),
        ({"preferences": {}, "source": "shop"}, "source"),
        ({}, "preferences"),
    ],
)
def test_a_bad_value_is_a_422_naming_the_field(
    shop: TestClient, api_keys: dict[str, str], body: dict[str, Any], field: str
) -> None:
    answer = shop.patch(PATH, json=body, headers=bearer(api_keys["write"]))
    found = problem(answer, 422, "validation-error")
    assert found["errors"][0]["field"] == field, found


def test_unknown_customers_and_scopes(shop: TestClient, api_keys: dict[str, str]) -> None:
    write, read = bearer(api_keys["write"]), bearer(api_keys["read"])
    unknown = "/api/v1/customers/nobody/preferences"
    problem(shop.get(unknown, headers=read), 404, "not-found")
    body = {"preferences": {"frequency": "weekly"}}
    problem(shop.patch(unknown, json=body, headers=write), 404, "not-found")
    problem(shop.put(unknown, json=body, headers=write), 404, "not-found")
    problem(shop.get(f"{unknown}/history", headers=read), 404, "not-found")
    problem(shop.patch(PATH, json=body, headers=read), 403, "forbidden")
    problem(shop.get(PATH), 401, "unauthorized")


def test_a_signed_link_to_the_preference_centre(
    shop: TestClient, api_keys: dict[str, str], api_config: ApiConfig
) -> None:
    write = bearer(api_keys["write"])
    link = shop.get(f"{PATH}/link?channel=email&language=da-DK", headers=write).json()
    assert link["url"].endswith(f"/p/{link['token']}?lang=da")
    assert api_config.signer is not None
    token = read_preference_token(api_config.signer, link["token"])
    assert token.via == "email"
    bare = shop.get(f"{PATH}/link", headers=write).json()
    assert "?lang" not in bare["url"]
    assert read_preference_token(api_config.signer, bare["token"]).via is None
    problem(shop.get(f"{PATH}/link?channel=fax", headers=write), 422, "validation-error")
    problem(shop.get(f"{PATH}/link", headers=bearer(api_keys["read"])), 403, "forbidden")
