"""SMS through a provider's HTTP JSON API (the generic adapter).

Most SMS providers take a message as one JSON POST; this adapter speaks a small, documented
shape that a provider's API or a thin proxy in front of it can accept (``RETENTIO_SMS_URL``)::

    POST <url>
    Authorization: <RETENTIO_SMS_AUTH, e.g. "Bearer sk_live_...">
    Idempotency-Key: <the delivery's reference, the same on every try>
    {"to": "+4520123456", "from": "Butikken", "text": "...", "reference": "<same>"}

    201 {"id": "<the provider's message id>"}

The answer is classified by :func:`retentio.channels.http.classify`: 5xx and 429 are tried
again later (honouring ``Retry-After``); a 4xx whose JSON names a reason about the number
(``{"reason": "invalid_number"}``) suppresses it; any other 4xx fails the message at once.
The provider's id comes back in its delivery reports (``POST /api/v1/sms/reports``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from retentio.channels.base import DeliveryResult
from retentio.channels.http import HttpClientOwner, classify, post
from retentio.core.errors import ConfigurationError

__all__ = ["HttpSmsChannel", "OutgoingSms", "SmsSettings"]


@dataclass(frozen=True, slots=True)
class OutgoingSms:
    """One SMS: ``recipient`` in E.164, ``reference`` stable per delivery (the provider's
    idempotency key), ``sender`` the alphanumeric sender id or number."""

    reference: str
    recipient: str
    text: str
    sender: str | None = None


@dataclass(frozen=True, slots=True)
class SmsSettings:
    """Where and how to reach the provider."""

    url: str
    authorization: str | None = None
    sender: str | None = None
    timeout_seconds: float = 10.0

    def __post_init__(self) -> None:
        if not self.url.startswith(("https://", "http://")):
            raise ConfigurationError(f"RETENTIO_SMS_URL: an http(s):// address, not {self.url!r}")


class HttpSmsChannel(HttpClientOwner):
    """The SMS channel: one HTTP connection pool, reused across messages."""

    def __init__(self, settings: SmsSettings, *, transport: httpx.BaseTransport | None = None):
        self.settings = settings
        headers = {"User-Agent": "retentio"}
        if settings.authorization:
            headers["Authorization"] = settings.authorization
        self._client = httpx.Client(
            headers=headers,
            timeout=settings.timeout_seconds,
            follow_redirects=False,
            transport=transport,
        )

    def send(self, message: OutgoingSms) -> DeliveryResult:
        """POST the message; the provider's answer as a :class:`DeliveryResult`."""
        body: dict[str, Any] = {
            "to": message.recipient,
            "text": message.text,
            "reference": message.reference,
        }
        sender = message.sender or self.settings.sender
        if sender:
            body["from"] = sender
        response = post(
            self._client,
            self.settings.url,
            who="the SMS provider",
            json=body,
            headers={"Idempotency-Key": message.reference},
        )
        if isinstance(response, DeliveryResult):
            return response
        return classify(response, provider_id=_provider_id(response) or message.reference)


def _provider_id(response: httpx.Response) -> str | None:
    if not response.is_success:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, dict):
        found = body.get("id", body.get("message_id"))
        if isinstance(found, str | int) and str(found):
            return str(found)[:250]
    return None
