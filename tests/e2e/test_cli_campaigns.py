"""`retentio campaign create|list|preview|test-send|launch|report` and `retentio worker`, end
to end on a SQLite store, sending to a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

import email
import json
import socket
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from cli_helpers import invoke, make_database
from sqlalchemy.orm import Session as DbSession

from retentio.campaigns import CampaignError
from retentio.core.errors import ConfigurationError
from retentio.privacy import record_consent
from retentio.store import make_engine

CAMPAIGN = """\
name: winback
segment: buyers
holdout: 0.25
quiet_hours: false
attribution_days: 14
message:
  default_locale: en
  en:
    subject: "We miss you, {{ first_name | default('there') }}"
    text: "You have ordered {{ order_count }} times. Unsubscribe: {{ unsubscribe_url }}"
  da:
    subject: "Vi savner dig, {{ first_name | default('du') }}"
    text: "Du har bestilt {{ order_count }} gange."
"""


class Inbox:
    def __init__(self) -> None:
        self.received: list[Message] = []

    async def handle_DATA(  # noqa: N802 (aiosmtpd's hook name)
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        assert isinstance(envelope.content, bytes)
        self.received.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture()
def inbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Inbox]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("RETENTIO_SMTP_URL", f"smtp://127.0.0.1:{port}")
    monkeypatch.setenv("RETENTIO_MAIL_FROM", "Butikken <shop@butik.example>")
    monkeypatch.setenv("RETENTIO_PUBLIC_URL", "https://butik.example")
    try:
        yield handler
    finally:
        controller.stop()


@pytest.fixture()
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = make_database(tmp_path, monkeypatch)
    customers = [
        {"external_id": f"c{n}", "email": f"c{n}@example.com", "locale": "da" if n % 2 else "en"}
        | ({"first_name": "Ida"} if n == 1 else {})
        for n in range(40)
    ]
    orders = [
        {
            "order_id": f"o{n}-{k}",
            "customer_id": f"c{n}",
            "ordered_at": f"2026-0{k + 1}-1{n % 10}T10:00:00+00:00",
            "amount": "100.00",
            "currency": "DKK",
        }
        for n in range(40)
        for k in range(1 + n % 3)
    ]
    _lines(tmp_path / "customers.jsonl", customers)
    _lines(tmp_path / "orders.jsonl", orders)
    assert invoke("load", "customers.jsonl", "--kind", "customers").exit_code == 0
    loaded = invoke("load", "orders.jsonl")
    assert loaded.exit_code == 0, loaded.output
    engine = make_engine(url)
    with DbSession(engine) as session:
        for n in range(40):
            record_consent(
                session,
                customer=f"c{n}",
                channel="email",
                purpose="marketing",
                granted=True,
                source="api",
                recorded_by="test",
                lawful_basis="soft_opt_in",
            )
    engine.dispose()
    (tmp_path / "buyers.yaml").write_text("name: buyers\nwhere: {order_count: {gte: 1}}\n")
    assert invoke("segment", "create", "buyers.yaml").exit_code == 0
    (tmp_path / "winback.yaml").write_text(CAMPAIGN)
    return url


def _lines(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def test_create_preview_test_send_launch_work_and_report(store: str, inbox: Inbox) -> None:
    created = invoke("campaign", "create", "winback.yaml")
    assert created.exit_code == 0, created.output
    assert "Saved campaign winback (draft)" in created.output
    preview = invoke("campaign", "preview", "winback", "--customer", "c1", "--json")
    assert preview.exit_code == 0, preview.output
    shown = json.loads(preview.stdout)
    assert (shown["subject"], shown["locale"]) == ("Vi savner dig, Ida", "da")
    assert shown["text"].startswith("Du har bestilt 2 gange.")
    assert shown["unsubscribe_url"] == "https://butik.example/u/preview"

    sent = invoke("campaign", "test-send", "winback", "--to", "me@butik.example")
    assert sent.exit_code == 0, sent.output
    (test,) = inbox.received
    assert test["To"] == "me@butik.example" and str(test["Subject"]).startswith("[test] ")
    assert test["List-Unsubscribe"] == "<https://butik.example/u/preview>"

    launched = invoke("campaign", "launch", "winback", "--json")
    assert launched.exit_code == 0, launched.output
    result = json.loads(launched.stdout)
    assert result["audience"] == 40 and result["treated"] + result["control"] == 40
    assert 0 < result["control"] < 20
    again = invoke("campaign", "launch", "winback")
    assert isinstance(again.exception, CampaignError)
    assert "was launched already" in str(again.exception)

    worked = invoke("worker", "--until-idle", "--poll", "0.05")
    assert worked.exit_code == 0, worked.output
    assert f"{result['treated']} sent" in worked.output
    assert len(inbox.received) == 1 + result["treated"]

    listed = json.loads(invoke("campaign", "list", "--json").stdout)
    assert [(c["name"], c["status"], c["audience"]) for c in listed] == [
        ("winback", "launched", 40)
    ]
    report = invoke("campaign", "report", "winback", "--json")
    assert report.exit_code == 0, report.output
    body = json.loads(report.stdout)
    assert body["funnel"]["sent"] == result["treated"]
    assert body["arms"]["control"]["customers"] == result["control"]
    assert body["lift"]["conversion_rate"]["difference"] == 0.0  # nobody ordered since
    assert body["verdict"].startswith("No detectable effect on conversion")
    text = invoke("campaign", "report", "winback")
    assert "Verdict: No detectable effect" in text.output


def test_bad_definitions_and_names_get_clear_errors(store: str, tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(CAMPAIGN.replace("holdout: 0.25", "holdout: 2"))
    bad = invoke("campaign", "create", "bad.yaml")
    assert "holdout: a share in [0, 0.5]" in str(bad.exception)
    escape = CAMPAIGN.replace("{{ order_count }} times", "{{ ''.__class__.__mro__ }}")
    (tmp_path / "escape.yaml").write_text(escape)
    refused = invoke("campaign", "create", "escape.yaml")
    assert isinstance(refused.exception, CampaignError)
    assert refused.exception.path == "message.en.text", refused.exception
    (tmp_path / "nosegment.yaml").write_text(CAMPAIGN.replace("segment: buyers", "segment: x"))
    missing = invoke("campaign", "create", "nosegment.yaml")
    assert "segment: no saved segment 'x'" in str(missing.exception)
    unknown = invoke("campaign", "launch", "nope")
    assert "no campaign 'nope'" in str(unknown.exception)
    no_smtp = invoke("worker", "--until-idle")
    assert isinstance(no_smtp.exception, ConfigurationError)
    assert "RETENTIO_PUBLIC_URL" in str(no_smtp.exception)
    assert "RETENTIO_SMTP_URL" in str(no_smtp.exception)


JOURNEY = """\
name: welcome-back
trigger: {segment: buyers}
holdout: 0
quiet_hours: false
steps:
  - send:
      message:
        en: {subject: "Welcome back", text: "Hi {{ first_name | default('there') }}"}
  - wait: {days: 2}
  - send:
      message:
        en: {subject: "Anything we can help with?", text: "Reply to this mail."}
"""


def test_journey_create_list_pause_resume(store: str, tmp_path: Path, inbox: Inbox) -> None:
    (tmp_path / "journey.yaml").write_text(JOURNEY)
    created = invoke("journey", "create", "journey.yaml")
    assert created.exit_code == 0, created.output
    assert "Saved journey welcome-back (active): 3 steps, entered by segment buyers" in (
        created.output
    )
    # Customers enter at the segment's next refresh; the worker sends the first message.
    (tmp_path / "buyers.yaml").write_text("name: buyers\nwhere: {order_count: {gte: 2}}\n")
    assert invoke("segment", "create", "buyers.yaml").exit_code == 0
    assert invoke("segment", "refresh", "buyers").exit_code == 0
    worked = invoke("worker", "--until-idle", "--poll", "0.05")
    assert worked.exit_code == 0, worked.output
    welcomed = [m for m in inbox.received if m["Subject"] == "Welcome back"]
    listed = json.loads(invoke("journey", "list", "--json").stdout)
    assert listed[0]["entries"] == {"active": len(welcomed)} and len(welcomed) > 0
    paused = invoke("journey", "pause", "welcome-back")
    assert "welcome-back (paused)" in paused.output
    assert "welcome-back (active)" in invoke("journey", "resume", "welcome-back").output
    shown = json.loads(invoke("journey", "show", "welcome-back").stdout)
    assert [s["kind"] for s in shown["steps"]] == ["send", "wait", "send"]
    again = invoke("journey", "create", "journey.yaml")
    assert "exists" in str(again.exception)


def test_journey_templates_are_listed_and_written(tmp_path: Path) -> None:
    listed = invoke("journey", "template")
    assert listed.exit_code == 0 and listed.output.split() == [
        "winback",
        "re-engagement",
        "post-purchase",
        "replenishment",
    ]
    written = invoke("journey", "template", "winback", "-o", str(tmp_path / "w.yaml"))
    assert written.exit_code == 0, written.output
    assert (tmp_path / "w.yaml").read_text().startswith("# Win-back:")
    assert "no template 'nope'" in str(invoke("journey", "template", "nope").exception)


def test_an_sms_campaign_test_sends_to_a_phone(
    store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "integration"))
    from http_helpers import Answer, http_receiver

    definition = (
        "name: sms-offer\nsegment: buyers\nchannel: sms\nquiet_hours: false\n"
        'message:\n  en: {text: "Hi, {{ order_count }} orders so far"}\n'
    )
    (tmp_path / "sms.yaml").write_text(definition)
    assert invoke("campaign", "create", "sms.yaml").exit_code == 0
    with http_receiver() as provider:
        provider.answer = lambda _r: Answer(201, {"id": "t1"})
        monkeypatch.setenv("RETENTIO_SMS_URL", f"{provider.url}/sms")
        sent = invoke("campaign", "test-send", "sms-offer", "--to", "+45 20 12 34 56")
        assert sent.exit_code == 0, sent.output
        [request] = provider.received()
    body = request.json()
    assert body["to"] == "+4520123456"
    assert body["text"].startswith("[test] Hi, ") and body["text"].endswith("Reply STOP to opt out")
    bad = invoke("campaign", "test-send", "sms-offer", "--to", "me@example.com")
    assert "--to: not a phone number" in str(bad.exception)
