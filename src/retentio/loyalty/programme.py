"""The loyalty programme's configuration, written as data (YAML/JSON), checked here; and the
points an order earns under it. Pure: no database, no clock.

A programme (this part of issue 6: earning on spend, the pending period, expiry and the
return policy; actions, bonus campaigns, tiers and rewards follow)::

    currency: DKK                # the currency points are earned in
    earn:
      points_per_unit: 1         # per 1 DKK of the order's amount (10 per 1 EUR, 0.5, ...)
      minimum_order: 100         # in the currency's units; smaller orders earn nothing
      rounding: down             # down (the default), nearest or up
    pending_days: 14             # the return window: purchase points are pending this long
    expiry: {months: 12}         # per lot (FIFO), after N months; or {inactive_months: 12}
    returns: allow_negative      # a refund of spent points may take the balance below 0;
                                 # or cap_at_balance

:func:`parse_programme` raises a :class:`ProgrammeError` naming the path of the first problem.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from retentio.core.errors import DefinitionError
from retentio.core.money import minor_unit_exponent

__all__ = ["Programme", "ProgrammeError", "order_points", "parse_programme", "refund_points"]

ROUNDINGS = ("down", "nearest", "up")
RETURN_POLICIES = ("allow_negative", "cap_at_balance")
_KEYS = {"currency", "earn", "pending_days", "expiry", "returns"}
_EARN_KEYS = {"points_per_unit", "minimum_order", "rounding"}


class ProgrammeError(DefinitionError):
    """A programme definition that cannot be used; ``path`` names where (``earn.rounding``)."""


@dataclass(frozen=True, slots=True)
class Programme:
    """A checked programme (see the module's docstring)."""

    currency: str = "DKK"
    points_per_unit: Decimal = Decimal(1)
    minimum_order_minor: int = 0
    rounding: str = "down"
    pending_days: int = 14
    expiry_months: int | None = 12
    inactive_months: int | None = None
    returns: str = "allow_negative"


def _number(value: Any, path: str, *, low: float, high: float) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ProgrammeError(path, "a number")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ProgrammeError(path, f"a number, not {value!r}") from None
    if not number.is_finite() or not low <= number <= high:
        raise ProgrammeError(path, f"from {low:g} to {high:g}")
    return number


def _whole(value: Any, path: str, *, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ProgrammeError(path, f"whole number from {low} to {high}")
    return value


def _unknown(data: Mapping[str, Any], known: set[str], prefix: str = "") -> None:
    extra = sorted(str(k) for k in set(data) - known)
    if extra:
        raise ProgrammeError(
            f"{prefix}{extra[0]}", f"unknown key; known: {', '.join(sorted(known))}"
        )


def parse_programme(data: Any) -> Programme:
    """Check a decoded programme definition; a :class:`ProgrammeError` names the problem."""
    if not isinstance(data, Mapping):
        raise ProgrammeError("programme", "a mapping of currency, earn, pending_days, ...")
    _unknown(data, _KEYS)
    currency = data.get("currency", "DKK")
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isalpha():
        raise ProgrammeError("currency", "an ISO 4217 code such as DKK or EUR")
    currency = currency.upper()
    earn = data.get("earn", {})
    if not isinstance(earn, Mapping):
        raise ProgrammeError("earn", "a mapping of points_per_unit, minimum_order, rounding")
    _unknown(earn, _EARN_KEYS, "earn.")
    rate = _number(earn.get("points_per_unit", 1), "earn.points_per_unit", low=0, high=10_000)
    minimum = _number(earn.get("minimum_order", 0), "earn.minimum_order", low=0, high=1e9)
    rounding = earn.get("rounding", "down")
    if rounding not in ROUNDINGS:
        raise ProgrammeError("earn.rounding", f"one of {', '.join(ROUNDINGS)}")
    pending = _whole(data.get("pending_days", 14), "pending_days", low=0, high=365)
    months, inactive = _expiry(data.get("expiry", {"months": 12}))
    returns = data.get("returns", "allow_negative")
    if returns not in RETURN_POLICIES:
        raise ProgrammeError("returns", f"one of {', '.join(RETURN_POLICIES)}")
    scale = 10 ** minor_unit_exponent(currency)
    return Programme(
        currency=currency,
        points_per_unit=rate,
        minimum_order_minor=int(minimum * scale),
        rounding=str(rounding),
        pending_days=pending,
        expiry_months=months,
        inactive_months=inactive,
        returns=str(returns),
    )


def _expiry(value: Any) -> tuple[int | None, int | None]:
    if value is None or value is False:
        return None, None
    if not isinstance(value, Mapping) or len(value) != 1:
        raise ProgrammeError("expiry", "{months: N} (per lot), {inactive_months: N}, or false")
    _unknown(value, {"months", "inactive_months"}, "expiry.")
    ((kind, months),) = value.items()
    months = _whole(months, f"expiry.{kind}", low=1, high=120)
    return (months, None) if kind == "months" else (None, months)


def _rounded(value: Decimal, rounding: str) -> int:
    if rounding == "up":
        return math.ceil(value)
    if rounding == "nearest":
        return int(value.quantize(Decimal(1), rounding="ROUND_HALF_UP"))
    return math.floor(value)


def order_points(programme: Programme, amount_minor: int, currency: str) -> int:
    """The points an order of ``amount_minor`` (its net amount) earns: none in another
    currency or below the minimum."""
    if currency.upper() != programme.currency or amount_minor <= 0:
        return 0
    if amount_minor < programme.minimum_order_minor:
        return 0
    units = Decimal(amount_minor) / (10 ** minor_unit_exponent(programme.currency))
    return max(0, _rounded(units * programme.points_per_unit, programme.rounding))


def refund_points(earned: int, amount_minor: int, refunded_minor: int, reversed_: int) -> int:
    """The points a refund takes back now: the refunded share (of everything refunded so far,
    ``refunded_minor``) of what the order earned, less the ``reversed_`` points taken back
    before. Rounded up, so that refunding an order in parts takes back exactly every point."""
    if earned <= 0 or amount_minor <= 0 or refunded_minor <= 0:
        return 0
    share = Decimal(min(refunded_minor, amount_minor)) / Decimal(amount_minor)
    return max(0, min(earned, math.ceil(Decimal(earned) * share)) - reversed_)
