"""Unit tests of the MBG/NBD model against reference CDNOW estimates and its own math."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from model_checks import (
    check_duplicated_rows_fit_like_weights,
    check_gradient,
    check_purchase_distribution,
    extreme_grid,
)
from scipy.special import betaln, gammaln, hyp2f1

from retentio.core.errors import DataError, SchemaError
from retentio.datasets import load_cdnow_summary
from retentio.models import BetaGeo, Model, ModifiedBetaGeo
from retentio.models.modbetageo import _log_likelihood_terms


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return load_cdnow_summary()


@pytest.fixture(scope="module")
def fitted(cdnow: pd.DataFrame) -> ModifiedBetaGeo:
    return ModifiedBetaGeo().fit(cdnow["x"], cdnow["t_x"], cdnow["T"])


def with_params(point: tuple[float, ...]) -> ModifiedBetaGeo:
    model = ModifiedBetaGeo()
    model._params = dict(zip(ModifiedBetaGeo.param_names, point, strict=True))
    return model


def test_fit_matches_the_reference_cdnow_estimates(fitted: ModifiedBetaGeo) -> None:
    """MBG/NBD (Batislam, Denizel & Filiztekin 2007, IJRM 24(3) 201-209) on the CDNOW 39-week
    calibration sample of 2,357 customers: r=0.525, alpha=6.183, a=0.891, b=1.614, as computed
    by BTYDplus (mplatzer/BTYDplus, mbgnbd.EstimateParameters) and asserted to 3 decimals by
    lifetimes (CamDavidsonPilon/lifetimes, tests/test_estimation.py,
    ``test_params_out_is_close_to_BTYDplus``). The log-likelihood -9582.136 is the one Platzer &
    Reutterer report for MBG/NBD on CDNOW (mplatzer/paper-bgcnbdk, R/empirical.R, next to
    -9582.429 for BG/NBD, 0.003 below the paper's and our BG/NBD optimum likewise)."""
    params = fitted.params
    assert params["r"] == pytest.approx(0.525, abs=5e-4)
    assert params["alpha"] == pytest.approx(6.183, abs=5e-4)
    assert params["a"] == pytest.approx(0.891, abs=5e-4)
    assert params["b"] == pytest.approx(1.614, abs=5e-4)
    assert fitted.log_likelihood == pytest.approx(-9582.136, abs=0.01)
    assert fitted.n_customers == 2357


def test_likelihood_is_the_two_term_formula_of_the_paper() -> None:
    """L = B(a,b+x+1)/B(a,b) G(r+x) alpha^r / (G(r) (alpha+T)^(r+x))
    + B(a+1,b+x)/B(a,b) G(r+x) alpha^r / (G(r) (alpha+t_x)^(r+x)), the second term also at x=0."""
    r, alpha, a, b = 0.525, 6.183, 0.891, 1.614
    x = np.array([0.0, 1.0, 2.0, 7.0])
    t_x = np.array([0.0, 1.71, 30.43, 35.0])
    big_t = np.array([38.86, 38.86, 38.86, 39.0])
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha) - betaln(a, b)
    alive = np.exp(common + betaln(a, b + x + 1) - (r + x) * np.log(alpha + big_t))
    gone = np.exp(common + betaln(a + 1, b + x) - (r + x) * np.log(alpha + t_x))
    ll = _log_likelihood_terms(np.log(np.array([r, alpha, a, b])), x, t_x, big_t)[0]
    np.testing.assert_allclose(ll, np.log(alive + gone), rtol=1e-12)


def test_standard_errors_summary_and_json_round_trip(fitted: ModifiedBetaGeo) -> None:
    table = fitted.summary()
    assert list(table["param"]) == ["r", "alpha", "a", "b"]
    assert np.all(np.isfinite(table[["standard_error", "lower", "upper"]].to_numpy()))
    assert np.all(table["standard_error"] > 0)
    loaded = Model.from_json(fitted.to_json())
    assert isinstance(loaded, ModifiedBetaGeo)
    assert loaded.params == fitted.params
    assert loaded.log_likelihood == fitted.log_likelihood
    assert loaded.standard_errors == fitted.standard_errors
    alive = fitted.probability_alive([0, 3], [0.0, 20.0], [39.0, 39.0])
    np.testing.assert_array_equal(
        loaded.probability_alive([0, 3], [0.0, 20.0], [39.0, 39.0]), alive
    )
    assert ModifiedBetaGeo.from_json(fitted.to_json()).params == fitted.params


def test_fit_summary_takes_the_summarize_columns(cdnow: pd.DataFrame) -> None:
    summary = cdnow.rename(columns={"x": "frequency", "t_x": "recency"})
    model = ModifiedBetaGeo().fit_summary(summary)
    assert model.params["r"] == pytest.approx(0.525, abs=5e-4)
    with pytest.raises(SchemaError, match="recency"):
        ModifiedBetaGeo().fit_summary(pd.DataFrame({"frequency": [1], "T": [2.0]}))


POINTS = [
    (0.525, 6.183, 0.891, 1.614),
    (1.0, 1.0, 1.0, 1.0),
    (3.0, 0.2, 5.0, 0.5),
    (0.05, 40.0, 0.1, 20.0),
]


@pytest.mark.parametrize("point", POINTS)
def test_analytic_gradient_matches_finite_differences(
    point: tuple[float, ...], cdnow: pd.DataFrame
) -> None:
    check_gradient(_log_likelihood_terms, point, cdnow)


def test_duplicated_rows_fit_like_weights(cdnow: pd.DataFrame) -> None:
    check_duplicated_rows_fit_like_weights(ModifiedBetaGeo, cdnow)


@pytest.mark.parametrize("point", POINTS)
def test_finite_outputs_on_extreme_inputs(point: tuple[float, ...]) -> None:
    x, t_x, big_t = extreme_grid()
    ll, grad = _log_likelihood_terms(np.log(np.array(point)), x, t_x, big_t)
    assert np.all(np.isfinite(ll)) and np.all(np.isfinite(grad))
    model = with_params(point)
    alive = model.probability_alive(x, t_x, big_t)
    assert np.all(np.isfinite(alive)) and np.all((alive >= 0) & (alive <= 1))
    for t in (0.0, 1.0, 52.0, 520.0):
        expected = model.expected_purchases(t, x, t_x, big_t)
        assert np.all(np.isfinite(expected)) and np.all(expected >= -1e-9)
    new = model.expected_purchases_new_customer([0.0, 1.0, 520.0])
    assert np.all(np.isfinite(new)) and np.all(np.diff(new) >= 0)
    for n in (0, 1, 5, 1000):
        for t in (0.0, 1.0, 520.0):
            pmf = model.probability_of_purchases(n, t, x, t_x, big_t)
            assert np.all(np.isfinite(pmf)) and np.all((pmf >= 0) & (pmf <= 1))


def test_probability_alive(fitted: ModifiedBetaGeo, cdnow: pd.DataFrame) -> None:
    p = fitted.params
    r, alpha, a, b = p["r"], p["alpha"], p["a"], p["b"]
    alive = fitted.probability_alive(cdnow["x"], cdnow["t_x"], cdnow["T"])
    assert np.all((alive >= 0) & (alive <= 1))
    # unlike BG/NBD, a customer with no repeat purchase may already be gone
    zero = fitted.probability_alive([0, 0], [0.0, 0.0], [1.0, 39.0])
    assert np.all(zero < 1) and zero[1] < zero[0]
    by_hand = 1 / (1 + a / b * ((alpha + 39.0) / alpha) ** r)
    assert zero[1] == pytest.approx(by_hand, rel=1e-12)
    early, late = fitted.probability_alive([5, 5], [5.0, 38.0], [39.0, 39.0])
    assert early < late
    # the lifetimes grid check: 0 <= P(alive) <= 1 for frequency, recency <= T in 0..90
    grid = np.array(
        [(i, j, k) for i in range(0, 100, 10) for j in range(0, 100, 10) for k in range(j, 100, 10)]
    )
    grid = grid[(grid[:, 0] > 0) | (grid[:, 1] == 0)]
    grid = grid[grid[:, 2] > 0]
    alive = fitted.probability_alive(grid[:, 0], grid[:, 1], grid[:, 2])
    assert np.all((alive >= 0) & (alive <= 1))


def test_expected_purchases_new_customer_closed_form(fitted: ModifiedBetaGeo) -> None:
    p = fitted.params
    r, alpha, a, b = p["r"], p["alpha"], p["a"], p["b"]
    times = np.array([0.1429, 1.0, 3.0, 31.8571, 32.0, 78.0])
    # E[X(t)] = b/(a-1) [1 - (alpha/(alpha+t))^r 2F1(r, b+1; a+b; t/(alpha+t))]
    # (Batislam, Denizel & Filiztekin 2007; lifetimes' ModifiedBetaGeoFitter)
    by_hand = (
        b
        / (a - 1)
        * (1 - (alpha / (alpha + times)) ** r * hyp2f1(r, b + 1, a + b, times / (alpha + times)))
    )
    np.testing.assert_allclose(fitted.expected_purchases_new_customer(times), by_hand, rtol=1e-9)


def test_expected_purchases_conditional_closed_form(fitted: ModifiedBetaGeo) -> None:
    p = fitted.params
    r, alpha, a, b = p["r"], p["alpha"], p["a"], p["b"]
    x, t_x, big_t, t = 2.0, 30.43, 38.86, 39.0
    z = t / (alpha + big_t + t)
    numerator = (
        (a + b + x)
        / (a - 1)
        * (
            1
            - ((alpha + big_t) / (alpha + big_t + t)) ** (r + x)
            * hyp2f1(r + x, b + x + 1, a + b + x, z)
        )
    )
    denominator = 1 + a / (b + x) * ((alpha + big_t) / (alpha + t_x)) ** (r + x)
    got = fitted.expected_purchases(t, [x], [t_x], [big_t])[0]
    assert got == pytest.approx(numerator / denominator, rel=1e-9)
    # a customer just acquired (x=0, t_x=0, T~0) expects what a new customer does
    many = fitted.expected_purchases([1.0, 39.0], [0, 0], [0.0, 0.0], [1e-9, 1e-9])
    np.testing.assert_allclose(many, fitted.expected_purchases_new_customer([1.0, 39.0]), rtol=1e-6)


def test_predictions_are_smooth_through_a_equal_to_one() -> None:
    at_one = with_params((0.5, 6.0, 1.0, 1.6))
    near = with_params((0.5, 6.0, 1.0 + 1e-3, 1.6))
    args = ([0, 2, 10], [0.0, 30.0, 38.0], [39.0, 39.0, 39.0])
    np.testing.assert_allclose(
        at_one.expected_purchases(52.0, *args), near.expected_purchases(52.0, *args), rtol=1e-3
    )
    np.testing.assert_allclose(
        at_one.expected_purchases_new_customer([1.0, 52.0]),
        near.expected_purchases_new_customer([1.0, 52.0]),
        rtol=1e-3,
    )


def test_collapses_to_bg_nbd_when_dropout_at_start_is_negligible() -> None:
    """As b grows with a/b fixed the extra time-0 coin matters less and MBG approaches BG/NBD."""
    point = (0.5, 6.0, 2e3, 8e3)
    mbg, bg = with_params(point), BetaGeo()
    bg._params = dict(zip(BetaGeo.param_names, point, strict=True))
    np.testing.assert_allclose(
        mbg.expected_purchases(39.0, [3], [20.0], [39.0]),
        bg.expected_purchases(39.0, [3], [20.0], [39.0]),
        rtol=1e-3,
    )


@pytest.mark.parametrize(
    ("x", "t_x", "big_t"), [(0, 0.0, 39.0), (2, 30.43, 38.86), (5, 5.0, 39.0), (30, 38.0, 39.0)]
)
def test_probability_of_purchases_is_a_distribution_with_the_expected_mean(
    fitted: ModifiedBetaGeo, x: int, t_x: float, big_t: float
) -> None:
    check_purchase_distribution(fitted, x, t_x, big_t, 600)
    assert fitted.probability_of_purchases(0, 0.0, [x], [t_x], [big_t])[0] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("frequency", "recency", "big_t", "named"),
    [
        ([1, 2], [1.0], [2.0], "same length"),
        ([-1], [0.0], [2.0], "frequency"),
        ([1.5], [1.0], [2.0], "frequency"),
        ([1], [3.0], [2.0], "recency"),
        ([1], [-1.0], [2.0], "recency"),
        ([0], [1.0], [2.0], "recency"),
        ([1], [0.0], [0.0], "T must be > 0"),
        ([1], [np.nan], [2.0], "recency"),
        (["a"], [1.0], [2.0], "frequency"),
    ],
)
def test_bad_inputs_name_the_argument(
    frequency: list[Any], recency: list[float], big_t: list[float], named: str
) -> None:
    with pytest.raises(DataError, match=named):
        ModifiedBetaGeo().fit(frequency, recency, big_t)


def test_bad_weights_horizon_and_counts(fitted: ModifiedBetaGeo) -> None:
    with pytest.raises(DataError, match="weights"):
        ModifiedBetaGeo().fit([1, 2], [1.0, 2.0], [3.0, 3.0], weights=[1.0])
    with pytest.raises(DataError, match="weights"):
        ModifiedBetaGeo().fit([1, 2], [1.0, 2.0], [3.0, 3.0], weights=[-1.0, 1.0])
    with pytest.raises(DataError, match="t must"):
        fitted.expected_purchases(-1.0, [1], [1.0], [2.0])
    with pytest.raises(DataError, match="t must"):
        fitted.expected_purchases_new_customer(-1.0)
    with pytest.raises(DataError, match="t must"):
        fitted.expected_purchases([1.0, 2.0, 3.0], [1, 1], [1.0, 1.0], [2.0, 2.0])
    with pytest.raises(DataError, match="n must"):
        fitted.probability_of_purchases(1.5, 1.0, [1], [1.0], [2.0])
    with pytest.raises(DataError, match="T"):
        fitted.probability_alive([1], [1.0], [-2.0])
