"""Campaigns and journeys: what to send to a segment, in which locale, and when; who is held
out to measure the lift; the delivery worker that sends them through the outbox."""

from retentio.campaigns.definition import CampaignDefinition, CampaignError, parse_campaign
from retentio.campaigns.guards import (
    DEFAULT_CAPS,
    FrequencyCap,
    PastSend,
    QuietHours,
    best_hour,
    blocking_cap,
    customer_zone,
    next_allowed,
    next_at_hour,
    quiet_until,
)
from retentio.campaigns.holdout import (
    DEFAULT_HOLDOUT,
    GLOBAL_KEY,
    bucket,
    in_global_control,
    in_holdout,
)
from retentio.campaigns.service import (
    CampaignNotFound,
    CampaignStateError,
    LaunchResult,
    SavedCampaign,
    find_campaign,
    launch_campaign,
    list_campaigns,
    save_campaign,
)
from retentio.campaigns.templates import (
    PARTS,
    Limits,
    MessageTemplate,
    RenderedMessage,
    TemplateError,
    Variant,
    check_template,
    render_message,
)
from retentio.campaigns.worker import BatchOutcome, Worker, WorkerOptions

__all__ = [
    "DEFAULT_CAPS",
    "DEFAULT_HOLDOUT",
    "GLOBAL_KEY",
    "PARTS",
    "BatchOutcome",
    "CampaignDefinition",
    "CampaignError",
    "CampaignNotFound",
    "CampaignStateError",
    "FrequencyCap",
    "LaunchResult",
    "Limits",
    "MessageTemplate",
    "PastSend",
    "QuietHours",
    "RenderedMessage",
    "SavedCampaign",
    "TemplateError",
    "Variant",
    "Worker",
    "WorkerOptions",
    "best_hour",
    "blocking_cap",
    "bucket",
    "check_template",
    "customer_zone",
    "find_campaign",
    "in_global_control",
    "in_holdout",
    "launch_campaign",
    "list_campaigns",
    "next_allowed",
    "next_at_hour",
    "parse_campaign",
    "quiet_until",
    "render_message",
    "save_campaign",
]
