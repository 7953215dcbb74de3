"""Signed links to the subscription page, and the page's words: a link names the subscription
and nothing else, is scoped to its purpose and expires (90 days by default); every text exists
in English, Danish and Dutch with the same placeholders."""

from __future__ import annotations

import re
import string
from datetime import UTC, date, datetime, timedelta

import pytest

from retentio.api.routes.subscription_page import CADENCE_LIMITS
from retentio.api.subscription_page_texts import Texts, page_texts
from retentio.core.clock import FixedClock
from retentio.core.errors import DataError
from retentio.core.signing import Signer, TokenError
from retentio.subscriptions import SUBSCRIPTION_LINK_TTL, UNITS, Cadence, subscription_link
from retentio.subscriptions.links import read_subscription_token, subscription_token

KEY = b"k" * 32
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def signer(at: datetime = NOW) -> Signer:
    return Signer({"k1": KEY}, "k1", clock=FixedClock(at))


def test_a_link_opens_its_subscription_for_90_days() -> None:
    link = subscription_link(signer(), "https://shop.example/retentio/", 42)
    assert re.fullmatch(r"https://shop\.example/retentio/s/v1\.k1\.[\w-]+\.[\w-]+", link)
    token = link.rsplit("/", 1)[1]
    assert read_subscription_token(signer(NOW + timedelta(days=89)), token) == 42
    with pytest.raises(TokenError) as expired:
        read_subscription_token(signer(NOW + SUBSCRIPTION_LINK_TTL), token)
    assert expired.value.reason == "expired"
    short = subscription_token(signer(), 42, ttl=timedelta(hours=1))
    with pytest.raises(TokenError):
        read_subscription_token(signer(NOW + timedelta(hours=2)), short)


def test_a_tampered_or_foreign_token_opens_nothing() -> None:
    token = subscription_token(signer(), 7)
    head, payload, signature = token.rsplit(".", 2)
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    with pytest.raises(TokenError) as tampered:
        read_subscription_token(signer(), f"{head}.{payload}.{flipped}")
    assert tampered.value.reason == "signature"
    other = signer().sign("preferences", {"c": 7, "i": 0}, timedelta(days=1))
    with pytest.raises(TokenError) as foreign:
        read_subscription_token(signer(), other)
    assert foreign.value.reason == "purpose"
    named = signer().sign("subscription", {"s": "7"}, timedelta(days=1))
    with pytest.raises(TokenError) as malformed:
        read_subscription_token(signer(), named)
    assert malformed.value.reason == "malformed"


@pytest.mark.parametrize("bad", [0, -3, True, "7", 7.0])
def test_a_link_needs_a_subscription_id(bad: object) -> None:
    with pytest.raises(DataError, match="subscription_id"):
        subscription_link(signer(), "https://shop.example", bad)  # type: ignore[arg-type]


def test_a_link_needs_a_web_address() -> None:
    with pytest.raises(DataError, match="base_url"):
        subscription_link(signer(), "shop.example", 1)


def test_every_text_in_every_language_with_the_same_placeholders() -> None:
    texts = page_texts()
    assert sorted(texts) == ["da", "en", "nl"]

    def fields(text: object) -> set[str]:
        if not isinstance(text, str):
            return set()
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}

    for lang in ("da", "nl"):
        assert texts[lang].keys() == texts["en"].keys()
        for key, text in texts["en"].items():
            assert fields(texts[lang][key]) == fields(text), (lang, key)
            assert texts[lang][key], (lang, key)
        assert len(texts[lang]["months"]) == 12


@pytest.mark.parametrize(
    ("lang", "day", "amount", "every", "often"),
    [
        ("en", "3 February 2027", "1234.50 DKK", "every 2 weeks", "every month"),
        ("da", "3. februar 2027", "1234,50 DKK", "hver 2. uge", "hver måned"),
        ("nl", "3 februari 2027", "1234,50 DKK", "elke 2 weken", "elke maand"),
    ],
)
def test_dates_amounts_and_intervals_in_each_language(
    lang: str, day: str, amount: str, every: str, often: str
) -> None:
    t = Texts(lang)
    assert t.date(date(2027, 2, 3)) == day == t.date("2027-02-03")
    assert t.money("1234.50", "DKK") == amount
    assert (t.cadence("week", 2), t.cadence("month", 1)) == (every, often)
    assert t.offer({"offer": "cadence", "cadence": {"unit": "week", "count": 2}}).startswith(
        every[:1].upper() + every[1:]
    )


def test_the_pages_interval_limits_are_the_schedules() -> None:
    assert tuple(CADENCE_LIMITS) == UNITS
    for unit, high in CADENCE_LIMITS.items():
        assert Cadence.checked(unit, high).count == high
        with pytest.raises(DataError):
            Cadence.checked(unit, high + 1)
