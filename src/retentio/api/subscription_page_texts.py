"""The subscription page's words and rendering: its texts in English, Danish and Dutch
(``templates/subscription/texts.json``, dates, amounts and intervals included), the Jinja2
templates (autoescaped) and the answers' security headers."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from functools import cache
from importlib.resources import files
from typing import Any

from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined

from retentio.api.routes.pages import PAGE_LANGUAGES

__all__ = ["HEADERS", "Texts", "html_page", "message_page", "page_language", "page_texts"]

HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Robots-Tag": "noindex, nofollow",
}


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("retentio.api", "templates/subscription"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@cache
def page_texts() -> dict[str, dict[str, Any]]:
    """The page's texts by language (``templates/subscription/texts.json``)."""
    text = files("retentio.api").joinpath("templates/subscription/texts.json").read_text("utf-8")
    found: dict[str, dict[str, Any]] = json.loads(text)
    return found


class Texts:
    """The page's words in one language, with its dates, amounts and intervals."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self._words = page_texts()[lang]

    def __call__(self, key: str, **values: Any) -> str:
        return str(self._words[key]).format(**values)

    def date(self, day: date | str) -> str:
        when = date.fromisoformat(day) if isinstance(day, str) else day
        month = self._words["months"][when.month - 1]
        return self("date", day=when.day, month=month, year=when.year)

    def money(self, amount: str, currency: str) -> str:
        return f"{amount.replace('.', self._words['decimal'])} {currency}"

    def cadence(self, unit: str, count: int) -> str:
        return self(f"every_{unit}") if count == 1 else self(f"every_n_{unit}", count=count)

    def status(self, status: str) -> str:
        return self(f"status_{status}")

    def discount(self, percent: int, cycles: int, prefix: str = "") -> str:
        kind = "one" if cycles == 1 else "many"
        return self(f"{prefix}discount_{kind}", percent=percent, cycles=cycles)

    def offer(self, offer: Mapping[str, Any]) -> str:
        """The button's words for a save offer (a swap's are its field's legend)."""
        kind = offer["offer"]
        if kind == "pause":
            return self("offer_pause", days=offer["days"])
        if kind == "skip":
            return self("offer_skip", date=self.date(offer["on"]))
        if kind == "cadence":
            every = self.cadence(offer["cadence"]["unit"], offer["cadence"]["count"])
            return self("offer_cadence", cadence=every[:1].upper() + every[1:])
        if kind == "discount":
            return self.discount(offer["percent"], offer["cycles"], "offer_")
        return self("offer_swap")


def page_language(lang: str | None, locale: str | None) -> str:
    if lang is not None:
        return lang
    primary = (locale or "").split("-")[0].split("_")[0].lower()
    return primary if primary in PAGE_LANGUAGES else "en"


def html_page(template: str, status: int, **context: Any) -> HTMLResponse:
    page = _environment().get_template(template).render(**context)
    return HTMLResponse(page, status_code=status, headers=HEADERS)


def message_page(lang: str, title: str, text: str, status: int) -> HTMLResponse:
    return html_page("message.html", status, lang=lang, title=title, text=text)
