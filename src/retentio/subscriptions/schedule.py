"""When a subscription's orders fall: every N days, weeks or months from its anchor date, on
the customer's calendar, and the instant a renewal runs (the policy's local renewal time on
that date, across daylight-saving changes). Pure.

The orders of a subscription fall on ``anchor + n × cadence`` (n = 0, 1, 2, ...): a monthly
subscription anchored on 31 January comes on 28 (29) February, 31 March, 30 April, ... —
never drifting to the 28th for good.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from retentio.core.errors import DataError

__all__ = ["UNITS", "Cadence", "renewal_instant"]

UNITS = ("day", "week", "month")


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


@dataclass(frozen=True, slots=True)
class Cadence:
    """Every ``count`` ``unit`` (day, week or month)."""

    unit: str
    count: int

    @classmethod
    def checked(cls, unit: str, count: int) -> Cadence:
        if unit not in UNITS:
            raise DataError(f"cadence.unit: one of {', '.join(UNITS)}")
        high = {"day": 365, "week": 52, "month": 24}[unit]
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= high:
            raise DataError(f"cadence.count: a whole number from 1 to {high}")
        return cls(unit, count)

    def nth(self, anchor: date, n: int) -> date:
        """The ``n``-th order date from ``anchor`` (the anchor itself is n = 0)."""
        if self.unit == "month":
            return _add_months(anchor, n * self.count)
        days = self.count * (7 if self.unit == "week" else 1)
        return anchor + timedelta(days=n * days)

    def first_after(self, anchor: date, day: date) -> date:
        """The first order date strictly after ``day``."""
        if day < anchor:
            return anchor
        if self.unit == "month":
            months = (day.year - anchor.year) * 12 + day.month - anchor.month
            n = max(0, months // self.count)
        else:
            n = (day - anchor).days // (self.count * (7 if self.unit == "week" else 1))
        while self.nth(anchor, n) <= day:
            n += 1
        while n > 0 and self.nth(anchor, n - 1) > day:
            n -= 1
        return self.nth(anchor, n)

    def first_on_or_after(self, anchor: date, day: date) -> date:
        """The first order date on or after ``day``."""
        return self.first_after(anchor, day - timedelta(days=1))

    def longer(self) -> Cadence:
        """Twice the interval (a save offer: "less often")."""
        return Cadence(self.unit, self.count * 2)

    def to_dict(self) -> dict[str, object]:
        return {"unit": self.unit, "count": self.count}


def renewal_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The instant (UTC) the renewal of local date ``day`` runs: ``at`` on that date on
    ``zone``'s clock, whatever its offset that day (a time the clocks skip over, in the hour
    of a spring change, moves forward by the hour)."""
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)
