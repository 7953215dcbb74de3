"""The survey page in headless Chromium: a one-click link shows its score chosen and records
nothing; choosing a score, answering, writing a comment and sending records one answer; a
tampered link changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from api_helpers import bearer

pytestmark = pytest.mark.browser

SURVEY = {
    "name": "nps",
    "kind": "nps",
    "questions": [
        {
            "id": "reason",
            "type": "choice",
            "text": {"en": "What mattered most?", "nl": "Wat was het belangrijkst?"},
            "options": [
                {"id": "price", "text": {"en": "Price", "nl": "Prijs"}},
                {"id": "quality", "text": {"en": "Quality", "nl": "Kwaliteit"}},
            ],
        }
    ],
}


def _answers(http: httpx.Client, key: str) -> list[dict[str, Any]]:
    page = http.get("/api/v1/surveys/nps/responses", headers=bearer(key)).json()
    return list(page["items"])


def test_answer_a_survey_in_a_browser(
    sync_playwright: Callable[[], Any],
    chromium_launcher: Callable[[Any], Any],
    live_server: str,
    api_keys: dict[str, str],
) -> None:
    write, read = bearer(api_keys["write"]), api_keys["read"]
    with httpx.Client(base_url=live_server, timeout=30) as http:
        customer = {"external_id": "c1", "email": "klant@example.nl", "locale": "nl-NL"}
        http.post("/api/v1/customers/batch", json={"items": [customer]}, headers=write)
        assert http.post("/api/v1/surveys", json=SURVEY, headers=write).status_code == 201
        link = http.get("/api/v1/surveys/nps/link?customer=c1", headers=write).json()
        url = link["score_urls"]["9"]

        with sync_playwright() as p:
            browser = chromium_launcher(p)
            page = browser.new_page()
            page.goto(url)
            assert page.locator("html").get_attribute("lang") == "nl"
            scores = page.get_by_role("group", name="Hoe waarschijnlijk")
            assert scores.get_by_role("radio", name="9", exact=True).is_checked()
            assert _answers(http, read) == []  # opening the link answers nothing

            scores.get_by_role("radio", name="6", exact=True).check()
            page.get_by_role("group", name="Wat was het belangrijkst?").get_by_role(
                "radio", name="Prijs"
            ).check()
            page.get_by_label("Wil je ons meer vertellen?").fill("Te duur")
            page.get_by_role("button", name="Versturen").click()
            page.wait_for_load_state()
            assert page.locator("h1").inner_text() == "Bedankt voor je antwoord!"
            [answer] = _answers(http, read)
            assert (answer["score"], answer["category"]) == (6, "detractor")
            assert answer["answers"] == {"reason": "price"}
            assert answer["comment"] == "Te duur" and answer["source"] == "link"

            token = url.split("/f/", 1)[1].split("?", 1)[0]
            tampered = f"{live_server}/f/{token[:-4]}AAAA"
            page.goto(f"{tampered}?score=10")  # an unverified token's locale is not used
            assert page.locator("h1").inner_text() == "This link is not valid"
            assert page.locator("form").count() == 0
            browser.close()
        refused = http.post(f"{tampered}?lang=en", data={"score": "10"})
        assert refused.status_code == 400
        assert len(_answers(http, read)) == 1  # the tampered link changed nothing
