"""Push messages to a customer's devices: Web Push (RFC 8030, encrypted per RFC 8291, VAPID
per RFC 8292) for browsers, and a generic HTTP adapter for the shop's mobile push gateway.

A customer may have several devices (``push_subscriptions``); one delivery goes to each that
is not revoked. It is ``sent`` when at least one device took it. A push service that answers
404 or 410 says the subscription is gone: it is revoked at once (``on_gone``) and never tried
again; when every device is gone the delivery bounces (no address is suppressed: a push
subscription is not an address). A device that answers 5xx or 429 while no other took the
message makes it ``transient``.

- **Web Push.** The payload, JSON ``{"title", "body", "url", "tag"}`` for the site's service
  worker, is encrypted with the browser's ``p256dh`` and ``auth`` keys (``aes128gcm``, by
  pywebpush) and posted with a VAPID ``Authorization`` header signed by the shop's key
  (``RETENTIO_VAPID_PRIVATE_KEY_FILE``; ``RETENTIO_VAPID_SUBJECT``, a ``mailto:`` or https
  contact for the push services). Endpoints come from browsers, so they pass the same SSRF
  guard as webhooks (:func:`retentio.channels.ssrf.check_url`) and are called at the
  checked address.
- **A push gateway** (the shop's own service in front of APNs and FCM): ``POST
  RETENTIO_PUSH_GATEWAY_URL`` with ``{"to": <device token>, "platform": "ios"|"android",
  "title", "body", "url", "reference"}`` and ``RETENTIO_PUSH_GATEWAY_AUTH`` as the
  ``Authorization`` header; 404, 410 or a reason ``unregistered``/``invalid_token`` revoke the
  token.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

import httpx
import orjson
from cryptography.hazmat.primitives import serialization

from retentio.channels.base import DeliveryResult
from retentio.channels.http import HttpClientOwner, classify, post, post_to_checked, provider_reason
from retentio.channels.ssrf import Network, Resolver, UnsafeUrl, check_url
from retentio.core.errors import ConfigurationError

__all__ = [
    "GatewaySender",
    "OutgoingPush",
    "PushChannel",
    "PushTarget",
    "VapidKey",
    "WebPushSender",
    "generate_vapid_key",
]

#: How long a push service keeps a message for a device that is offline (4 weeks at most).
DEFAULT_TTL_SECONDS = 2 * 24 * 3600
_GONE_REASONS = frozenset({"unregistered", "invalid_token", "not_registered", "gone"})
#: A VAPID token is signed for this long and reused meanwhile (RFC 8292 allows 24 hours).
_VAPID_SECONDS = 12 * 3600


@dataclass(frozen=True, slots=True)
class PushTarget:
    """One device: ``kind`` ``web`` (``endpoint`` with ``p256dh`` and ``auth``) or
    ``gateway`` (``endpoint`` is the device token, ``platform`` ios or android)."""

    id: int
    kind: str
    endpoint: str
    p256dh: str | None = None
    auth: str | None = None
    platform: str | None = None


@dataclass(frozen=True, slots=True)
class OutgoingPush:
    """One push message for every device in ``targets``."""

    reference: str
    title: str
    text: str
    link: str | None
    targets: tuple[PushTarget, ...]

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {"title": self.title, "body": self.text, "tag": self.reference}
        if self.link:
            body["url"] = self.link
        return body


def _web_push() -> Any:
    """pywebpush and py_vapid, of the ``push`` extra: (Vapid, WebPusher, WebPushException)."""
    try:
        from py_vapid import Vapid  # type: ignore[import-untyped]  # noqa: PLC0415
        from pywebpush import WebPusher, WebPushException  # type: ignore[import-untyped]  # noqa: PLC0415
    except ImportError:
        raise ConfigurationError(
            "Web Push needs the push extra: pip install 'retentio[push]'"
        ) from None
    return Vapid, WebPusher, WebPushException


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True)
class VapidKey:
    """The shop's VAPID key pair and contact (``sub``)."""

    private_pem: bytes
    subject: str

    @classmethod
    def load(cls, path: str | Path, subject: str | None) -> VapidKey:
        """The key of a PEM file; a ConfigurationError naming the setting when unusable."""
        if not subject or not subject.startswith(("mailto:", "https://")):
            raise ConfigurationError(
                "RETENTIO_VAPID_SUBJECT: a contact for the push services, mailto:ops@shop.example "
                "or an https:// address"
            )
        vapid, _pusher, _error = _web_push()
        try:
            pem = Path(path).read_bytes()
            vapid.from_pem(pem)
        except OSError as exc:
            raise ConfigurationError(f"RETENTIO_VAPID_PRIVATE_KEY_FILE: {exc}") from None
        except Exception:  # noqa: BLE001 (py_vapid raises what the parser raises)
            raise ConfigurationError(
                "RETENTIO_VAPID_PRIVATE_KEY_FILE: not a P-256 private key in PEM "
                "(make one with: retentio push vapid-keys)"
            ) from None
        return cls(pem, subject)

    @property
    def public_key(self) -> str:
        """The application server key browsers subscribe with (base64url, uncompressed)."""
        key = _web_push()[0].from_pem(self.private_pem).public_key
        point = key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return _b64url(point)


def generate_vapid_key() -> tuple[bytes, str]:
    """A new VAPID key pair: (the private key as PEM, the public key as browsers want it)."""
    vapid = _web_push()[0]()
    vapid.generate_keys()
    pem: bytes = vapid.private_pem()
    return pem, VapidKey(pem, "mailto:x").public_key


class WebPushSender(HttpClientOwner):
    """Sends to browsers' Web Push endpoints, behind the SSRF guard."""

    def __init__(
        self,
        key: VapidKey,
        *,
        allowed: tuple[Network, ...] = (),
        resolver: Resolver | None = None,
        verify_tls: Any = True,
        timeout_seconds: float = 10.0,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        vapid, self._pusher, self._error = _web_push()
        self._vapid = vapid.from_pem(key.private_pem)
        self._subject, self._allowed, self._resolver = key.subject, allowed, resolver
        self._ttl, self._clock = ttl_seconds, clock
        self._tokens: dict[str, tuple[float, dict[str, str]]] = {}
        self._client = httpx.Client(
            headers={"User-Agent": "retentio-push"},
            timeout=timeout_seconds,
            follow_redirects=False,
            verify=verify_tls,
        )

    def _authorization(self, endpoint: str) -> dict[str, str]:
        """The VAPID header for the push service of ``endpoint``, signed once per 12 hours."""
        parts = urlsplit(endpoint)
        audience = f"{parts.scheme}://{parts.netloc}"
        now = self._clock()
        cached = self._tokens.get(audience)
        if cached is None or cached[0] < now + 3600:
            expires = int(now) + _VAPID_SECONDS
            claims = {"sub": self._subject, "aud": audience, "exp": expires}
            cached = (float(expires), dict(self._vapid.sign(claims)))
            self._tokens[audience] = cached
        return cached[1]

    def send(self, target: PushTarget, payload: bytes) -> DeliveryResult:
        try:
            safe = check_url(target.endpoint, allowed=self._allowed, resolver=self._resolver)
        except UnsafeUrl as exc:
            return DeliveryResult("permanent", str(exc), refused=True)
        subscription = {
            "endpoint": target.endpoint,
            "keys": {"p256dh": target.p256dh or "", "auth": target.auth or ""},
        }
        try:
            encrypted = self._pusher(subscription).encode(payload, "aes128gcm")["body"]
        except (self._error, ValueError, TypeError) as exc:  # keys a browser got wrong
            return DeliveryResult("permanent", f"the subscription's keys: {exc}", refused=True)
        headers = {
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
            "TTL": str(self._ttl),
            "Urgency": "normal",
            **self._authorization(target.endpoint),
        }
        response = post_to_checked(
            self._client, safe, who="the push service", content=encrypted, headers=headers
        )
        if isinstance(response, DeliveryResult):
            return response
        return classify(response, gone_is_permanent=True)


class GatewaySender(HttpClientOwner):
    """Sends to the shop's mobile push gateway (configured by the operator: no SSRF guard)."""

    def __init__(
        self,
        url: str,
        *,
        authorization: str | None = None,
        timeout_seconds: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not url.startswith(("https://", "http://")):
            raise ConfigurationError(f"RETENTIO_PUSH_GATEWAY_URL: an http(s):// address: {url!r}")
        headers = {"User-Agent": "retentio-push"}
        if authorization:
            headers["Authorization"] = authorization
        self._url = url
        self._client = httpx.Client(
            headers=headers, timeout=timeout_seconds, follow_redirects=False, transport=transport
        )

    def send(self, target: PushTarget, message: OutgoingPush) -> DeliveryResult:
        body = {
            "to": target.endpoint,
            "platform": target.platform,
            "title": message.title,
            "body": message.text,
            "url": message.link,
            "reference": message.reference,
        }
        key = f"{message.reference}.{target.id}"
        response = post(
            self._client,
            self._url,
            who="the push gateway",
            json=body,
            headers={"Idempotency-Key": key},
        )
        if isinstance(response, DeliveryResult):
            return response
        if provider_reason(response) in _GONE_REASONS:
            return DeliveryResult(
                "permanent", f"HTTP {response.status_code} token gone", refused=True
            )
        return classify(response, gone_is_permanent=True)


class PushChannel:
    """The push channel: each device of the message through its sender; ``on_gone`` is told
    the ids of subscriptions a push service said are gone, ``on_sent`` those that took it."""

    def __init__(
        self,
        *,
        web: WebPushSender | None = None,
        gateway: GatewaySender | None = None,
        on_gone: Callable[[Sequence[int]], None] = lambda _ids: None,
        on_sent: Callable[[Sequence[int]], None] = lambda _ids: None,
    ) -> None:
        if web is None and gateway is None:
            raise ConfigurationError(
                "push needs RETENTIO_VAPID_PRIVATE_KEY_FILE (Web Push) or "
                "RETENTIO_PUSH_GATEWAY_URL (a mobile push gateway)"
            )
        self.web, self.gateway = web, gateway
        self._on_gone, self._on_sent = on_gone, on_sent

    @property
    def kinds(self) -> tuple[str, ...]:
        """The kinds of subscription this channel reaches."""
        return tuple(k for k, s in (("web", self.web), ("gateway", self.gateway)) if s)

    def send(self, message: OutgoingPush) -> DeliveryResult:
        """Send to every device; the combined outcome (see the module's docstring)."""
        payload = orjson.dumps(message.payload())
        results: list[tuple[PushTarget, DeliveryResult]] = []
        for target in message.targets:
            if target.kind == "web" and self.web is not None:
                results.append((target, self.web.send(target, payload)))
            elif target.kind == "gateway" and self.gateway is not None:
                results.append((target, self.gateway.send(target, message)))
        sent = [t.id for t, r in results if r.status == "sent"]
        gone = [t.id for t, r in results if r.status == "permanent"]
        if gone:
            self._on_gone(gone)
        if sent:
            self._on_sent(sent)
            return DeliveryResult("sent", f"to {len(sent)} of {len(results)} devices")
        if not results:
            return DeliveryResult("rejected", "no device this worker can reach")
        transient = [r for _, r in results if r.status == "transient"]
        if transient:
            wait = max((r.retry_after or 0.0 for r in transient), default=0.0)
            return DeliveryResult("transient", transient[0].detail, retry_after=wait or None)
        if len(gone) == len(results):
            return DeliveryResult("permanent", f"every device is gone: {results[0][1].detail}")
        return DeliveryResult("rejected", results[0][1].detail)

    def close(self) -> None:
        for sender in (self.web, self.gateway):
            if sender is not None:
                sender.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.close()
