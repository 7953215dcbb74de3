"""The in-app inbox: "sending" writes the message into the customer's inbox, which the shop's
app reads through the API (``GET /api/v1/customers/{external_id}/inbox``).

One row per delivery (``inbox_messages.delivery_id`` is unique): a delivery tried again after
a crash finds its message there and counts as sent, so the inbox never shows it twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, Table, insert, select
from sqlalchemy.exc import IntegrityError, OperationalError

from retentio.channels.base import DeliveryResult
from retentio.store.channel_tables import InboxMessage

__all__ = ["InboxChannel", "OutgoingInboxMessage"]

INBOX: Table = InboxMessage.__table__  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class OutgoingInboxMessage:
    """One inbox message: ``title`` (the rendered subject), a text and/or HTML body, and where
    tapping it leads (``link``)."""

    delivery_id: int
    customer_id: int
    title: str
    text: str
    html: str
    link: str | None
    created_at: datetime


class InboxChannel:
    """Writes inbox messages through ``engine``, each in its own short transaction."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def send(self, message: OutgoingInboxMessage) -> DeliveryResult:
        """Put the message in the inbox (once per delivery)."""
        row = {
            "customer_id": message.customer_id,
            "delivery_id": message.delivery_id,
            "title": message.title[:300],
            "text": message.text,
            "html": message.html,
            "link": message.link,
            "created_at": message.created_at,
        }
        try:
            with self._engine.begin() as connection:
                found = connection.execute(
                    insert(INBOX).values(**row).returning(INBOX.c.id)
                ).scalar_one()
        except IntegrityError:
            with self._engine.connect() as connection:
                found = connection.execute(
                    select(INBOX.c.id).where(INBOX.c.delivery_id == message.delivery_id)
                ).scalar()
            if found is None:  # the customer is gone (erased meanwhile)
                return DeliveryResult("rejected", "the customer no longer exists")
            return DeliveryResult("sent", "already in the inbox", provider_id=str(found))
        except OperationalError as exc:
            return DeliveryResult("transient", f"cannot write the inbox: {exc.orig}")
        return DeliveryResult("sent", "in the inbox", provider_id=str(found))

    def close(self) -> None:
        """Nothing to close: the engine belongs to the caller."""
