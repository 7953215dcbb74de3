"""Surveys over the API, on SQLite and PostgreSQL: statuses, scopes, Idempotency-Key replays,
throttling, paging, the report, signed links and the customer's page (without a browser; the
browser test is test_survey_page_browser.py)."""

from __future__ import annotations

from typing import Any

from api_helpers import bearer, count_rows, problem
from sqlalchemy import Engine
from starlette.testclient import TestClient

from retentio.store.feedback_tables import SurveyResponse
from retentio.store.tables import Event

NPS = {
    "name": "nps",
    "kind": "nps",
    "questions": [
        {
            "id": "reason",
            "type": "choice",
            "text": {"en": "What mattered most?", "da": "Hvad betød mest?"},
            "options": [{"id": "price", "text": {"en": "Price", "da": "Pris"}}, "quality"],
        }
    ],
}


def setup(client: TestClient, keys: dict[str, str], *customers: str) -> None:
    write = bearer(keys["write"])
    items = [{"external_id": c, "email": f"{c}@example.com", "locale": "da-DK"} for c in customers]
    assert client.post("/api/v1/customers/batch", json={"items": items}, headers=write).is_success
    created = client.post("/api/v1/surveys", json=NPS, headers=write)
    assert created.status_code == 201, created.text


def respond(
    client: TestClient, keys: dict[str, str], body: dict[str, Any], key: str | None = None
) -> Any:
    headers = bearer(keys["write"]) | ({"Idempotency-Key": key} if key else {})
    return client.post("/api/v1/surveys/nps/responses", json=body, headers=headers)


def test_save_list_get_and_archive(client: TestClient, api_keys: dict[str, str]) -> None:
    write, read = bearer(api_keys["write"]), bearer(api_keys["read"])
    created = client.post("/api/v1/surveys", json=NPS, headers=write)
    assert created.status_code == 201
    survey = created.json()
    assert (survey["name"], survey["kind"], survey["status"]) == ("nps", "nps", "active")
    assert survey["throttle_days"] == 90 and survey["questions"] == ["reason"]
    replaced = client.post("/api/v1/surveys", json=NPS | {"throttle_days": 30}, headers=write)
    assert replaced.status_code == 200 and replaced.json()["throttle_days"] == 30
    assert [s["name"] for s in client.get("/api/v1/surveys", headers=read).json()] == ["nps"]
    assert client.get(f"/api/v1/surveys/{survey['id']}", headers=read).json()["name"] == "nps"
    assert client.get("/api/v1/surveys/nps", headers=read).json()["id"] == survey["id"]
    problem(client.get("/api/v1/surveys/none", headers=read), 404, "not-found")
    bad = client.post("/api/v1/surveys", json={"name": "x", "kind": "poll"}, headers=write)
    assert problem(bad, 422, "validation-error")["errors"][0]["field"] == "kind"
    bad = client.post(
        "/api/v1/surveys",
        json={"name": "x", "kind": "custom", "questions": [{"id": "q", "type": "choice"}]},
        headers=write,
    )
    assert problem(bad, 422, "validation-error")["errors"][0]["field"] == "questions[0].text"
    problem(client.post("/api/v1/surveys", json=NPS, headers=read), 403, "forbidden")
    problem(client.post("/api/v1/surveys", json=NPS), 401, "unauthorized")
    archived = client.post("/api/v1/surveys/nps/archive", json={}, headers=write)
    assert archived.status_code == 200 and archived.json()["status"] == "archived"
    listed = client.get("/api/v1/surveys?status=active", headers=read).json()
    assert listed == []
    problem(client.post("/api/v1/surveys/nps/archive", json={"x": 1}, headers=write), 422,
            "validation-error")  # fmt: skip


def test_responses_statuses_and_replays(
    client: TestClient, api_keys: dict[str, str], migrated_engine: Engine
) -> None:
    setup(client, api_keys, "ida", "bo", "cy")
    body = {"customer": "ida", "score": 3, "answers": {"reason": "price"}, "comment": "Slow"}
    first = respond(client, api_keys, body, key="r-1")
    assert first.status_code == 201, first.text
    recorded = first.json()
    assert (recorded["score"], recorded["category"], recorded["repeated"]) == (
        3,
        "detractor",
        False,
    )
    assert recorded["answers"] == {"reason": "price"} and recorded["source"] == "api"
    replay = respond(client, api_keys, body, key="r-1")
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == recorded
    problem(respond(client, api_keys, body | {"score": 4}, key="r-1"), 422,
            "idempotency-key-reused")  # fmt: skip
    # the same answer key without the header: the first answer, nothing new
    again = respond(client, api_keys, body | {"key": "r-1", "score": 9})
    assert again.status_code == 200 and again.json()["repeated"] is True
    assert again.json()["id"] == recorded["id"] and again.json()["score"] == 3
    assert count_rows(migrated_engine, SurveyResponse) == 1
    assert count_rows(migrated_engine, Event) == 1

    out_of_range = respond(client, api_keys, {"customer": "bo", "score": 11}, key="r-2")
    assert problem(out_of_range, 422, "validation-error")["errors"] == [
        {"field": "score", "message": "a whole number from 0 to 10 (NPS), not 11"}
    ]
    unknown = respond(client, api_keys, {"customer": "bo", "score": 5, "answers": {"x": 1}},
                      key="r-3")  # fmt: skip
    assert problem(unknown, 422, "validation-error")["errors"][0]["field"] == "answers.x"
    typed = respond(client, api_keys, {"customer": "bo", "score": "9"}, key="r-4")
    assert problem(typed, 422, "validation-error")["errors"][0]["field"] == "score"
    problem(respond(client, api_keys, {"customer": "bo", "score": 9}), 422, "validation-error")
    problem(respond(client, api_keys, {"customer": "zz", "score": 9}, key="r-5"), 404,
            "not-found")  # fmt: skip
    problem(
        client.post("/api/v1/surveys/none/responses", json={"customer": "bo", "score": 9},
                    headers=bearer(api_keys["write"]) | {"Idempotency-Key": "r-6"}),
        404, "not-found",
    )  # fmt: skip
    throttled = respond(client, api_keys, body | {"key": "r-7"})
    assert "answered survey 'nps'" in problem(throttled, 409, "conflict")["detail"]
    read_only = client.post("/api/v1/surveys/nps/responses", json=body,
                            headers=bearer(api_keys["read"]))  # fmt: skip
    problem(read_only, 403, "forbidden")
    assert count_rows(migrated_engine, SurveyResponse) == 1

    assert respond(client, api_keys, {"customer": "bo", "score": 10}, key="r-8").is_success
    assert respond(client, api_keys, {"customer": "cy", "score": 8}, key="r-9").is_success
    read = bearer(api_keys["read"])
    page = client.get("/api/v1/surveys/nps/responses?limit=2", headers=read).json()
    assert [r["customer"] for r in page["items"]] == ["ida", "bo"]
    rest = client.get(
        f"/api/v1/surveys/nps/responses?limit=2&cursor={page['next_cursor']}", headers=read
    ).json()
    assert [r["customer"] for r in rest["items"]] == ["cy"] and rest["next_cursor"] is None
    mine = client.get("/api/v1/surveys/nps/responses?customer=bo", headers=read).json()
    assert [r["score"] for r in mine["items"]] == [10]
    problem(client.get("/api/v1/surveys/nps/responses?cursor=zzz", headers=read), 422,
            "validation-error")  # fmt: skip

    client.post("/api/v1/surveys/nps/archive", json={}, headers=bearer(api_keys["write"]))
    closed = respond(client, api_keys, {"customer": "bo", "score": 9}, key="r-10")
    assert "archived" in problem(closed, 409, "conflict")["detail"]


def test_the_report(client: TestClient, api_keys: dict[str, str]) -> None:
    setup(client, api_keys, "a", "b", "c", "d")
    for n, (customer, score, reason) in enumerate(
        [("a", 10, "price"), ("b", 9, "quality"), ("c", 7, None), ("d", 2, "price")]
    ):
        answers = {"reason": reason} if reason else {}
        body = {"customer": customer, "score": score, "answers": answers}
        assert respond(client, api_keys, body, key=f"k{n}").status_code == 201
    report = client.get(
        "/api/v1/surveys/nps/report?period=Y", headers=bearer(api_keys["read"])
    ).json()
    # 2 promoters, 1 passive, 1 detractor of 4: NPS 100 * (2 - 1) / 4 = 25
    assert report["summary"] == {
        "responses": 4,
        "promoters": 2,
        "passives": 1,
        "detractors": 1,
        "nps": 25.0,
    }
    assert len(report["over_time"]) == 1 and report["over_time"][0]["nps"] == 25.0
    assert report["questions"]["reason"] == {
        "type": "choice",
        "answered": 3,
        "options": {"price": 2, "quality": 1},
    }
    empty = client.get(
        "/api/v1/surveys/nps/report?start=2000-01-01&end=2000-12-31",
        headers=bearer(api_keys["read"]),
    ).json()
    assert empty["summary"]["responses"] == 0 and empty["summary"]["nps"] is None
    assert len(empty["over_time"]) == 12 and empty["over_time"][0]["period"] == "2000-01-01"
    problem(
        client.get("/api/v1/surveys/nps/report?start=2001-01-01&end=2000-01-01",
                   headers=bearer(api_keys["read"])),
        422, "validation-error",
    )  # fmt: skip
    problem(client.get("/api/v1/surveys/nps/report?period=X", headers=bearer(api_keys["read"])),
            422, "validation-error")  # fmt: skip


def test_a_signed_link_and_the_page(
    client: TestClient, api_keys: dict[str, str], migrated_engine: Engine
) -> None:
    setup(client, api_keys, "ida")
    write = bearer(api_keys["write"])
    link = client.get("/api/v1/surveys/nps/link?customer=ida", headers=write)
    assert link.status_code == 200, link.text
    found = link.json()
    assert "/f/" in found["url"] and sorted(found["score_urls"], key=int) == [
        str(n) for n in range(11)
    ]
    problem(client.get("/api/v1/surveys/nps/link?customer=zz", headers=write), 404, "not-found")
    problem(client.get("/api/v1/surveys/nps/link?customer=ida",
                       headers=bearer(api_keys["read"])), 403, "forbidden")  # fmt: skip
    path = found["score_urls"]["9"].split("://", 1)[1].split("/", 1)[1]
    page = client.get(f"/{path}")
    assert page.status_code == 200
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    assert '<html lang="da">' in page.text  # the customer's locale
    assert "Hvor sandsynligt" in page.text and "Hvad betød mest?" in page.text
    assert 'value="9" checked' in page.text
    assert count_rows(migrated_engine, SurveyResponse) == 0  # a visit records nothing
    token_path = path.split("?", 1)[0]
    tampered = token_path[:-3] + ("xyz" if not token_path.endswith("xyz") else "abc")
    refused = client.post(f"/{tampered}", data={"score": "9"})
    assert refused.status_code == 400
    bad = client.post(f"/{token_path}?lang=en", data={"score": "12"})
    assert bad.status_code == 422 and "score" in bad.text
    sent = client.post(
        f"/{token_path}", data={"score": "9", "q.reason": "quality", "comment": "Fint"}
    )
    assert sent.status_code == 200 and "Tak for dit svar" in sent.text
    twice = client.post(f"/{token_path}", data={"score": "2"})
    assert twice.status_code == 200  # the same link again: the first answer stands
    answers = client.get("/api/v1/surveys/nps/responses", headers=bearer(api_keys["read"]))
    [only] = answers.json()["items"]
    assert (only["score"], only["answers"], only["comment"], only["source"]) == (
        9,
        {"reason": "quality"},
        "Fint",
        "link",
    )


def test_csat_and_custom_reports(client: TestClient, api_keys: dict[str, str]) -> None:
    write, read = bearer(api_keys["write"]), bearer(api_keys["read"])
    items = [{"external_id": c} for c in ("a", "b", "c")]
    assert client.post("/api/v1/customers/batch", json={"items": items}, headers=write).is_success
    custom = {
        "name": "why",
        "kind": "custom",
        "throttle_days": 0,
        "questions": [
            {"id": "effort", "type": "scale", "min": 1, "max": 7, "text": "Easy?"},
            {"id": "note", "type": "text", "text": "Anything else?"},
        ],
    }
    for survey in ({"name": "support", "kind": "csat", "throttle_days": 0}, custom):
        assert client.post("/api/v1/surveys", json=survey, headers=write).status_code == 201
    for n, (customer, score) in enumerate([("a", 5), ("b", 4), ("c", 2)]):
        body = {"customer": customer, "score": score, "key": f"s{n}"}
        assert client.post("/api/v1/surveys/support/responses", json=body, headers=write).is_success
    for n, answers in enumerate([{"effort": 2}, {"effort": 5, "note": "fine"}]):
        body = {"customer": "a", "answers": answers, "key": f"w{n}"}
        assert client.post("/api/v1/surveys/why/responses", json=body, headers=write).is_success
    csat = client.get("/api/v1/surveys/support/report?period=D", headers=read).json()
    # 2 of 3 satisfied (4 and 5): 66.7 %; the average (5 + 4 + 2) / 3
    assert csat["summary"]["responses"] == 3 and csat["summary"]["satisfied"] == 2
    assert abs(csat["summary"]["csat"] - 200 / 3) < 1e-9
    assert abs(csat["summary"]["average_score"] - 11 / 3) < 1e-9
    assert "questions" not in csat or csat["questions"] is None
    why = client.get("/api/v1/surveys/why/report?period=Y", headers=read).json()
    assert why["summary"] == {"responses": 2}
    assert [row["responses"] for row in why["over_time"]] == [2]
    assert why["questions"] == {
        "effort": {"type": "scale", "answered": 2, "average": 3.5},
        "note": {"type": "text", "answered": 1},
    }
