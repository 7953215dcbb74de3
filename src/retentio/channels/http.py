"""What the HTTP channels (SMS provider, push gateways, webhooks) share: how a provider's answer
is classified for the delivery engine.

- 2xx: ``sent``.
- 408, 425, 429 and 5xx, a timeout or a connection that failed: ``transient`` (tried again
  later; a ``Retry-After`` of up to a day is kept in the detail and honoured).
- 401 and 403: ``transient`` too: a credential of ours that is wrong or expired is fixed by
  the operator, and no recipient should pay for it.
- 404 and 410 from a push service: the subscription is gone (``permanent``).
- Any other 4xx: ``rejected`` (the provider will never take this message), unless its JSON
  body names a reason about the recipient (``invalid_number``, ``unreachable``, ``blocked``,
  ``opted_out``, ``landline``): then ``permanent``, and the address is suppressed.
"""

from __future__ import annotations

from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, Self

import httpx

from retentio.channels.base import DeliveryResult
from retentio.channels.ssrf import SafeTarget

__all__ = [
    "RECIPIENT_REASONS",
    "HttpClientOwner",
    "classify",
    "post",
    "post_to_checked",
    "provider_reason",
    "retry_after",
]

#: Reasons a provider may give that are about the recipient, not the message or the account.
RECIPIENT_REASONS = frozenset({"invalid_number", "unreachable", "blocked", "opted_out", "landline"})
_TRANSIENT = frozenset({401, 403, 408, 425, 429})
_MAX_RETRY_AFTER = 86_400.0


def retry_after(response: httpx.Response) -> float | None:
    """The seconds a ``Retry-After`` header asks to wait (seconds or an HTTP date), capped at
    a day; None when absent or unreadable."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        date = response.headers.get("date")
        now = parsedate_to_datetime(date) if date else None
        if now is None:
            return None
        seconds = (moment - now).total_seconds()
    return min(max(seconds, 0.0), _MAX_RETRY_AFTER)


def provider_reason(response: httpx.Response) -> str | None:
    """The ``reason`` (or ``error``, or ``error.code``) of a JSON answer, lower-cased."""
    try:
        body: Any = response.json()
    except ValueError:
        return None
    if not isinstance(body, Mapping):
        return None
    reason = body.get("reason", body.get("error"))
    if isinstance(reason, Mapping):
        reason = reason.get("code")
    return str(reason).lower() if isinstance(reason, str | int) else None


def classify(
    response: httpx.Response, *, provider_id: str | None = None, gone_is_permanent: bool = False
) -> DeliveryResult:
    """The delivery engine's view of ``response`` (see the module's docstring)."""
    code = response.status_code
    reason = provider_reason(response)
    detail = f"HTTP {code}" + (f" {reason}" if reason else "")
    if 200 <= code < 300:
        return DeliveryResult("sent", detail, provider_id=provider_id, code=code)
    if code in _TRANSIENT or code >= 500:
        wait = retry_after(response)
        if wait is not None:
            detail += f" (retry after {wait:g} s)"
        return DeliveryResult("transient", detail, code=code, retry_after=wait)
    if gone_is_permanent and code in (404, 410):
        return DeliveryResult(
            "permanent", detail + " (the subscription is gone)", code=code, refused=True
        )
    if reason in RECIPIENT_REASONS:
        return DeliveryResult("permanent", detail, code=code, refused=True)
    return DeliveryResult("rejected", detail, code=code)


def post(
    client: httpx.Client, url: str, *, who: str, **request: Any
) -> httpx.Response | DeliveryResult:
    """POST with ``client``; a timeout or a connection that failed is a ``transient``
    result naming ``who`` (the SMS provider, the push service...)."""
    try:
        return client.post(url, **request)
    except httpx.TimeoutException:
        return DeliveryResult("transient", f"{who} did not answer in time")
    except httpx.HTTPError as exc:
        return DeliveryResult("transient", f"cannot reach {who}: {exc}")


def post_to_checked(
    client: httpx.Client,
    target: SafeTarget,
    *,
    who: str,
    content: bytes,
    headers: Mapping[str, str],
) -> httpx.Response | DeliveryResult:
    """POST to the address the SSRF guard checked, with the host name for ``Host`` and TLS."""
    return post(
        client,
        target.connect_url,
        who=who,
        content=content,
        headers={"Host": target.host_header, **headers},
        extensions={"sni_hostname": target.host},
    )


class HttpClientOwner:
    """An adapter that owns one ``httpx.Client`` (``self._client``): closing it closes that."""

    _client: httpx.Client

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.close()
