"""The customer's consent pages in headless Chromium: a button confirms, a visit does not."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from api_helpers import bearer
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from retentio.privacy import DEFAULT_TEXT_VERSION, publish_default_texts

pytestmark = pytest.mark.browser


def _status(http: httpx.Client, key: str, channel: str = "email") -> str:
    states = http.get("/api/v1/customers/c1/consents", headers=bearer(key)).json()
    return str(next(s["status"] for s in states if s["channel"] == channel))


def test_confirm_and_unsubscribe_in_a_browser(
    sync_playwright: Callable[[], Any],
    chromium_launcher: Callable[[Any], Any],
    live_server: str,
    api_keys: dict[str, str],
    migrated_engine: Engine,
) -> None:
    with Session(migrated_engine) as session:
        publish_default_texts(session, actor="test")
    write = bearer(api_keys["write"])
    with httpx.Client(base_url=live_server, timeout=30) as http:
        customer = {"external_id": "c1", "email": "kunde@example.dk"}
        http.post("/api/v1/customers/batch", json={"items": [customer]}, headers=write)
        started = http.post(
            "/api/v1/customers/c1/consents/double-opt-in",
            json={"text_version": DEFAULT_TEXT_VERSION, "language": "da-DK"},
            headers=write,
        ).json()
        link = http.get(
            "/api/v1/customers/c1/consents/withdrawal-link?language=da", headers=write
        ).json()

        with sync_playwright() as p:
            browser = chromium_launcher(p)
            page = browser.new_page()
            page.goto(started["confirm_url"])
            assert page.locator("html").get_attribute("lang") == "da"
            assert _status(http, api_keys["read"]) == "pending"  # a visit confirms nothing
            page.get_by_role("button", name="Bekræft").click()
            page.wait_for_load_state()
            assert "bekræftet" in page.locator("h1").inner_text()
            assert _status(http, api_keys["read"]) == "granted"

            page.goto(link["url"])
            assert _status(http, api_keys["read"]) == "granted"
            page.get_by_role("button", name="Afmeld").click()
            page.wait_for_load_state()
            assert "afmeldt" in page.locator("h1").inner_text()
            assert _status(http, api_keys["read"]) == "withdrawn"
            browser.close()
