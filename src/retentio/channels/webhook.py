"""Outgoing webhooks, signed as the Standard Webhooks specification says
(https://www.standardwebhooks.com/): every request carries ``webhook-id`` (stable per
delivery: a receiver drops a repeat), ``webhook-timestamp`` (Unix seconds) and
``webhook-signature`` (``v1,`` and the base64 HMAC-SHA256 of ``id.timestamp.body`` under the
secret). The secret is written ``whsec_<base64>`` (``RETENTIO_WEBHOOK_SECRET``); receivers
verify with any Standard Webhooks library.

Every URL passes :func:`retentio.channels.ssrf.check_url` before each request, which is made
to the checked address; redirects are never followed (a 3xx fails the delivery).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from retentio.channels.base import DeliveryResult
from retentio.channels.http import HttpClientOwner, classify, post_to_checked
from retentio.channels.ssrf import Network, Resolver, UnsafeUrl, check_url
from retentio.core.errors import ConfigurationError

__all__ = [
    "OutgoingWebhook",
    "WebhookChannel",
    "decode_secret",
    "sign",
    "verify",
]

_PREFIX = "whsec_"
#: A receiver refuses a timestamp further than this from its clock (the spec's advice).
TOLERANCE_SECONDS = 300


@dataclass(frozen=True, slots=True)
class OutgoingWebhook:
    """One webhook call: ``id`` stable per delivery, ``payload`` the JSON body
    (``{"type": ..., "timestamp": ..., "data": {...}}``)."""

    id: str
    url: str
    payload: Mapping[str, Any]


def decode_secret(secret: str) -> bytes:
    """The key bytes of ``whsec_<base64>`` (at least 24 bytes); a ConfigurationError if not."""
    if not secret.startswith(_PREFIX):
        raise ConfigurationError("RETENTIO_WEBHOOK_SECRET: write it whsec_<base64>")
    try:
        key = base64.b64decode(secret[len(_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError(
            "RETENTIO_WEBHOOK_SECRET: whsec_ is not followed by base64"
        ) from None
    if len(key) < 24:
        raise ConfigurationError("RETENTIO_WEBHOOK_SECRET: at least 24 random bytes")
    return key


def sign(key: bytes, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header's value for one request."""
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def verify(
    key: bytes,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> bool:
    """Whether a request's headers sign ``body`` under ``key`` within ``tolerance`` seconds
    (what a receiver checks; the tests use it)."""
    lower = {k.lower(): v for k, v in headers.items()}
    webhook_id, stamp = lower.get("webhook-id", ""), lower.get("webhook-timestamp", "")
    if not webhook_id or not stamp.isdigit():
        return False
    if abs((time.time() if now is None else now) - int(stamp)) > tolerance:
        return False
    expected = sign(key, webhook_id, int(stamp), body).split(",", 1)[1]
    offered = [s.split(",", 1)[1] for s in lower.get("webhook-signature", "").split() if "," in s]
    return any(hmac.compare_digest(expected, candidate) for candidate in offered)


class WebhookChannel(HttpClientOwner):
    """The webhook channel: checks, signs and posts; one connection pool."""

    def __init__(
        self,
        key: bytes,
        *,
        allowed: tuple[Network, ...] = (),
        resolver: Resolver | None = None,
        verify_tls: ssl.SSLContext | bool = True,
        timeout_seconds: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key, self._allowed, self._resolver, self._clock = key, allowed, resolver, clock
        self._client = httpx.Client(
            headers={"User-Agent": "retentio-webhooks"},
            timeout=timeout_seconds,
            follow_redirects=False,
            verify=verify_tls,
        )

    def send(self, message: OutgoingWebhook) -> DeliveryResult:
        """Check the URL, sign the body, POST it; the answer as a :class:`DeliveryResult`."""
        try:
            target = check_url(message.url, allowed=self._allowed, resolver=self._resolver)
        except UnsafeUrl as exc:
            return DeliveryResult("rejected", str(exc))
        body = orjson.dumps(message.payload)
        stamp = int(self._clock())
        headers = {
            "Content-Type": "application/json",
            "webhook-id": message.id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": sign(self._key, message.id, stamp, body),
        }
        response = post_to_checked(
            self._client, target, who="the webhook receiver", content=body, headers=headers
        )
        if isinstance(response, DeliveryResult):
            return response
        return classify(response, provider_id=message.id)
