"""The API's frame: health, authentication and scopes, limits, problem+json, bad bodies."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from api_helpers import bearer, count_rows, problem
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from retentio.api import ApiConfig, create_app
from retentio.core.errors import ConfigurationError
from retentio.store import downgrade
from retentio.store.tables import Customer

CUSTOMERS = "/api/v1/customers/batch"


def test_health_needs_no_key_and_names_the_revision(client: TestClient) -> None:
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["database"] == "ok" and body["revision"]
    assert response.headers["x-content-type-options"] == "nosniff"


def test_the_app_refuses_an_unmigrated_database(migrated_engine: Engine, database_url: str) -> None:
    downgrade(migrated_engine, "base")
    with pytest.raises(ConfigurationError, match="retentio init"):
        create_app(ApiConfig(database_url=database_url))


def test_openapi_describes_the_contract_paths(client: TestClient) -> None:
    schema = client.get("/api/v1/openapi.json").json()
    paths = schema["paths"]
    for path, method in [
        ("/api/v1/customers/batch", "post"),
        ("/api/v1/orders/batch", "post"),
        ("/api/v1/events/batch", "post"),
        ("/api/v1/events", "post"),
        ("/api/v1/customers/{external_id}", "get"),
        ("/api/v1/kpis", "get"),
        ("/api/v1/health", "get"),
    ]:
        assert method in paths[path], path
    body = paths["/api/v1/orders/batch"]["post"]["requestBody"]["content"]["application/json"]
    ref = body["schema"]["$ref"].rsplit("/", 1)[1]
    items = schema["components"]["schemas"][ref]["properties"]["items"]
    assert items["maxItems"] == 10_000
    assert "OrderIn" in json.dumps(items)
    assert client.get("/api/v1/docs").status_code == 200


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer rk_nope_nope"}],
)
def test_routes_need_a_valid_key(client: TestClient, headers: dict[str, str]) -> None:
    response = client.get("/api/v1/customers", headers=headers)
    problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_scopes_are_enforced(client: TestClient, api_keys: dict[str, str]) -> None:
    body = {"items": [{"external_id": "c1"}]}
    refused = client.post(CUSTOMERS, json=body, headers=bearer(api_keys["read"]))
    found = problem(refused, 403, "forbidden")
    assert "write" in str(found["detail"])
    assert client.post(CUSTOMERS, json=body, headers=bearer(api_keys["write"])).status_code == 200
    assert client.get("/api/v1/customers", headers=bearer(api_keys["read"])).status_code == 200


def test_a_revoked_key_is_refused_within_the_key_cache_time(
    api_config: ApiConfig, api_keys: dict[str, str], migrated_engine: Engine
) -> None:
    from dataclasses import replace

    from retentio.access import revoke_api_key

    token = api_keys["read"]
    config = replace(api_config, key_cache_seconds=0.5)
    with TestClient(create_app(config)) as cached:
        assert cached.get("/api/v1/customers", headers=bearer(token)).status_code == 200
        with Session(migrated_engine) as session:
            revoke_api_key(session, token.split("_")[1], actor="test")
        # remembered as verified for up to half a second, then looked up again and refused
        deadline = time.monotonic() + 5
        while cached.get("/api/v1/customers", headers=bearer(token)).status_code == 200:
            assert time.monotonic() < deadline, "the revoked key was still accepted after 5 s"
            time.sleep(0.05)
        problem(cached.get("/api/v1/customers", headers=bearer(token)), 401, "unauthorized")
    with TestClient(create_app(replace(api_config, key_cache_seconds=0))) as uncached:
        problem(uncached.get("/api/v1/customers", headers=bearer(token)), 401, "unauthorized")


def test_rate_limit_answers_429_with_retry_after(
    api_config: ApiConfig, api_keys: dict[str, str]
) -> None:
    from dataclasses import replace

    config = replace(api_config, rate_per_second=0.5, rate_burst=3)
    with TestClient(create_app(config)) as limited:
        statuses = [
            limited.get("/api/v1/customers", headers=bearer(api_keys["read"])).status_code
            for _ in range(4)
        ]
        assert statuses == [200, 200, 200, 429]
        refused = limited.get("/api/v1/customers", headers=bearer(api_keys["read"]))
        problem(refused, 429, "rate-limited")
        assert int(refused.headers["retry-after"]) >= 1
        # Another key has its own bucket.
        other = limited.get("/api/v1/customers", headers=bearer(api_keys["admin"]))
        assert other.status_code == 200


@pytest.mark.parametrize(
    ("content", "content_type", "status", "slug"),
    [
        (b'{"items": [', "application/json", 400, "malformed-request"),
        (b'{"items": [{"external_id": "\xff\xfe"}]}', "application/json", 400, "malformed-request"),
        (b'{"items": [{"external_id": NaN}]}', "application/json", 400, "malformed-request"),
        (b"external_id=c1", "application/x-www-form-urlencoded", 415, "unsupported-media-type"),
        (b'[{"external_id": "c1"}]', "application/json", 422, "validation-error"),
        (b'{"items": [], "extra": 1}', "application/json", 422, "validation-error"),
    ],
)
def test_bad_bodies_get_a_clear_4xx_and_write_nothing(
    client: TestClient,
    api_keys: dict[str, str],
    migrated_engine: Engine,
    content: bytes,
    content_type: str,
    status: int,
    slug: str,
) -> None:
    headers = {**bearer(api_keys["write"]), "Content-Type": content_type}
    response = client.post(CUSTOMERS, content=content, headers=headers)
    problem(response, status, slug)
    assert count_rows(migrated_engine, Customer) == 0


def test_huge_payloads_are_refused_with_413(
    api_config: ApiConfig, api_keys: dict[str, str], migrated_engine: Engine
) -> None:
    from dataclasses import replace

    with TestClient(create_app(replace(api_config, max_body_bytes=1000))) as small:
        items = [{"external_id": f"c{i}", "first_name": "x" * 50} for i in range(40)]
        response = small.post(CUSTOMERS, json={"items": items}, headers=bearer(api_keys["write"]))
        problem(response, 413, "payload-too-large")

        def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while streaming
            yield b'{"items": ['
            for i in range(100):
                yield json.dumps({"external_id": f"c{i}"}).encode() + b","
            yield b'{"external_id": "last"}]}'

        streamed = small.post(
            CUSTOMERS,
            content=chunks(),
            headers={**bearer(api_keys["write"]), "Content-Type": "application/json"},
        )
        problem(streamed, 413, "payload-too-large")
    assert count_rows(migrated_engine, Customer) == 0


def test_more_than_ten_thousand_items_are_refused(
    client: TestClient, api_keys: dict[str, str], migrated_engine: Engine
) -> None:
    items = [{"external_id": f"c{i}"} for i in range(10_001)]
    response = client.post(CUSTOMERS, json={"items": items}, headers=bearer(api_keys["write"]))
    found = problem(response, 413, "payload-too-large")
    assert "10,000" in str(found["detail"])
    assert count_rows(migrated_engine, Customer) == 0


def test_unknown_routes_and_methods_are_problems(
    client: TestClient, api_keys: dict[str, str]
) -> None:
    problem(client.get("/api/v1/nope", headers=bearer(api_keys["read"])), 404, "not-found")
    problem(client.delete("/api/v1/health"), 405, "method-not-allowed")
    missing = client.get("/api/v1/customers/nobody", headers=bearer(api_keys["read"]))
    assert "nobody" in str(problem(missing, 404, "not-found")["detail"])
    bad = client.get("/api/v1/customers?limit=0", headers=bearer(api_keys["read"]))
    found = problem(bad, 422, "validation-error")
    assert found["errors"] == [
        {"field": "limit", "message": "Input should be greater than or equal to 1"}
    ]
    cursor = client.get("/api/v1/customers?cursor=bogus", headers=bearer(api_keys["read"]))
    problem(cursor, 422, "validation-error")
