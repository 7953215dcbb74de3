"""Channels: ports with adapters that deliver a message and say how it went (e-mail over SMTP
so far; SMS, push, webhooks and the in-app inbox follow)."""

from retentio.channels.base import DeliveryResult, DeliveryStatus
from retentio.channels.email import OutgoingEmail, SmtpChannel, SmtpSettings, build_message

__all__ = [
    "DeliveryResult",
    "DeliveryStatus",
    "OutgoingEmail",
    "SmtpChannel",
    "SmtpSettings",
    "build_message",
]
