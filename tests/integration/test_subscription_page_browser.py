"""The subscription page in headless Chromium, on SQLite and PostgreSQL: a Danish customer
pauses for one order, resumes, skips the next order (by keyboard), changes a quantity and
walks the cancellation flow (a reason, its offers, the pause taken; "cancel anyway" on another
subscription), the database checked after each step; every control has an accessible name."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from subscription_page_helpers import events, quantities, row, subscribe, today

from retentio.api import ApiConfig
from retentio.subscriptions import subscription_link

pytestmark = pytest.mark.browser

#: The roles of the page's controls, each of which must have an accessible name.
CONTROL_ROLES = ("button", "radio", "spinbutton", "combobox", "textbox", "link")


def test_a_danish_customer_adjusts_and_cancels_in_a_browser(
    sync_playwright: Callable[[], Any],
    chromium_launcher: Callable[[Any], Any],
    live_server: str,
    api_config: ApiConfig,
    migrated_engine: Engine,
) -> None:
    from playwright.sync_api import expect

    assert api_config.signer is not None
    sub = subscribe(migrated_engine)
    first = row(migrated_engine, sub).next_order_on
    with sync_playwright() as p:
        browser = chromium_launcher(p)
        page = browser.new_page()
        page.goto(subscription_link(api_config.signer, live_server, sub))
        assert page.locator("html").get_attribute("lang") == "da"
        expect(page.get_by_role("heading", level=1)).to_have_text("Dit abonnement")
        assert events(migrated_engine, sub) == ["created"]  # the visit changed nothing

        # a pause longer than the policy's: the problem is announced next to the field
        pause = page.get_by_role("group", name="Sæt på pause")
        pause.get_by_label("Indtil en dato").check()
        page.get_by_label("Pause indtil").fill((today() + timedelta(days=200)).isoformat())
        pause.get_by_role("button", name="Sæt på pause").click()
        expect(page.get_by_role("alert")).to_contain_text("En pause varer højst 90 dage")
        expect(page.get_by_label("Pause indtil")).to_be_focused()
        assert row(migrated_engine, sub).status == "active"

        page.get_by_label("Et antal ordrer").check()
        page.get_by_label("Antal ordrer på pause").fill("1")
        page.get_by_role("group", name="Sæt på pause").get_by_role("button").click()
        expect(page.get_by_role("status")).to_contain_text("Dit abonnement er sat på pause")
        assert row(migrated_engine, sub).status == "paused"

        page.get_by_role("group", name="Genoptag").get_by_role("button", name="Genoptag").click()
        expect(page.get_by_role("status")).to_contain_text("aktivt igen")
        assert row(migrated_engine, sub).status == "active"

        page.get_by_label("Ordre der springes over").focus()  # by keyboard: Tab, Enter
        page.keyboard.press("Tab")
        expect(page.get_by_role("button", name="Spring over")).to_be_focused()
        page.keyboard.press("Enter")
        expect(page.get_by_role("status")).to_contain_text("springes over")
        assert row(migrated_engine, sub).next_order_on == first + timedelta(weeks=4)

        page.get_by_label("Antal af TEA-250G").fill("3")
        page.get_by_role("group", name="Ret antal").get_by_role("button", name="Gem").click()
        expect(page.get_by_role("status")).to_contain_text("Antallet er rettet")
        assert quantities(migrated_engine, sub) == {"TEA-250G": 3}

        page.get_by_label("Jeg har ikke brug for det lige nu").check()
        page.get_by_label("Vil du fortælle os mere? (valgfrit)").fill("Vi skal på ferie")
        page.get_by_role("button", name="Fortsæt").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Inden du går")
        expect(
            page.get_by_role("button", name="Spring næste ordre over", exact=False)
        ).to_be_visible()
        expect(page.get_by_role("button", name="Opsig alligevel")).to_be_visible()
        assert row(migrated_engine, sub).status == "active"  # asking cancelled nothing
        page.get_by_role("button", name="Sæt på pause i 30 dage i stedet").click()
        expect(page.get_by_role("status")).to_contain_text("Tak fordi du bliver hos os")
        assert row(migrated_engine, sub).status == "paused"
        assert events(migrated_engine, sub)[-1] == "offer_accepted"

        other = subscribe(migrated_engine)
        page.goto(subscription_link(api_config.signer, live_server, other))
        page.get_by_label("Det er for dyrt").check()
        page.get_by_role("button", name="Fortsæt").click()
        expect(page.get_by_role("button", name="20 % rabat på din næste ordre")).to_be_visible()
        page.get_by_role("button", name="Opsig alligevel").click()
        expect(page.get_by_role("status")).to_contain_text("Dit abonnement er opsagt")
        cancelled = row(migrated_engine, other)
        assert (cancelled.status, cancelled.cancel_reason) == ("cancelled", "too_expensive")
        assert events(migrated_engine, other).count("offer_declined") == 3
        browser.close()


def test_every_control_has_an_accessible_name(
    sync_playwright: Callable[[], Any],
    chromium_launcher: Callable[[Any], Any],
    live_server: str,
    api_config: ApiConfig,
    migrated_engine: Engine,
) -> None:
    assert api_config.signer is not None
    items = [
        {"product": "TEA-250G", "quantity": 2, "price": "59.00"},
        {"product": "MUG", "quantity": 1, "price": "80.00"},
    ]
    sub = subscribe(migrated_engine, locale="nl-NL", items=items)
    with sync_playwright() as p:
        browser = chromium_launcher(p)
        page = browser.new_page()
        page.goto(subscription_link(api_config.signer, live_server, sub))
        assert page.locator("html").get_attribute("lang") == "nl"
        controls = page.locator("input:not([type=hidden]), select, textarea, button")
        total = controls.count()
        # by role (Playwright's reading of ARIA): no control without a name ...
        named = sum(
            page.get_by_role(role, name=re.compile(r"\S")).count() for role in CONTROL_ROLES
        )
        unnamed = sum(page.get_by_role(role).count() for role in CONTROL_ROLES) - named
        assert unnamed == 0
        # ... nor in Chromium's own accessibility tree (date fields have no ARIA role)
        tree = page.context.new_cdp_session(page).send("Accessibility.getFullAXTree")
        focusable = [
            node
            for node in tree["nodes"]
            if not node.get("ignored")
            and any(
                prop["name"] == "focusable" and prop["value"]["value"]
                for prop in node.get("properties", [])
            )
            and node["role"]["value"] not in ("RootWebArea", "generic")
        ]
        assert len(focusable) >= total
        assert [n["role"]["value"] for n in focusable if not n.get("name", {}).get("value")] == []
        for n in range(total):  # and each is found again through its label (or has text)
            control = controls.nth(n)
            ident = control.get_attribute("id")
            if ident is None:
                assert control.evaluate("e => e.tagName") == "BUTTON"
                assert control.inner_text().strip()
                continue
            labels = page.locator(f'label[for="{ident}"]')
            assert labels.count() == 1, ident
            label = labels.inner_text().strip()
            assert label, ident
            assert page.get_by_label(label, exact=True).get_attribute("id") == ident
        # the choices sit in named groups
        for legend in ("Pauzeren", "Hoe lang?", "Waarom wil je opzeggen?", "Aantallen wijzigen"):
            assert page.get_by_role("group", name=legend).count() == 1
        browser.close()
