"""Date triggers of journeys: a customer enters on the anniversary of a date attribute (a
birthday, a sign-up day), at the start of that day on their own clock, ``days_before`` it.

The attribute is a customer attribute (``attributes.birthday``) written ``YYYY-MM-DD`` or
``MM-DD``; a 29 February is kept on 28 February in other years. Pure: no database.

The journey asks, each round, which month-days may have begun anywhere on Earth between its
cursor and now (:func:`candidate_days`, for the query), then checks each candidate on their
own clock (:func:`entered_between`). A round that comes late (the worker was down) still finds
the anniversaries it missed, up to :data:`MAX_CATCH_UP` back.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

__all__ = ["MAX_CATCH_UP", "anniversary", "candidate_days", "entered_between"]

#: How far back a late round still enrols: an anniversary older than this is let go.
MAX_CATCH_UP = timedelta(days=3)
_DATE = re.compile(r"^(?:\d{4}-)?(\d{2})-(\d{2})")
#: The widest offsets from UTC in use (Line Islands +14, Baker Island -12).
_EARLIEST, _LATEST = timedelta(hours=-12), timedelta(hours=14)


def anniversary(value: str | None, year: int) -> date | None:
    """The anniversary of ``value`` in ``year``; None when it is not a date."""
    found = _DATE.match(value.strip()) if isinstance(value, str) else None
    if found is None:
        return None
    month, day = int(found[1]), int(found[2])
    if (month, day) == (2, 29):
        try:
            return date(year, 2, 29)
        except ValueError:
            return date(year, 2, 28)
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _days(since: datetime, now: datetime) -> list[date]:
    first = (max(since, now - MAX_CATCH_UP) + _EARLIEST).date()
    last = (now + _LATEST).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def candidate_days(since: datetime, now: datetime, days_before: int) -> set[str]:
    """The ``MM-DD`` anniversaries whose day (``days_before`` earlier) may have begun in some
    time zone within ``(since, now]``; 02-29 stands with 02-28."""
    found = set()
    for day in _days(since, now):
        target = day + timedelta(days=days_before)
        found.add(f"{target.month:02d}-{target.day:02d}")
        if (target.month, target.day) == (2, 28):
            found.add("02-29")
    return found


def entered_between(
    value: str | None, zone: ZoneInfo, since: datetime, now: datetime, days_before: int
) -> datetime | None:
    """When the customer's day (``days_before`` the anniversary of ``value``) began on their
    clock, if that was within ``(since, now]`` (and not more than MAX_CATCH_UP ago)."""
    floor = max(since, now - MAX_CATCH_UP)
    local_now = now.astimezone(zone).date()
    for year in (local_now.year - 1, local_now.year, local_now.year + 1):
        day = anniversary(value, year)
        if day is None:
            return None
        start = datetime.combine(day - timedelta(days=days_before), time(0), zone)
        if floor < start <= now:
            return start
    return None
