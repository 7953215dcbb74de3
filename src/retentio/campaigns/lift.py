"""The lift of a campaign: treated against control, with 95 % confidence intervals and a
verdict in plain words. Pure: numbers in, numbers out.

- A difference of two proportions (conversion, repeat purchase, churn) gets Newcombe's hybrid
  score interval (Newcombe 1998, "Interval estimation for the difference between independent
  proportions", Statistics in Medicine 17, method 10): built from each arm's Wilson interval,
  it keeps its coverage near 95 % with small arms and rates near 0 or 1, where the textbook
  (Wald) interval does not.
- A difference of two means (revenue per customer) gets Welch's interval from each arm's mean
  and variance (normal quantile: arms of a campaign are hundreds of customers or more).
- Incremental revenue is the difference in revenue per customer times the treated customers.

An interval that contains 0 means the data cannot tell the campaign's effect from chance:
the verdict then says "no detectable effect", whatever the point estimate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Arm", "Difference", "mean_difference", "proportion_difference", "verdict"]

Z95 = 1.959963984540054  # the standard normal's 97.5 % quantile


@dataclass(frozen=True, slots=True)
class Arm:
    """One arm's customers and sums: converted customers, revenue and revenue squared."""

    customers: int
    converted: int = 0
    revenue: float = 0.0
    revenue_squares: float = 0.0

    @property
    def rate(self) -> float | None:
        return self.converted / self.customers if self.customers else None

    @property
    def mean(self) -> float | None:
        return self.revenue / self.customers if self.customers else None

    @property
    def variance(self) -> float | None:
        """The sample variance of revenue per customer (None below two customers)."""
        n = self.customers
        if n < 2:
            return None
        return max(0.0, (self.revenue_squares - self.revenue**2 / n) / (n - 1))


@dataclass(frozen=True, slots=True)
class Difference:
    """treated - control, and its 95 % interval (None when an arm is empty)."""

    treated: float | None
    control: float | None
    difference: float | None
    low: float | None
    high: float | None

    @property
    def detectable(self) -> bool:
        """Whether the interval excludes 0."""
        return self.low is not None and self.high is not None and (self.low > 0 or self.high < 0)

    def to_dict(self) -> dict[str, float | bool | None]:
        return {
            "treated": self.treated,
            "control": self.control,
            "difference": self.difference,
            "ci_low": self.low,
            "ci_high": self.high,
            "detectable": self.detectable,
        }


def _wilson(successes: int, n: int) -> tuple[float, float]:
    p = successes / n
    centre = (p + Z95**2 / (2 * n)) / (1 + Z95**2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / (1 + Z95**2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def proportion_difference(treated: Arm, control: Arm) -> Difference:
    """The difference of the arms' conversion rates, with Newcombe's hybrid score interval."""
    p1, p2 = treated.rate, control.rate
    if p1 is None or p2 is None:
        return Difference(p1, p2, None, None, None)
    l1, u1 = _wilson(treated.converted, treated.customers)
    l2, u2 = _wilson(control.converted, control.customers)
    d = p1 - p2
    low = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return Difference(p1, p2, d, low, high)


def mean_difference(treated: Arm, control: Arm) -> Difference:
    """The difference of the arms' mean revenue per customer, with Welch's interval."""
    m1, m2 = treated.mean, control.mean
    v1, v2 = treated.variance, control.variance
    if m1 is None or m2 is None:
        return Difference(m1, m2, None, None, None)
    d = m1 - m2
    if v1 is None or v2 is None:
        return Difference(m1, m2, d, None, None)
    half = Z95 * math.sqrt(v1 / treated.customers + v2 / control.customers)
    return Difference(m1, m2, d, d - half, d + half)


def verdict(conversion: Difference, revenue: Difference, currency: str | None) -> str:
    """One sentence a marketer can act on."""
    if conversion.difference is None:
        return "No control group to compare with: the lift cannot be measured."
    if conversion.low is None or conversion.high is None:  # pragma: no cover - both arms > 0
        return "Too few customers to measure the lift."
    points = f"{conversion.difference * 100:+.1f} points"
    interval = f"95 % CI {conversion.low * 100:+.1f} to {conversion.high * 100:+.1f}"
    if not conversion.detectable:
        sentence = f"No detectable effect on conversion ({points}, {interval})."
    elif conversion.difference > 0:
        sentence = f"The campaign raised conversion by {points[1:]} ({interval})."
    else:
        sentence = f"The campaign lowered conversion by {points[1:]} ({interval})."
    if revenue.detectable and revenue.difference is not None and currency:
        direction = "more" if revenue.difference > 0 else "less"
        amount = abs(revenue.difference)
        sentence += f" Treated customers spent {amount:,.2f} {currency} {direction} each."
    elif revenue.difference is not None:
        sentence += " No detectable effect on revenue per customer."
    return sentence
