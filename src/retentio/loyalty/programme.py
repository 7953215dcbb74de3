"""The loyalty programme's configuration, written as data (YAML/JSON), checked here; and the
points an order and a refund earn and take back under it. Pure: no database, no clock.

::

    currency: DKK                # the currency points are earned in
    timezone: Europe/Copenhagen  # the programme's clock: days, months and years of limits,
                                 # calendar-year tiers
    earn: {points_per_unit: 1, minimum_order: 100, rounding: down}   # see loyalty.earning
    actions: {signup: {points: 50}, review: {points: 20, limit: {count: 3, per: month}}}
    bonuses: [...]               # time-bound multipliers (loyalty.earning)
    pending_days: 14             # the return window: purchase points are pending this long
    expiry: {months: 12}         # per lot (FIFO), N months after they became available;
                                 # or {inactive_months: 12}: the whole balance; or false
    reminders: [30, 7, 1]        # points_expiring events, days before points expire
    returns: allow_negative      # a refund of spent points may take the balance below 0;
                                 # or cap_at_balance
    tiers: {...}                 # loyalty.tiers
    rewards: [...]               # loyalty.rewards
    referrals: {...}             # loyalty.referral_rules
    point_value: 0.1             # money per point, for the liability (default: the best
                                 # rate of the amount_off rewards)
    orders_from_store: true      # the round earns for orders sent to retentio's order API
                                 # since the first version (loyalty.store_orders)

:func:`parse_programme` raises a :class:`ProgrammeError` naming the path of the first problem.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from retentio.core.money import minor_unit_exponent
from retentio.loyalty._parse import ProgrammeError, mapping, number, unknown, whole
from retentio.loyalty.earning import (
    ActionRule,
    Bonus,
    Line,
    SpendRule,
    parse_actions,
    parse_bonuses,
    parse_spend,
    spend_points,
)
from retentio.loyalty.referral_rules import ReferralRules, parse_referrals
from retentio.loyalty.rewards import Reward, parse_rewards
from retentio.loyalty.tiers import TierRules, parse_tiers

__all__ = ["Programme", "ProgrammeError", "order_points", "parse_programme", "refund_points"]

RETURN_POLICIES = ("allow_negative", "cap_at_balance")
_KEYS = {
    "currency",
    "timezone",
    "earn",
    "actions",
    "bonuses",
    "pending_days",
    "expiry",
    "reminders",
    "returns",
    "tiers",
    "rewards",
    "referrals",
    "point_value",
    "orders_from_store",
}


@dataclass(frozen=True, slots=True)
class Programme:
    """A checked programme (see the module's docstring)."""

    currency: str = "DKK"
    timezone: str = "Europe/Copenhagen"
    earn: SpendRule = field(default_factory=SpendRule)
    actions: Mapping[str, ActionRule] = field(default_factory=dict)
    bonuses: tuple[Bonus, ...] = ()
    pending_days: int = 14
    expiry_months: int | None = 12
    inactive_months: int | None = None
    reminder_days: tuple[int, ...] = (30, 7, 1)
    returns: str = "allow_negative"
    tiers: TierRules | None = None
    rewards: tuple[Reward, ...] = ()
    referrals: ReferralRules | None = None
    point_value: Decimal | None = None
    orders_from_store: bool = True

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def points_per_unit(self) -> Decimal:
        return self.earn.points_per_unit

    @property
    def minimum_order_minor(self) -> int:
        return self.earn.minimum_order_minor

    @property
    def rounding(self) -> str:
        return self.earn.rounding

    def summary(self) -> str:
        """One line on what the programme does, for the people who configure it."""
        parts = [f"{self.points_per_unit} point(s) per {self.currency}"]
        parts.append(f"pending {self.pending_days} days")
        if self.expiry_months is not None:
            parts.append(f"points expire {self.expiry_months} months after they came")
        elif self.inactive_months is not None:
            parts.append(f"points expire after {self.inactive_months} months without activity")
        counted = (
            ("action", "actions", len(self.actions)),
            ("bonus", "bonuses", len(self.bonuses)),
            ("tier", "tiers", 0 if self.tiers is None else len(self.tiers.levels)),
            ("reward", "rewards", len(self.rewards)),
        )
        parts += [f"{n} {one if n == 1 else many}" for one, many, n in counted if n]
        if self.referrals is not None:
            parts.append("referrals")
        return ", ".join(parts)

    def reward(self, reward_id: str) -> Reward | None:
        return next((r for r in self.rewards if r.id == reward_id), None)

    def value_per_point(self) -> Decimal | None:
        """Money (major units) a point is worth: ``point_value``, else the best rate of the
        amount_off rewards; None when neither says."""
        if self.point_value is not None:
            return self.point_value
        rates = [
            Decimal(r.amount_minor).scaleb(-minor_unit_exponent(self.currency)) / r.points
            for r in self.rewards
            if r.amount_minor is not None
        ]
        return max(rates, default=None)


def parse_programme(data: Any) -> Programme:
    """Check a decoded programme definition; a :class:`ProgrammeError` names the problem."""
    if not isinstance(data, Mapping):
        raise ProgrammeError("programme", "a mapping of currency, earn, pending_days, ...")
    unknown(data, _KEYS)
    currency = data.get("currency", "DKK")
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isalpha():
        raise ProgrammeError("currency", "an ISO 4217 code such as DKK or EUR")
    currency = currency.upper()
    scale = 10 ** minor_unit_exponent(currency)
    zone = data.get("timezone", "Europe/Copenhagen")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ProgrammeError("timezone", "an IANA time zone, e.g. Europe/Copenhagen") from None
    actions = parse_actions(data.get("actions", {}))
    pending = whole(data.get("pending_days", 14), "pending_days", low=0, high=365)
    months, inactive = _expiry(data.get("expiry", {"months": 12}))
    returns = data.get("returns", "allow_negative")
    if returns not in RETURN_POLICIES:
        raise ProgrammeError("returns", f"one of {', '.join(RETURN_POLICIES)}")
    tiers = None if data.get("tiers") is None else parse_tiers(data["tiers"], scale)
    levels = [] if tiers is None else [t.name for t in tiers.levels]
    referrals = data.get("referrals")
    value = data.get("point_value")
    return Programme(
        currency=currency,
        timezone=str(zone),
        earn=parse_spend(data.get("earn", {}), scale),
        actions=actions,
        bonuses=parse_bonuses(data.get("bonuses", []), actions),
        pending_days=pending,
        expiry_months=months,
        inactive_months=inactive,
        reminder_days=_reminders(data.get("reminders", [30, 7, 1])),
        returns=str(returns),
        tiers=tiers,
        rewards=parse_rewards(data.get("rewards", []), currency, levels),
        referrals=None if referrals is None else parse_referrals(referrals, currency),
        point_value=None if value is None else number(value, "point_value", low=0, high=1e6),
        orders_from_store=_flag(data.get("orders_from_store", True), "orders_from_store"),
    )


def _flag(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise ProgrammeError(path, "true or false")
    return value


def _expiry(value: Any) -> tuple[int | None, int | None]:
    if value is None or value is False:
        return None, None
    given = mapping(value, "expiry", "{months: N} (per lot), {inactive_months: N}, or false")
    if len(given) != 1:
        raise ProgrammeError("expiry", "{months: N} (per lot), {inactive_months: N}, or false")
    unknown(given, {"months", "inactive_months"}, "expiry.")
    ((kind, months),) = given.items()
    months = whole(months, f"expiry.{kind}", low=1, high=120)
    return (months, None) if kind == "months" else (None, months)


def _reminders(value: Any) -> tuple[int, ...]:
    if not isinstance(value, list):
        raise ProgrammeError("reminders", "a list of days before points expire, e.g. [30, 7, 1]")
    days = [whole(d, f"reminders[{n}]", low=1, high=365) for n, d in enumerate(value)]
    if len(set(days)) != len(days):
        raise ProgrammeError("reminders", "each number of days once")
    return tuple(sorted(days, reverse=True))


def order_points(
    programme: Programme,
    amount_minor: int,
    currency: str,
    *,
    shipping_minor: int = 0,
    tax_minor: int = 0,
    lines: Sequence[Line] = (),
    multiplier: Decimal = Decimal(1),
) -> int:
    """The points an order earns: on its net amount (``amount_minor`` less shipping and tax),
    none in another currency or below the minimum; ``lines`` apply the exclusions and
    multipliers of products and categories, ``multiplier`` a tier's and a bonus's."""
    if currency.upper() != programme.currency:
        return 0
    net = amount_minor - max(shipping_minor, 0) - max(tax_minor, 0)
    return spend_points(programme.earn, programme.currency, net, lines, multiplier)


def refund_points(earned: int, amount_minor: int, refunded_minor: int, reversed_: int) -> int:
    """The points a refund takes back now: the refunded share (of everything refunded so far,
    ``refunded_minor``) of what the order earned, less the ``reversed_`` points taken back
    before. Rounded up, so that refunding an order in parts takes back exactly every point."""
    if earned <= 0 or amount_minor <= 0 or refunded_minor <= 0:
        return 0
    share = Decimal(min(refunded_minor, amount_minor)) / Decimal(amount_minor)
    return max(0, min(earned, math.ceil(Decimal(earned) * share)) - reversed_)
