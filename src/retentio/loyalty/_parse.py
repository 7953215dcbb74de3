"""Checks shared by the parts of a programme definition: each raises a :class:`ProgrammeError`
naming the path of the problem (``tiers.levels[1].threshold``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from retentio.core.errors import DefinitionError

__all__ = [
    "LIMIT_PERIODS",
    "Limit",
    "ProgrammeError",
    "instant",
    "limit",
    "mapping",
    "name",
    "number",
    "unknown",
    "whole",
]

#: The periods a per-customer limit counts in (calendar periods on the programme's clock).
LIMIT_PERIODS = ("day", "month", "year", "lifetime")


class ProgrammeError(DefinitionError):
    """A programme definition that cannot be used; ``path`` names where (``earn.rounding``)."""


@dataclass(frozen=True, slots=True)
class Limit:
    """At most ``count`` times ``per`` day, month, year (on the programme's clock) or lifetime."""

    count: int
    per: str


def number(value: Any, path: str, *, low: float, high: float) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ProgrammeError(path, "a number")
    try:
        parsed = Decimal(str(value))
    except InvalidOperation:
        raise ProgrammeError(path, f"a number, not {value!r}") from None
    if not parsed.is_finite() or not low <= parsed <= high:
        raise ProgrammeError(path, f"from {low:g} to {high:g}")
    return parsed


def whole(value: Any, path: str, *, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ProgrammeError(path, f"whole number from {low} to {high}")
    return value


def unknown(data: Mapping[str, Any], known: set[str], prefix: str = "") -> None:
    extra = sorted(str(k) for k in set(data) - known)
    if extra:
        raise ProgrammeError(
            f"{prefix}{extra[0]}", f"unknown key; known: {', '.join(sorted(known))}"
        )


def mapping(value: Any, path: str, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ProgrammeError(path, f"a mapping of {what}")
    return value


def name(value: Any, path: str, *, length: int = 100) -> str:
    """An identifier: letters, digits, ``-``, ``_`` and ``.``, 1 to ``length`` characters."""
    if not isinstance(value, str) or not 0 < len(value) <= length:
        raise ProgrammeError(path, f"a name of 1 to {length} characters")
    if not all(ch.isalnum() or ch in "-_." for ch in value):
        raise ProgrammeError(path, "letters, digits, '-', '_' and '.' only")
    return value


def instant(value: Any, path: str) -> datetime:
    """An ISO 8601 time with its UTC offset (a date or a naive time is ambiguous)."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ProgrammeError(path, f"an ISO 8601 time, not {value!r}") from None
    else:
        raise ProgrammeError(path, "an ISO 8601 time with its offset, e.g. 2026-12-05T00:00+01:00")
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ProgrammeError(path, "give the time's UTC offset, e.g. 2026-12-05T00:00+01:00")
    return parsed


def limit(value: Any, path: str) -> Limit | None:
    """``{count: N, per: day|month|year|lifetime}``, or None when not given."""
    if value is None:
        return None
    given = mapping(value, path, "count and per")
    unknown(given, {"count", "per"}, f"{path}.")
    per = given.get("per", "lifetime")
    if per not in LIMIT_PERIODS:
        raise ProgrammeError(f"{path}.per", f"one of {', '.join(LIMIT_PERIODS)}")
    if "count" not in given:
        raise ProgrammeError(f"{path}.count", "required: how many times")
    return Limit(whole(given["count"], f"{path}.count", low=1, high=1_000_000), str(per))
