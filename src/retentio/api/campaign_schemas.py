"""Request and response bodies of the campaign routes (docs/campaigns.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

__all__ = [
    "CampaignIn",
    "CampaignOut",
    "CampaignPreviewIn",
    "CampaignPreviewOut",
    "CampaignReportOut",
    "JourneyIn",
    "JourneyOut",
    "JourneyReportOut",
    "LaunchOut",
]


class CampaignIn(BaseModel):
    """A campaign definition: who (a saved segment), what (a message per locale), over which
    channel, when, and the control group's share."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$", examples=["winback-december"])
    description: str = Field(default="", max_length=1000)
    segment: str = Field(description="A saved segment's name.", examples=["lapsing-buyers"])
    channel: str = Field(default="email", examples=["email"])
    purpose: str = Field(default="marketing", description="marketing or transactional")
    holdout: float = Field(default=0.1, ge=0, le=0.5, description="The control group's share.")
    send_at: datetime | None = Field(default=None, description="Default: when launched.")
    send_time: str = Field(default="scheduled", description="scheduled or best_hour")
    quiet_hours: dict[str, Any] | bool | None = Field(
        default=None,
        description='{"start": "21:00", "end": "08:00", "policy": "hold" or "drop"}, or '
        "false for none (default: 21:00-08:00, hold)",
    )
    attribution_days: int = Field(default=14, ge=1, le=365)
    offer_code: str | None = Field(default=None, max_length=100)
    link: str | None = Field(
        default=None, description="Where a push or in-app message leads: https:// or an app link."
    )
    webhook: dict[str, str] | None = Field(
        default=None,
        description="channel webhook: {url: https://..., consent: <the channel it relies on>}",
    )
    message: dict[str, Any] = Field(
        description="default_locale and, per locale, subject / html / text (Jinja2).",
        examples=[
            {
                "default_locale": "en",
                "en": {"subject": "We miss you", "text": "Hi {{ first_name | default('') }}"},
            }
        ],
    )


class CampaignOut(BaseModel):
    """A campaign and where it stands."""

    id: int
    name: str
    description: str
    segment: str
    channel: str
    purpose: str
    holdout: float
    send_at: datetime | None
    send_time: str
    status: str = Field(description="draft or launched")
    created_at: datetime
    launched_at: datetime | None
    audience: int = Field(description="Customers recorded at the launch, every arm.")
    held_out: int = Field(description="Of them, in the control or the global control group.")


class LaunchOut(BaseModel):
    """What the launch recorded and queued."""

    name: str
    audience: int
    treated: int
    control: int
    global_control: int
    queued: int
    send_at: datetime


class CampaignPreviewIn(BaseModel):
    """Whom to render the message for (default: the segment's first member), in which locale."""

    customer: str | None = Field(default=None, description="A customer's external id.")
    locale: str | None = Field(default=None, examples=["da"])


class CampaignPreviewOut(BaseModel):
    """The message as that customer would get it (nothing is sent)."""

    customer: str
    locale: str
    subject: str
    text: str
    html: str
    unsubscribe_url: str = Field(description="A preview link, which withdraws nothing.")


class CampaignReportOut(BaseModel):
    """The delivery funnel and the lift against the control group (docs/campaigns.md)."""

    campaign: CampaignOut
    window: dict[str, Any] = Field(description="The attribution window: start, end, closed.")
    currency: str | None
    funnel: dict[str, Any] = Field(
        description="queued, sent, waiting, skipped (and why), bounced, failed, opened, clicked"
    )
    arms: dict[str, dict[str, Any]] = Field(
        description="treated, control (and global): customers, conversion, revenue, repeat "
        "purchase and churn rates"
    )
    lift: dict[str, dict[str, Any]] = Field(
        description="Per measure: treated, control, difference, 95 % CI, detectable"
    )
    incremental_revenue: dict[str, float | None]
    verdict: str


class JourneyIn(BaseModel):
    """A journey definition (docs/campaigns.md#journeys): a trigger, steps and a goal."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,59}$", examples=["winback"])
    description: str = Field(default="", max_length=1000)
    trigger: dict[str, str] = Field(
        description="{segment: <saved segment>} or {event: <event name>}",
        examples=[{"segment": "lapsing-buyers"}],
    )
    goal: str | None = Field(default=None, description="order: an order after entering ends it")
    re_entry: bool | dict[str, int] = Field(default=False, description="or {after_days: n}")
    holdout: float = Field(default=0.1, ge=0, le=0.5)
    channel: str = "email"
    purpose: str = "marketing"
    quiet_hours: dict[str, Any] | bool | None = None
    offer_code: str | None = None
    steps: list[dict[str, Any]] = Field(
        description="send {message}, wait {days, hours, until}, branch {if, goto}, "
        "split [{weight, goto}], exit {}; each may have an id",
    )


class JourneyOut(BaseModel):
    """A journey and its entrants by status."""

    id: int
    name: str
    description: str
    status: str = Field(description="active or paused")
    trigger: dict[str, str]
    goal: str | None
    holdout: float
    channel: str
    steps: list[dict[str, str]]
    created_at: datetime
    entries: dict[str, int] = Field(description="active, done, exited, goal, control")


class JourneyReportOut(BaseModel):
    """A journey's funnel and lift (docs/campaigns.md#a-journeys-report)."""

    journey: JourneyOut
    window: dict[str, Any] = Field(description="attribution_days, entries, open (windows)")
    currency: str | None
    funnel: dict[str, Any]
    arms: dict[str, dict[str, Any]] = Field(description="treated and control entrants")
    lift: dict[str, dict[str, Any]]
    incremental_revenue: dict[str, float | None]
    verdict: str
