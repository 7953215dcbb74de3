"""Campaign definitions: what is accepted, and errors that name the path of the problem."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

import pytest

from retentio.campaigns import CampaignError, QuietHours, parse_campaign
from retentio.campaigns.compose import compose_email, message_id, sender_domain
from retentio.campaigns.templates import RenderedMessage
from retentio.core.errors import ConfigurationError


def definition(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "winback",
        "segment": "lapsing",
        "message": {"en": {"subject": "Hi {{ first_name | default('there') }}", "text": "x"}},
    }
    return base | changes


def test_defaults() -> None:
    parsed = parse_campaign(definition())
    assert (parsed.channel, parsed.purpose, parsed.holdout) == ("email", "marketing", 0.1)
    assert (parsed.send_time, parsed.quiet_policy, parsed.attribution_days) == (
        "scheduled",
        "hold",
        14,
    )
    assert parsed.quiet_hours == QuietHours() and not parsed.exempt


def test_yaml_times_and_sexagesimal_quiet_hours_are_read() -> None:
    parsed = parse_campaign(
        definition(
            send_at=datetime(2026, 12, 5, 9, 0, tzinfo=UTC),
            quiet_hours={"start": 22 * 60, "end": "07:30", "policy": "drop"},  # YAML 1.1: 22:00
            purpose="transactional",
        )
    )
    assert parsed.send_at == datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
    assert parsed.quiet_hours == QuietHours(time(22), time(7, 30))
    assert parsed.quiet_policy == "drop" and parsed.exempt
    assert parse_campaign(definition(quiet_hours=False)).quiet_hours is None


@pytest.mark.parametrize(
    ("changes", "path", "words"),
    [
        ({"colour": "red"}, "colour", "unknown key"),
        ({"name": "bad name!"}, "name", "letters, digits"),
        ({"segment": None}, "segment", "required"),
        ({"channel": "fax"}, "channel", "expected one of email"),
        ({"holdout": 0.9}, "holdout", "[0, 0.5]"),
        ({"holdout": True}, "holdout", "expected a share"),
        ({"send_at": "2026-12-05T09:00"}, "send_at", "UTC offset"),
        ({"send_at": "tomorrow"}, "send_at", "not an ISO 8601 time"),
        ({"attribution_days": 0}, "attribution_days", "1 to 365"),
        ({"quiet_hours": {"start": "25:00"}}, "quiet_hours.start", "time of day"),
        ({"quiet_hours": {"policy": "skip"}}, "quiet_hours.policy", "hold or drop"),
        ({"message": {}}, "message", "a mapping of locales"),
        ({"message": {"en": {"subject": "x"}}}, "message.en", "a text or an html body"),
        ({"message": {"en": {"text": "x", "body": "y"}}}, "message.en.body", "unknown part"),
        ({"message": {"english": {"text": "x"}}}, "message.english", "a locale"),
        ({"message": {"da": {"text": "x"}}}, "message.default_locale", "'en'"),
        ({"message": {"en": {"text": "{% if %}"}}}, "message.en.text", "line 1"),
        ({"message": {"en": {"text": "{{ frist_name }}"}}}, "message.en.text", "frist_name"),
        ({"message": {"en": {"text": "{{ ''.__class__ }}"}}}, "message.en.text", "not allowed"),
        ({"message": {"en": {"text": "{{ offer_code }}"}}}, "message.en.text", "offer_code"),
        ({"tracking": {"opens": "yes"}}, "tracking.opens", "true or false"),
        ({"tracking": {"views": True}}, "tracking.views", "unknown key"),
        ({"tracking": True}, "tracking", "a mapping"),
        (
            {"channel": "sms", "tracking": {"clicks": True}, "message": {"en": {"text": "x"}}},
            "tracking",
            "e-mail only",
        ),
        ({"channel": "sms"}, "message.en.subject", "a sms message has text only"),
        ({"channel": "push", "message": {"en": {"text": "x"}}}, "message.en.subject", "needs"),
        ({"link": "javascript:alert(1)"}, "link", "https:// address or an app link"),
        ({"channel": "webhook", "message": {"en": {"text": "x"}}}, "webhook", "a mapping"),
        (
            {
                "channel": "webhook",
                "webhook": {"url": "https://h.example/"},
                "message": {"en": {"text": "x"}},
            },
            "webhook.consent",
            "names the consent",
        ),
        (
            {"webhook": {"url": "http://h.example/", "consent": "sms"}, "channel": "webhook"},
            "webhook.url",
            "https://",
        ),
        ({"webhook": {"url": "https://h.example/"}}, "webhook", "only for channel: webhook"),
    ],
)
def test_problems_are_named_by_path(changes: dict[str, Any], path: str, words: str) -> None:
    with pytest.raises(CampaignError) as caught:
        parse_campaign(definition(**changes))
    assert caught.value.path == path
    assert words in str(caught.value)


def test_an_offer_code_may_be_shown_when_the_campaign_has_one() -> None:
    parsed = parse_campaign(
        definition(offer_code="WIN10", message={"en": {"text": "Code {{ offer_code }}"}})
    )
    assert parsed.offer_code == "WIN10"


def test_a_marketing_email_always_carries_a_visible_unsubscribe_link() -> None:
    url = "https://butik.example/u/" + "t" * 300  # long: the header must stay one URL
    message = RenderedMessage("nl-BE", "Hoi", "<html><body><p>Hoi</p></body></html>", "Hoi")
    at = datetime(2026, 12, 3, tzinfo=UTC)
    sender = "Shop <s@butik.example>"
    email = compose_email(
        message,
        recipient="a@x.dk",
        sender=sender,
        message_id="<1@x>",
        unsubscribe_url=url,
        sent_at=at,
    )
    assert email.text.endswith(f"Meld je hier af: {url}\n")
    assert email.html.endswith(f"{url}</a></p></body></html>")
    shown = RenderedMessage("en", "Hi", "", f"Bye: {url}")
    kept = compose_email(
        shown,
        recipient="a@x.dk",
        sender=sender,
        message_id="<2@x>",
        unsubscribe_url=url,
        sent_at=at,
    )
    assert kept.text == f"Bye: {url}"  # the template's own link is enough


def test_message_ids_are_stable_per_delivery_and_name_the_sender_domain() -> None:
    assert message_id(42, "campaign:7", "butik.example") == "<42.campaign-7@butik.example>"
    assert sender_domain("Butik <shop@butik.dk>") == "butik.dk"
    with pytest.raises(ConfigurationError, match="RETENTIO_MAIL_FROM"):
        sender_domain("no address")


def test_a_message_id_names_its_delivery_and_nothing_else_does() -> None:
    from retentio.campaigns.compose import delivery_of_message_id

    made = message_id(4711, "campaign:12", "butik.dk")
    assert delivery_of_message_id(made) == (4711, made)
    assert delivery_of_message_id(made.strip("<>")) == (4711, made)
    for other in ("<x.campaign-1@butik.dk>", "<4711@butik.dk>", "4711.campaign-1", ""):
        assert delivery_of_message_id(other) is None, other
