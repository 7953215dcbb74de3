"""Campaigns and journeys: what to send to a segment, in which locale, and when; who is held
out to measure the lift. (The journeys, the delivery engine and the lift report follow.)"""

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

__all__ = [
    "DEFAULT_CAPS",
    "DEFAULT_HOLDOUT",
    "GLOBAL_KEY",
    "PARTS",
    "FrequencyCap",
    "Limits",
    "MessageTemplate",
    "PastSend",
    "QuietHours",
    "RenderedMessage",
    "TemplateError",
    "Variant",
    "best_hour",
    "blocking_cap",
    "bucket",
    "check_template",
    "customer_zone",
    "in_global_control",
    "in_holdout",
    "next_allowed",
    "next_at_hour",
    "quiet_until",
    "render_message",
]
