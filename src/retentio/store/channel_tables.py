"""The tables the channels keep beyond the outbox: the in-app inbox and the push subscriptions.

The in-app channel's "send" is a row of ``inbox_messages`` (one per delivery, so a retried
delivery writes it once), which the shop's app reads through the API. A push subscription is
a browser's Web Push endpoint with its keys, or a device token of a mobile push gateway; a
push service that answers "gone" revokes it. Both belong to the customer and go with them on
erasure.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from retentio.store.campaign_tables import BigId
from retentio.store.tables import Base

__all__ = ["InboxMessage", "PushSubscription"]


class InboxMessage(Base):
    """A message in a customer's in-app inbox; ``read_at`` and ``archived_at`` are the app's."""

    __tablename__ = "inbox_messages"
    __table_args__ = (Index("ix_inbox_messages_customer", "customer_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    delivery_id: Mapped[int | None] = mapped_column(BigId, unique=True)
    title: Mapped[str] = mapped_column(String(300))
    text: Mapped[str] = mapped_column(Text, default="")
    html: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[datetime]
    read_at: Mapped[datetime | None]
    archived_at: Mapped[datetime | None]


class PushSubscription(Base):
    """Where push messages reach one of a customer's devices.

    ``kind`` ``web``: ``endpoint`` is the browser's Web Push URL, with its ``p256dh`` and
    ``auth`` keys. ``kind`` ``gateway``: ``endpoint`` is the device token the shop's mobile
    push gateway knows, ``platform`` (ios, android) tells the gateway which service to use.
    """

    __tablename__ = "push_subscriptions"
    __table_args__ = (UniqueConstraint("customer_id", "endpoint"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    endpoint: Mapped[str] = mapped_column(String(2000))
    p256dh: Mapped[str | None] = mapped_column(String(200))
    auth: Mapped[str | None] = mapped_column(String(100))
    platform: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    last_sent_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
