"""Earning rules: points on spend (with product and category exclusions and multipliers), points
for actions (with per-customer limits), and time-bound bonus campaigns. Pure: no database, no
clock; the services pass in the time and the segments a member is in.

::

    earn:
      points_per_unit: 1           # per 1 DKK of the net amount (shipping and tax excluded)
      minimum_order: 100           # net, in the currency's units
      rounding: down               # down, nearest or up
      exclude: {products: [GIFT-CARD], categories: [gift-cards]}
      multipliers: {products: {MUG-1: 2}, categories: {organic: 1.5}}
    actions:
      signup: {points: 50}
      birthday: {points: 100}       # once a year unless a limit says otherwise
      review: {points: 20, limit: {count: 3, per: month}}
    bonuses:
      - {name: double-weekend, multiplier: 2, starts: 2026-12-05T00:00+01:00,
         ends: 2026-12-07T00:00+01:00, segment: vip, applies_to: [spend]}
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from retentio.core.money import minor_unit_exponent
from retentio.loyalty._parse import (
    Limit,
    ProgrammeError,
    instant,
    limit,
    mapping,
    name,
    number,
    unknown,
    whole,
)

__all__ = [
    "ROUNDINGS",
    "ActionRule",
    "Bonus",
    "Line",
    "SpendRule",
    "bonus_multiplier",
    "limit_end",
    "limit_start",
    "parse_actions",
    "parse_bonuses",
    "parse_spend",
    "rounded",
    "spend_points",
]

ROUNDINGS = ("down", "nearest", "up")
#: Rules of the ledger's own that an action cannot be named after.
RESERVED_RULES = {
    "spend": "spend is earned under earn, not an action",
    "referral": "referral points are configured under referrals",
    "reward": "reward is the rule of redeemed and refunded rewards",
    "manual": "manual is the rule of adjustments",
}
_ONCE_A_YEAR = Limit(1, "year")


@dataclass(frozen=True, slots=True)
class Line:
    """An order line, for exclusions and multipliers: its net amount, product and category."""

    amount_minor: int
    product: str | None = None
    category: str | None = None


@dataclass(frozen=True, slots=True)
class SpendRule:
    """Points on the net amount of an order."""

    points_per_unit: Decimal = Decimal(1)
    minimum_order_minor: int = 0
    rounding: str = "down"
    exclude_products: frozenset[str] = frozenset()
    exclude_categories: frozenset[str] = frozenset()
    product_multipliers: Mapping[str, Decimal] = field(default_factory=dict)
    category_multipliers: Mapping[str, Decimal] = field(default_factory=dict)

    def line_weight(self, line: Line) -> Decimal:
        """How much a line's amount counts: 0 when excluded, else its multiplier (a product's
        before its category's; 1 without either)."""
        if line.product in self.exclude_products or line.category in self.exclude_categories:
            return Decimal(0)
        if line.product is not None and line.product in self.product_multipliers:
            return self.product_multipliers[line.product]
        if line.category is not None and line.category in self.category_multipliers:
            return self.category_multipliers[line.category]
        return Decimal(1)


@dataclass(frozen=True, slots=True)
class ActionRule:
    """Points for an action (a review, a survey answer, ...), at most ``limit`` times."""

    name: str
    points: int
    limit: Limit | None = None


@dataclass(frozen=True, slots=True)
class Bonus:
    """A multiplier on the rules ``applies_to`` (``spend`` and/or action names) from ``starts``
    until ``ends``, for the members of ``segment`` (everyone without one)."""

    name: str
    multiplier: Decimal
    starts: datetime
    ends: datetime
    segment: str | None = None
    applies_to: frozenset[str] = frozenset({"spend"})

    def applies(self, rule: str, at: datetime, segments: Collection[str]) -> bool:
        if rule not in self.applies_to or not self.starts <= at < self.ends:
            return False
        return self.segment is None or self.segment in segments


def rounded(value: Decimal, rounding: str) -> int:
    if rounding == "up":
        return math.ceil(value)
    if rounding == "nearest":
        return int(value.quantize(Decimal(1), rounding="ROUND_HALF_UP"))
    return math.floor(value)


def spend_points(
    rule: SpendRule,
    currency: str,
    net_minor: int,
    lines: Sequence[Line] = (),
    multiplier: Decimal = Decimal(1),
) -> int:
    """The points of an order's net amount (in ``currency``, the programme's): none below the
    minimum. With ``lines``, the net amount counts in the lines' proportions, each weighted by
    :meth:`SpendRule.line_weight` (an order discount or shipping spreads over the lines)."""
    if net_minor <= 0 or net_minor < rule.minimum_order_minor:
        return 0
    units = Decimal(net_minor) / (10 ** minor_unit_exponent(currency))
    total = sum(line.amount_minor for line in lines)
    if lines and total > 0:
        weighted = sum(Decimal(line.amount_minor) * rule.line_weight(line) for line in lines)
        units = units * weighted / Decimal(total)
    return max(0, rounded(units * rule.points_per_unit * multiplier, rule.rounding))


def bonus_multiplier(
    bonuses: Sequence[Bonus], rule: str, at: datetime, segments: Collection[str]
) -> Decimal:
    """The highest multiplier of the bonuses running at ``at`` for ``rule`` and the member's
    ``segments`` (bonuses do not stack); 1 when none applies."""
    running = [b.multiplier for b in bonuses if b.applies(rule, at, segments)]
    return max(running, default=Decimal(1))


_SPEND_KEYS = {
    "points_per_unit",
    "minimum_order",
    "rounding",
    "exclude",
    "multipliers",
}


def parse_spend(data: Any, scale: int) -> SpendRule:
    """``earn``: ``scale`` is 10 ** the currency's minor-unit exponent."""
    earn = mapping(data, "earn", "points_per_unit, minimum_order, rounding, exclude, multipliers")
    unknown(earn, _SPEND_KEYS, "earn.")
    rate = number(earn.get("points_per_unit", 1), "earn.points_per_unit", low=0, high=10_000)
    minimum = number(earn.get("minimum_order", 0), "earn.minimum_order", low=0, high=1e9)
    rounding = earn.get("rounding", "down")
    if rounding not in ROUNDINGS:
        raise ProgrammeError("earn.rounding", f"one of {', '.join(ROUNDINGS)}")
    exclude = mapping(earn.get("exclude", {}), "earn.exclude", "products and categories")
    unknown(exclude, {"products", "categories"}, "earn.exclude.")
    boost = mapping(earn.get("multipliers", {}), "earn.multipliers", "products and categories")
    unknown(boost, {"products", "categories"}, "earn.multipliers.")
    return SpendRule(
        points_per_unit=rate,
        minimum_order_minor=int(minimum * scale),
        rounding=str(rounding),
        exclude_products=_names(exclude.get("products", []), "earn.exclude.products"),
        exclude_categories=_names(exclude.get("categories", []), "earn.exclude.categories"),
        product_multipliers=_factors(boost.get("products", {}), "earn.multipliers.products"),
        category_multipliers=_factors(boost.get("categories", {}), "earn.multipliers.categories"),
    )


def _names(value: Any, path: str) -> frozenset[str]:
    if not isinstance(value, list):
        raise ProgrammeError(path, "a list of product or category ids")
    return frozenset(name(item, f"{path}[{n}]", length=200) for n, item in enumerate(value))


def _factors(value: Any, path: str) -> dict[str, Decimal]:
    given = mapping(value, path, "id: multiplier")
    return {
        name(key, path, length=200): number(factor, f"{path}.{key}", low=0, high=100)
        for key, factor in given.items()
    }


def parse_actions(data: Any) -> dict[str, ActionRule]:
    """``actions``: ``{name: {points, limit}}``; a birthday counts once a year by default."""
    given = mapping(data, "actions", "action: {points, limit}")
    rules = {}
    for key, value in given.items():
        action = name(key, "actions")
        if action in RESERVED_RULES:
            raise ProgrammeError(f"actions.{action}", RESERVED_RULES[action])
        path = f"actions.{action}"
        rule = mapping(value, path, "points and limit")
        unknown(rule, {"points", "limit"}, f"{path}.")
        if "points" not in rule:
            raise ProgrammeError(f"{path}.points", "required: the points the action earns")
        points = whole(rule["points"], f"{path}.points", low=1, high=1_000_000)
        cap = limit(rule.get("limit"), f"{path}.limit")
        if cap is None and action == "birthday":
            cap = _ONCE_A_YEAR
        rules[action] = ActionRule(action, points, cap)
    return rules


_BONUS_KEYS = {"name", "multiplier", "starts", "ends", "segment", "applies_to"}


def parse_bonuses(data: Any, actions: Collection[str]) -> tuple[Bonus, ...]:
    """``bonuses``: a list of time-bound multipliers."""
    if not isinstance(data, list):
        raise ProgrammeError("bonuses", "a list of {name, multiplier, starts, ends, ...}")
    found: list[Bonus] = []
    for n, item in enumerate(data):
        path = f"bonuses[{n}]"
        bonus = mapping(item, path, "name, multiplier, starts, ends, segment, applies_to")
        unknown(bonus, _BONUS_KEYS, f"{path}.")
        for required in ("name", "multiplier", "starts", "ends"):
            if required not in bonus:
                raise ProgrammeError(f"{path}.{required}", "required")
        starts = instant(bonus["starts"], f"{path}.starts")
        ends = instant(bonus["ends"], f"{path}.ends")
        if ends <= starts:
            raise ProgrammeError(f"{path}.ends", "after starts")
        applies = bonus.get("applies_to", ["spend"])
        if not isinstance(applies, list) or not applies:
            raise ProgrammeError(f"{path}.applies_to", "a list of spend and/or action names")
        for rule in applies:
            if rule != "spend" and rule not in actions:
                raise ProgrammeError(
                    f"{path}.applies_to", f"{rule!r} is neither spend nor an action of actions"
                )
        segment = bonus.get("segment")
        found.append(
            Bonus(
                name=name(bonus["name"], f"{path}.name"),
                multiplier=number(bonus["multiplier"], f"{path}.multiplier", low=0, high=100),
                starts=starts,
                ends=ends,
                segment=None if segment is None else name(segment, f"{path}.segment", length=200),
                applies_to=frozenset(str(rule) for rule in applies),
            )
        )
    return tuple(found)


def limit_start(at: datetime, per: str, zone: ZoneInfo) -> datetime | None:
    """The start of the calendar ``per`` (day, month, year on ``zone``'s clock) that ``at`` is
    in; None for ``lifetime``."""
    if per == "lifetime":
        return None
    local = at.astimezone(zone)
    if per == "day":
        start = datetime(local.year, local.month, local.day, tzinfo=zone)
    elif per == "month":
        start = datetime(local.year, local.month, 1, tzinfo=zone)
    else:
        start = datetime(local.year, 1, 1, tzinfo=zone)
    return start


def limit_end(start: datetime, per: str, zone: ZoneInfo) -> datetime:
    """The start of the calendar ``per`` after the one that starts at ``start``."""
    local = start.astimezone(zone)
    if per == "day":
        return (local.replace(tzinfo=None) + timedelta(days=1)).replace(tzinfo=zone)
    if per == "month":
        year, month = divmod(local.month, 12)
        return datetime(local.year + year, month + 1, 1, tzinfo=zone)
    return datetime(local.year + 1, 1, 1, tzinfo=zone)
