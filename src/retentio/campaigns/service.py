"""Campaigns: save a definition, launch it (record its audience and queue its deliveries in
one transaction), find and list them.

Launching is the outbox's business write (TRUST.md): the audience, with each customer's arm
(treated, control, global control), and one ``deliveries`` row per treated customer are
written in the transaction that marks the campaign launched, so a crash leaves either all of
it or none, and launching twice queues nothing twice (the second launch is refused, and the
deliveries' unique key would refuse it anyway).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from retentio.campaigns.definition import CampaignDefinition, CampaignError, parse_campaign
from retentio.campaigns.guards import customer_zone, next_at_hour
from retentio.campaigns.holdout import in_global_control, in_holdout
from retentio.campaigns.surveys import missing_surveys
from retentio.core.clock import Clock, SystemClock
from retentio.segments import SegmentNotFound, find_segment, member_ids
from retentio.store.bulk import copy_rows
from retentio.store.campaign_tables import Campaign, CampaignAudience, Delivery
from retentio.store.tables import Customer, CustomerScore
from retentio.store.transactions import begin_write

__all__ = [
    "CampaignNotFound",
    "CampaignStateError",
    "LaunchResult",
    "SavedCampaign",
    "find_campaign",
    "launch_campaign",
    "list_campaigns",
    "save_campaign",
    "source_of",
]

AUDIENCE: Table = CampaignAudience.__table__  # type: ignore[assignment]
DELIVERIES: Table = Delivery.__table__  # type: ignore[assignment]
CUSTOMERS: Table = Customer.__table__  # type: ignore[assignment]
SCORES: Table = CustomerScore.__table__  # type: ignore[assignment]
_BATCH = 50_000


class CampaignStateError(CampaignError):
    """A change the campaign's state forbids (launching twice, editing a launched one)."""


class CampaignNotFound(CampaignError):
    """No campaign of that name (or id)."""

    def __init__(self, name: str) -> None:
        super().__init__("name", f"no campaign {name!r}")


@dataclass(frozen=True, slots=True)
class SavedCampaign:
    """A stored campaign: its definition and where it stands."""

    id: int
    definition: CampaignDefinition
    status: str
    created_at: datetime
    launched_at: datetime | None
    audience: int
    held_out: int

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def source(self) -> str:
        return source_of(self.id)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: what the API and ``retentio campaign list --json`` show."""
        d = self.definition
        return {
            "id": self.id,
            "name": d.name,
            "description": d.description,
            "segment": d.segment,
            "channel": d.channel,
            "purpose": d.purpose,
            "holdout": d.holdout,
            "send_at": d.send_at.isoformat() if d.send_at else None,
            "send_time": d.send_time,
            "status": self.status,
            "created_at": self.created_at.isoformat(),
            "launched_at": self.launched_at.isoformat() if self.launched_at else None,
            "audience": self.audience,
            "held_out": self.held_out,
        }


@dataclass(frozen=True, slots=True)
class LaunchResult:
    """What a launch recorded: the audience by arm and the deliveries queued."""

    name: str
    audience: int
    treated: int
    control: int
    global_control: int
    queued: int
    send_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "name": self.name,
            "audience": self.audience,
            "treated": self.treated,
            "control": self.control,
            "global_control": self.global_control,
            "queued": self.queued,
            "send_at": self.send_at.isoformat(),
        }


def source_of(campaign_id: int) -> str:
    """The deliveries' source key of a campaign (their unique key with customer and channel)."""
    return f"campaign:{campaign_id}"


def _stored(data: Mapping[str, Any]) -> dict[str, Any]:
    """The definition as JSON can hold it (YAML gives times as datetimes)."""
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in data.items()}


def save_campaign(session: Session, data: Any, *, replace: bool = False) -> SavedCampaign:
    """Check and store a campaign definition (committed) as a draft. ``replace`` overwrites a
    draft of the same name; a launched campaign never changes."""
    definition = parse_campaign(data)
    try:
        segment = find_segment(session, definition.segment)
    except SegmentNotFound:
        raise CampaignError("segment", f"no saved segment {definition.segment!r}") from None
    if definition.survey is not None and missing_surveys(session, [definition.survey]):
        raise CampaignError("survey", f"no active survey {definition.survey!r}")
    begin_write(session)
    row = session.scalars(
        select(Campaign).where(Campaign.name == definition.name).with_for_update()
    ).one_or_none()
    if row is not None and (not replace or row.status != "draft"):
        why = "launched: it cannot change" if row.status != "draft" else "exists (use replace)"
        session.rollback()
        raise CampaignStateError("name", f"campaign {definition.name!r} {why}")
    if row is None:
        row = Campaign(name=definition.name, status="draft")
        session.add(row)
    row.channel, row.purpose = definition.channel, definition.purpose
    row.segment_id, row.definition = segment.id, _stored(data)
    row.holdout, row.scheduled_at = definition.holdout, definition.send_at
    try:
        session.commit()
    except IntegrityError:  # the same name saved at the same moment
        session.rollback()
        raise CampaignStateError("name", f"campaign {definition.name!r} exists") from None
    return _saved(row)


def _saved(row: Campaign) -> SavedCampaign:
    return SavedCampaign(
        id=row.id,
        definition=parse_campaign(row.definition),
        status=row.status,
        created_at=row.created_at,
        launched_at=row.launched_at,
        audience=row.audience,
        held_out=row.held_out,
    )


def _row(session: Session, name: str | int, *, lock: bool = False) -> Campaign:
    key = Campaign.id == name if isinstance(name, int) else Campaign.name == name
    query = select(Campaign).where(key)
    row = session.scalars(query.with_for_update() if lock else query).one_or_none()
    if row is None:
        raise CampaignNotFound(str(name))
    return row


def find_campaign(session: Session, name: str | int) -> SavedCampaign:
    """The campaign of that name (or id); CampaignNotFound if there is none."""
    return _saved(_row(session, name))


def list_campaigns(session: Session) -> list[SavedCampaign]:
    """Every campaign, newest first (journeys' steps are listed with their journey)."""
    query = select(Campaign).where(Campaign.journey_id.is_(None)).order_by(Campaign.id.desc())
    rows = session.scalars(query)
    return [_saved(row) for row in rows]


def launch_campaign(
    session: Session,
    name: str | int,
    *,
    global_control: float = 0.0,
    clock: Clock | None = None,
) -> LaunchResult:
    """Record the audience of the draft campaign ``name`` and queue its deliveries (one
    transaction; committed). The segment is evaluated now; customers in the campaign's
    holdout or in the global control group (share ``global_control``) are recorded and get
    nothing. Each delivery is due at ``send_at`` (default now), or with ``send_time:
    best_hour`` at the first time from then the customer's clock shows their best hour."""
    now = (clock or SystemClock()).now()
    connection = begin_write(session)
    row = _row(session, name, lock=True)
    if row.status != "draft":
        session.rollback()
        raise CampaignStateError("name", f"campaign {row.name!r} was launched already")
    definition = parse_campaign(row.definition)
    send_at = max(definition.send_at or now, now)
    arms: dict[str, int] = {"treated": 0, "control": 0, "global": 0}
    key = source_of(row.id)
    audience: list[tuple[int, int, str]] = []
    deliveries: list[tuple[str, int, int, str, str, str, datetime]] = []
    due = _due_times(definition, send_at, _shop_hour(session))
    campaign_id, channel, purpose, holdout = row.id, row.channel, row.purpose, definition.holdout
    global_share = 0.0 if definition.exempt else global_control
    for customer_id, zone, hour in _members(session, definition, now):
        if global_share and in_global_control(customer_id, global_share):
            arm = "global"
        elif in_holdout(key, customer_id, holdout):
            arm = "control"
        else:
            arm = "treated"
            deliveries.append(
                (key, campaign_id, customer_id, channel, purpose, "queued", due(zone, hour))
            )
        arms[arm] += 1
        audience.append((campaign_id, customer_id, arm))
        if len(audience) >= _BATCH:
            _write(connection, audience, deliveries)
    _write(connection, audience, deliveries)
    row.status, row.launched_at = "launched", now
    row.audience = sum(arms.values())
    row.held_out = arms["control"] + arms["global"]
    session.commit()
    return LaunchResult(
        row.name,
        row.audience,
        arms["treated"],
        arms["control"],
        arms["global"],
        arms["treated"],
        send_at,
    )


_AUDIENCE_COLUMNS = ("campaign_id", "customer_id", "arm")
_DELIVERY_COLUMNS = (
    "source",
    "campaign_id",
    "customer_id",
    "channel",
    "purpose",
    "status",
    "not_before",
)


def _write(connection: Any, audience: list[Any], deliveries: list[Any]) -> None:
    """Insert and empty the batches."""
    copy_rows(connection, AUDIENCE, _AUDIENCE_COLUMNS, audience)
    copy_rows(connection, DELIVERIES, _DELIVERY_COLUMNS, deliveries)
    audience.clear()
    deliveries.clear()


def _members(
    session: Session, definition: CampaignDefinition, now: datetime
) -> Iterator[tuple[int, str | None, int | None]]:
    """The segment's members now, with their time zone and stored best hour."""
    segment = find_segment(session, definition.segment).definition
    members = member_ids(segment, now=now, dialect=session.get_bind().dialect.name).subquery()
    c, s = CUSTOMERS.c, SCORES.c
    query = (
        select(members.c.customer_id, c.time_zone, s.best_hour)
        .join(CUSTOMERS, c.id == members.c.customer_id)
        .outerjoin(SCORES, s.customer_id == members.c.customer_id)
        .order_by(members.c.customer_id)
    )
    for row in session.execute(query, execution_options={"yield_per": _BATCH}):
        yield row[0], row[1], row[2]


def _shop_hour(session: Session) -> int | None:
    """The shop's best hour: the one most customers have as theirs (None: none known)."""
    s = SCORES.c
    query = (
        select(s.best_hour)
        .where(s.best_hour.is_not(None))
        .group_by(s.best_hour)
        .order_by(func.count().desc(), s.best_hour)
        .limit(1)
    )
    hour = session.execute(query).scalar_one_or_none()
    return None if hour is None else int(hour)


def _due_times(definition: CampaignDefinition, send_at: datetime, shop_hour: int | None) -> Any:
    """A function (zone, best hour) -> the delivery's due time, cached: with one send time the
    answer depends on nothing else, so a million customers need a few hundred computations.
    A customer without a best hour of their own gets the shop's."""
    if definition.send_time != "best_hour":
        return lambda _zone, _hour: send_at
    cache: dict[tuple[str | None, int | None], datetime] = {}

    def due(zone: str | None, hour: int | None) -> datetime:
        found = cache.get((zone, hour))
        if found is None:
            chosen = shop_hour if hour is None else hour
            if chosen is None:
                found = send_at  # no best hour known at all: the campaign's send time
            else:
                found = next_at_hour(send_at, customer_zone(zone), chosen)
            cache[(zone, hour)] = found
        return found

    return due
