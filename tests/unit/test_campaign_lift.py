"""The lift statistics against published numbers, and the verdict's words."""

from __future__ import annotations

import math

import pytest

from retentio.campaigns.lift import Arm, mean_difference, proportion_difference, verdict


# Newcombe (1998), "Interval estimation for the difference between independent proportions:
# comparison of eleven methods", Statistics in Medicine 17:873-890, Table II, method 10.
@pytest.mark.parametrize(
    ("treated", "control", "low", "high"),
    [
        ((56, 70), (48, 80), 0.0524, 0.3339),
        ((9, 10), (3, 10), 0.1705, 0.8090),
        ((6, 7), (2, 7), 0.0582, 0.8062),
        ((5, 56), (0, 29), -0.0381, 0.1926),
    ],
)
def test_the_proportion_interval_is_newcombes_hybrid_score_interval(
    treated: tuple[int, int], control: tuple[int, int], low: float, high: float
) -> None:
    result = proportion_difference(Arm(treated[1], treated[0]), Arm(control[1], control[0]))
    assert result.difference == pytest.approx(treated[0] / treated[1] - control[0] / control[1])
    assert (round(result.low or 0, 4), round(result.high or 0, 4)) == (low, high)


def test_the_mean_interval_is_welchs() -> None:
    # Treated: revenue 0, 10, 20 (mean 10, variance 100); control 0, 0, 0, 4 (mean 1, var 4).
    treated = Arm(3, 2, 30.0, 0 + 100 + 400)
    control = Arm(4, 1, 4.0, 16.0)
    result = mean_difference(treated, control)
    half = 1.959963984540054 * math.sqrt(100 / 3 + 4 / 4)
    assert result.difference == pytest.approx(9.0)
    assert (result.low, result.high) == (pytest.approx(9 - half), pytest.approx(9 + half))


def test_the_verdict_says_no_detectable_effect_when_the_interval_holds_zero() -> None:
    same = proportion_difference(Arm(100, 10), Arm(100, 9))
    money = mean_difference(Arm(100, 10, 1000.0, 200000.0), Arm(100, 9, 900.0, 180000.0))
    assert not same.detectable
    assert verdict(same, money, "DKK").startswith("No detectable effect on conversion (+1.0 points")
    better = proportion_difference(Arm(1000, 300), Arm(1000, 200))
    assert better.detectable
    assert verdict(better, money, "DKK").startswith("The campaign raised conversion by 10.0 points")
    assert "No control group" in verdict(proportion_difference(Arm(10, 1), Arm(0)), money, None)


def test_empty_arms_give_no_numbers() -> None:
    result = mean_difference(Arm(0), Arm(5, 1, 10.0, 100.0))
    assert (result.difference, result.low, result.high) == (None, None, None)
    assert Arm(1, 1, 5.0, 25.0).variance is None
