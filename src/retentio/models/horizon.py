"""Time units and prediction horizons: "12M", "26W", "90D", "1Y" or a number of months.

A horizon is a whole number of steps of one unit; CLV discounts once per step. Lengths in days
use the mean Gregorian month and year (365.25 / 12 and 365.25 days), as is usual for CLV.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from retentio.core.errors import ConfigurationError

__all__ = ["UNIT_DAYS", "Horizon", "parse_horizon", "unit_days"]

#: Length of one unit in days.
UNIT_DAYS: dict[str, float] = {
    "D": 1.0,
    "W": 7.0,
    "M": 365.25 / 12,
    "Q": 365.25 / 4,
    "Y": 365.25,
}
_UNIT_NAMES = {"D": "day", "W": "week", "M": "month", "Q": "quarter", "Y": "year"}
_PATTERN = re.compile(r"^\s*(\d+)\s*([A-Za-z])\s*$")


def unit_days(unit: str, name: str = "freq") -> float:
    """Days in one ``unit`` (D, W, M, Q or Y); a ConfigurationError naming ``name`` otherwise."""
    key = str(unit).strip().upper()
    if key not in UNIT_DAYS:
        raise ConfigurationError(f"{name} must be one of D, W, M, Q, Y (got {unit!r})")
    return UNIT_DAYS[key]


@dataclass(frozen=True)
class Horizon:
    """``steps`` periods of ``unit`` (D, W, M, Q or Y)."""

    steps: int
    unit: str

    @property
    def days(self) -> float:
        """The whole horizon in days."""
        return self.steps * UNIT_DAYS[self.unit]

    def step_in(self, unit: str) -> float:
        """The length of one step expressed in ``unit`` (the time unit of a summary)."""
        return UNIT_DAYS[self.unit] / unit_days(unit)

    def __str__(self) -> str:
        noun = _UNIT_NAMES[self.unit] + ("s" if self.steps != 1 else "")
        return f"{self.steps} {noun}"


def parse_horizon(value: Horizon | str | int | float, name: str = "horizon") -> Horizon:
    """``"12M"``, ``"26W"``, ``"90D"``, ``"2Q"``, ``"1Y"``; a bare number counts months."""
    if isinstance(value, Horizon):
        return value
    if isinstance(value, bool):
        raise ConfigurationError(f"{name} must be like 12M, 26W, 90D or a number of months")
    if isinstance(value, int | float):
        if not (math.isfinite(value) and value == int(value) and value > 0):
            raise ConfigurationError(f"{name} must be a whole number of months > 0, got {value}")
        return Horizon(int(value), "M")
    match = _PATTERN.match(str(value))
    if match is None or match.group(2).upper() not in UNIT_DAYS:
        raise ConfigurationError(
            f"{name} must be a whole number and a unit D, W, M, Q or Y, like 12M or 26W "
            f"(got {value!r})"
        )
    steps = int(match.group(1))
    if steps <= 0:
        raise ConfigurationError(f"{name} must be longer than 0 (got {value!r})")
    return Horizon(steps, match.group(2).upper())
