"""Segments in the store: saved definitions, counts, previews, exports and memberships.

Every evaluation is one set-based query (``segments.sql``). A refresh records who entered and
who left since the last one in ``segment_memberships`` (two statements, one transaction), so
"entered segment" can start a journey; the previous members are never read into Python.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, func, insert, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from retentio.core.clock import Clock, SystemClock
from retentio.segments.definition import SegmentDefinition, SegmentError, parse_definition
from retentio.segments.sql import member_ids, member_query
from retentio.store.tables import Customer, CustomerScore, Segment, SegmentMembership
from retentio.store.transactions import begin_write

__all__ = [
    "PREVIEW_LIMIT",
    "Member",
    "RefreshResult",
    "SavedSegment",
    "SegmentNotFound",
    "count_members",
    "delete_segment",
    "export_members",
    "find_segment",
    "list_members",
    "list_segments",
    "preview_members",
    "refresh_segment",
    "save_segment",
    "scores_as_of",
]

PREVIEW_LIMIT = 20
MEMBERSHIPS: Table = SegmentMembership.__table__  # type: ignore[assignment]
SCORES: Table = CustomerScore.__table__  # type: ignore[assignment]
_EXPORT_CHUNK = 10_000


class SegmentNotFound(SegmentError):
    """No saved segment has that name."""

    def __init__(self, name: str) -> None:
        super().__init__("name", f"no segment is called {name!r} (retentio segment list)")


@dataclass(frozen=True, slots=True)
class SavedSegment:
    """A stored segment: its definition and the state of its last refresh."""

    id: int
    definition: SegmentDefinition
    created_at: datetime
    updated_at: datetime
    refreshed_at: datetime | None
    members: int

    @property
    def name(self) -> str:
        return self.definition.name

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "name": self.name,
            "description": self.definition.description,
            "definition": dict(self.definition.source or {}),
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "refreshed_at": self.refreshed_at.isoformat() if self.refreshed_at else None,
            "members": self.members,
        }


@dataclass(frozen=True, slots=True)
class RefreshResult:
    """What a refresh changed: customers who entered, who left, and the members now."""

    segment: str
    entered: int
    exited: int
    members: int
    refreshed_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "segment": self.segment,
            "entered": self.entered,
            "exited": self.exited,
            "members": self.members,
            "refreshed_at": self.refreshed_at.isoformat(),
        }


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def count_members(
    session: Session, definition: SegmentDefinition, *, clock: Clock | None = None
) -> int:
    """How many customers are in ``definition`` now (one query; nothing is written)."""
    now = (clock or SystemClock()).now()
    ids = member_ids(definition, now=now, dialect=_dialect(session)).subquery()
    return int(session.execute(select(func.count()).select_from(ids)).scalar_one())


def preview_members(
    session: Session,
    definition: SegmentDefinition,
    *,
    limit: int = PREVIEW_LIMIT,
    clock: Clock | None = None,
) -> list[dict[str, Any]]:
    """Up to ``limit`` members (by external id), each with the values of the fields the
    definition tests: enough to see why they are in. No contact details."""
    query = _members(session, definition, clock, ())
    return [_plain_row(row) for row in session.execute(query.limit(limit))]


def export_members(
    session: Session,
    definition: SegmentDefinition,
    *,
    columns: Sequence[str] = (),
    clock: Clock | None = None,
) -> Iterator[dict[str, Any]]:
    """Every member (by external id) with the tested fields and ``columns``, streamed."""
    query = _members(session, definition, clock, columns)
    for row in session.execute(query, execution_options={"yield_per": _EXPORT_CHUNK}):
        yield _plain_row(row)


def _members(
    session: Session, definition: SegmentDefinition, clock: Clock | None, columns: Sequence[str]
) -> Any:
    """The members with their external id, the tested fields and ``columns``, by external id."""
    now = (clock or SystemClock()).now()
    shown = tuple(dict.fromkeys([*sorted(definition.fields()), *columns]))
    query = member_query(definition, now=now, dialect=_dialect(session), columns=shown)
    return query.order_by("external_id")


def _plain_row(row: Any) -> dict[str, Any]:
    values = dict(row._mapping)
    values.pop("customer_id", None)
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in values.items()}


def scores_as_of(session: Session) -> datetime | None:
    """When the stored scores were computed (None: never; run ``retentio scores refresh``)."""
    at: datetime | None = session.execute(select(func.max(SCORES.c.computed_at))).scalar()
    return at


# -- saved segments ----------------------------------------------------------------------


def save_segment(
    session: Session, data: Any, *, clock: Clock | None = None
) -> tuple[SavedSegment, bool]:
    """Create or replace the segment named in ``data`` (a definition mapping); commits.

    Returns the saved segment and whether it was created. A changed definition keeps the
    memberships: the next refresh moves customers in and out by the new rule. The query is
    built first, so a definition that could not be evaluated is refused, not saved. Two
    first saves of one name at once: the one that loses the race replaces the other's.
    """
    definition = parse_definition(data)
    now = (clock or SystemClock()).now()
    member_ids(definition, now=now, dialect=_dialect(session))  # raises SegmentError
    try:
        return _write_segment(session, definition, now)
    except IntegrityError:  # PostgreSQL: another request created the name meanwhile
        session.rollback()
        return _write_segment(session, definition, now)


def _write_segment(
    session: Session, definition: SegmentDefinition, now: datetime
) -> tuple[SavedSegment, bool]:
    begin_write(session)
    row = session.scalars(select(Segment).where(Segment.name == definition.name)).one_or_none()
    created = row is None
    if row is None:
        row = Segment(name=definition.name, created_at=now, members=0)
        session.add(row)
    row.description = definition.description
    row.definition = dict(definition.source or {})
    row.updated_at = now
    session.commit()
    return _saved(row), created


def find_segment(session: Session, name: str) -> SavedSegment:
    """The saved segment ``name``, or SegmentNotFound."""
    return _saved(_row(session, name))


def list_segments(session: Session) -> list[SavedSegment]:
    """Every saved segment, by name."""
    return [_saved(row) for row in session.scalars(select(Segment).order_by(Segment.name))]


def delete_segment(session: Session, name: str) -> None:
    """Delete the segment ``name`` and its membership history; commits."""
    begin_write(session)
    row = _row(session, name)
    session.execute(delete(MEMBERSHIPS).where(MEMBERSHIPS.c.segment_id == row.id))
    session.delete(row)
    session.commit()


@dataclass(frozen=True, slots=True)
class Member:
    """A current member of a saved segment (as of its last refresh)."""

    membership_id: int
    external_id: str
    entered_at: datetime


def list_members(session: Session, name: str, *, after: int = 0, limit: int = 100) -> list[Member]:
    """The segment's members at its last refresh, in the order they entered (keyset pages:
    pass the last ``membership_id`` seen as ``after``)."""
    segment = _row(session, name)
    m, c = MEMBERSHIPS.c, Customer.__table__.c
    rows = session.execute(
        select(m.id, c.external_id, m.entered_at)
        .join_from(MEMBERSHIPS, Customer.__table__, c.id == m.customer_id)
        .where(m.segment_id == segment.id, m.exited_at.is_(None), m.id > after)
        .order_by(m.id)
        .limit(limit)
    ).all()
    return [Member(row[0], row[1], row[2]) for row in rows]


def _row(session: Session, name: str) -> Segment:
    row = session.scalars(select(Segment).where(Segment.name == name)).one_or_none()
    if row is None:
        raise SegmentNotFound(name)
    return row


def _saved(row: Segment) -> SavedSegment:
    return SavedSegment(
        id=row.id,
        definition=parse_definition(row.definition),
        created_at=row.created_at,
        updated_at=row.updated_at,
        refreshed_at=row.refreshed_at,
        members=row.members,
    )


def refresh_segment(session: Session, name: str, *, clock: Clock | None = None) -> RefreshResult:
    """Evaluate the saved segment ``name`` and record who entered and who left; commits.

    Entering opens a membership (``entered_at`` = now); leaving closes it (``exited_at``).
    Erased customers leave. Safe to run concurrently: SQLite serialises the writers, and on
    PostgreSQL the segment's row is locked for the refresh.
    """
    now = (clock or SystemClock()).now()
    connection = begin_write(session)
    segment = session.scalars(
        select(Segment).where(Segment.name == name).with_for_update()
    ).one_or_none()
    if segment is None:
        raise SegmentNotFound(name)
    definition = parse_definition(segment.definition)
    members = member_ids(definition, now=now, dialect=_dialect(session))
    m = MEMBERSHIPS.c
    open_ = (m.segment_id == segment.id) & m.exited_at.is_(None)
    count_open = select(func.count()).select_from(MEMBERSHIPS).where(open_)
    before = int(connection.execute(count_open).scalar_one())
    exited = connection.execute(
        update(MEMBERSHIPS).where(open_, m.customer_id.not_in(members)).values(exited_at=now)
    ).rowcount
    current = select(m.customer_id).where(open_)
    new = members.where(members.selected_columns[0].not_in(current))
    connection.execute(  # its rowcount is not reported on PostgreSQL: counted below
        insert(MEMBERSHIPS).from_select(
            ["segment_id", "customer_id", "entered_at"],
            select(
                literal(segment.id),
                new.subquery().c.customer_id,
                literal(now, MEMBERSHIPS.c.entered_at.type),
            ),
        )
    )
    total = int(connection.execute(count_open).scalar_one())
    segment.refreshed_at = now
    segment.members = total
    session.commit()
    return RefreshResult(name, total - (before - exited), exited, total, now)
