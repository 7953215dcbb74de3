"""The in-app inbox as the shop's app sees it: a customer's messages, newest first, and marking
one read or archived (the in-app channel writes them: :mod:`retentio.channels.inbox`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from retentio.privacy.errors import NotFoundError
from retentio.store.channel_tables import InboxMessage
from retentio.store.customers import customer_by_external_id

__all__ = ["InboxPage", "list_inbox", "mark_inbox_message"]

MARKS = ("read", "archived")


@dataclass(frozen=True, slots=True)
class InboxPage:
    """Up to ``limit`` messages, the unread count, and the id to page on from."""

    messages: list[dict[str, Any]]
    unread: int
    next_before: int | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _customer_id(session: Session, external_id: str) -> int:
    customer = customer_by_external_id(session, external_id)
    if customer is None or customer.erased_at is not None:
        raise NotFoundError(f"no customer with external_id {external_id!r}")
    return customer.id


def _row(message: InboxMessage) -> dict[str, Any]:
    names = ("id", "title", "text", "html", "link", "created_at", "read_at", "archived_at")
    return {name: getattr(message, name) for name in names}


def list_inbox(
    session: Session,
    external_id: str,
    *,
    before: int | None = None,
    limit: int = 20,
    archived: bool = False,
) -> InboxPage:
    """The customer's messages, newest first; ``before`` a message id to page from; archived
    ones only with ``archived``."""
    customer_id = _customer_id(session, external_id)
    m = InboxMessage
    query = select(m).where(m.customer_id == customer_id).order_by(m.id.desc()).limit(limit + 1)
    if before is not None:
        query = query.where(m.id < before)
    if not archived:
        query = query.where(m.archived_at.is_(None))
    rows = list(session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    unread = session.scalar(
        select(func.count())
        .select_from(m)
        .where(m.customer_id == customer_id, m.read_at.is_(None), m.archived_at.is_(None))
    )
    return InboxPage(
        messages=[_row(r) for r in rows],
        unread=int(unread or 0),
        next_before=rows[-1].id if more else None,
    )


def mark_inbox_message(
    session: Session, external_id: str, message_id: int, mark: str, *, now: datetime
) -> dict[str, Any]:
    """Mark one of the customer's messages ``read`` or ``archived`` (committed; marking twice
    keeps the first time)."""
    if mark not in MARKS:
        raise ValueError(f"mark: one of {', '.join(MARKS)}")
    customer_id = _customer_id(session, external_id)
    column = InboxMessage.read_at if mark == "read" else InboxMessage.archived_at
    mine = (InboxMessage.id == message_id) & (InboxMessage.customer_id == customer_id)
    session.execute(update(InboxMessage).where(mine, column.is_(None)).values({column: now}))
    query = select(InboxMessage).where(mine).execution_options(populate_existing=True)
    message = session.scalars(query).one_or_none()
    if message is None:
        session.rollback()
        raise NotFoundError(f"no inbox message {message_id} of customer {external_id!r}")
    session.commit()
    return _row(message)
