"""The preference centre (/p/{token}) in headless Chromium through a live server, on SQLite and
PostgreSQL: consent, topics and frequency, a 30-day snooze, stated preferences, an announced
error, the customer's language and ?lang=, the data download and the erasure's confirmation,
every control with an accessible name, and a tampered token that changes nothing."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from api_helpers import bearer, count_rows
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from retentio.api import ApiConfig
from retentio.privacy import publish_default_texts, withdrawal_token
from retentio.privacy.preference_links import preference_link
from retentio.store.feedback_tables import PreferenceEvent
from retentio.store.tables import ConsentEvent, Customer

pytestmark = pytest.mark.browser


@pytest.fixture()
def shop(live_server: str, api_keys: dict[str, str], migrated_engine: Engine) -> Iterator[Any]:
    """Two customers (Danish c1, c2 without a locale), the default consent texts, and an HTTP
    client for the API."""
    with Session(migrated_engine) as session:
        publish_default_texts(session, actor="test")
    people = [
        {"external_id": "c1", "email": "kunde@example.dk", "locale": "da-DK"},
        {"external_id": "c2", "email": "klant@example.nl"},
    ]
    with httpx.Client(base_url=live_server, timeout=30) as http:
        answer = http.post(
            "/api/v1/customers/batch", json={"items": people}, headers=bearer(api_keys["write"])
        )
        assert answer.status_code == 200, answer.text
        yield http


def link_of(engine: Engine, config: ApiConfig, base: str, customer: str, **kw: Any) -> str:
    assert config.signer is not None
    with Session(engine) as session:
        found = session.scalars(select(Customer.id).where(Customer.external_id == customer)).one()
    return preference_link(config.signer, base, found, **kw)


def stated(http: httpx.Client, key: str, customer: str = "c1") -> dict[str, Any]:
    answer = http.get(f"/api/v1/customers/{customer}/preferences", headers=bearer(key))
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()["preferences"]
    return found


def email_consent(http: httpx.Client, key: str) -> str:
    states = http.get("/api/v1/customers/c1/consents", headers=bearer(key)).json()
    return next((s["status"] for s in states if s["channel"] == "email"), "none")


def unnamed_controls(page: Any) -> list[str]:
    """The controls a screen reader could not name: every visible input, select and button
    needs a label (or text), and every radio or checkbox a fieldset with a legend."""
    found: list[str] = page.evaluate(
        """() => [...document.querySelectorAll('input:not([type=hidden]), select, button')]
          .filter(el => {
            const named = el.tagName === 'BUTTON' ? el.textContent.trim() !== ''
              : (el.labels && el.labels.length > 0 && el.labels[0].textContent.trim() !== '');
            const grouped = !['radio', 'checkbox'].includes(el.type) || el.id === 'understand'
              || (el.closest('fieldset') && el.closest('fieldset').querySelector('legend'));
            return !(named && grouped);
          })
          .map(el => el.outerHTML)"""
    )
    return found


def test_consent_snooze_and_preferences_in_a_browser(
    sync_playwright: Callable[[], Any],
    chromium_launcher: Callable[[Any], Any],
    live_server: str,
    shop: httpx.Client,
    api_keys: dict[str, str],
    api_config: ApiConfig,
    migrated_engine: Engine,
) -> None:
    read = api_keys["read"]
    url = link_of(migrated_engine, api_config, live_server, "c1", via="email")
    with sync_playwright() as p:
        browser = chromium_launcher(p)
        page = browser.new_page()
        page.goto(url)
        # The customer's language; a visit changes nothing.
        assert page.locator("html").get_attribute("lang") == "da"
        assert page.locator("h1").inner_text() == "Dine indstillinger"
        assert stated(shop, read) == {} and email_consent(shop, read) == "none"
        assert unnamed_controls(page) == []
        # The snooze is offered before "unsubscribe from everything".
        headings = page.locator("h2").all_inner_texts()
        assert headings.index("Hold en pause") < headings.index("Afmeld alt")

        # Snooze 30 days: the last day on the customer's clock (Copenhagen).
        page.get_by_role("button", name="Pause i 30 dage").click()
        page.wait_for_load_state()
        today = datetime.now(UTC).astimezone(ZoneInfo("Europe/Copenhagen")).date()
        until = today + timedelta(days=30)
        assert "til og med" in page.get_by_role("status").inner_text()
        assert stated(shop, read) == {"snooze_until": until.isoformat()}

        # Consent to e-mail (the link came by e-mail: confirmed at once), a topic left out,
        # a frequency chosen: one press.
        page.get_by_role("checkbox", name="E-mail").check()
        page.get_by_label("Tilbud og udsalg").uncheck()
        page.get_by_label("Højst én gang om ugen").check()
        page.get_by_role("button", name="Gem valg af kontakt").click()
        page.wait_for_load_state()
        assert page.get_by_role("status").inner_text() == "Dine valg er gemt."
        assert email_consent(shop, read) == "granted"
        prefs = stated(shop, read)
        assert prefs["topics"] == ["news", "new_arrivals"] and prefs["frequency"] == "weekly"
        assert page.get_by_role("checkbox", name="E-mail").is_checked()
        with Session(migrated_engine) as session:
            grant = session.scalars(
                select(ConsentEvent).where(ConsentEvent.granted.is_(True)).limit(1)
            ).one()
            assert (grant.source, grant.source_detail) == ("form", "preference centre (/p)")
            assert grant.text_id is not None and grant.user_agent

        # Stated preferences.
        page.get_by_role("radio", name="SMS").check()
        page.get_by_label("Yndlingskategorier").fill("Løb, Telte")
        page.get_by_label("Måned", exact=True).select_option(label="april")
        page.get_by_label("Dag", exact=True).select_option("1")
        page.get_by_label("Sko").fill("39")
        page.get_by_role("button", name="Gem mine oplysninger").click()
        page.wait_for_load_state()
        prefs = stated(shop, read)
        assert prefs["preferred_channel"] == "sms"
        assert prefs["favourite_categories"] == ["Løb", "Telte"]
        assert prefs["birthday"] == "04-01" and prefs["sizes"] == {"shoes": "39"}
        assert page.get_by_label("Sko").input_value() == "39"

        # A day that does not exist is announced, marked on the control, and saves nothing.
        page.get_by_label("Dag", exact=True).select_option("31")
        page.get_by_label("Yndlingskategorier").fill("Løb")
        page.get_by_role("button", name="Gem mine oplysninger").click()
        page.wait_for_load_state()
        assert "Fødselsdag" in page.get_by_role("alert").inner_text()
        assert page.get_by_label("Måned", exact=True).get_attribute("aria-invalid") == "true"
        assert page.get_by_label("Yndlingskategorier").input_value() == "Løb"  # as sent
        assert stated(shop, read)["birthday"] == "04-01"
        assert stated(shop, read)["favourite_categories"] == ["Løb", "Telte"]
        assert unnamed_controls(page) == []

        # Unsubscribe from everything, without losing the stated preferences.
        page.get_by_role("button", name="Afmeld al markedsføring").click()
        page.wait_for_load_state()
        assert email_consent(shop, read) == "withdrawn"
        assert not page.get_by_role("checkbox", name="E-mail").is_checked()
        browser.close()


def test_language_download_and_erasure_in_a_browser(
    sync_playwright: Callable[[], Any],
    chromium_launcher: Callable[[Any], Any],
    live_server: str,
    shop: httpx.Client,
    api_keys: dict[str, str],
    api_config: ApiConfig,
    migrated_engine: Engine,
) -> None:
    read = bearer(api_keys["read"])
    url = link_of(migrated_engine, api_config, live_server, "c1", via="sms")
    old = link_of(
        migrated_engine, api_config, live_server, "c1", now=datetime.now(UTC) - timedelta(days=8)
    )
    with sync_playwright() as p:
        browser = chromium_launcher(p)
        page = browser.new_page()
        # ?lang= overrides the customer's locale; no locale at all is English.
        page.goto(f"{url}?lang=nl")
        assert page.locator("html").get_attribute("lang") == "nl"
        assert page.locator("h1").inner_text() == "Jouw voorkeuren"
        # A link that came by SMS cannot sign up for e-mail (it proves no mailbox).
        assert page.get_by_role("checkbox", name="E-mail").is_disabled()
        assert unnamed_controls(page) == []
        page.goto(link_of(migrated_engine, api_config, live_server, "c2"))
        assert page.locator("html").get_attribute("lang") == "en"
        assert page.locator("h1").inner_text() == "Your preferences"

        # An old link shows the centre, but not the download or the erasure.
        page.goto(old)
        assert page.get_by_role("button", name="Hent mine data").count() == 0
        assert "7 dage" in page.locator("section", has_text="Dine data").inner_text()

        # The download: a ZIP of everything held, with the stated preferences.
        page.goto(url)
        page.get_by_role("button", name="Pause i 60 dage").click()
        page.wait_for_load_state()
        with page.expect_download() as info:
            page.get_by_role("button", name="Hent mine data").click()
        download = info.value
        assert download.suggested_filename == "my-data.zip"
        archive = zipfile.ZipFile(io.BytesIO(Path(download.path()).read_bytes()))
        assert {"person.json", "preferences.csv", "consent_events.csv"} <= set(archive.namelist())
        assert b"snooze_until" in archive.read("preferences.csv")

        # The erasure asks first; nothing is erased until it is confirmed with a tick.
        page.get_by_role("button", name="Slet mine data").click()
        page.wait_for_load_state()
        assert page.locator("h1").inner_text() == "Slet dine data?"
        assert shop.get("/api/v1/customers/c1", headers=read).status_code == 200
        page.get_by_role("button", name="Slet mine data permanent").click()  # no tick: blocked
        assert page.locator("h1").inner_text() == "Slet dine data?"
        assert shop.get("/api/v1/customers/c1", headers=read).status_code == 200
        assert unnamed_controls(page) == []
        page.get_by_label("Jeg forstår, at det ikke kan fortrydes").check()
        page.get_by_role("button", name="Slet mine data permanent").click()
        page.wait_for_load_state()
        assert page.locator("h1").inner_text() == "Dine data er slettet."
        assert shop.get("/api/v1/customers/c1", headers=read).status_code == 404
        assert count_rows(migrated_engine, PreferenceEvent) == 0
        # The link now opens nothing (and no longer knows the customer's language).
        gone = page.goto(url)
        assert gone is not None and gone.status == 410
        assert page.locator("h1").inner_text() == "Your data has been erased."
        browser.close()


def test_a_tampered_token_changes_nothing(
    sync_playwright: Callable[[], Any],
    chromium_launcher: Callable[[Any], Any],
    live_server: str,
    shop: httpx.Client,
    api_keys: dict[str, str],
    api_config: ApiConfig,
    migrated_engine: Engine,
) -> None:
    url = link_of(migrated_engine, api_config, live_server, "c1", via="email")
    prefix, _, token = url.rpartition("/")
    head, _, signature = token.rpartition(".")
    forged = f"{head}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    assert api_config.signer is not None
    with Session(migrated_engine) as session:
        c1 = session.scalars(select(Customer.id).where(Customer.external_id == "c1")).one()
    other_purpose = withdrawal_token(api_config.signer, c1, "email", "marketing")
    with sync_playwright() as p:
        browser = chromium_launcher(p)
        page = browser.new_page()
        for bad in (forged, other_purpose, "not-a-token"):
            answer = page.goto(f"{prefix}/{bad}")
            assert answer is not None and answer.status == 400
            assert page.locator("h1").inner_text() == "This link is not valid"
        # The real page, its forms pointed at the forged token: pressing changes nothing.
        page.goto(url)
        page.evaluate(
            "forged => document.querySelectorAll('form').forEach(f => f.action = forged)",
            f"{prefix}/{forged}?lang=da",
        )
        page.get_by_role("button", name="Pause i 30 dage").click()
        page.wait_for_load_state()
        assert page.locator("h1").inner_text() == "Linket er ikke gyldigt"
        # The real address with another token in the form: refused too.
        page.goto(url)
        page.evaluate(
            "forged => document.querySelectorAll('input[name=token]')"
            ".forEach(i => i.value = forged)",
            forged,
        )
        page.get_by_role("button", name="Pause i 30 dage").click()
        page.wait_for_load_state()
        assert page.locator("h1").inner_text() == "Linket er ikke gyldigt"
        browser.close()
    assert stated(shop, api_keys["read"]) == {}
    assert count_rows(migrated_engine, PreferenceEvent) == 0


def test_the_page_is_locked_down(
    live_server: str, shop: httpx.Client, api_config: ApiConfig, migrated_engine: Engine
) -> None:
    """No framing, no scripts, no referrer, not cached; a GET never writes."""
    url = link_of(migrated_engine, api_config, live_server, "c1", via="email")
    answer = shop.get(url)
    assert answer.status_code == 200
    assert "default-src 'none'" in answer.headers["content-security-policy"]
    assert "form-action 'self'" in answer.headers["content-security-policy"]
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert answer.headers["cache-control"] == "no-store"
    assert count_rows(migrated_engine, PreferenceEvent) == 0


def test_the_server_checks_what_the_browser_does(
    live_server: str,
    shop: httpx.Client,
    api_keys: dict[str, str],
    api_config: ApiConfig,
    migrated_engine: Engine,
) -> None:
    """Without a browser's help: an erasure needs the tick and its own signed confirmation,
    the download and the erasure need a recent link, and a snooze only 30, 60 or 90 days."""
    read = bearer(api_keys["read"])
    url = link_of(migrated_engine, api_config, live_server, "c1", via="email")
    token = url.rpartition("/")[2]
    old = link_of(
        migrated_engine, api_config, live_server, "c1", now=datetime.now(UTC) - timedelta(days=8)
    )
    old_token = old.rpartition("/")[2]
    for action in ("export", "erase", "erase_confirm"):
        refused = shop.post(old, data={"token": old_token, "action": action})
        assert refused.status_code == 403 and "7 dage" in refused.text
    assert shop.post(url, data={"token": token, "action": "snooze", "days": "7"}).status_code == 400
    assert shop.post(url, data={"token": token, "action": "dance"}).status_code == 400
    asked = shop.post(url, data={"token": token, "action": "erase"})
    assert asked.status_code == 200 and 'name="confirm"' in asked.text
    confirm = asked.text.split('name="confirm" value="')[1].split('"')[0]
    untick = shop.post(url, data={"token": token, "action": "erase_confirm", "confirm": confirm})
    assert untick.status_code == 422 and 'role="alert"' in untick.text
    assert api_config.signer is not None
    foreign = api_config.signer.sign("preferences.erase", {"c": -1}, timedelta(minutes=5))
    wrong = {"token": token, "action": "erase_confirm", "confirm": foreign, "understand": "yes"}
    assert shop.post(url, data=wrong).status_code == 400
    unsigned = {**wrong, "confirm": token}  # a preference token is no confirmation
    assert shop.post(url, data=unsigned).status_code == 410
    assert shop.get("/api/v1/customers/c1", headers=read).status_code == 200
    assert stated(shop, api_keys["read"]) == {}
