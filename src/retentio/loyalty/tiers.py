"""Tier rules: which tier a qualifying value reaches, over which window, and how long a tier
is held. Pure: the services pass in the times; periods are counted on the programme's clock.

::

    tiers:
      qualify_on: spend            # spend (net order amounts, refunds deducted) or points
      period: rolling_12_months    # or calendar_year
      grace_days: 30               # a tier no longer reached is kept this long after it ends
      levels:
        - {name: Bronze, threshold: 0}
        - {name: Silver, threshold: 2000, multiplier: 1.25, perks: [Free shipping]}
        - {name: Gold, threshold: 5000, multiplier: 1.5, perks: [Free shipping, Early access]}

A member moves **up at once**, as soon as their value over the window ending now reaches a
higher threshold. A tier reached is **held** until the end of the period after it (rolling: 12
months after it was reached; calendar year: to the end of the next year), and renewed whenever
the member reaches it again meanwhile. A tier not renewed is reviewed ``grace_days`` after it
ends: the member moves **down** to the tier their value in the window that ended reached.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from retentio.loyalty._parse import ProgrammeError, mapping, name, number, unknown, whole

__all__ = [
    "PERIODS",
    "QUALIFY_ON",
    "TICK",
    "Tier",
    "TierRules",
    "add_months",
    "parse_tiers",
]

QUALIFY_ON = ("spend", "points")
PERIODS = ("rolling_12_months", "calendar_year")
#: The smallest step of time: the end of a window that includes its last instant.
TICK = timedelta(microseconds=1)


def add_months(at: datetime, months: int, zone: ZoneInfo) -> datetime:
    """``at`` moved by ``months`` calendar months on ``zone``'s clock: the same wall time, on
    the same day of the month or the month's last day (31 January + 1 month = 28/29 February),
    across daylight-saving changes."""
    local = at.astimezone(zone)
    index = local.year * 12 + local.month - 1 + months
    year, month = divmod(index, 12)
    day = min(local.day, calendar.monthrange(year, month + 1)[1])
    moved = local.replace(year=year, month=month + 1, day=day, tzinfo=None)
    return moved.replace(tzinfo=zone).astimezone(at.tzinfo)


def _year_start(year: int, zone: ZoneInfo) -> datetime:
    return datetime(year, 1, 1, tzinfo=zone)


@dataclass(frozen=True, slots=True)
class Tier:
    """A level: reached at ``threshold`` (minor units of spend, or points), earning at
    ``multiplier`` times the base rate, with the ``perks`` shown to the member."""

    name: str
    threshold: int
    multiplier: Decimal = Decimal(1)
    perks: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TierRules:
    """The tiers, lowest first, and how a member qualifies."""

    levels: tuple[Tier, ...]
    qualify_on: str = "spend"
    period: str = "rolling_12_months"
    grace_days: int = 30

    def tier_for(self, value: int) -> Tier | None:
        """The highest tier ``value`` reaches; None below the lowest threshold."""
        reached = None
        for tier in self.levels:
            if value >= tier.threshold:
                reached = tier
        return reached

    def named(self, tier: str | None) -> Tier | None:
        return next((t for t in self.levels if t.name == tier), None)

    def rank(self, tier: str | None) -> int:
        """0 for no tier, 1 for the lowest level, ...; a tier no longer defined counts as 0."""
        return next((n for n, t in enumerate(self.levels, 1) if t.name == tier), 0)

    def next_above(self, tier: str | None) -> Tier | None:
        rank = self.rank(tier)
        return self.levels[rank] if rank < len(self.levels) else None

    def window_start(self, end: datetime, zone: ZoneInfo) -> datetime:
        """The start of the qualifying window that ends (exclusive) at ``end``: 12 months
        before it, or the start of the calendar year the window's last instant is in."""
        if self.period == "calendar_year":
            return _year_start((end - TICK).astimezone(zone).year, zone)
        return add_months(end, -12, zone)

    def held_until(self, reached: datetime, zone: ZoneInfo) -> datetime:
        """When a tier reached (or renewed) at ``reached`` ends, before the grace period."""
        if self.period == "calendar_year":
            return _year_start(reached.astimezone(zone).year + 2, zone)
        return add_months(reached, 12, zone)

    def renewed_until(self, until: datetime, zone: ZoneInfo) -> datetime:
        """When a tier that ended at ``until`` and was reached again in the window that ended
        then is held until: one period more."""
        if self.period == "calendar_year":
            return _year_start((until - TICK).astimezone(zone).year + 2, zone)
        return add_months(until, 12, zone)

    def review_at(self, until: datetime) -> datetime:
        """When a tier that ends at ``until`` is reviewed (moved down if not reached again)."""
        return until + timedelta(days=self.grace_days)


_KEYS = {"qualify_on", "period", "grace_days", "levels"}
_LEVEL_KEYS = {"name", "threshold", "multiplier", "perks"}


def parse_tiers(data: Any, scale: int) -> TierRules:
    """``tiers``; ``scale`` turns a spend threshold into minor units (10 ** exponent)."""
    given = mapping(data, "tiers", "qualify_on, period, grace_days, levels")
    unknown(given, _KEYS, "tiers.")
    qualify_on = given.get("qualify_on", "spend")
    if qualify_on not in QUALIFY_ON:
        raise ProgrammeError("tiers.qualify_on", f"one of {', '.join(QUALIFY_ON)}")
    period = given.get("period", "rolling_12_months")
    if period not in PERIODS:
        raise ProgrammeError("tiers.period", f"one of {', '.join(PERIODS)}")
    grace = whole(given.get("grace_days", 30), "tiers.grace_days", low=0, high=366)
    levels = given.get("levels")
    if not isinstance(levels, list) or not levels:
        raise ProgrammeError("tiers.levels", "a list of {name, threshold, multiplier, perks}")
    factor = scale if qualify_on == "spend" else 1
    parsed = [_level(item, f"tiers.levels[{n}]", factor) for n, item in enumerate(levels)]
    _ascending(parsed)
    return TierRules(tuple(parsed), str(qualify_on), str(period), grace)


def _level(data: Any, path: str, factor: int) -> Tier:
    level = mapping(data, path, "name, threshold, multiplier, perks")
    unknown(level, _LEVEL_KEYS, f"{path}.")
    for required in ("name", "threshold"):
        if required not in level:
            raise ProgrammeError(f"{path}.{required}", "required")
    perks = level.get("perks", [])
    if not isinstance(perks, list) or not all(isinstance(p, str) and p for p in perks):
        raise ProgrammeError(f"{path}.perks", "a list of texts shown to the member")
    threshold = number(level["threshold"], f"{path}.threshold", low=0, high=1e12)
    return Tier(
        name=name(level["name"], f"{path}.name", length=50),
        threshold=int(threshold * factor),
        multiplier=number(level.get("multiplier", 1), f"{path}.multiplier", low=0, high=100),
        perks=tuple(perks),
    )


def _ascending(levels: Sequence[Tier]) -> None:
    seen: set[str] = set()
    for n, tier in enumerate(levels):
        if tier.name in seen:
            raise ProgrammeError(f"tiers.levels[{n}].name", f"{tier.name!r} is named twice")
        seen.add(tier.name)
        if n and tier.threshold <= levels[n - 1].threshold:
            raise ProgrammeError(
                f"tiers.levels[{n}].threshold", "higher than the level before (lowest first)"
            )
