"""Campaign definitions: who, what, over which channel and when, written as data (YAML/JSON).

A definition is a mapping::

    name: winback-december                 # letters, digits, - and _; the campaign's key
    segment: lapsing-repeat-buyers         # a saved segment (retentio segment create)
    channel: email
    purpose: marketing                     # or transactional (exempt from caps and quiet hours)
    holdout: 0.1                           # the control group's share, default 10 %
    send_at: 2026-12-05T09:00:00+01:00     # optional: default, when launched
    send_time: best_hour                   # or "scheduled" (the default): each customer's hour
    quiet_hours: {start: "21:00", end: "08:00", policy: hold}   # or drop; false: none
    attribution_days: 14                   # how long a purchase counts for the report
    offer_code: WINBACK10                  # optional, for the message
    link: https://butik.dk/tilbud          # optional: where a push or in-app message leads
    tracking: {opens: true, clicks: true}  # optional, e-mail: needs the customers' consent
    survey: nps-2026                       # optional: a survey the message links to
    message:
      default_locale: en
      en: {subject: "We miss you, {{ first_name | default('there') }}", html: ..., text: ...}
      da: {subject: ..., html: ..., text: ...}

The channel decides the parts a message has: ``email`` a subject and a text and/or HTML body;
``sms`` a text only; ``push`` a subject (the title) and a text; ``in_app`` a subject and a
text and/or HTML body; ``webhook`` any of them, posted as JSON to ``webhook.url`` (https) for
the shop's own system to act on. A webhook reaches no address of its own, so a marketing one
names the consent it relies on: ``webhook: {url: https://..., consent: sms}``.

:func:`parse_campaign` checks it and compiles every template, or raises
:class:`CampaignError` naming the path of the first problem (``message.da.subject``).
Pure: no database, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from typing import Any

from retentio.campaigns.guards import QuietHours
from retentio.campaigns.holdout import DEFAULT_HOLDOUT
from retentio.campaigns.templates import (
    PARTS,
    MessageTemplate,
    TemplateError,
    Variant,
    check_template,
    render_message,
)
from retentio.core.errors import DefinitionError
from retentio.core.vocabulary import CONSENT_CHANNELS, PURPOSES

__all__ = [
    "CHANNELS",
    "SAMPLE_CONTEXT",
    "SURVEY_SAMPLE",
    "CampaignDefinition",
    "CampaignError",
    "parse_campaign",
]

#: The channels a campaign can send over.
CHANNELS = ("email", "sms", "push", "in_app", "webhook")
#: The parts a message has on each channel: (required, allowed); "body" is text or html.
_CHANNEL_PARTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "email": (("body",), ("subject", "html", "text")),
    "sms": (("text",), ("text",)),
    "push": (("subject", "text"), ("subject", "text")),
    "in_app": (("subject", "body"), ("subject", "html", "text")),
    "webhook": (("body",), ("subject", "html", "text")),
}
_LINK = re.compile(r"^(https://|[a-z][a-z0-9+.-]{1,30}://)[^\s]{1,2000}$")
SEND_TIMES = ("scheduled", "best_hour")
QUIET_POLICIES = ("hold", "drop")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")
_LOCALE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_KEYS = {
    "name",
    "description",
    "segment",
    "channel",
    "purpose",
    "holdout",
    "send_at",
    "send_time",
    "quiet_hours",
    "attribution_days",
    "offer_code",
    "link",
    "webhook",
    "tracking",
    "message",
    "survey",
}
_MAX_ATTRIBUTION_DAYS = 365
#: What a message may show (the worker's context), with sample values: every template is
#: rendered with them when the campaign is saved, so a misspelt name or a reach out of the
#: sandbox is refused then, not found in the first of 100,000 sends. A customer may lack some
#: (no first name, no scores yet): ``{{ first_name | default('there') }}`` covers that.
SAMPLE_CONTEXT: dict[str, Any] = {
    "campaign": "sample",
    "first_name": "Ida",
    "locale": "da",
    "order_count": 3,
    "last_order_date": "2026-11-02",
    "days_since_last_order": 31,
    "p_alive": 0.42,
    "churn_risk": 0.58,
    "risk_band": "high",
    "expected_purchases": 0.8,
    "clv": 412.5,
    "rfm_segment": "at_risk",
    "loyalty_points": 1250,
    "loyalty_tier": "Silver",
    "loyalty_points_expiring": 300,
    "loyalty_points_expire_date": "2026-12-28",
    "loyalty_coupon": "LOY-SAMP-LE34-679A",
    "loyalty_coupon_reward": "50-off",
    "loyalty_coupon_expire_date": "2027-03-07",
    "unsubscribe_url": "https://retentio.invalid/u/sample",
    # What the customer stated (the preference centre, the API): left out when not stated.
    "preferred_channel": "email",
    "frequency": "weekly",
    "topics": ["news", "offers"],
    "favourite_categories": ["Running", "Outdoor"],
    "sizes": {"shoes": "39", "tops": "M"},
    "preferences_url": "https://retentio.invalid/p/sample",
    # The subscription page of the customer's newest subscription: left out without one.
    "subscription_url": "https://retentio.invalid/s/sample",
}


_SURVEY_SAMPLE_URL = "https://retentio.invalid/f/sample"
#: What a message with a ``survey`` may show besides: the signed link to the survey's page
#: and one link per score (``{{ survey_score_urls[9] }}``: the page with 9 chosen).
SURVEY_SAMPLE: dict[str, Any] = {
    "survey_url": _SURVEY_SAMPLE_URL,
    "survey_score_urls": {n: f"{_SURVEY_SAMPLE_URL}?score={n}" for n in range(11)},
}
_SURVEY_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,99}$")


class CampaignError(DefinitionError):
    """A campaign definition that cannot be used; ``path`` names where (``message.en.html``)."""


@dataclass(frozen=True, slots=True)
class CampaignDefinition:
    """A checked campaign definition (see the module's docstring)."""

    name: str
    segment: str
    message: MessageTemplate
    channel: str = "email"
    purpose: str = "marketing"
    description: str = ""
    holdout: float = DEFAULT_HOLDOUT
    send_at: datetime | None = None
    send_time: str = "scheduled"
    quiet_hours: QuietHours | None = field(default_factory=QuietHours)
    quiet_policy: str = "hold"
    attribution_days: int = 14
    offer_code: str | None = None
    link: str | None = None
    webhook_url: str | None = None
    webhook_consent: str | None = None
    track_opens: bool = False
    track_clicks: bool = False
    #: The survey the message links to (its name); the worker skips a customer surveyed
    #: within its throttle_days.
    survey: str | None = None

    @property
    def exempt(self) -> bool:
        """Transactional messages skip frequency caps and quiet hours (never marketing)."""
        return self.purpose == "transactional"

    @property
    def consent_channel(self) -> str | None:
        """The channel whose consent a marketing message needs (a webhook's is named; None:
        a transactional webhook, which needs none)."""
        return self.webhook_consent if self.channel == "webhook" else self.channel


def parse_campaign(data: Any) -> CampaignDefinition:
    """Check a decoded definition; a :class:`CampaignError` names the first problem."""
    if not isinstance(data, Mapping):
        raise CampaignError("(definition)", "a campaign definition is a mapping")
    unknown = sorted(str(k) for k in data if k not in _KEYS)
    if unknown:
        raise CampaignError(unknown[0], f"unknown key; known: {', '.join(sorted(_KEYS))}")
    name = _text(data, "name", required=True)
    if not _NAME.match(name):
        raise CampaignError("name", "use 1 to 100 letters, digits, '-' or '_', starting with one")
    channel = _choice(data, "channel", CHANNELS, "email")
    purpose = _choice(data, "purpose", PURPOSES, "marketing")
    quiet, policy = _quiet_hours(data.get("quiet_hours", {}))
    url, consent = _webhook(data.get("webhook"), channel, purpose)
    opens, clicks = _tracking(data.get("tracking"), channel)
    survey = _text(data, "survey", limit=100) or None
    if survey is not None and not _SURVEY_NAME.match(survey):
        raise CampaignError("survey", "a survey's name (retentio's surveys: GET /api/v1/surveys)")
    link = _text(data, "link", limit=2000) or None
    if link is not None and not _LINK.match(link):
        raise CampaignError("link", "an https:// address or an app link (myshop://...)")
    return CampaignDefinition(
        name=name,
        segment=_text(data, "segment", required=True),
        message=_message(
            data.get("message"),
            channel,
            offer=bool(data.get("offer_code")),
            survey=survey is not None,
        ),
        channel=channel,
        purpose=purpose,
        description=_text(data, "description", limit=1000),
        holdout=_holdout(data.get("holdout", DEFAULT_HOLDOUT)),
        send_at=_instant("send_at", data.get("send_at")),
        send_time=_choice(data, "send_time", SEND_TIMES, "scheduled"),
        quiet_hours=quiet,
        quiet_policy=policy,
        attribution_days=_days(data.get("attribution_days", 14)),
        offer_code=_text(data, "offer_code", limit=100) or None,
        link=link,
        webhook_url=url,
        webhook_consent=consent,
        track_opens=opens,
        track_clicks=clicks,
        survey=survey,
    )


def _tracking(value: Any, channel: str) -> tuple[bool, bool]:
    """Whether opens and clicks are tracked (e-mail only; off unless asked for)."""
    if value is None or value is False:
        return False, False
    if channel != "email":
        raise CampaignError("tracking", "opens and clicks are tracked for e-mail only")
    if not isinstance(value, Mapping):
        raise CampaignError("tracking", "a mapping {opens: true, clicks: true}")
    extra = sorted(str(k) for k in set(value) - {"opens", "clicks"})
    if extra:
        raise CampaignError(f"tracking.{extra[0]}", "unknown key; known: clicks, opens")
    found = []
    for key in ("opens", "clicks"):
        flag = value.get(key, False)
        if not isinstance(flag, bool):
            raise CampaignError(f"tracking.{key}", "true or false")
        found.append(flag)
    return found[0], found[1]


def _webhook(value: Any, channel: str, purpose: str) -> tuple[str | None, str | None]:
    """The webhook's https URL and the consent it relies on (None for a transactional one)."""
    if channel != "webhook":
        if value is not None:
            raise CampaignError("webhook", "only for channel: webhook")
        return None, None
    if not isinstance(value, Mapping):
        raise CampaignError("webhook", "a mapping {url: https://..., consent: <channel>}")
    extra = sorted(str(k) for k in set(value) - {"url", "consent"})
    if extra:
        raise CampaignError(f"webhook.{extra[0]}", "unknown key; known: consent, url")
    url = value.get("url")
    if not isinstance(url, str) or not url.startswith("https://") or len(url) > 2000:
        raise CampaignError("webhook.url", "an https:// address (at most 2,000 characters)")
    consent = value.get("consent")
    if consent is None and purpose != "transactional":
        raise CampaignError(
            "webhook.consent",
            f"a {purpose} webhook names the consent it relies on: one of "
            + ", ".join(CONSENT_CHANNELS),
        )
    if consent is not None and consent not in CONSENT_CHANNELS:
        raise CampaignError("webhook.consent", f"one of {', '.join(CONSENT_CHANNELS)}")
    return url, consent


def _text(data: Mapping[str, Any], key: str, *, required: bool = False, limit: int = 200) -> str:
    value = data.get(key)
    if value is None or value == "":
        if required:
            raise CampaignError(key, "required")
        return ""
    if not isinstance(value, str):
        raise CampaignError(key, f"expected text, got {type(value).__name__}")
    if len(value) > limit or "\x00" in value:
        raise CampaignError(key, f"at most {limit} characters, no NUL")
    return value


def _choice(data: Mapping[str, Any], key: str, choices: tuple[str, ...], default: str) -> str:
    value = data.get(key, default)
    if value not in choices:
        raise CampaignError(key, f"expected one of {', '.join(choices)}, got {value!r}")
    return str(value)


def _holdout(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CampaignError("holdout", f"expected a share in [0, 0.5], got {value!r}")
    if not 0.0 <= float(value) <= 0.5:
        raise CampaignError("holdout", f"a share in [0, 0.5] (default 0.1), not {value!r}")
    return float(value)


def _days(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise CampaignError("attribution_days", f"expected whole days, got {value!r}")
    if not 1 <= value <= _MAX_ATTRIBUTION_DAYS:
        raise CampaignError("attribution_days", f"1 to {_MAX_ATTRIBUTION_DAYS} days")
    return value


def _instant(key: str, value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise CampaignError(key, f"not an ISO 8601 time: {value!r}") from None
    if not isinstance(value, datetime):
        raise CampaignError(key, "expected a time with its UTC offset, e.g. 2026-12-05T09:00+01:00")
    if value.tzinfo is None:
        raise CampaignError(key, "give the UTC offset, e.g. 2026-12-05T09:00:00+01:00")
    if not 1900 <= value.year <= 2199:
        raise CampaignError(key, "a year from 1900 to 2199")
    return value.astimezone(UTC)


def _clock_time(path: str, value: Any) -> time:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
        return time(value // 60, value % 60)  # YAML 1.1 reads 21:00 as minutes (sexagesimal)
    try:
        return time.fromisoformat(str(value))
    except ValueError:
        raise CampaignError(path, f"a time of day such as '21:00', not {value!r}") from None


def _quiet_hours(value: Any) -> tuple[QuietHours | None, str]:
    if value is False or value is None:
        return None, "hold"
    if not isinstance(value, Mapping):
        raise CampaignError("quiet_hours", "a mapping {start, end, policy}, or false")
    extra = sorted(set(value) - {"start", "end", "policy"})
    if extra:
        raise CampaignError(f"quiet_hours.{extra[0]}", "unknown key; known: start, end, policy")
    default = QuietHours()
    start = _clock_time("quiet_hours.start", value.get("start", default.start.isoformat()))
    end = _clock_time("quiet_hours.end", value.get("end", default.end.isoformat()))
    policy = value.get("policy", "hold")
    if policy not in QUIET_POLICIES:
        raise CampaignError("quiet_hours.policy", f"hold or drop, not {policy!r}")
    return QuietHours(start, end), str(policy)


def _message(value: Any, channel: str, *, offer: bool, survey: bool = False) -> MessageTemplate:
    if not isinstance(value, Mapping) or not value:
        raise CampaignError("message", "a mapping of locales (en, da, nl...) to subject/html/text")
    required, allowed = _CHANNEL_PARTS[channel]
    default = value.get("default_locale", "en")
    variants: dict[str, Variant] = {}
    for locale, parts in value.items():
        if locale == "default_locale":
            continue
        path = f"message.{locale}"
        if not isinstance(locale, str) or not _LOCALE.match(locale):
            raise CampaignError(path, "a locale such as en, da or nl-BE")
        if not isinstance(parts, Mapping):
            raise CampaignError(path, "a mapping of subject, html and text")
        extra = sorted(str(k) for k in set(parts) - set(PARTS))
        if extra:
            raise CampaignError(f"{path}.{extra[0]}", f"unknown part; known: {', '.join(PARTS)}")
        for part in PARTS:
            if not isinstance(parts.get(part, ""), str):
                raise CampaignError(f"{path}.{part}", "expected text")
            if parts.get(part) and part not in allowed:
                raise CampaignError(
                    f"{path}.{part}", f"a {channel} message has {' and '.join(allowed)} only"
                )
        for part in required:
            if part == "body" and not parts.get("text") and not parts.get("html"):
                raise CampaignError(path, "a message needs a text or an html body")
            if part != "body" and not parts.get(part):
                raise CampaignError(f"{path}.{part}", f"a {channel} message needs a {part}")
        variants[locale] = Variant(**{part: parts.get(part, "") for part in PARTS})
    if not variants:
        raise CampaignError("message", "at least one locale")
    if default not in variants:
        raise CampaignError("message.default_locale", f"{default!r} is not among the locales")
    template = MessageTemplate(variants, default_locale=default)
    sample = SAMPLE_CONTEXT | ({"offer_code": "SAMPLE10"} if offer else {})
    sample |= SURVEY_SAMPLE if survey else {}
    try:
        check_template(template)
        for locale in variants:
            render_message(template, sample, locale=locale)
    except TemplateError as exc:
        raise CampaignError(f"message.{exc.locale}.{exc.part}", str(exc)) from None
    return template
