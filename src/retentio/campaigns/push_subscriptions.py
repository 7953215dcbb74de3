"""Push subscriptions: the shop's site or app registers a customer's device (a browser's Web
Push subscription, or a device token of its push gateway), and the push channel revokes one a
push service says is gone.

Registering the same endpoint again updates its keys and lifts a revocation (the browser
subscribed anew); revoking is for the customer who turns notifications off.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from retentio.channels.ssrf import UnsafeUrl, check_url
from retentio.core.errors import DataError
from retentio.privacy.errors import NotFoundError
from retentio.store.channel_tables import PushSubscription
from retentio.store.customers import customer_by_external_id

__all__ = [
    "PLATFORMS",
    "RegisteredDevice",
    "mark_devices",
    "register_push_subscription",
    "revoke_push_subscription",
]

PLATFORMS = ("ios", "android", "web")
#: Stands for a name's address at registration: any global address passes the check.
_PUBLIC = "93.184.215.14"
_KEY_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=")


@dataclass(frozen=True, slots=True)
class RegisteredDevice:
    id: int
    kind: str
    platform: str | None
    created_at: datetime
    revoked_at: datetime | None

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "kind": self.kind,
            "platform": self.platform,
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
        }


def _customer_id(session: Session, external_id: str) -> int:
    customer = customer_by_external_id(session, external_id)
    if customer is None or customer.erased_at is not None:
        raise NotFoundError(f"no customer with external_id {external_id!r}")
    return customer.id


def _numeric_only(host: str, port: int) -> list[str]:
    """The address a numeric host spells (``127.1``, ``[::1]``); a name is not looked up at
    registration (the channel resolves and checks it at every send)."""
    try:
        infos = socket.getaddrinfo(host, port, flags=socket.AI_NUMERICHOST)
    except socket.gaierror:
        return [_PUBLIC]
    return [str(info[4][0]) for info in infos]


def _key(name: str, value: str | None, low: int, high: int) -> str:
    if not value or not low <= len(value) <= high or not set(value) <= _KEY_CHARS:
        raise DataError(f"{name}: the subscription's base64url key ({low}-{high} characters)")
    return value


def register_push_subscription(
    session: Session,
    external_id: str,
    *,
    kind: str,
    endpoint: str,
    p256dh: str | None = None,
    auth: str | None = None,
    platform: str | None = None,
    now: datetime,
) -> RegisteredDevice:
    """Register (or renew) a device of the customer (committed)."""
    customer_id = _customer_id(session, external_id)
    if kind == "web":
        if len(endpoint) > 2000:
            raise DataError("endpoint: at most 2,000 characters")
        try:  # refuse now what the channel would refuse at every send
            check_url(endpoint, resolver=_numeric_only)
        except UnsafeUrl as exc:
            raise DataError(str(exc).replace("webhook url", "endpoint")) from None
        p256dh, auth = _key("keys.p256dh", p256dh, 80, 100), _key("keys.auth", auth, 16, 30)
        platform = "web"
    elif kind == "gateway":
        if not endpoint or len(endpoint) > 2000:
            raise DataError("token: the device token, 1 to 2,000 characters")
        if platform not in ("ios", "android"):
            raise DataError("platform: ios or android")
        p256dh = auth = None
    else:
        raise DataError("kind: web (a browser's Web Push subscription) or gateway (a device token)")
    row = session.scalars(
        select(PushSubscription).where(
            PushSubscription.customer_id == customer_id, PushSubscription.endpoint == endpoint
        )
    ).one_or_none()
    if row is None:
        row = PushSubscription(customer_id=customer_id, endpoint=endpoint, created_at=now)
        session.add(row)
    row.kind, row.p256dh, row.auth, row.platform, row.revoked_at = (
        kind,
        p256dh,
        auth,
        platform,
        None,
    )
    session.commit()
    return RegisteredDevice(row.id, row.kind, row.platform, row.created_at, row.revoked_at)


def revoke_push_subscription(
    session: Session, external_id: str, endpoint: str, *, now: datetime
) -> bool:
    """Revoke a device of the customer (committed); False when it was not registered."""
    customer_id = _customer_id(session, external_id)
    p = PushSubscription
    done = session.execute(
        update(p)
        .where(p.customer_id == customer_id, p.endpoint == endpoint, p.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    session.commit()
    return bool(getattr(done, "rowcount", 0))


def mark_devices(engine: Engine, ids: Sequence[int], *, now: datetime, gone: bool) -> None:
    """After a push: revoke the subscriptions a push service said are ``gone``, or note when
    the others last took a message."""
    if not ids:
        return
    values = {"revoked_at": now} if gone else {"last_sent_at": now}
    with engine.begin() as connection:
        connection.execute(
            update(PushSubscription).where(PushSubscription.id.in_(list(ids))).values(values)
        )
