"""Channels: ports with adapters that deliver a message and say how it went: e-mail over SMTP
(DKIM-signed where a key is set),
SMS through a provider's HTTP API, Web Push and a mobile push gateway, signed webhooks behind
an SSRF guard, and the in-app inbox."""

from retentio.channels.base import DeliveryResult, DeliveryStatus
from retentio.channels.dkim_signing import DkimKey, load_dkim_key
from retentio.channels.email import OutgoingEmail, SmtpChannel, SmtpSettings, build_message
from retentio.channels.inbox import InboxChannel, OutgoingInboxMessage
from retentio.channels.push import (
    GatewaySender,
    OutgoingPush,
    PushChannel,
    PushTarget,
    VapidKey,
    WebPushSender,
    generate_vapid_key,
)
from retentio.channels.sms import HttpSmsChannel, OutgoingSms, SmsSettings
from retentio.channels.ssrf import SafeTarget, UnsafeUrl, check_url, parse_networks
from retentio.channels.webhook import OutgoingWebhook, WebhookChannel, decode_secret, sign, verify

__all__ = [
    "DeliveryResult",
    "DeliveryStatus",
    "DkimKey",
    "GatewaySender",
    "HttpSmsChannel",
    "InboxChannel",
    "OutgoingEmail",
    "OutgoingInboxMessage",
    "OutgoingPush",
    "OutgoingSms",
    "OutgoingWebhook",
    "PushChannel",
    "PushTarget",
    "SafeTarget",
    "SmsSettings",
    "SmtpChannel",
    "SmtpSettings",
    "UnsafeUrl",
    "VapidKey",
    "WebPushSender",
    "WebhookChannel",
    "build_message",
    "check_url",
    "decode_secret",
    "generate_vapid_key",
    "load_dkim_key",
    "parse_networks",
    "sign",
    "verify",
]
