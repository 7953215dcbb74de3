"""The customer's subscription page ``/s/{token}`` through the in-process client, on SQLite and
PostgreSQL: a visit changes nothing; each action happens once per form nonce; problems are
shown next to their field and change nothing; the cancellation flow with its offers; links
that are tampered with, expired, for another purpose or for an erased customer open nothing.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.testclient import TestClient
from subscription_page_helpers import (
    events,
    hidden_fields,
    orders,
    page_path,
    quantities,
    row,
    subscribe,
    today,
)

from retentio.api import ApiConfig, create_app
from retentio.core.clock import FixedClock
from retentio.core.signing import Signer, derive_key
from retentio.privacy import erase_person
from retentio.privacy.preference_links import preference_token
from retentio.subscriptions import Cadence, configure_policy
from retentio.subscriptions.links import subscription_token


def signer_of(api_config: ApiConfig) -> Signer:
    assert api_config.signer is not None
    return api_config.signer


def post(client: TestClient, path: str, page: str, form_id: str, **fields: str) -> tuple[int, str]:
    """Submit form ``form_id`` of ``page`` (its hidden fields and ``fields``; a name's ``_``
    stands for ``-``): the status and the page answered."""
    data = hidden_fields(page, form_id) | {k.replace("_", "-"): v for k, v in fields.items()}
    answer = client.post(path, data=data)
    return answer.status_code, answer.text


def alert_of(page: str, field: str) -> str:
    found = re.search(rf'<p class="error" id="{field}-error" role="alert">([^<]*)</p>', page)
    assert found is not None, f"no problem shown next to {field}"
    return found[1]


def test_a_visit_shows_the_subscription_in_the_customers_language_and_changes_nothing(
    client: TestClient, api_config: ApiConfig, migrated_engine: Engine
) -> None:
    sub = subscribe(migrated_engine)
    path = page_path(signer_of(api_config), sub)
    answer = client.get(path)
    assert answer.status_code == 200
    page = answer.text
    assert '<html lang="da">' in page and "<h1>Dit abonnement</h1>" in page
    assert "TEA-250G" in page and "118,00 DKK" in page and "hver 4. uge" in page
    next_on = row(migrated_engine, sub).next_order_on
    months = ["januar", "februar", "marts", "april", "maj", "juni", "juli", "august"]
    months += ["september", "oktober", "november", "december"]
    assert f"{next_on.day}. {months[next_on.month - 1]} {next_on.year}" in page
    assert "Det er for dyrt" in page  # the policy's reason labels, in Danish
    assert '<meta name="robots" content="noindex, nofollow">' in page
    assert "script-src" not in answer.headers["content-security-policy"]
    assert "default-src 'none'" in answer.headers["content-security-policy"]
    assert answer.headers["x-robots-tag"] == "noindex, nofollow"
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert "<script" not in page
    assert events(migrated_engine, sub) == ["created"]  # a visit (a link scanner) did nothing
    dutch = client.get(f"{path}?lang=nl").text
    assert '<html lang="nl">' in dutch and "Je abonnement" in dutch and "Het is te duur" in dutch
    other = subscribe(migrated_engine, "bob", locale="fr-FR")
    english = client.get(page_path(signer_of(api_config), other)).text
    assert '<html lang="en">' in english and "It is too expensive" in english
    # every form carries its own nonce
    nonces = re.findall(r'name="nonce" value="([^"]+)"', page)
    assert len(nonces) == len(set(nonces)) >= 8


def test_each_action_happens_once_per_nonce(
    client: TestClient, api_config: ApiConfig, migrated_engine: Engine
) -> None:
    sub = subscribe(
        migrated_engine,
        items=[
            {"product": "TEA-250G", "quantity": 2, "price": "59.00"},
            {"product": "MUG", "quantity": 1, "price": "80.00"},
        ],
    )
    path = page_path(signer_of(api_config), sub)
    page = client.get(path).text
    first = row(migrated_engine, sub).next_order_on

    status, paused = post(client, path, page, "pause-form", pause_how="cycles", pause_cycles="1")
    assert status == 200 and 'role="status">Dit abonnement er sat på pause indtil' in paused
    assert row(migrated_engine, sub).status == "paused"
    status, again = post(client, path, page, "pause-form", pause_how="cycles", pause_cycles="1")
    assert status == 200 and "Det var allerede gjort" in again  # the same nonce: once
    assert events(migrated_engine, sub).count("subscription_paused") == 1

    status, resumed = post(client, path, paused, "resume-form", resume_when="now")
    assert status == 200 and "Dit abonnement er aktivt igen" in resumed
    assert row(migrated_engine, sub).status == "active"

    status, skipped = post(client, path, resumed, "skip-form", skip_on=first.isoformat())
    assert status == 200 and "springes over" in skipped
    assert row(migrated_engine, sub).next_order_on == first + timedelta(weeks=4)

    status, changed = post(
        client, path, skipped, "quantity-form", product_0="TEA-250G", quantity_0="3"
    )
    assert status == 200 and "Antallet er rettet" in changed
    assert quantities(migrated_engine, sub) == {"TEA-250G": 3, "MUG": 1}
    status, _ = post(client, path, skipped, "quantity-form", quantity_0="5")
    assert quantities(migrated_engine, sub)["TEA-250G"] == 3  # the old form's nonce: used

    status, slower = post(client, path, changed, "cadence-form", cadence_count="6")
    assert status == 200 and "hver 6. uge" in slower
    assert (row(migrated_engine, sub).cadence_unit, row(migrated_engine, sub).cadence_count) == (
        "week",
        6,
    )

    moved_to = today() + timedelta(days=20)
    status, moved = post(client, path, slower, "date-form", date_on=moved_to.isoformat())
    assert status == 200 and "Din næste ordre er den" in moved
    assert row(migrated_engine, sub).next_order_on == moved_to

    status, swapped = post(client, path, moved, "swap-form", swap_product="MUG", swap_to="CUP")
    assert status == 200 and "MUG er byttet til CUP" in swapped
    assert quantities(migrated_engine, sub) == {"TEA-250G": 3, "CUP": 1}

    status, ordered = post(client, path, swapped, "order-now-form")
    assert status == 200 and "Din ordre er afgivet" in ordered
    post(client, path, swapped, "order-now-form")
    assert orders(migrated_engine, sub) == 1


def test_a_problem_is_shown_next_to_its_field_and_changes_nothing(
    client: TestClient, api_config: ApiConfig, migrated_engine: Engine
) -> None:
    sub = subscribe(migrated_engine)
    path = page_path(signer_of(api_config), sub)
    page = client.get(path).text
    too_far = (today() + timedelta(days=200)).isoformat()
    status, answer = post(client, path, page, "pause-form", pause_how="until", pause_until=too_far)
    assert status == 422
    assert alert_of(answer, "pause-until").startswith("En pause varer højst 90 dage: vælg")
    assert 'aria-invalid="true" aria-describedby="pause-until-error" autofocus' in answer
    assert f'value="{too_far}"' in answer  # what was typed stays
    later = (today() + timedelta(days=400)).isoformat()
    cases: list[tuple[str, str, dict[str, str], str]] = [
        ("pause-form", "pause-until", {"pause_how": "until", "pause_until": "31-12-2026"},
         "Angiv en dato"),
        ("pause-form", "pause-until", {"pause_how": "until", "pause_until": today().isoformat()},
         "Vælg en dato efter i dag."),
        ("pause-form", "pause-cycles", {"pause_how": "cycles", "pause_cycles": "13"},
         "Angiv et helt tal fra 1 til 12."),
        ("pause-form", "pause-how", {"pause_how": "always"}, "Vælg en af mulighederne."),
        ("quantity-form", "quantity-0", {"quantity_0": "0"}, "Angiv et helt tal fra 1 til 1000."),
        ("quantity-form", "quantity-0", {"quantity_0": "2"}, "Ret mindst én værdi."),
        ("cadence-form", "cadence-count", {"cadence_count": "99"},
         "Angiv et helt tal fra 1 til 52."),
        ("swap-form", "swap-to", {"swap_to": "TEA-250G"},
         "Det produkt er allerede i dit abonnement"),
        ("swap-form", "swap-to", {"swap_to": "  "}, "Angiv et produkt på 1 til 200 tegn."),
        ("skip-form", "skip-on", {"skip_on": "2020-01-01"}, "Vælg en af mulighederne."),
        ("date-form", "date-on", {"date_on": later}, "Vælg en dato højst et år frem."),
        ("cancel-form", "reason", {}, "Vælg en af mulighederne."),
        ("cancel-form", "cancel-note", {"reason": "other", "cancel_note": "x" * 1001},
         "Skriv højst 1000 tegn."),
    ]  # fmt: skip
    for form_id, field, fields, text in cases:
        status, answer = post(client, path, page, form_id, **fields)
        assert status == 422, (form_id, fields)
        assert alert_of(answer, field).startswith(text), (form_id, fields)
    assert events(migrated_engine, sub) == ["created"]
    # a form the page did not make: no nonce, an unknown action
    assert client.post(path, data={"action": "pause", "pause-how": "open"}).status_code == 400
    bad = client.post(path, data={"action": "explode", "nonce": "n" * 20})
    assert bad.status_code == 400 and "Formularen var ufuldstændig" in bad.text
    # what the state does not allow: skipping while paused (an old page's form)
    post(client, path, page, "pause-form", pause_how="open")
    status, answer = post(client, path, page, "skip-form")
    assert status == 409 and "(status: Sat på pause)" in answer
    assert events(migrated_engine, sub) == ["created", "subscription_paused"]


def test_the_cancellation_flow_shows_the_reasons_offers_and_records_them(
    client: TestClient, api_config: ApiConfig, migrated_engine: Engine
) -> None:
    sub = subscribe(migrated_engine)
    path = page_path(signer_of(api_config), sub)
    page = client.get(path).text
    status, offers = post(client, path, page, "cancel-form", reason="not_now", cancel_note="rejse")
    assert status == 200 and "<h1>Inden du går</h1>" in offers
    assert "Din grund: Jeg har ikke brug for det lige nu" in offers
    assert ">Sæt på pause i 30 dage i stedet</button>" in offers
    assert ">Spring næste ordre over (" in offers and ">Opsig alligevel</button>" in offers
    assert row(migrated_engine, sub).status == "active"  # asking cancels nothing
    assert events(migrated_engine, sub) == ["created", "offer_shown", "offer_shown", "cancel_asked"]
    status, again = post(client, path, page, "cancel-form", reason="not_now")
    assert status == 200 and ">Sæt på pause i 30 dage i stedet</button>" in again
    assert len(events(migrated_engine, sub)) == 4  # shown once
    status, kept = post(client, path, offers, "offer-pause")
    assert status == 200 and "Tak fordi du bliver hos os. Dit abonnement er sat på pause" in kept
    taken = row(migrated_engine, sub)
    assert taken.status == "paused" and taken.pause_until == today() + timedelta(days=30)
    assert events(migrated_engine, sub)[-1] == "offer_accepted"

    other = subscribe(migrated_engine, "bob", locale="en")
    path = page_path(signer_of(api_config), other)
    page = client.get(path).text
    status, offers = post(
        client, path, page, "cancel-form", reason="too_expensive", cancel_note="Too dear <b>"
    )
    assert (
        ">20% off your next order</button>" in offers
        and ">Every 8 weeks instead</button>" in offers
    )
    status, gone = post(client, path, offers, "cancel-anyway")
    assert status == 200 and "Your subscription is cancelled." in gone
    assert "This subscription is cancelled." in gone and 'id="cancel-form"' not in gone
    cancelled = row(migrated_engine, other)
    assert (cancelled.status, cancelled.cancel_reason) == ("cancelled", "too_expensive")
    assert cancelled.cancel_note == "Too dear <b>"  # carried through the offers page
    assert events(migrated_engine, other).count("offer_declined") == 3
    status, twice = post(client, path, offers, "cancel-anyway")
    assert "This was done already" in twice


def test_a_swap_or_a_discount_offer_and_an_offer_no_longer_available(
    client: TestClient, api_config: ApiConfig, migrated_engine: Engine
) -> None:
    sub = subscribe(migrated_engine, locale="nl-NL")
    path = page_path(signer_of(api_config), sub)
    page = client.get(path).text
    _, offers = post(client, path, page, "cancel-form", reason="product")
    assert '<label for="offer-swap-to">Product om voor te ruilen</label>' in offers
    status, answer = post(client, path, offers, "offer-swap", offer_swap_to="")
    assert status == 422 and alert_of(answer, "offer-swap-to").startswith("Vul een product in")
    status, swapped = post(client, path, offers, "offer-swap", offer_swap_to="KOFFIE")
    assert status == 200 and "Fijn dat je blijft. TEA-250G is geruild voor KOFFIE." in swapped
    assert quantities(migrated_engine, sub) == {"KOFFIE": 2}
    _, offers = post(client, path, swapped, "cancel-form", reason="product")
    _, other_tab = post(client, path, swapped, "cancel-form", reason="product")  # sent twice
    _, discounted = post(client, path, offers, "offer-discount")
    assert "Je krijgt 20% korting op je volgende bestelling." in discounted
    assert row(migrated_engine, sub).discount == {"percent": 20, "cycles": 1}
    # the other page's offer: the discount's cooldown has begun, the offer is gone
    status, late = post(client, path, other_tab, "offer-discount")
    assert status == 409 and "Dit aanbod is niet meer beschikbaar." in late
    assert events(migrated_engine, sub).count("offer_accepted") == 2


def test_the_swap_offer_of_several_products_asks_which_one(
    client: TestClient, api_config: ApiConfig, migrated_engine: Engine
) -> None:
    two = [
        {"product": "TEA-250G", "quantity": 2, "price": "59.00"},
        {"product": "MUG", "quantity": 1, "price": "80.00"},
    ]
    sub = subscribe(migrated_engine, locale="en-GB", items=two)
    path = page_path(signer_of(api_config), sub)
    _, offers = post(client, path, client.get(path).text, "cancel-form", reason="product")
    assert '<label for="offer-swap-from">Product to swap</label>' in offers
    status, answer = post(
        client, path, offers, "offer-swap", offer_swap_from="CUP", offer_swap_to="KOFFIE"
    )
    assert status == 422 and alert_of(answer, "offer-swap-from") == "Choose one of the options."
    assert 'value="KOFFIE"' in answer  # what was typed stays
    status, swapped = post(
        client, path, offers, "offer-swap", offer_swap_from="MUG", offer_swap_to="CUP"
    )
    assert status == 200 and "Thank you for staying with us. MUG is swapped for CUP." in swapped
    assert quantities(migrated_engine, sub) == {"TEA-250G": 2, "CUP": 1}


@pytest.mark.parametrize("where", ["signature", "payload"])
def test_a_tampered_link_opens_nothing(
    client: TestClient, api_config: ApiConfig, migrated_engine: Engine, where: str
) -> None:
    sub = subscribe(migrated_engine)
    path = page_path(signer_of(api_config), sub)
    page = client.get(path).text
    version, key, payload, signature = path.removeprefix("/s/").split(".")
    if where == "signature":
        signature = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    else:
        payload = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB")
    forged = f"/s/{version}.{key}.{payload}.{signature}"
    assert client.get(forged).status_code == 400
    data = hidden_fields(page, "pause-form") | {"pause-how": "open"}
    answer = client.post(forged, data=data)
    assert answer.status_code == 400 and "This link is not valid" in answer.text
    assert events(migrated_engine, sub) == ["created"]


def test_expired_other_purpose_and_erased_links_open_nothing(
    client: TestClient, api_config: ApiConfig, migrated_engine: Engine, secret: bytes
) -> None:
    sub = subscribe(migrated_engine)
    signer = signer_of(api_config)
    ago = FixedClock(datetime.now(UTC) - timedelta(days=91))
    old = Signer({"test": derive_key(secret, "links")}, "test", clock=ago)
    expired = client.get(f"/s/{subscription_token(old, sub)}?lang=da")
    assert expired.status_code == 410 and "Linket er udløbet" in expired.text
    valid = subscription_token(old, sub, ttl=timedelta(days=92))
    assert client.get(f"/s/{valid}").status_code == 200  # made 91 days ago, for 92 days
    wrong = preference_token(signer, row(migrated_engine, sub).customer_id)
    assert client.get(f"/s/{wrong}").status_code == 400  # a preference-centre link
    page = client.get(page_path(signer, sub)).text
    with Session(migrated_engine) as session:
        erase_person(session, secret, "ida", actor="test")
    assert client.get(page_path(signer, sub)).status_code == 410
    answer = client.post(page_path(signer, sub), data=hidden_fields(page, "order-now-form"))
    assert answer.status_code == 410
    assert client.get(page_path(signer, 999_999)).status_code == 410


def test_a_policys_own_reasons_and_longest_pause(
    client: TestClient, api_config: ApiConfig, migrated_engine: Engine
) -> None:
    policy: dict[str, Any] = {
        "max_pause_days": 20,
        "reasons": {
            "price": {"offers": ["discount"], "label": {"en": "Price", "da": "Prisen"}},
            "taste": {"offers": []},
        },
    }
    with Session(migrated_engine) as session:
        configure_policy(session, policy, actor="test", now=datetime.now(UTC))
    sub = subscribe(migrated_engine, cadence=Cadence("month", 1))
    path = page_path(signer_of(api_config), sub)
    page = client.get(path).text
    assert "Indtil jeg genoptager (højst 20 dage)" in page and "hver måned" in page
    assert ">Prisen</label>" in page and ">Taste</label>" in page  # no Danish label: English
    _, offers = post(client, path, page, "cancel-form", reason="taste")
    assert "Vi er kede af at se dig gå." in offers and "<button" in offers
    status, answer = post(
        client,
        path,
        page,
        "pause-form",
        pause_how="until",
        pause_until=(today() + timedelta(days=21)).isoformat(),
    )
    assert status == 422 and "En pause varer højst 20 dage" in alert_of(answer, "pause-until")


def test_the_page_is_rate_limited_per_address(
    api_config: ApiConfig, migrated_engine: Engine
) -> None:
    sub = subscribe(migrated_engine)
    path = page_path(signer_of(api_config), sub)
    slow = replace(api_config, rate_per_second=0.01, rate_burst=2)
    with TestClient(create_app(slow), raise_server_exceptions=False) as client:
        assert [client.get(path).status_code for _ in range(3)] == [200, 200, 429]
        assert client.post(path, data={}).status_code == 429
    assert events(migrated_engine, sub) == ["created"]
