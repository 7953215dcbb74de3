"""Campaigns and journeys: what to send to a segment, in which locale, and (to come) when and
over which channel, with a control group to measure the lift."""

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
    "PARTS",
    "Limits",
    "MessageTemplate",
    "RenderedMessage",
    "TemplateError",
    "Variant",
    "check_template",
    "render_message",
]
