"""Opens and clicks of e-mail, end to end on SQLite and PostgreSQL: a tracked campaign sent to
a real SMTP server carries a pixel and click links; the pixel and the redirect record people's
opens and clicks (machines' apart) for the funnel and the best hour; a changed token
redirects nowhere."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from campaign_helpers import NOON, SECRET, SIGNER, add_shop, campaign, make_worker, save
from smtp_helpers import Sink
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient
from test_campaigns import launch, text_of

from retentio.api import ApiConfig, create_app
from retentio.campaigns.outbox import record_event
from retentio.campaigns.report import campaign_report
from retentio.core.clock import FixedClock
from retentio.segments import refresh_scores
from retentio.store.campaign_tables import Delivery, DeliveryEvent
from retentio.store.tables import Customer, CustomerScore

PEOPLE = [
    {"external_id": "ida", "email": "ida@example.com", "first_name": "Ida", "locale": "da"},
    {"external_id": "bob", "email": "bob@example.com", "locale": "en"},
]
BROWSER = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko)"
TRACKED = campaign(
    tracking={"opens": True, "clicks": True},
    message={
        "en": {
            "subject": "New in",
            "html": '<html><body><p><a href="https://butik.example/new?a=1&amp;b=2">See</a> or '
            '<a href="{{ unsubscribe_url }}">unsubscribe</a></p></body></html>',
            "text": "See https://butik.example/new?a=1&b=2. Unsubscribe: {{ unsubscribe_url }}",
        }
    },
)


@pytest.fixture
def api(api_config: ApiConfig) -> Iterator[TestClient]:
    config = replace(api_config, secret=SECRET, signer=SIGNER)
    with TestClient(create_app(config), raise_server_exceptions=False) as client:
        yield client


def html_of(message: object) -> str:
    for part in message.walk():  # type: ignore[attr-defined]
        if part.get_content_type() == "text/html":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode()
    raise AssertionError("no html part")


def events(engine: Engine) -> list[tuple[str, str | None]]:
    with Session(engine) as session:
        query = select(DeliveryEvent.kind, DeliveryEvent.detail).order_by(DeliveryEvent.id)
        return [(kind, detail) for kind, detail in session.execute(query)]


def test_opens_and_clicks_are_tracked_and_machines_kept_apart(
    migrated_engine: Engine, sink: tuple[Sink, int], api: TestClient
) -> None:
    handler, port = sink
    add_shop(migrated_engine, PEOPLE)
    save(migrated_engine, TRACKED)
    launch(migrated_engine)
    worker, channel = make_worker(migrated_engine, port, FixedClock(NOON))
    with channel:
        assert worker.run(until_idle=True).to_dict() == {"sent": 2}
    message = next(m for m in handler.received if str(m["To"]) == "bob@example.com")
    html, text = html_of(message), text_of(message)
    unsubscribe = str(message["List-Unsubscribe"]).strip("<>")
    pixels = re.findall(r'<img src="https://butik\.example/retentio(/t/o/[^"]+)"', html)
    clicks = re.findall(r'href="https://butik\.example/retentio(/t/c/[^"]+)"', html)
    assert len(pixels) == 1 and len(clicks) == 1, html
    assert f'href="{unsubscribe}"' in html  # the unsubscribe link is never rewritten
    assert "https://butik.example/new" not in html + text  # the shop's link is
    text_click = re.search(r"See https://butik\.example/retentio(/t/c/\S+)\. ", text)
    assert text_click is not None and unsubscribe in text

    # A link scanner at the receiving server, then the person.
    scanner = api.get(
        clicks[0], headers={"User-Agent": "Mimecast-LinkScanner/2.0"}, follow_redirects=False
    )
    assert scanner.status_code == 302  # scanners are redirected too; counted apart
    assert api.get(pixels[0], headers={"User-Agent": ""}).content.startswith(b"GIF89a")
    opened = api.get(pixels[0], headers={"User-Agent": BROWSER})
    assert opened.status_code == 200 and opened.headers["content-type"] == "image/gif"
    assert "no-store" in opened.headers["cache-control"]
    clicked = api.get(clicks[0], headers={"User-Agent": BROWSER}, follow_redirects=False)
    assert clicked.status_code == 302
    assert clicked.headers["location"] == "https://butik.example/new?a=1&b=2"
    text_clicked = api.get(text_click[1], headers={"User-Agent": BROWSER}, follow_redirects=False)
    assert text_clicked.headers["location"] == "https://butik.example/new?a=1&b=2"
    checked = api.head(clicks[0], headers={"User-Agent": BROWSER}, follow_redirects=False)
    assert checked.status_code == 302  # a HEAD redirects without counting
    assert [kind for kind, _ in events(migrated_engine)] == [
        "machine_click",
        "machine_open",
        "opened",
        "clicked",
        "clicked",
    ]
    assert events(migrated_engine)[0][1] == "a bot or link scanner"
    # The one-click unsubscribe counts for the campaign whose message carried it, once.
    token = unsubscribe.rsplit("/", 1)[1]
    assert api.post(f"/u/{token}").status_code == 200
    assert api.post(f"/u/{token}").status_code == 200
    with Session(migrated_engine) as session:
        funnel = campaign_report(session, "winback").to_dict()["funnel"]
    assert (funnel["opened"], funnel["clicked"]) == (1, 1)  # people's, per message
    assert funnel["unsubscribed"] == 1


def test_a_changed_or_foreign_token_redirects_nowhere(
    migrated_engine: Engine, sink: tuple[Sink, int], api: TestClient
) -> None:
    handler, port = sink
    add_shop(migrated_engine, PEOPLE)
    save(migrated_engine, TRACKED)
    launch(migrated_engine)
    worker, channel = make_worker(migrated_engine, port, FixedClock(NOON))
    with channel:
        worker.run(until_idle=True)
    html = html_of(handler.received[0])
    click = re.findall(r'href="https://butik\.example/retentio(/t/c/[^"]+)"', html)[0]
    head, payload, signature = click.rsplit(".", 2)
    forged = f"{head}.{payload[:-2]}xx.{signature}"
    for path in (forged, "/t/c/v1.t1.eyJ1IjoiaHR0cHM6Ly9ldmlsLmV4YW1wbGUifQ.abc", "/t/c/x"):
        answer = api.get(path, headers={"User-Agent": BROWSER}, follow_redirects=False)
        assert answer.status_code == 404 and "location" not in answer.headers, path
    withdrawal = str(handler.received[0]["List-Unsubscribe"]).strip("<>").rsplit("/", 1)[1]
    other_purpose = api.get(f"/t/c/{withdrawal}", follow_redirects=False)
    assert other_purpose.status_code == 404  # a signed token of another purpose
    bad_pixel = api.get("/t/o/nonsense")
    assert bad_pixel.status_code == 200 and bad_pixel.content.startswith(b"GIF89a")
    assert events(migrated_engine) == []


def test_an_untracked_campaign_has_no_pixel_and_its_links_as_written(
    migrated_engine: Engine, sink: tuple[Sink, int]
) -> None:
    handler, port = sink
    add_shop(migrated_engine, PEOPLE)
    save(migrated_engine, {**TRACKED, "tracking": False})
    launch(migrated_engine)
    worker, channel = make_worker(migrated_engine, port, FixedClock(NOON))
    with channel:
        worker.run(until_idle=True)
    html = html_of(handler.received[0])
    assert "/t/o/" not in html and "/t/c/" not in html
    assert 'href="https://butik.example/new?a=1&amp;b=2"' in html


def test_opens_and_clicks_count_for_the_best_hour(migrated_engine: Engine) -> None:
    """A customer with one order at 09:00 and three opens and clicks around 20:00 (their
    clock) gets 20 as best hour; machines' opens do not count."""
    add_shop(migrated_engine, [{**PEOPLE[0], "time_zone": "Europe/Copenhagen"}])
    save(migrated_engine, TRACKED)
    launch(migrated_engine)
    evening = datetime(2026, 11, 20, 19, 10, tzinfo=UTC)  # 20:10 in Copenhagen
    with Session(migrated_engine) as session:
        delivery_id = session.scalar(select(Delivery.id))
        assert delivery_id is not None
        for day, kind in enumerate(["opened", "clicked", "opened"]):
            record_event(session, delivery_id, kind, at=evening + timedelta(days=day))
        for hour in range(3):  # a scanner's opens at 03:00 would pull it elsewhere
            at = datetime(2026, 11, 25, 2, hour, tzinfo=UTC)
            record_event(session, delivery_id, "machine_open", at=at)
        session.commit()
        refresh_scores(session, clock=FixedClock(NOON))
        best = session.scalar(
            select(CustomerScore.best_hour)
            .join(Customer, Customer.id == CustomerScore.customer_id)
            .where(Customer.external_id == "ida")
        )
    assert best == 20
