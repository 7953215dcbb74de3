"""Channels: ports with adapters that deliver a message and say how it went: e-mail over SMTP,
SMS through a provider's HTTP API, signed webhooks behind an SSRF guard, and the in-app inbox
(push follows)."""

from retentio.channels.base import DeliveryResult, DeliveryStatus
from retentio.channels.email import OutgoingEmail, SmtpChannel, SmtpSettings, build_message
from retentio.channels.inbox import InboxChannel, OutgoingInboxMessage
from retentio.channels.sms import HttpSmsChannel, OutgoingSms, SmsSettings
from retentio.channels.ssrf import SafeTarget, UnsafeUrl, check_url, parse_networks
from retentio.channels.webhook import OutgoingWebhook, WebhookChannel, decode_secret, sign, verify

__all__ = [
    "DeliveryResult",
    "DeliveryStatus",
    "HttpSmsChannel",
    "InboxChannel",
    "OutgoingEmail",
    "OutgoingInboxMessage",
    "OutgoingSms",
    "OutgoingWebhook",
    "SafeTarget",
    "SmsSettings",
    "SmtpChannel",
    "SmtpSettings",
    "UnsafeUrl",
    "WebhookChannel",
    "build_message",
    "check_url",
    "decode_secret",
    "parse_networks",
    "sign",
    "verify",
]
