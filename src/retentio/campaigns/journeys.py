"""Journeys: save and pause them, and move their entrants along (``advance_journeys``, which
the delivery worker runs before each claim).

Each round, per active journey (its row locked, so that two workers never advance the same
journey at once):

1. **Enrol.** Customers who entered the trigger segment (at a refresh), did the trigger
   event, or whose date attribute's anniversary day began on their clock
   (:mod:`retentio.campaigns.date_triggers`), since the journey's cursor get an entry,
   unless the re-entry rule says no. Entrants in the holdout are recorded with the arm
   ``control`` and go no further.
2. **Goal.** Entrants who ordered after they entered leave with ``goal`` (a purchase ends a
   win-back), and their messages not yet sent are skipped.
3. **Steps.** Each due entrant runs its steps until a wait: ``send`` queues a delivery in the
   outbox (unique per journey entry and step, so a repeated round queues nothing twice),
   ``wait`` sets the next due time, ``branch`` and ``split`` choose the next step, ``exit``
   and the last step end the entry.

Send steps are campaigns with a ``journey_id`` (no segment, never launched by hand): the
worker sends them, with the guards, exactly as it sends a campaign.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import Table, and_, case, exists, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from retentio.campaigns.date_triggers import candidate_days, entered_between
from retentio.campaigns.definition import CampaignError
from retentio.campaigns.guards import customer_zone
from retentio.campaigns.holdout import bucket, in_holdout
from retentio.campaigns.journey_definition import (
    SHARED_KEYS,
    Branch,
    Exit,
    JourneyDefinition,
    JourneyError,
    Send,
    Split,
    Wait,
    parse_journey,
)
from retentio.campaigns.service import CUSTOMERS, DELIVERIES, _stored
from retentio.campaigns.surveys import missing_surveys
from retentio.core.clock import Clock, SystemClock
from retentio.segments import SegmentDefinition, SegmentNotFound, find_segment, member_ids
from retentio.store.arrow import EXCLUDED_STATUSES
from retentio.store.campaign_tables import Campaign, Journey, JourneyEntry
from retentio.store.params import is_postgres
from retentio.store.tables import Event, Order, SegmentMembership
from retentio.store.transactions import begin_write

__all__ = [
    "JourneyConflict",
    "JourneyNotFound",
    "JourneyProgress",
    "SavedJourney",
    "advance_journeys",
    "find_journey",
    "list_journeys",
    "save_journey",
    "set_journey_status",
]

ENTRIES: Table = JourneyEntry.__table__  # type: ignore[assignment]
ORDERS: Table = Order.__table__  # type: ignore[assignment]
MEMBERSHIPS: Table = SegmentMembership.__table__  # type: ignore[assignment]
EVENTS: Table = Event.__table__  # type: ignore[assignment]
#: Entrants moved along per journey and round: the rest wait for the next round.
ROUND = 1000


class JourneyConflict(JourneyError):
    """A journey of that name exists already."""


class JourneyNotFound(JourneyError):
    """No journey of that name."""

    def __init__(self, name: str) -> None:
        super().__init__("name", f"no journey {name!r}")


@dataclass(frozen=True, slots=True)
class SavedJourney:
    """A stored journey, where it stands, and its entrants by status."""

    id: int
    definition: JourneyDefinition
    status: str
    created_at: datetime
    entries: dict[str, int] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.definition.name

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        d = self.definition
        return {
            "id": self.id,
            "name": d.name,
            "description": d.description,
            "status": self.status,
            "trigger": _trigger_dict(d),
            "goal": d.goal,
            "holdout": d.holdout,
            "channel": d.channel,
            "steps": [{"id": s.id, "kind": type(s).__name__.lower()} for s in d.steps],
            "created_at": self.created_at.isoformat(),
            "entries": self.entries,
        }


@dataclass(slots=True)
class JourneyProgress:
    """What a round did: entered, held out, reached the goal, queued, finished."""

    counts: Counter[str] = field(default_factory=Counter)

    def to_dict(self) -> dict[str, int]:
        return dict(sorted(self.counts.items()))


def save_journey(session: Session, data: Any, *, clock: Clock | None = None) -> SavedJourney:
    """Check and store a journey, active from now (committed); its send steps become
    campaigns. A journey of that name exists already: refused (pause it and save a new one:
    changing the steps under running entrants would move them to other steps)."""
    now = (clock or SystemClock()).now()
    definition = parse_journey(data)
    if definition.trigger_segment is not None:
        try:
            find_segment(session, definition.trigger_segment)
        except SegmentNotFound:
            raise JourneyError(
                "trigger.segment", f"no saved segment {definition.trigger_segment!r}"
            ) from None
    for number, step in enumerate(definition.steps):
        survey = step.message.survey if isinstance(step, Send) else None
        if survey is not None and missing_surveys(session, [survey]):
            raise JourneyError(f"steps[{number}].send.survey", f"no active survey {survey!r}")
    begin_write(session)
    if session.scalar(select(Journey.id).where(Journey.name == definition.name)) is not None:
        session.rollback()
        raise JourneyConflict("name", f"journey {definition.name!r} exists (pause it, save anew)")
    row = Journey(
        name=definition.name,
        definition=_stored(data),
        status="active",
        activated_at=now,
        cursor=now,
    )
    session.add(row)
    try:
        session.flush()
        for step in definition.steps:
            if isinstance(step, Send):
                message = step.message
                session.add(
                    Campaign(
                        name=message.name,
                        channel=message.channel,
                        purpose=message.purpose,
                        journey_id=row.id,
                        definition=_step_definition(data, step.id),
                        holdout=0.0,
                        status="journey",
                        launched_at=now,
                    )
                )
        session.commit()
    except IntegrityError:
        session.rollback()
        raise JourneyConflict("name", f"journey {definition.name!r} (or a step) exists") from None
    return _saved(session, row)


def _step_definition(data: Any, step_id: str) -> dict[str, Any]:
    """The campaign definition of a send step, as :func:`parse_journey` checked it."""
    step = next(s for n, s in enumerate(data["steps"]) if s.get("id", f"step-{n + 1}") == step_id)
    shared = {k: data[k] for k in SHARED_KEYS if k in data}
    survey = {"survey": step["send"]["survey"]} if "survey" in step["send"] else {}
    return _stored(
        {**shared, "name": f"{data['name']}--{step_id}", "segment": "-", "holdout": 0}
        | {"message": step["send"]["message"], **survey}
    )


def _saved(session: Session, row: Journey) -> SavedJourney:
    e = ENTRIES.c
    counts = session.execute(
        select(e.status, func.count()).where(e.journey_id == row.id).group_by(e.status)
    )
    return SavedJourney(
        row.id,
        parse_journey(row.definition),
        row.status,
        row.created_at,
        {str(status): int(n) for status, n in counts},
    )


def _row(session: Session, name: str) -> Journey:
    row = session.scalars(select(Journey).where(Journey.name == name)).one_or_none()
    if row is None:
        raise JourneyNotFound(name)
    return row


def _trigger_dict(d: JourneyDefinition) -> dict[str, Any]:
    if d.trigger_date:
        return {"date": d.trigger_date, "days_before": d.days_before}
    if d.trigger_segment:
        return {"segment": d.trigger_segment}
    return {"event": d.trigger_event}


def find_journey(session: Session, name: str) -> SavedJourney:
    """The journey of that name, with its entrants by status."""
    return _saved(session, _row(session, name))


def list_journeys(session: Session) -> list[SavedJourney]:
    """Every journey, by name."""
    rows = session.scalars(select(Journey).order_by(Journey.name)).all()
    return [_saved(session, row) for row in rows]


def set_journey_status(session: Session, name: str, status: str) -> SavedJourney:
    """Pause (``paused``: no one enters or moves on; queued messages still go) or resume
    (``active``) a journey; committed."""
    if status not in ("active", "paused"):
        raise JourneyError("status", "active or paused")
    begin_write(session)
    row = _row(session, name)
    row.status = status
    session.commit()
    return _saved(session, row)


# -- the rounds ----------------------------------------------------------------------------


def advance_journeys(session: Session, *, clock: Clock | None = None) -> JourneyProgress:
    """One round over every active journey (each committed on its own)."""
    now = (clock or SystemClock()).now()
    progress = JourneyProgress()
    ids = session.scalars(select(Journey.id).where(Journey.status == "active")).all()
    session.commit()
    for journey_id in ids:
        begin_write(session)
        query = select(Journey).where(Journey.id == journey_id, Journey.status == "active")
        if is_postgres(session.connection()):
            query = query.with_for_update(skip_locked=True)
        row = session.scalars(query).one_or_none()
        if row is None:  # paused meanwhile, or another worker has it
            session.rollback()
            continue
        _Round(session, row, now, progress).run()
        session.commit()
    return progress


class _Round:
    def __init__(
        self, session: Session, row: Journey, now: datetime, progress: JourneyProgress
    ) -> None:
        self.session, self.row, self.now, self.progress = session, row, now, progress
        self.definition = parse_journey(row.definition)
        self.key = f"journey:{row.id}"
        self.steps: dict[str, int] = dict(
            session.execute(
                select(Campaign.name, Campaign.id).where(Campaign.journey_id == row.id)
            ).all()
        )

    def run(self) -> None:
        self._enrol()
        if self.definition.goal == "order":
            self._goal()
        self._advance()

    # -- 1. enrol --------------------------------------------------------------------

    def _triggered(self) -> list[tuple[int, datetime]]:
        """(customer, when) of the triggers after the cursor, the first per customer."""
        d, since = self.definition, self.row.cursor
        if d.trigger_date is not None:
            return self._anniversaries(d.trigger_date, since)
        if d.trigger_segment is not None:
            try:
                segment_id = find_segment(self.session, d.trigger_segment).id
            except SegmentNotFound:
                return []  # deleted after the journey was saved: nobody enters
            m = MEMBERSHIPS.c
            query = (
                select(m.customer_id, func.min(m.entered_at))
                .where(m.segment_id == segment_id, m.entered_at > since)
                .group_by(m.customer_id)
            )
        else:
            ev = EVENTS.c
            query = (
                select(ev.customer_id, func.min(ev.occurred_at))
                .where(
                    ev.name == d.trigger_event,
                    ev.occurred_at > since,
                    ev.occurred_at <= self.now,
                )
                .group_by(ev.customer_id)
            )
        return [(int(c), at) for c, at in self.session.execute(query)]

    def _anniversaries(self, attribute: str, since: datetime) -> list[tuple[int, datetime]]:
        """Customers whose day before the anniversary of ``attribute`` began on their clock
        since the cursor (the cursor then moves to now)."""
        c = CUSTOMERS.c
        value = c.attributes[attribute].as_string()
        days = candidate_days(since, self.now, self.definition.days_before)
        query = select(c.id, c.time_zone, value).where(
            c.erased_at.is_(None), or_(*(value.like(f"%{day}") for day in sorted(days)))
        )
        found = []
        for customer, zone, text in self.session.execute(query):
            start = entered_between(
                text, customer_zone(zone), since, self.now, self.definition.days_before
            )
            if start is not None:
                found.append((int(customer), start))
        self.row.cursor = self.now
        return found

    def _enrol(self) -> None:
        triggered = self._triggered()
        if not triggered:
            return
        e = ENTRIES.c
        customers = [c for c, _ in triggered]
        last: dict[int, datetime] = {}
        query = (
            select(
                e.customer_id,
                func.max(e.entered_at),
                func.max(case((e.status == "active", 1), else_=0)),
            )
            .where(e.journey_id == self.row.id, e.customer_id.in_(customers))
            .group_by(e.customer_id)
        )
        active = set()
        for customer, entered, is_active in self.session.execute(query):
            last[int(customer)] = entered
            if is_active:
                active.add(int(customer))
        rule = self.definition.re_entry
        erased = set(
            self.session.scalars(
                select(CUSTOMERS.c.id).where(
                    CUSTOMERS.c.id.in_(customers), CUSTOMERS.c.erased_at.is_not(None)
                )
            )
        )
        rows = []
        for customer, _at in triggered:
            if customer in active or customer in erased:
                continue
            if customer in last:
                if rule is False:
                    continue
                if rule is not True and self.now - last[customer] < timedelta(days=rule):
                    continue
            control = in_holdout(self.key, customer, self.definition.holdout)
            rows.append(
                {
                    "journey_id": self.row.id,
                    "customer_id": customer,
                    "arm": "control" if control else "treated",
                    "status": "control" if control else "active",
                    "step": 0,
                    "path": "",
                    "entered_at": self.now,
                    "due_at": self.now,
                    "ended_at": self.now if control else None,
                }
            )
            self.progress.counts["held out" if control else "entered"] += 1
        if rows:
            self.session.execute(insert(ENTRIES), rows)
        if self.definition.trigger_date is None:  # a date trigger's cursor is now already
            self.row.cursor = max(at for _, at in triggered)

    # -- 2. goal ---------------------------------------------------------------------

    def _goal(self) -> None:
        e, o = ENTRIES.c, ORDERS.c
        ordered = exists().where(
            o.customer_id == e.customer_id,
            o.ordered_at > e.entered_at,
            o.status.not_in(EXCLUDED_STATUSES),
        )
        mine = and_(e.journey_id == self.row.id, e.status == "active", ordered)
        reached = list(self.session.scalars(select(e.id).where(mine)))
        if not reached:
            return
        self.session.execute(
            update(ENTRIES).where(e.id.in_(reached)).values(status="goal", ended_at=self.now)
        )
        d = DELIVERIES.c
        self.session.execute(
            update(DELIVERIES)
            .where(d.journey_entry_id.in_(reached), d.status == "queued")
            .values(status="skipped", detail="the journey's goal was reached", updated_at=self.now)
        )
        self.progress.counts["goal"] += len(reached)

    # -- 3. steps --------------------------------------------------------------------

    def _advance(self) -> None:
        e = ENTRIES.c
        due = self.session.execute(
            select(e.id, e.customer_id, e.step, e.path, e.entered_at)
            .where(e.journey_id == self.row.id, e.status == "active", e.due_at <= self.now)
            .order_by(e.due_at, e.id)
            .limit(ROUND)
        ).all()
        if not due:
            return
        zones = dict(
            self.session.execute(
                select(CUSTOMERS.c.id, CUSTOMERS.c.time_zone).where(
                    CUSTOMERS.c.id.in_([d.customer_id for d in due])
                )
            ).all()
        )
        for entry_id, customer, step, path, entered in due:
            self._walk(entry_id, customer, step, path, entered, zones.get(customer))

    def _walk(
        self,
        entry_id: int,
        customer: int,
        step: int,
        path: str,
        entered: datetime,
        zone: str | None,
    ) -> None:
        steps = self.definition.steps
        values: dict[str, Any] = {}
        for _ in range(len(steps) + 1):  # every step at most once per round: no endless loop
            if step >= len(steps):
                values |= {"status": "done", "ended_at": self.now}
                self.progress.counts["done"] += 1
                break
            current = steps[step]
            if isinstance(current, Exit):
                values |= {"status": "exited", "ended_at": self.now}
                self.progress.counts["exited"] += 1
                break
            if isinstance(current, Send):
                self._queue(entry_id, customer, step, current)
                step += 1
            elif isinstance(current, Wait):
                values["due_at"] = self._after(current, zone)
                step += 1
                break
            elif isinstance(current, Branch):
                taken = self._holds(current, customer, entered)
                step = self.definition.index_of(current.goto) if taken else step + 1
            elif isinstance(current, Split):
                arm = self._arm(current, entry_id)
                path = f"{path}{current.id}:{arm};"
                goto = current.arms[arm][1]
                step = self.definition.index_of(goto) if goto is not None else step + 1
        values |= {"step": step, "path": path[-200:]}
        self.session.execute(update(ENTRIES).where(ENTRIES.c.id == entry_id).values(**values))

    def _queue(self, entry_id: int, customer: int, step: int, send: Send) -> None:
        campaign_id = self.steps.get(send.message.name)
        if campaign_id is None:  # pragma: no cover - written with the journey
            raise CampaignError("steps", f"journey step {send.id!r} has no campaign")
        source = f"journey:{self.row.id}:{entry_id}:{step}"
        d = DELIVERIES.c
        there = self.session.scalar(
            select(d.id).where(d.source == source, d.customer_id == customer)
        )
        if there is not None:
            return
        self.session.execute(
            insert(DELIVERIES).values(
                source=source,
                campaign_id=campaign_id,
                journey_entry_id=entry_id,
                customer_id=customer,
                channel=send.message.channel,
                purpose=send.message.purpose,
                status="queued",
                not_before=self.now,
            )
        )
        self.progress.counts["queued"] += 1

    def _after(self, wait: Wait, zone: str | None) -> datetime:
        at = self.now + wait.delay
        if wait.until is None:
            return at
        return next_local_time(at, customer_zone(zone), wait.until)

    def _holds(self, branch: Branch, customer: int, entered: datetime) -> bool:
        if branch.ordered_since_entry is not None:
            o = ORDERS.c
            ordered = self.session.scalar(
                select(func.count())
                .select_from(ORDERS)
                .where(
                    o.customer_id == customer,
                    o.ordered_at > entered,
                    o.status.not_in(EXCLUDED_STATUSES),
                )
            )
            return bool(ordered) == branch.ordered_since_entry
        assert branch.condition is not None  # noqa: S101 (parsed as one or the other)
        segment = SegmentDefinition("branch", branch.condition)
        dialect = self.session.get_bind().dialect.name
        members = member_ids(segment, now=self.now, dialect=dialect)
        query = members.where(members.selected_columns[0] == customer)
        return self.session.scalar(query) is not None

    def _arm(self, split: Split, entry_id: int) -> int:
        point = bucket(f"{self.key}:{split.id}", entry_id) * sum(w for w, _ in split.arms)
        for number, (weight, _goto) in enumerate(split.arms):
            if point < weight:
                return number
            point -= weight
        return len(split.arms) - 1  # pragma: no cover - rounding at the very top


def next_local_time(at: datetime, zone: Any, wall: time) -> datetime:
    """The first instant from ``at`` at which the customer's clock shows ``wall``."""
    local = at.astimezone(zone)
    for offset in range(3):
        day = local.date() + timedelta(days=offset)
        candidate = datetime.combine(day, wall, tzinfo=zone).astimezone(at.tzinfo)
        if candidate >= at:
            return candidate
    raise AssertionError("unreachable")  # pragma: no cover
