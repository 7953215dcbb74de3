"""Concurrent answers through the real HTTP server, on SQLite and PostgreSQL: one person
answering two surveys at once gets one answer in and one refused (the throttle holds under
the customer's lock), and the same key sent many times at once is recorded once."""

from __future__ import annotations

import threading
from typing import Any

import httpx
from api_helpers import bearer, count_rows
from sqlalchemy import Engine
from threads import run_in_threads

from retentio.store.feedback_tables import SurveyResponse
from retentio.store.tables import Event


def test_concurrent_answers_keep_the_throttle_and_the_key(
    live_server: str, api_keys: dict[str, str], migrated_engine: Engine
) -> None:
    headers = bearer(api_keys["write"])
    with httpx.Client(base_url=live_server, headers=headers, timeout=60) as client:
        items = [{"external_id": name} for name in ("ida", "bo")]
        assert client.post("/api/v1/customers/batch", json={"items": items}).is_success
        for survey in ({"name": "nps", "kind": "nps"}, {"name": "support", "kind": "csat"}):
            assert client.post("/api/v1/surveys", json=survey).status_code == 201

    requests: list[tuple[str, dict[str, Any]]] = []
    for n in range(10):  # ida answers both surveys, each under its own key: one may pass
        survey, score = ("nps", 9) if n % 2 else ("support", 4)
        requests.append((survey, {"customer": "ida", "score": score, "key": f"ida-{n}"}))
    for _ in range(10):  # bo sends the same answer ten times at once: recorded once
        requests.append(("nps", {"customer": "bo", "score": 2, "key": "bo-1"}))
    statuses: list[tuple[str, int, dict[str, Any]]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(requests))

    def send(n: int) -> None:
        survey, body = requests[n]
        with httpx.Client(base_url=live_server, headers=headers, timeout=60) as client:
            barrier.wait(30)
            answer = client.post(f"/api/v1/surveys/{survey}/responses", json=body)
        with lock:
            statuses.append((body["customer"], answer.status_code, answer.json()))

    run_in_threads(send, len(requests), numbered=True)
    ida = sorted(status for customer, status, _ in statuses if customer == "ida")
    assert ida == [201] + [409] * 9, ida
    bo = [(status, body.get("repeated")) for customer, status, body in statuses if customer == "bo"]
    assert sorted(bo) == [(200, True)] * 9 + [(201, False)]
    assert len({body["id"] for customer, _, body in statuses if customer == "bo"}) == 1
    assert count_rows(migrated_engine, SurveyResponse) == 2
    assert count_rows(migrated_engine, Event) == 2
