"""The API's bodies for the channels: the SMS provider's inbound texts and delivery reports,
the in-app inbox the shop's app reads, and the devices push messages reach."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "EmailEventIn",
    "InboundSmsIn",
    "InboundSmsOut",
    "InboxMessageOut",
    "InboxPageOut",
    "PushKeys",
    "PushRevokeIn",
    "PushRevokeOut",
    "PushSubscriptionIn",
    "PushSubscriptionOut",
    "SmsReportIn",
    "SmsReportOut",
    "VapidKeyOut",
]


class InboundSmsIn(BaseModel):
    """A text a person sent to the shop's number, as the provider forwards it."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    sender: str = Field(
        alias="from",
        max_length=40,
        description="The sender's number, E.164.",
        examples=["+4520123456"],
    )
    text: str = Field(max_length=1600, examples=["STOP"])


class InboundSmsOut(BaseModel):
    action: str = Field(description="stop, start, help or none", examples=["stop"])
    reply: str | None = Field(description="The text to send back, or null for none.")


class SmsReportIn(BaseModel):
    """A delivery report: the provider's id of the message, and what became of it."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1, max_length=250, description="The id the provider answered.")
    status: str = Field(description="delivered, failed, undelivered, expired or rejected")
    reason: str | None = Field(
        default=None, max_length=100, description="e.g. invalid_number, unreachable, expired"
    )
    at: datetime | None = Field(default=None, description="When; default: now.")


class SmsReportOut(BaseModel):
    delivery_id: int
    event: str = Field(description="delivered or bounced")
    recorded: bool = Field(description="False when the same report was recorded already.")
    suppressed: bool = Field(description="Whether the number went on the suppression list.")


class InboxMessageOut(BaseModel):
    id: int
    title: str
    text: str
    html: str
    link: str | None
    created_at: datetime
    read_at: datetime | None
    archived_at: datetime | None


class InboxPageOut(BaseModel):
    messages: list[InboxMessageOut]
    unread: int = Field(description="Unread messages, not archived, in all.")
    next_before: int | None = Field(
        description="Pass as ?before= for the older messages; null at the end."
    )


class PushKeys(BaseModel):
    p256dh: str = Field(max_length=200, description="The browser's public key (base64url).")
    auth: str = Field(max_length=100, description="The browser's auth secret (base64url).")


class PushSubscriptionIn(BaseModel):
    """A browser's Web Push subscription (``PushSubscription.toJSON()`` plus ``kind: web``)
    or a device token of the shop's push gateway (``kind: gateway``)."""

    model_config = ConfigDict(extra="ignore")

    kind: str = Field(default="web", description="web or gateway", examples=["web"])
    endpoint: str | None = Field(default=None, max_length=2000, description="web: the endpoint.")
    keys: PushKeys | None = Field(default=None, description="web: the subscription's keys.")
    token: str | None = Field(default=None, max_length=2000, description="gateway: the token.")
    platform: str | None = Field(default=None, description="gateway: ios or android.")


class PushSubscriptionOut(BaseModel):
    id: int
    kind: str
    platform: str | None
    created_at: datetime
    revoked_at: datetime | None


class PushRevokeIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    endpoint: str = Field(max_length=2000, description="The endpoint or the device token.")


class PushRevokeOut(BaseModel):
    revoked: bool = Field(description="False when it was not registered (or revoked already).")


class VapidKeyOut(BaseModel):
    public_key: str = Field(description="The applicationServerKey for pushManager.subscribe().")


class EmailEventIn(BaseModel):
    """An e-mail provider's event on one message, named by its Message-ID."""

    model_config = ConfigDict(extra="ignore")

    message_id: str = Field(max_length=300, examples=["<4711.campaign-12@butik.dk>"])
    event: str = Field(description="delivered, bounced or complained")
    bounce: str | None = Field(default=None, description="bounced: hard or soft")
    reason: str | None = Field(default=None, max_length=200, examples=["550 5.1.1 no such user"])
    at: datetime | None = Field(default=None, description="When; default: now.")
