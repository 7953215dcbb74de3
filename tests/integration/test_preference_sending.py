"""What customers stated, honoured by a real worker run on SQLite and PostgreSQL, sent to a real
SMTP server: a snooze skips marketing (not transactional messages) until its last day, a chosen
frequency skips what is over it, and messages can show the stated preferences and carry a
signed link to the preference centre."""

from __future__ import annotations

from datetime import timedelta
from email.message import Message

import pytest
from campaign_helpers import NOON, PUBLIC_URL, SIGNER, add_shop, campaign, make_worker, save
from smtp_helpers import Sink
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from retentio.campaigns import launch_campaign
from retentio.core.clock import FixedClock
from retentio.feedback import set_preferences, snooze
from retentio.privacy.preference_links import read_preference_token
from retentio.store.campaign_tables import Campaign, Delivery
from retentio.store.tables import Customer

CUSTOMERS = [
    {"external_id": "ida", "email": "ida@example.com", "first_name": "Ida", "locale": "da-DK"},
    {"external_id": "bob", "email": "bob@example.com", "locale": "en"},
]


def text_of(message: Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode().replace("\r\n", "\n")
    raise AssertionError("no text part")


def outcomes(engine: Engine, name: str) -> dict[str, tuple[str, str | None]]:
    query = (
        select(Customer.external_id, Delivery.status, Delivery.detail)
        .join(Customer, Customer.id == Delivery.customer_id)
        .join(Campaign, Campaign.id == Delivery.campaign_id)
        .where(Campaign.name == name)
    )
    with Session(engine) as session:
        return {who: (status, detail) for who, status, detail in session.execute(query)}


def send(engine: Engine, port: int, name: str, clock: FixedClock) -> dict[str, int]:
    with Session(engine) as session:
        launch_campaign(session, name, clock=clock)
    worker, channel = make_worker(engine, port, clock)
    with channel:
        return worker.run(until_idle=True).to_dict()


@pytest.fixture()
def shop(migrated_engine: Engine) -> Engine:
    add_shop(migrated_engine, CUSTOMERS)
    return migrated_engine


def test_a_snooze_skips_marketing_until_its_last_day(shop: Engine, sink: tuple[Sink, int]) -> None:
    handler, port = sink
    with Session(shop) as session:
        done = snooze(session, "ida", 30, source="preference_centre", actor="customer", now=NOON)
    assert done.preferences.values["snooze_until"] == "2027-01-02"
    save(shop, campaign("december"))
    save(shop, campaign("receipt", purpose="transactional"))
    assert send(shop, port, "december", FixedClock(NOON)) == {"sent": 1, "skipped": 1}
    assert outcomes(shop, "december") == {
        "ida": ("skipped", "snoozed until 2027-01-02"),
        "bob": ("sent", "accepted"),
    }
    # Transactional messages are not marketing: the snooze does not touch them.
    assert send(shop, port, "receipt", FixedClock(NOON)) == {"sent": 2}
    # On the snooze's last day (Copenhagen), marketing is still paused; the day after, it goes.
    last_day = FixedClock(NOON + timedelta(days=30))
    save(shop, campaign("january"))
    assert send(shop, port, "january", last_day) == {"sent": 1, "skipped": 1}
    save(shop, campaign("new-year"))
    after = FixedClock(NOON + timedelta(days=31))
    assert send(shop, port, "new-year", after) == {"sent": 1, "held": 1}  # bob: a day's cap
    assert outcomes(shop, "new-year")["ida"] == ("sent", "accepted")
    # The skipped December message stayed skipped: nothing piled up for the snooze's end.
    received = [str(m["To"]) for m in handler.received]
    assert received.count("ida@example.com") == 2  # the receipt and the new-year message
    assert outcomes(shop, "december")["ida"][0] == "skipped"


def test_a_chosen_frequency_skips_what_is_over_it(shop: Engine, sink: tuple[Sink, int]) -> None:
    _handler, port = sink
    with Session(shop) as session:
        set_preferences(session, "ida", {"frequency": "weekly"}, source="api", actor="t")
        set_preferences(session, "bob", {"frequency": "monthly"}, source="api", actor="t")
    save(shop, campaign("first"))
    assert send(shop, port, "first", FixedClock(NOON)) == {"sent": 2}
    # Two days later: the shop's caps allow one a day, the customers' choices do not.
    save(shop, campaign("second"))
    assert send(shop, port, "second", FixedClock(NOON + timedelta(days=2))) == {"skipped": 2}
    assert outcomes(shop, "second") == {
        "ida": ("skipped", "over the customer's chosen frequency (weekly)"),
        "bob": ("skipped", "over the customer's chosen frequency (monthly)"),
    }
    # Ten days later, weekly allows one more; monthly still does not (its sends are looked up
    # further back than the shop's caps need).
    save(shop, campaign("third"))
    assert send(shop, port, "third", FixedClock(NOON + timedelta(days=10))) == {
        "sent": 1,
        "skipped": 1,
    }
    assert outcomes(shop, "third")["bob"] == (
        "skipped",
        "over the customer's chosen frequency (monthly)",
    )


def test_messages_show_stated_preferences_and_link_the_preference_centre(
    shop: Engine, sink: tuple[Sink, int]
) -> None:
    handler, port = sink
    with Session(shop) as session:
        set_preferences(
            session,
            "ida",
            {
                "preferred_channel": "sms",
                "favourite_categories": ["Running", "Tents"],
                "sizes": {"shoes": "39"},
                "topics": ["offers"],
            },
            source="preference_centre",
            actor="customer",
        )
        ida_id = session.scalars(select(Customer.id).where(Customer.external_id == "ida")).one()
    shown = (
        "{{ favourite_categories | default([]) | join(', ') }} / "
        "{{ (sizes | default({})).shoes | default('-') }} / "
        "{{ preferred_channel | default('-') }} / "
        "{{ topics | default([]) | join(',') }} :: {{ preferences_url }}"
    )
    message = {"default_locale": "en", "en": {"subject": "Hi", "text": shown}}
    save(shop, campaign("shown", message=message))
    save(shop, campaign("footer"))
    assert send(shop, port, "shown", FixedClock(NOON)) == {"sent": 2}
    texts = {str(m["To"]): text_of(m) for m in handler.received}
    ida, bob = texts["ida@example.com"], texts["bob@example.com"]
    assert ida.startswith("Running, Tents / 39 / sms / offers :: ")
    assert bob.startswith(" / - / - /  :: ")  # nothing stated: the defaults
    link = ida.split(" :: ")[1].split()[0]
    assert link.startswith(f"{PUBLIC_URL}/p/")
    token = read_preference_token(SIGNER, link.rsplit("/", 1)[1])
    assert (token.customer_id, token.via) == (ida_id, "email")
    # The template shows the link: the footer does not repeat it, but still unsubscribes.
    assert ida.count("/p/") == 1
    assert f"Unsubscribe: {PUBLIC_URL}/u/" in ida  # the English variant: an English footer
    # A template without it gets the link in the footer, before the unsubscribe link.
    handler.received.clear()
    assert send(shop, port, "footer", FixedClock(NOON + timedelta(days=2))) == {"sent": 2}
    footer = text_of(next(m for m in handler.received if m["To"] == "ida@example.com"))
    tail = footer.split("\n--\n")[1]
    assert tail.startswith(
        f"Hellere færre e-mails eller en pause? Ret dine indstillinger: {PUBLIC_URL}/p/"
    )
    assert "Afmeld her:" in tail.splitlines()[1]
