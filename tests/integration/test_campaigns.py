"""Campaigns end to end on SQLite and PostgreSQL, sent to a real SMTP server (aiosmtpd): the
launch writes the audience and the outbox, the worker applies the guards and sends each
message once, with the unsubscribe headers and link, in the customer's language."""

from __future__ import annotations

import threading
from datetime import timedelta
from email.header import decode_header, make_header
from email.message import Message

import pytest
from campaign_helpers import (
    NOON,
    PUBLIC_URL,
    SECRET,
    SIGNER,
    add_shop,
    campaign,
    deliveries,
    make_worker,
    save,
)
from smtp_helpers import Sink, free_port, message_ids
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from retentio.campaigns import (
    CampaignError,
    find_campaign,
    in_holdout,
    launch_campaign,
)
from retentio.core.clock import FixedClock
from retentio.privacy import erase_person, is_marketable, withdraw_with_token
from retentio.privacy.suppression import suppress
from retentio.store.campaign_tables import CampaignAudience, Delivery
from retentio.store.tables import Customer

CUSTOMERS = [
    {"external_id": "ida", "email": "ida@example.com", "first_name": "Ida", "locale": "da-DK"},
    {"external_id": "bob", "email": "bob@example.com", "locale": "en"},
    {"external_id": "eva", "email": "eva@example.com", "first_name": "Eva", "locale": "nl"},
    {"external_id": "no-consent", "email": "nc@example.com"},
    {"external_id": "no-email", "phone": "+4520123456", "country": "DK"},
    {"external_id": "blocked", "email": "blocked@example.com"},
]


def subject(message: Message) -> str:
    return str(make_header(decode_header(str(message["Subject"]))))


def text_of(message: Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode()
    raise AssertionError("no text part")


def launch(engine: Engine, name: str = "winback", clock: FixedClock | None = None) -> None:
    with Session(engine) as session:
        launch_campaign(session, name, clock=clock or FixedClock(NOON))


@pytest.fixture()
def shop(migrated_engine: Engine) -> Engine:
    consented = ["ida", "bob", "eva", "no-email", "blocked"]
    add_shop(migrated_engine, CUSTOMERS, consented=consented)
    with Session(migrated_engine) as session:
        suppress(session, SECRET, channel="email", address="Blocked@Example.com", reason="test")
    return migrated_engine


def test_a_campaign_reaches_each_consenting_customer_once_in_their_language(
    shop: Engine, sink: tuple[Sink, int]
) -> None:
    handler, port = sink
    save(shop, campaign())
    launch(shop)
    worker, channel = make_worker(shop, port, FixedClock(NOON))
    with channel:
        outcome = worker.run(until_idle=True)
    assert outcome.to_dict() == {"sent": 3, "skipped": 3}
    by_recipient = {str(m["To"]): m for m in handler.received}
    assert sorted(by_recipient) == ["bob@example.com", "eva@example.com", "ida@example.com"]
    ida, bob, eva = (by_recipient[f"{n}@example.com"] for n in ("ida", "bob", "eva"))
    assert subject(ida) == "Vi savner dig, Ida"
    assert "Kode: KOM-TILBAGE" in text_of(ida)
    assert subject(bob) == "We miss you, there"
    assert subject(eva) == "We miss you, Eva"  # no Dutch variant: the default locale
    assert "1 order(s)" in text_of(bob)
    # RFC 8058 headers and a visible link (the template shows none: a footer adds it).
    unsubscribe = str(ida["List-Unsubscribe"]).strip("<>")
    assert unsubscribe.startswith(f"{PUBLIC_URL}/u/")
    assert ida["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert f"Afmeld her: {unsubscribe}" in text_of(ida)
    assert deliveries(shop) == {
        "ida": ("sent", "accepted"),
        "bob": ("sent", "accepted"),
        "eva": ("sent", "accepted"),
        "no-consent": ("skipped", "no consent for email marketing"),
        "no-email": ("skipped", "no usable email address"),
        "blocked": ("skipped", "suppressed"),
    }
    with Session(shop) as session:
        rows = session.scalars(select(Delivery).where(Delivery.status == "sent")).all()
        assert sorted(r.message_id for r in rows) == sorted(message_ids(handler))
        assert all(r.attempts == 1 and r.lease_owner is None for r in rows)
        # The link withdraws the consent it names, with no login.
        token = unsubscribe.rsplit("/", 1)[1]
        withdraw_with_token(session, SIGNER, token)
        assert not is_marketable(session, SECRET, "ida", "email")
    # A second run finds nothing to do.
    with channel:
        assert worker.run(until_idle=True).claimed == 0
    assert len(handler.received) == 3


def test_a_launch_records_the_arms_and_the_control_group_gets_nothing(
    migrated_engine: Engine, sink: tuple[Sink, int]
) -> None:
    handler, port = sink
    people = [{"external_id": f"c{n}", "email": f"c{n}@example.com"} for n in range(60)]
    add_shop(migrated_engine, people)
    save(migrated_engine, campaign(holdout=0.3))
    with Session(migrated_engine) as session:
        result = launch_campaign(session, "winback", clock=FixedClock(NOON))
        campaign_id = find_campaign(session, "winback").id
        arms = dict(
            session.execute(
                select(CampaignAudience.customer_id, CampaignAudience.arm).where(
                    CampaignAudience.campaign_id == campaign_id
                )
            ).all()
        )
    expected_control = {c for c in arms if in_holdout(f"campaign:{campaign_id}", c, 0.3)}
    assert {c for c, arm in arms.items() if arm == "control"} == expected_control
    assert 0 < len(expected_control) < 60
    assert (result.audience, result.control, result.treated) == (
        60,
        len(expected_control),
        60 - len(expected_control),
    )
    worker, channel = make_worker(migrated_engine, port, FixedClock(NOON))
    with channel:
        worker.run(until_idle=True)
    assert len(handler.received) == result.treated
    with Session(migrated_engine) as session, pytest.raises(CampaignError, match="launched"):
        launch_campaign(session, "winback", clock=FixedClock(NOON))
    with Session(migrated_engine) as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == result.treated


def test_quiet_hours_hold_the_message_until_morning_on_the_customers_clock(
    shop: Engine, sink: tuple[Sink, int]
) -> None:
    handler, port = sink
    late = NOON.replace(hour=21, minute=30)  # 22:30 in Copenhagen
    save(shop, campaign())
    launch(shop, clock=FixedClock(late))
    clock = FixedClock(late)
    worker, channel = make_worker(shop, port, clock)
    with channel:
        assert worker.run(until_idle=True).to_dict() == {"held": 3, "skipped": 3}
        assert handler.received == []
        with Session(shop) as session:
            due = session.scalars(select(Delivery.not_before).where(Delivery.status == "queued"))
            assert set(due) == {NOON.replace(day=4, hour=7)}  # 08:00 in Copenhagen
        clock.advance(timedelta(hours=9, minutes=30))
        assert worker.run(until_idle=True).to_dict() == {"sent": 3}


def test_quiet_hours_can_drop_instead(shop: Engine, sink: tuple[Sink, int]) -> None:
    _, port = sink
    late = NOON.replace(hour=21, minute=30)
    save(shop, campaign(quiet_hours={"start": "21:00", "end": "08:00", "policy": "drop"}))
    launch(shop, clock=FixedClock(late))
    worker, channel = make_worker(shop, port, FixedClock(late))
    with channel:
        worker.run(until_idle=True)
    assert deliveries(shop)["bob"] == ("skipped", "quiet hours")


def test_the_frequency_cap_holds_a_second_message_on_the_same_day(
    shop: Engine, sink: tuple[Sink, int]
) -> None:
    handler, port = sink
    clock = FixedClock(NOON)
    worker, channel = make_worker(shop, port, clock)
    save(shop, campaign("first"))
    save(shop, campaign("second"))
    with channel:
        launch(shop, "first")
        worker.run(until_idle=True)
        clock.advance(timedelta(hours=2))
        launch(shop, "second", clock=clock)
        assert worker.run(until_idle=True).to_dict() == {"held": 3, "skipped": 3}
        clock.advance(timedelta(hours=22, minutes=1))  # 24 h after the first
        assert worker.run(until_idle=True).to_dict() == {"sent": 3}
    assert len(handler.received) == 6


def test_a_hard_bounce_suppresses_the_address_for_every_later_campaign(
    shop: Engine, sink: tuple[Sink, int]
) -> None:
    handler, port = sink
    handler.refuse = {"bob@example.com": "550 5.1.1 No such user"}
    clock = FixedClock(NOON)
    worker, channel = make_worker(shop, port, clock)
    save(shop, campaign("first"))
    save(shop, campaign("second"))
    with channel:
        launch(shop, "first")
        assert worker.run(until_idle=True).to_dict() == {"bounced": 1, "sent": 2, "skipped": 3}
        assert deliveries(shop)["bob"][0] == "bounced"
        clock.advance(timedelta(days=2))
        launch(shop, "second", clock=clock)
        worker.run(until_idle=True)
    with Session(shop) as session:
        assert not is_marketable(session, SECRET, "bob", "email")
        statuses = session.scalars(
            select(Delivery.detail).where(Delivery.campaign_id == find_campaign(session, 2).id)
        ).all()
    assert statuses.count("suppressed") == 2  # bob, and the address suppressed before


def test_a_server_that_is_down_gets_the_messages_later_once(shop: Engine) -> None:
    port = free_port()
    clock = FixedClock(NOON)
    worker, channel = make_worker(shop, port, clock)
    save(shop, campaign())
    launch(shop)
    with channel:
        assert worker.run(until_idle=True).to_dict() == {"retry": 3, "skipped": 3}
        with Session(shop) as session:
            waiting = session.scalars(select(Delivery).where(Delivery.status == "queued")).all()
            assert {(d.attempts, d.not_before) for d in waiting} == {
                (1, NOON + timedelta(minutes=1))
            }
        from aiosmtpd.controller import Controller

        handler = Sink()
        controller = Controller(handler, hostname="127.0.0.1", port=port)
        controller.start()
        try:
            assert worker.run(until_idle=True).claimed == 0  # not due yet
            clock.advance(timedelta(minutes=1))
            assert worker.run(until_idle=True).to_dict() == {"sent": 3}
        finally:
            controller.stop()
    assert len(message_ids(handler)) == len(set(message_ids(handler))) == 3


def test_consent_withdrawn_or_erasure_after_the_launch_stops_the_message(
    shop: Engine, sink: tuple[Sink, int]
) -> None:
    handler, port = sink
    save(shop, campaign())
    launch(shop)
    with Session(shop) as session:
        from retentio.privacy import withdraw_consent

        withdraw_consent(
            session, customer="ida", channel="email", purpose="marketing", recorded_by="test"
        )
        erase_person(session, SECRET, "eva", actor="test")
    worker, channel = make_worker(shop, port, FixedClock(NOON))
    with channel:
        worker.run(until_idle=True)
    assert [str(m["To"]) for m in handler.received] == ["bob@example.com"]
    assert deliveries(shop)["ida"] == ("skipped", "no consent for email marketing")
    assert ("skipped", "erased") in deliveries(shop).values()  # eva's id is pseudonymised


def test_a_template_that_fails_for_a_customer_fails_only_that_delivery(
    shop: Engine, sink: tuple[Sink, int]
) -> None:
    handler, port = sink
    message = campaign()["message"]
    message["en"]["text"] = "Your chance of coming back: {{ p_alive }}"  # no scores stored
    save(shop, campaign(message=message))
    launch(shop)
    worker, channel = make_worker(shop, port, FixedClock(NOON))
    with channel:
        assert worker.run(until_idle=True).to_dict() == {"failed": 2, "sent": 1, "skipped": 3}
    status, detail = deliveries(shop)["bob"]
    assert status == "failed" and detail is not None
    assert "en.text" in detail and "p_alive" in detail
    assert [str(m["To"]) for m in handler.received] == ["ida@example.com"]


def test_concurrent_workers_send_each_message_once(
    migrated_engine: Engine, sink: tuple[Sink, int]
) -> None:
    handler, port = sink
    people = [{"external_id": f"c{n}", "email": f"c{n}@example.com"} for n in range(300)]
    add_shop(migrated_engine, people)
    save(migrated_engine, campaign())
    launch(migrated_engine)
    workers = [make_worker(migrated_engine, port, FixedClock(NOON), batch=20) for _ in range(4)]

    failures: list[BaseException] = []

    def work(index: int) -> None:
        worker, channel = workers[index]
        try:
            with channel:
                worker.run(until_idle=True)
        except BaseException as exc:  # noqa: BLE001 (reported by the test, not the thread)
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == [] and not any(t.is_alive() for t in threads)
    ids = message_ids(handler)
    assert len(ids) == len(set(ids)) == 300
    with Session(migrated_engine) as session:
        owners = session.execute(
            select(func.count()).select_from(Delivery).where(Delivery.status == "sent")
        ).scalar_one()
    assert owners == 300


def test_best_hour_campaigns_go_out_at_each_customers_own_hour(migrated_engine: Engine) -> None:
    from retentio.ingest import ingest_orders
    from retentio.segments import refresh_scores

    people = [
        {"external_id": "evening", "email": "e@example.com", "time_zone": "Europe/Amsterdam"},
        {"external_id": "morning", "email": "m@example.com", "time_zone": "America/New_York"},
        {"external_id": "new", "email": "n@example.com"},
    ]
    add_shop(migrated_engine, people)  # one order each, a month before NOON at 11:00 UTC
    local = {"evening": 19, "morning": 14}  # UTC hours: 20:00 Amsterdam, 09:00 New York
    extra = [
        {
            "external_id": f"{name}-{k}",
            "customer_id": name,
            "ordered_at": (NOON - timedelta(days=10 + k)).replace(hour=hour).isoformat(),
            "currency": "DKK",
            "total": "100.00",
        }
        for name, hour in local.items()
        for k in range(3)
    ]
    with Session(migrated_engine) as session:
        ingest_orders(session, extra, secret=SECRET, actor="test")
        refresh_scores(session, clock=FixedClock(NOON))
    save(migrated_engine, campaign(send_time="best_hour"))
    launch(migrated_engine)
    with Session(migrated_engine) as session:
        due = dict(
            session.execute(
                select(Customer.external_id, Delivery.not_before).join(
                    Customer, Customer.id == Delivery.customer_id
                )
            ).all()
        )
    assert due["evening"] == NOON.replace(hour=19)  # 20:00 in Amsterdam, today
    assert due["morning"] == NOON.replace(hour=14)  # 09:00 in New York (06:00 there now)
    # "new" has one order, too few: the shop's best hour, the one most customers have (9 and
    # 20 once each: the earlier), on the customer's clock: 09:00 in Copenhagen, tomorrow.
    assert due["new"] == NOON.replace(day=4, hour=8)


def test_erasure_leaves_no_address_in_the_outbox(shop: Engine, sink: tuple[Sink, int]) -> None:
    from privacy_helpers import dump_every_table

    handler, port = sink
    handler.refuse = {"bob@example.com": "550 5.1.1 <bob@example.com>: no such user"}
    save(shop, campaign())
    launch(shop)
    worker, channel = make_worker(shop, port, FixedClock(NOON))
    with channel:
        worker.run(until_idle=True)
    assert "bob@example.com" in dump_every_table(shop)["deliveries"]  # the server's answer
    with Session(shop) as session:
        report = erase_person(session, SECRET, "bob", actor="test")
    assert report.deliveries_scrubbed == 1
    dumped = dump_every_table(shop)
    assert not [table for table, rows in dumped.items() if "bob@example.com" in rows]


def test_a_soft_bounce_on_every_try_suppresses_the_address(
    shop: Engine, sink: tuple[Sink, int]
) -> None:
    handler, port = sink
    handler.refuse = {"bob@example.com": "452 4.2.2 Mailbox full"}
    clock = FixedClock(NOON)
    worker, channel = make_worker(shop, port, clock, max_attempts=3)
    save(shop, campaign())
    launch(shop)
    with channel:
        assert worker.run(until_idle=True).to_dict() == {"retry": 1, "sent": 2, "skipped": 3}
        for wait in (1, 5):  # the backoff: 1 minute, then 5
            clock.advance(timedelta(minutes=wait))
            done = worker.run(until_idle=True).to_dict()
        assert done == {"bounced": 1}
    assert deliveries(shop)["bob"] == ("bounced", "after 3 tries: 452 4.2.2 Mailbox full")
    with Session(shop) as session:
        assert not is_marketable(session, SECRET, "bob", "email")


def test_the_persons_export_lists_their_messages_and_arms(
    shop: Engine, sink: tuple[Sink, int]
) -> None:
    from retentio.privacy import export_person

    _, port = sink
    save(shop, campaign())
    launch(shop)
    worker, channel = make_worker(shop, port, FixedClock(NOON))
    with channel:
        worker.run(until_idle=True)
    with Session(shop) as session:
        document = export_person(session, "ida", actor="test")
    [message] = document["messages"]
    assert (message["campaign"], message["status"], message["channel"]) == (
        "winback",
        "sent",
        "email",
    )
    assert message["message_id"].startswith(f"<{message['id']}.campaign-")
    assert document["campaigns"] == [
        {"campaign": "winback", "arm": "treated", "launched_at": NOON.isoformat()}
    ]
    assert [s["segment"] for s in document["segments"]] == []  # never refreshed
