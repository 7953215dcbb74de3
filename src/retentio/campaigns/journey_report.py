"""A journey's report: the funnel of every message its steps sent, and what its entrants did
against its control group (``retentio journey report``, ``GET /api/v1/journeys/{name}/report``).

The unit is an entry: each entrant is measured from the moment they entered, over the
journey's ``attribution_days`` (default 14; until now for an entry whose window is still
open), with the measures, intervals and verdict of a campaign's report
(:mod:`retentio.campaigns.report`). The control group is the journey's holdout: entrants
recorded with the arm ``control``, who get none of its messages. Every entrant counts, whether
a message reached them or not (intention to treat).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Interval, Table, func, literal, select
from sqlalchemy.orm import Session

from retentio.campaigns.journeys import find_journey
from retentio.campaigns.report import Measured, delivery_funnel, measure
from retentio.core.clock import Clock, SystemClock
from retentio.store.campaign_tables import Delivery, JourneyEntry
from retentio.store.params import is_postgres
from retentio.store.tables import Timestamp

__all__ = ["JourneyReport", "journey_report"]

ENTRIES: Table = JourneyEntry.__table__  # type: ignore[assignment]
DELIVERIES: Table = Delivery.__table__  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class JourneyReport:
    """The funnel, the entrants' outcomes by arm, their differences and the verdict."""

    journey: dict[str, Any]
    attribution_days: int
    entries: int
    open_windows: int
    measured: Measured
    funnel: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        m = self.measured
        return {
            "journey": self.journey,
            "window": {
                "attribution_days": self.attribution_days,
                "entries": self.entries,
                "open": self.open_windows,
            },
            "currency": m.currency,
            "funnel": self.funnel,
            "arms": m.arms,
            "lift": m.lift,
            "incremental_revenue": m.incremental_revenue,
            "verdict": m.verdict,
        }


def _window_end(session: Session, entered: Any, days: int, now: datetime) -> ColumnElement[Any]:
    """``min(entered + days, now)`` in the database's own date arithmetic."""
    cap = literal(now, Timestamp)
    if is_postgres(session.connection()):
        return func.least(entered + literal(timedelta(days=days), Interval()), cap)
    plus = func.strftime("%Y-%m-%d %H:%M:%f", entered, f"+{days} days")
    return func.min(plus, cap)


def journey_report(session: Session, name: str, *, clock: Clock | None = None) -> JourneyReport:
    """The report of the journey ``name``, as of now."""
    now = (clock or SystemClock()).now()
    saved = find_journey(session, name)
    days = saved.definition.attribution_days
    e = ENTRIES.c
    mine = e.journey_id == saved.id
    units = select(
        e.arm.label("arm"),
        e.customer_id.label("customer_id"),
        e.entered_at.label("start"),
        _window_end(session, e.entered_at, days, now).label("end"),
    ).where(mine)
    entries = session.scalar(select(func.count()).where(mine)) or 0
    still_open = session.scalar(
        select(func.count()).where(mine, e.entered_at > now - timedelta(days=days))
    )
    reached = select(e.id).where(mine).scalar_subquery()
    funnel = delivery_funnel(session, DELIVERIES.c.journey_entry_id.in_(reached))
    return JourneyReport(
        journey=saved.to_dict(),
        attribution_days=days,
        entries=int(entries),
        open_windows=int(still_open or 0),
        measured=measure(session, units.subquery()),
        funnel=funnel,
    )
