"""The pure parts of open and click tracking: which links are rewritten, and which hits are a
machine's."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from retentio.campaigns.templates import RenderedMessage
from retentio.campaigns.tracking import click_target, machine_reason, track_message
from retentio.core.signing import Signer

SIGNER = Signer({"k": b"k" * 32}, "k")
SENT = datetime(2026, 12, 3, 11, 0, tzinfo=UTC)
LATER = SENT + timedelta(hours=2)
BROWSER = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15"


def test_links_are_rewritten_to_signed_redirects_except_the_kept_ones() -> None:
    rendered = RenderedMessage(
        locale="en",
        subject="s",
        html="<p><a class='x' href='https://a.example/1'>one</a> "
        '<A HREF="mailto:shop@butik.example">mail</A> '
        '<a href="https://butik.example/u/TOKEN">unsubscribe</a></p>',
        text="Go to https://a.example/2, now! Or (https://a.example/3).",
    )
    tracked = track_message(
        rendered,
        signer=SIGNER,
        delivery_id=42,
        base_url="https://r.example",
        opens=True,
        clicks=True,
        keep=("https://butik.example/u/TOKEN",),
    )
    assert "https://a.example" not in tracked.html + tracked.text
    assert 'HREF="mailto:shop@butik.example"' in tracked.html
    assert 'href="https://butik.example/u/TOKEN"' in tracked.html
    assert tracked.html.endswith('width="1" height="1" alt="" style="border:0">')
    tokens = re.findall(r"/t/c/([A-Za-z0-9_.-]+[A-Za-z0-9_-])", tracked.html + tracked.text)
    assert [click_target(SIGNER, t) for t in tokens] == [
        (42, "https://a.example/1"),
        (42, "https://a.example/2"),
        (42, "https://a.example/3"),
    ]
    assert tracked.text.endswith(").")  # punctuation after a URL stays outside it
    untouched = track_message(
        rendered, signer=SIGNER, delivery_id=1, base_url="x", opens=False, clicks=False
    )
    assert untouched == rendered


@pytest.mark.parametrize(
    ("agent", "address", "at", "reason"),
    [
        (BROWSER, "93.184.215.14", LATER, None),
        ("Mozilla/5.0", "17.58.101.12", LATER, "Apple Mail Privacy Protection"),
        ("Mozilla/5.0", "93.184.215.14", LATER, None),
        ("", "93.184.215.14", LATER, "no user agent"),
        (None, None, LATER, "no user agent"),
        ("Barracuda Sentinel (EE)", "1.2.3.4", LATER, "a bot or link scanner"),
        ("python-requests/2.32", "1.2.3.4", LATER, "a bot or link scanner"),
        ("Googlebot/2.1", "1.2.3.4", LATER, "a bot or link scanner"),
        (BROWSER, "93.184.215.14", SENT + timedelta(seconds=1), "within seconds of sending"),
        (BROWSER, "not an address", LATER, None),
    ],
)
def test_machine_hits_are_told_apart(
    agent: str | None, address: str | None, at: datetime, reason: str | None
) -> None:
    assert machine_reason(agent, address, sent_at=SENT, now=at) == reason


def test_a_token_of_another_purpose_or_scheme_names_no_target() -> None:
    assert (
        click_target(SIGNER, SIGNER.sign("consent.withdraw", {"c": 1}, timedelta(days=1))) is None
    )
    js = SIGNER.sign("track.click", {"d": 1, "u": "javascript:alert(1)"}, timedelta(days=1))
    assert click_target(SIGNER, js) is None
