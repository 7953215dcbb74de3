"""The channels' API on SQLite and PostgreSQL: texts people send back (STOP, START, HELP), the
SMS provider's delivery reports, and the in-app inbox the shop's app reads."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import pytest
from api_helpers import bearer, problem
from campaign_helpers import NOON, SECRET, add_shop, campaign, deliveries, make_worker, save
from http_helpers import Answer, Receiver, http_receiver
from smtp_helpers import Sink
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.testclient import TestClient
from test_campaign_channels import INBOX_MESSAGE, SMS_MESSAGE, add_customers, launch, worker

from retentio.api import ApiConfig, create_app
from retentio.campaigns import launch_campaign
from retentio.campaigns.report import campaign_report
from retentio.channels import HttpSmsChannel, InboxChannel, SmsSettings
from retentio.core.clock import FixedClock
from retentio.privacy import is_marketable
from retentio.privacy.suppression import is_suppressed, suppress


@pytest.fixture
def api(api_config: ApiConfig) -> Iterator[TestClient]:
    config = replace(api_config, secret=SECRET, sms_from="Butikken")
    with TestClient(create_app(config), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def provider() -> Iterator[Receiver]:
    with http_receiver() as receiver:
        yield receiver


def text(api: TestClient, key: str, sender: str, body: str) -> dict[str, object]:
    answer = api.post(
        "/api/v1/sms/inbound", json={"from": sender, "text": body}, headers=bearer(key)
    )
    assert answer.status_code == 200, answer.text
    result: dict[str, object] = answer.json()
    return result


def test_stop_suppresses_the_number_with_one_confirmation_and_start_lifts_it(
    api: TestClient, api_keys: dict[str, str], migrated_engine: Engine, provider: Receiver
) -> None:
    write = api_keys["write"]
    add_customers(migrated_engine, "sms", ["ida", "bob"])
    stop = text(api, write, "4520123456", "Stop.")  # ida's number, as providers send it
    assert stop == {
        "action": "stop",
        "reply": "Du modtager ikke flere sms'er fra Butikken. Svar START for at få dem igen.",
    }
    assert text(api, write, "+45 20 12 34 56", "STOP")["reply"] is None  # one confirmation
    assert text(api, write, "+31612345678", "unsubscribe me")["reply"] == (
        "Je ontvangt geen sms'jes meer van Butikken. Antwoord START om ze weer te krijgen."
    )
    with Session(migrated_engine) as session:
        assert is_suppressed(session, SECRET, channel="sms", address="+4520123456")
    launch(migrated_engine, campaign("after-stop", channel="sms", message=SMS_MESSAGE))
    provider.answer = lambda _r: Answer(201, {"id": "x"})
    sms = HttpSmsChannel(SmsSettings(f"{provider.url}/sms"))
    with worker(migrated_engine, {"sms": sms}, FixedClock(NOON)) as w:
        w.run(until_idle=True)
    assert deliveries(migrated_engine)["ida"] == ("skipped", "suppressed")
    assert deliveries(migrated_engine)["bob"] == ("skipped", "suppressed")
    assert provider.received() == []

    start = text(api, write, "+4520123456", "start")
    assert start["action"] == "start" and "Svar STOP" in str(start["reply"])
    with Session(migrated_engine) as session:
        assert not is_suppressed(session, SECRET, channel="sms", address="+4520123456")
        suppress(session, SECRET, channel="sms", address="+447911123456", reason="hard_bounce")
    bounced = text(api, write, "+447911123456", "START")
    assert bounced == {"action": "start", "reply": None}  # another reason: it stays
    with Session(migrated_engine) as session:
        assert is_suppressed(session, SECRET, channel="sms", address="+447911123456")


def test_help_and_other_texts(api: TestClient, api_keys: dict[str, str]) -> None:
    write = api_keys["write"]
    helped = text(api, write, "+447911123456", "help")
    assert helped == {
        "action": "help",
        "reply": "Butikken: offers and news by text. Reply STOP to opt out, START to opt in again.",
    }
    assert text(api, write, "+4520123456", "HJÆLP")["reply"].startswith("Butikken: tilbud")  # type: ignore[union-attr]
    assert text(api, write, "+4520123456", "Tak for sidst!") == {"action": "none", "reply": None}
    assert text(api, write, "+4520123456", "") == {"action": "none", "reply": None}


def test_bad_inbound_texts_are_refused_by_field(api: TestClient, api_keys: dict[str, str]) -> None:
    write = bearer(api_keys["write"])
    bad = api.post("/api/v1/sms/inbound", json={"from": "hello", "text": "STOP"}, headers=write)
    assert "from: not a phone number" in problem(bad, 422, "invalid-data")["detail"]
    missing = api.post("/api/v1/sms/inbound", json={"text": "STOP"}, headers=write)
    assert "from" in problem(missing, 422, "validation-error")["detail"]
    read_only = api.post(
        "/api/v1/sms/inbound",
        json={"from": "+4520123456", "text": "STOP"},
        headers=bearer(api_keys["read"]),
    )
    problem(read_only, 403, "forbidden")
    anonymous = api.post("/api/v1/sms/inbound", json={"from": "+4520123456", "text": "STOP"})
    problem(anonymous, 401, "unauthorized")


def test_delivery_reports_become_events_and_a_dead_number_is_suppressed(
    api: TestClient, api_keys: dict[str, str], migrated_engine: Engine, provider: Receiver
) -> None:
    add_customers(migrated_engine, "sms", ["ida", "bob", "eva"])
    launch(migrated_engine, campaign("reported", channel="sms", message=SMS_MESSAGE))
    ids = {"+4520123456": "p-ida", "+31612345678": "p-bob", "+447911123456": "p-eva"}
    provider.answer = lambda r: Answer(201, {"id": ids[r.json()["to"]]})
    sms = HttpSmsChannel(SmsSettings(f"{provider.url}/sms"))
    with worker(migrated_engine, {"sms": sms}, FixedClock(NOON)) as w:
        w.run(until_idle=True)
    write = bearer(api_keys["write"])

    def report(body: dict[str, object]) -> dict[str, object]:
        answer = api.post("/api/v1/sms/reports", json=body, headers=write)
        assert answer.status_code == 200, answer.text
        result: dict[str, object] = answer.json()
        return result

    at = (NOON + timedelta(minutes=1)).isoformat()
    delivered = report({"id": "p-ida", "status": "delivered", "at": at})
    assert delivered["event"] == "delivered" and delivered["recorded"] is True
    assert report({"id": "p-ida", "status": "delivered"})["recorded"] is False  # a repeat
    dead = report({"id": "p-bob", "status": "failed", "reason": "invalid_number"})
    assert (dead["event"], dead["suppressed"]) == ("bounced", True)
    late = report({"id": "p-eva", "status": "expired", "reason": "handset_off"})
    assert (late["event"], late["suppressed"]) == ("bounced", False)
    found = deliveries(migrated_engine)
    assert found["bob"] == ("bounced", "hard: failed invalid_number")
    assert found["ida"][0] == found["eva"][0] == "sent"
    with Session(migrated_engine) as session:
        assert is_suppressed(session, SECRET, channel="sms", address="+31612345678")
        assert not is_suppressed(session, SECRET, channel="sms", address="+447911123456")
    funnel = api.get("/api/v1/campaigns/reported/report", headers=bearer(api_keys["read"]))
    assert funnel.json()["funnel"]["delivered"] == 1, funnel.text

    unknown = api.post(
        "/api/v1/sms/reports", json={"id": "nope", "status": "delivered"}, headers=write
    )
    assert "'nope'" in problem(unknown, 404, "not-found")["detail"]
    odd = api.post("/api/v1/sms/reports", json={"id": "p-ida", "status": "lost"}, headers=write)
    assert "status: one of delivered" in problem(odd, 422, "invalid-data")["detail"]


def test_the_inbox_lists_marks_and_pages(
    api: TestClient, api_keys: dict[str, str], migrated_engine: Engine
) -> None:
    add_customers(migrated_engine, "in_app", ["ida", "bob"])
    for n in range(3):
        launch(migrated_engine, campaign(f"gift-{n}", channel="in_app", message=INBOX_MESSAGE))
    clock = FixedClock(NOON)
    with worker(migrated_engine, {"in_app": InboxChannel(migrated_engine)}, clock, caps=()) as w:
        w.run(until_idle=True)
    read, write = bearer(api_keys["read"]), bearer(api_keys["write"])
    page = api.get("/api/v1/customers/ida/inbox?limit=2", headers=read)
    assert page.status_code == 200, page.text
    body = page.json()
    assert body["unread"] == 3 and len(body["messages"]) == 2
    assert body["messages"][0]["title"] == "En gave til dig, Ida"
    rest = api.get(f"/api/v1/customers/ida/inbox?before={body['next_before']}", headers=read)
    assert len(rest.json()["messages"]) == 1 and rest.json()["next_before"] is None
    newest = body["messages"][0]["id"]
    marked = api.post(f"/api/v1/customers/ida/inbox/{newest}/read", json={}, headers=write)
    assert marked.status_code == 200 and marked.json()["read_at"] is not None
    again = api.post(f"/api/v1/customers/ida/inbox/{newest}/read", json={}, headers=write)
    assert again.json()["read_at"] == marked.json()["read_at"]
    api.post(f"/api/v1/customers/ida/inbox/{newest}/archive", json={}, headers=write)
    after = api.get("/api/v1/customers/ida/inbox", headers=read).json()
    assert after["unread"] == 2 and newest not in [m["id"] for m in after["messages"]]
    everything = api.get("/api/v1/customers/ida/inbox?archived=true", headers=read).json()
    assert newest in [m["id"] for m in everything["messages"]]
    bobs = api.post(f"/api/v1/customers/bob/inbox/{newest}/read", json={}, headers=write)
    problem(bobs, 404, "not-found")  # ida's message is not bob's to mark
    problem(api.get("/api/v1/customers/nobody/inbox", headers=read), 404, "not-found")


def test_email_events_record_bounces_and_a_complaint_unsubscribes(
    api: TestClient, api_keys: dict[str, str], migrated_engine: Engine, sink: tuple[Sink, int]
) -> None:
    handler, port = sink
    people = [{"external_id": n, "email": f"{n}@example.com"} for n in ("ida", "bob", "eva")]
    add_shop(migrated_engine, people)
    save(migrated_engine, campaign())
    with Session(migrated_engine) as session:
        launch_campaign(session, "winback", clock=FixedClock(NOON))
    worker_, channel = make_worker(migrated_engine, port, FixedClock(NOON))
    with channel:
        worker_.run(until_idle=True)
    ids = {str(m["To"]).split("@")[0]: str(m["Message-ID"]) for m in handler.received}
    write = bearer(api_keys["write"])

    def event(body: dict[str, object], status: int = 200) -> dict[str, object]:
        answer = api.post("/api/v1/email/events", json=body, headers=write)
        assert answer.status_code == status, answer.text
        result: dict[str, object] = answer.json()
        return result

    assert event({"message_id": ids["ida"], "event": "delivered"})["recorded"] is True
    hard = event({"message_id": ids["bob"].strip("<>"), "event": "bounced", "bounce": "hard",
                  "reason": "550 5.1.1 no such user"})  # fmt: skip
    assert hard["suppressed"] is True
    spam = event({"message_id": ids["eva"], "event": "complained"})
    assert (spam["event"], spam["suppressed"]) == ("complained", True)
    assert event({"message_id": ids["eva"], "event": "complained"})["recorded"] is False
    assert deliveries(migrated_engine)["bob"] == ("bounced", "hard: 550 5.1.1 no such user")
    with Session(migrated_engine) as session:
        assert is_suppressed(session, SECRET, channel="email", address="bob@example.com")
        assert is_suppressed(session, SECRET, channel="email", address="eva@example.com")
        assert not is_marketable(session, SECRET, "eva", "email")  # the consent is withdrawn
        assert is_marketable(session, SECRET, "ida", "email")
        funnel = campaign_report(session, "winback").to_dict()["funnel"]
    assert (funnel["delivered"], funnel["complained"], funnel["bounced"]) == (1, 1, 1)
    forged = "<999999.campaign-1@butik.example>"
    assert "no e-mail" in event({"message_id": forged, "event": "delivered"}, 404)["detail"]
    soft = {"message_id": ids["ida"], "event": "bounced"}
    assert "bounce: hard or soft" in event(soft, 422)["detail"]
