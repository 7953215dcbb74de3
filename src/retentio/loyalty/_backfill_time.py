"""The backfill's time arithmetic, vectorised over UTC microseconds on the programme's clock:
instants to and from microseconds, whole calendar months added (as ``add_months`` adds them,
across daylight-saving changes) and the tier windows' starts and ends; pure, no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

from retentio.loyalty.tiers import TICK, TierRules, add_months

__all__ = [
    "DAY",
    "EPOCH",
    "Bools",
    "Ints",
    "add_months_us",
    "held_until",
    "instant",
    "micros",
    "window_start",
]

Ints = NDArray[np.int64]
Bools = NDArray[np.bool_]
DAY = 86_400_000_000  # microseconds
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def micros(at: datetime) -> int:
    """``at`` in microseconds since the epoch."""
    return (at - EPOCH) // TICK


def instant(us: int) -> datetime:
    """The instant ``us`` microseconds after the epoch (UTC)."""
    return EPOCH + int(us) * TICK


def _offsets(days: Ints, zone: ZoneInfo, wall: bool) -> tuple[Ints, NDArray[np.bool_]]:
    """The zone's UTC offset (µs) on each of ``days`` (of UTC instants, or of wall times read
    as ``datetime`` reads them: fold 0), and whether it changes during that day; computed
    once per distinct day, as offsets change on a few days a year."""

    def offset(moment: datetime) -> int:
        local = moment.replace(tzinfo=zone) if wall else moment.astimezone(zone)
        return (local.utcoffset() or timedelta()) // TICK

    unique, inverse = np.unique(days, return_inverse=True)
    start = [offset(instant(d * DAY)) for d in unique.tolist()]
    end = [offset(instant((d + 1) * DAY - 1)) for d in unique.tolist()]
    first = np.array(start, dtype=np.int64)
    return first[inverse], (first != np.array(end, dtype=np.int64))[inverse]


def add_months_us(at: Ints, months: int, zone: ZoneInfo) -> Ints:
    """:func:`retentio.loyalty.tiers.add_months` over UTC microseconds, vectorised: the wall
    time moved by whole months (the day clamped to the month's end); instants on a day when
    the zone's offset changes go through ``add_months`` itself."""
    if at.size == 0:
        return at.copy()
    offset, unsure = _offsets(at // DAY, zone, wall=False)
    wall = at + offset
    date = (wall // DAY).astype("datetime64[D]")
    month = date.astype("datetime64[M]")
    target = month + months
    first = target.astype("datetime64[D]")
    length = ((target + 1).astype("datetime64[D]") - first).astype(np.int64)
    day = np.minimum((date - month.astype("datetime64[D]")).astype(np.int64), length - 1)
    moved = (first.astype(np.int64) + day) * DAY + wall % DAY
    back, unsure_back = _offsets(moved // DAY, zone, wall=True)
    result = moved - back
    for i in np.flatnonzero(unsure | unsure_back).tolist():
        result[i] = micros(add_months(instant(at[i]), months, zone))
    return np.asarray(result, dtype=np.int64)


def _year_starts(at: Ints, zone: ZoneInfo, plus: int) -> Ints:
    """The start of the calendar year ``plus`` years after the one each instant is in."""
    offset, unsure = _offsets(at // DAY, zone, wall=False)
    year = ((at + offset) // DAY).astype("datetime64[D]").astype("datetime64[Y]")
    years = year.astype(np.int64) + 1970 + plus
    for i in np.flatnonzero(unsure).tolist():
        years[i] = instant(at[i]).astimezone(zone).year + plus
    unique, inverse = np.unique(years, return_inverse=True)
    starts = [micros(datetime(y, 1, 1, tzinfo=zone)) for y in unique.tolist()]
    return np.array(starts, dtype=np.int64)[inverse]


def held_until(rules: TierRules, at: Ints, zone: ZoneInfo) -> Ints:
    """``rules.held_until`` of each instant."""
    if rules.period == "calendar_year":
        return _year_starts(at, zone, 2)
    return add_months_us(at, 12, zone)


def window_start(rules: TierRules, at: Ints, zone: ZoneInfo) -> Ints:
    """``rules.window_start`` of the window that ends just after each instant."""
    if rules.period == "calendar_year":
        return _year_starts(at, zone, 0)
    return add_months_us(at + 1, -12, zone)
