"""Unit tests of the Pareto/NBD model against the published CDNOW estimates and its own math."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from model_checks import (
    central_gradient,
    check_purchase_distribution,
    extreme_grid,
)
from scipy.integrate import quad
from scipy.special import expit, gammaln
from scipy.stats import nbinom

from retentio.core.errors import DataError, SchemaError
from retentio.datasets import load_cdnow_summary
from retentio.models import Model, ParetoNBD, _pareto_math
from retentio.models._pareto_math import (
    distinct_rows,
    interval_moments,
    log_dropout_integral,
    log_interval_integral,
)
from retentio.models.pareto import (
    _exponents,
    _log_likelihood_parts,
    _log_likelihood_rows,
    _log_likelihood_terms,
)


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return load_cdnow_summary()


@pytest.fixture(scope="module")
def fitted(cdnow: pd.DataFrame) -> ParetoNBD:
    return ParetoNBD().fit(cdnow["x"], cdnow["t_x"], cdnow["T"])


def with_params(r: float, alpha: float, s: float, beta: float) -> ParetoNBD:
    model = ParetoNBD()
    model._params = {"r": r, "alpha": alpha, "s": s, "beta": beta}
    return model


def test_fit_matches_the_published_cdnow_estimates(fitted: ParetoNBD) -> None:
    """Fader, Hardie & Lee (2005), "'Counting your customers' the easy way", Marketing Science
    24(2), 275-284 (and Fader & Hardie's 2005 Pareto/NBD note): on the CDNOW 39-week sample
    r=0.553, alpha=10.578, s=0.606, beta=11.669 with LL=-9595.0."""
    params = fitted.params
    assert params["r"] == pytest.approx(0.553, abs=1e-3)
    assert params["alpha"] == pytest.approx(10.578, abs=5e-3)
    assert params["s"] == pytest.approx(0.606, abs=1e-3)
    assert params["beta"] == pytest.approx(11.669, abs=5e-3)
    assert fitted.log_likelihood == pytest.approx(-9595.0, abs=0.1)
    assert fitted.n_customers == 2357
    assert all(np.isfinite(v) and v > 0 for v in fitted.standard_errors.values())


def test_fit_summary_and_weights_agree(cdnow: pd.DataFrame, fitted: ParetoNBD) -> None:
    summary = cdnow.rename(columns={"x": "frequency", "t_x": "recency"})
    again = ParetoNBD().fit_summary(summary)
    assert again.params == pytest.approx(fitted.params, rel=1e-6)
    with pytest.raises(SchemaError):
        ParetoNBD().fit_summary(cdnow)


def _log_likelihood_by_quadrature(
    r: float, alpha: float, s: float, beta: float, x: float, t_x: float, big_t: float
) -> float:
    """log of Fader & Hardie's likelihood with A0 / (r+s+x) as the integral it comes from,
    int_{t_x}^T (alpha+tau)^-(r+x) (beta+tau)^-(s+1) dtau, by adaptive quadrature of the
    integrand over its value at t_x, on pieces [t_x + w 2^-(k+1), t_x + w 2^-k] (w = T - t_x)
    so that a fast decay near t_x is resolved."""
    width = big_t - t_x
    edges = [0.0, *(width * 2.0 ** -np.arange(50, -1, -1))] if width > 0 else []
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        total += quad(
            lambda u: np.exp(
                -(r + x) * np.log1p(u / (alpha + t_x)) - (s + 1) * np.log1p(u / (beta + t_x))
            ),
            lo,
            hi,
            epsabs=1e-14 * total,
            epsrel=1e-12,
            limit=100,
        )[0]
    at_tx = -(r + x) * np.log(alpha + t_x) - (s + 1) * np.log(beta + t_x)
    const = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    first = -(r + x) * np.log(alpha + big_t) - s * np.log(beta + big_t)
    with np.errstate(divide="ignore"):
        second = np.log(s) + at_tx + np.log(total)
    return float(const + np.logaddexp(first, second))


def _likelihood_by_quadrature(
    params: tuple[float, ...], x: np.ndarray, t_x: np.ndarray, big_t: np.ndarray
) -> np.ndarray:
    rows = zip(x, t_x, big_t, strict=True)
    return np.array([_log_likelihood_by_quadrature(*params, *row) for row in rows])


@pytest.mark.parametrize(
    "params",
    [
        (0.553, 10.578, 0.606, 11.669),
        (2.0, 5.0, 0.5, 5.0),
        (0.7, 30.0, 1.5, 2.0),
        (1.3, 1.0, 3.0, 8.0),
    ],
)
def test_likelihood_matches_quadrature(params: tuple[float, float, float, float]) -> None:
    x = np.array([0.0, 1.0, 2.0, 5.0, 3.0])
    t_x = np.array([0.0, 10.0, 30.0, 20.5, 38.0])
    big_t = np.array([38.0, 30.0, 39.0, 35.0, 38.0])
    ll = _log_likelihood_rows(np.log(np.array(params)), x, t_x, big_t)
    np.testing.assert_allclose(ll, _likelihood_by_quadrature(params, x, t_x, big_t), rtol=1e-8)


#: Rate scales far apart: alpha/beta = 1e6, 1e4, 1e3, 1, 1e-3, 1e-4 and beyond, with s = 1 and
#: integer s (where scipy's hyp2f1 takes special branches). The first is the case where
#: hyp2f1 gave -3304.39 instead of -3304.20 on the row x=1000, t_x=0, T=520.
FAR_APART = [
    (0.3, 1e4, 0.5, 0.01),
    (0.5, 1e4, 0.6, 1.0),
    (0.5, 3e4, 0.6, 30.0),
    (1.2, 3.0, 1.0, 3.0),
    (0.5, 0.03, 0.6, 30.0),
    (2.0, 1.0, 3.0, 1e4),
    (0.3, 1e6, 0.5, 1.0),
    (0.3, 1.0, 0.5, 1e6),
    (0.8, 100.0, 3.0, 0.01),
    (5.0, 1e-8, 1.0, 1e8),
    (1e-6, 1e12, 20.0, 1e-6),
    (2.0, 1e-3, 1.0, 1e3),
]


@pytest.mark.parametrize("params", FAR_APART)
def test_likelihood_matches_quadrature_on_the_extreme_grid(
    params: tuple[float, float, float, float],
) -> None:
    data = extreme_grid()
    expected = _likelihood_by_quadrature(params, *data)
    log_params = np.log(np.array(params))
    np.testing.assert_allclose(
        _log_likelihood_rows(log_params, *data), expected, rtol=1e-9, atol=1e-9
    )
    ll, _ = _log_likelihood_terms(log_params, *data)
    np.testing.assert_allclose(ll, expected, rtol=1e-9, atol=1e-9)


def test_likelihood_of_the_row_hyp2f1_got_wrong() -> None:
    one = np.array([1000.0]), np.array([0.0]), np.array([520.0])
    ll = _log_likelihood_rows(np.log(np.array([0.3, 1e4, 0.5, 0.01])), *one)[0]
    assert ll == pytest.approx(-3304.199149, abs=1e-6)


@pytest.mark.parametrize(
    "case",
    [
        (1.856, 9074.0, 0.4715, 2.077e5, 0.0, 0.0, 0.001627),  # series would cancel
        (0.024, 1742.0, 3.0, 1439.0, 100.0, 0.0, 0.002607),
        (0.5, 10.0, 0.6, 11.0, 3.0, 38.0, 38.0 + 1e-9),
        (0.5, 7.0, 0.6, 7.0, 3.0, 38.0, 38.0 + 1e-9),  # alpha == beta
        (0.3, 1e4, 0.5, 0.01, 1000.0, 519.999, 520.0),  # quadrature on a short interval
    ],
)
def test_likelihood_on_short_intervals_matches_quadrature(
    case: tuple[float, float, float, float, float, float, float],
) -> None:
    params, row = case[:4], case[4:]
    data = tuple(np.array([v]) for v in row)
    ll = _log_likelihood_rows(np.log(np.array(params)), *data)
    np.testing.assert_allclose(ll, _likelihood_by_quadrature(params, *data), rtol=1e-12, atol=1e-12)


#: Parameter sets for the gradient checks: the CDNOW estimates, alpha == beta, s and r near 1,
#: alpha/beta ratios up to 100 either way, s small, and z near 1 at small t (quadrature rows).
GRADIENT_POINTS = [
    (0.553, 10.578, 0.606, 11.669),
    (0.5, 7.0, 0.6, 7.0),
    (2.0, 5.0, 1.0, 5.0),
    (3.0, 0.2, 1.0 - 1e-9, 40.0),
    (1.0, 3.0, 1.0 + 1e-9, 9.0),
    (0.7, 30.0, 1.5, 2.0),
    (1.3, 1.0, 3.0, 8.0),
    (0.5, 100.0, 0.6, 1.0),
    (0.5, 1.0, 0.6, 100.0),
    (0.3, 50.0, 1.0, 0.5),
    (0.2, 2.0, 0.05, 300.0),
]


def _assert_gradient_matches(log_params: np.ndarray, *data: np.ndarray) -> None:
    ll, grad = _log_likelihood_terms(log_params, *data)
    assert np.all(np.isfinite(grad))
    numeric = central_gradient(_log_likelihood_terms, log_params, *data)
    # central differences (step 1e-6) carry about 1e-10 |ll| of rounding noise per row
    tolerance = 1e-6 * np.abs(numeric) + 1e-8 + 2e-9 * np.abs(ll)[:, None]
    assert np.all(np.abs(grad - numeric) <= tolerance)


@pytest.mark.parametrize("params", GRADIENT_POINTS)
def test_analytic_gradient_matches_central_differences_on_cdnow(
    cdnow: pd.DataFrame, params: tuple[float, float, float, float]
) -> None:
    data = (cdnow["x"].to_numpy(float), cdnow["t_x"].to_numpy(float), cdnow["T"].to_numpy(float))
    _assert_gradient_matches(np.log(np.array(params)), *data)


@pytest.mark.parametrize("params", GRADIENT_POINTS)
def test_analytic_gradient_matches_central_differences_on_the_extreme_grid(
    params: tuple[float, float, float, float],
) -> None:
    _assert_gradient_matches(np.log(np.array(params)), *extreme_grid())


@pytest.mark.parametrize("params", FAR_APART)
def test_analytic_gradient_matches_central_differences_for_parameters_far_apart(
    params: tuple[float, float, float, float],
) -> None:
    _assert_gradient_matches(np.log(np.array(params)), *extreme_grid())


def _moments_by_quadrature(
    big_exp: float, small_exp: float, big: float, small: float, t_x: float, big_t: float
) -> list[float]:
    """E f(tau) under (L+tau)^-P (l+tau)^-Q on [t_x, T], and the log of its integral, by
    adaptive quadrature in log(l+tau)."""

    def density(rho: float) -> float:
        tau = np.exp(rho) - small
        return float(
            np.exp(
                -big_exp * np.log((big + tau) / (big + t_x))
                - small_exp * np.log((small + tau) / (small + t_x))
                + rho
                - np.log(small + t_x)
            )
        )

    functions = [
        lambda tau: np.log((big + tau) / (big + t_x)),
        lambda tau: 1 / (big + tau),
        lambda tau: np.log((small + tau) / (small + t_x)),
        lambda tau: 1 / (small + tau),
    ]
    lo, hi = np.log(small + t_x), np.log(small + big_t)
    total = quad(density, lo, hi, epsabs=0, epsrel=1e-13, limit=400)[0]
    log_integral = (
        np.log(total) - big_exp * np.log(big + t_x) + (1 - small_exp) * np.log(small + t_x)
    )
    moments = [
        quad(
            lambda rho, f=f: density(rho) * f(np.exp(rho) - small),
            lo,
            hi,
            epsabs=0,
            epsrel=1e-13,
            limit=400,
        )[0]
        / total
        for f in functions
    ]
    return [*moments, float(log_integral)]


@pytest.mark.parametrize(
    "case",
    [
        (1000.3, 1.5, 1e4, 0.01, 0.0, 39.0),  # z near 1, steep: quadrature
        (1.5, 0.3, 1e4, 0.01, 0.0, 27.0),  # z near 1, interior maximum: quadrature
        (0.8, 2.0, 1e3, 1e-3, 0.0, 0.1),
        (2.0, 1.6, 10.0, 1.0, 3.0, 39.0),  # series
        (2.0, 1.6, 10.0, 1.0, 3.0, 3.0001),  # short: the series difference would cancel
        (1.6, 0.5, 70.0, 1.0, 0.0, 39.0),  # series with z = 0.986
        (1000.3, 1.6, 70.0, 1.0, 0.0, 39.0),
        (11.3, 1.6, 12.0, 11.0, 30.0, 39.0),
        (1.6, 0.5, 7.0, 7.0, 0.0, 39.0),  # alpha == beta
    ],
)
def test_interval_moments_match_adaptive_quadrature(
    case: tuple[float, float, float, float, float, float],
) -> None:
    big_exp, small_exp, big, small, t_x, big_t = case
    got = interval_moments(
        np.array([big_exp]), np.array([small_exp]), big, small, np.array([t_x]), np.array([big_t])
    )
    expected = _moments_by_quadrature(*case)
    np.testing.assert_allclose([g[0] for g in got], expected, rtol=1e-10)


def test_interval_moments_at_an_empty_interval_are_the_end_values() -> None:
    five = np.array([5.0])
    got = interval_moments(np.array([2.0]), np.array([1.5]), 10.0, 2.0, five, five)
    np.testing.assert_allclose([g[0] for g in got], [0.0, 1 / 15.0, 0.0, 1 / 7.0, -np.inf])


def _rows_of(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CDNOW or the extreme grid, repeated in a shuffled order (so rows repeat)."""
    if name == "cdnow":
        data = load_cdnow_summary()
        x, t_x, big_t = (data[c].to_numpy(dtype=np.float64) for c in ("x", "t_x", "T"))
    else:
        x, t_x, big_t = extreme_grid()
    order = np.random.default_rng(3).permutation(np.tile(np.arange(x.size), 2))
    return x[order], t_x[order], big_t[order]


def _alive_with_all_moments(
    model: ParetoNBD, x: np.ndarray, t_x: np.ndarray, big_t: np.ndarray
) -> np.ndarray:
    """P(alive) row by row through :func:`interval_moments` (the path shared with the
    gradient), as the predictions computed it before they had a value-only path."""
    params = np.exp(model._log_params())
    log_integral = interval_moments(*_exponents(*params, x), t_x, big_t)[4]
    _, first, second = _log_likelihood_parts(params, x, t_x, big_t, log_integral)
    return np.asarray(expit(first - second))


@pytest.mark.parametrize("min_rows", [0, 10**9])
@pytest.mark.parametrize("data", ["cdnow", "extreme"])
@pytest.mark.parametrize("params", [(0.553, 10.578, 0.606, 11.669), *FAR_APART[:3], FAR_APART[9]])
def test_value_only_path_equals_the_moments_path(
    data: str,
    params: tuple[float, float, float, float],
    min_rows: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The predictions' path (value-only series summed once per distinct (P, Q, t), P(alive)
    once per distinct row) against the gradient's, row by row; with and without the series
    grouping (``min_rows``), which the gradient's path shares."""
    monkeypatch.setattr(_pareto_math, "_DISTINCT_MIN_ROWS", min_rows)
    x, t_x, big_t = _rows_of(data)
    exponents = _exponents(*params, x)
    full = interval_moments(*exponents, t_x, big_t)[4]
    fast = log_interval_integral(*exponents, t_x, big_t)
    np.testing.assert_array_equal(np.isfinite(fast), np.isfinite(full))
    np.testing.assert_allclose(fast, full, rtol=1e-12)
    model = with_params(*params)
    alive = _alive_with_all_moments(model, x, t_x, big_t)
    np.testing.assert_allclose(model.probability_alive(x, t_x, big_t), alive, rtol=1e-12, atol=0)
    expected = model.expected_purchases(39.0, x, t_x, big_t)
    if_alive = model.expected_purchases_if_alive(39.0, x, big_t)
    np.testing.assert_allclose(expected, if_alive * alive, rtol=1e-12, atol=0)


@pytest.mark.parametrize("data", ["cdnow", "extreme"])
@pytest.mark.parametrize("params", [(0.553, 10.578, 0.606, 11.669), FAR_APART[0], FAR_APART[9]])
def test_grouped_series_equal_the_row_by_row_series(
    data: str, params: tuple[float, float, float, float], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gradient's path sums its series once per distinct (P, Q, t) on many rows: the
    moments and the log integral are those of the row by row sums."""
    x, t_x, big_t = _rows_of(data)
    exponents = _exponents(*params, x)
    monkeypatch.setattr(_pareto_math, "_DISTINCT_MIN_ROWS", 10**9)
    by_row = interval_moments(*exponents, t_x, big_t)
    monkeypatch.setattr(_pareto_math, "_DISTINCT_MIN_ROWS", 0)
    grouped = interval_moments(*exponents, t_x, big_t)
    for got, expected in zip(grouped, by_row, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0)


def test_distinct_rows_numbers_rows_in_order_of_first_appearance() -> None:
    x = np.array([1.0, 2.0, 1.0, 1.0, 3.0, 2.0])
    t = np.array([5.0, 5.0, 5.0, 4.0, 5.0, 5.0])
    first, codes = distinct_rows(x, t)
    np.testing.assert_array_equal(first, [0, 1, 3, 4])
    np.testing.assert_array_equal(codes, [0, 1, 0, 2, 3, 1])
    np.testing.assert_array_equal(x[first][codes], x)
    np.testing.assert_array_equal(t[first][codes], t)
    empty_first, empty_codes = distinct_rows(np.empty(0))
    assert empty_first.size == 0 and empty_codes.size == 0


@pytest.mark.parametrize(
    "params",
    [
        (0.553, 10.578, 0.606, 11.669),
        (0.5, 7.0, 0.6, 7.0),
        (0.3, 1e6, 0.5, 0.01),
        (0.3, 0.01, 0.5, 1e6),
        (5.0, 1e-8, 1.0, 1e8),
        (1e-6, 1e12, 20.0, 1e-6),
    ],
)
def test_extreme_inputs_are_finite(params: tuple[float, float, float, float]) -> None:
    freq = np.array([0, 1, 10, 100, 1000, 1000, 1000, 500, 2])
    big_t = np.array([520.0, 520.0, 520.0, 520.0, 520.0, 1.0, 52.0, 520.0, 1e-3])
    recency = np.array([0.0, 520.0, 519.0, 520.0, 520.0, 1.0, 0.001, 3.0, 1e-3])
    model = with_params(*params)
    ll = model._log_likelihood_rows(freq, recency, big_t)
    assert np.all(np.isfinite(ll))
    alive = model.probability_alive(freq, recency, big_t)
    assert np.all(np.isfinite(alive)) and np.all((alive >= 0) & (alive <= 1))
    expected = model.expected_purchases(52.0, freq, recency, big_t)
    assert np.all(np.isfinite(expected)) and np.all(expected >= 0)
    new = model.expected_purchases_new_customer(np.array([0.0, 1.0, 520.0]))
    assert np.all(np.isfinite(new)) and new[0] == 0


def test_alpha_equal_beta_is_continuous() -> None:
    x = np.array([0.0, 3.0, 7.0])
    t_x = np.array([0.0, 12.0, 30.0])
    big_t = np.array([20.0, 30.0, 39.0])
    at = _log_likelihood_rows(np.log([0.8, 9.0, 0.7, 9.0]), x, t_x, big_t)
    near = _log_likelihood_rows(np.log([0.8, 9.0 * (1 + 1e-7), 0.7, 9.0]), x, t_x, big_t)
    np.testing.assert_allclose(at, near, rtol=1e-6)


def test_predictions(fitted: ParetoNBD) -> None:
    alive = fitted.probability_alive([0, 2, 2], [0, 30.0, 5.0], [38.0, 38.0, 38.0])
    assert alive[1] > alive[2]
    assert np.all((alive > 0) & (alive <= 1))
    p = fitted.params
    r, alpha, s, beta = p["r"], p["alpha"], p["s"], p["beta"]
    t = np.array([10.0, 39.0])
    closed = r * beta / (alpha * (s - 1)) * (1 - (beta / (beta + t)) ** (s - 1))
    np.testing.assert_allclose(fitted.expected_purchases_new_customer(t), closed, rtol=1e-10)
    cond = fitted.expected_purchases(39.0, [2], [30.0], [38.0])
    x, big_t = 2, 38.0
    closed_cond = (
        (r + x)
        * (beta + big_t)
        / ((alpha + big_t) * (s - 1))
        * (1 - ((beta + big_t) / (beta + big_t + 39.0)) ** (s - 1))
        * alive[1]
    )
    np.testing.assert_allclose(cond, closed_cond, rtol=1e-10)
    with pytest.raises(DataError):
        fitted.expected_purchases(-1.0, [1], [1.0], [2.0])
    with pytest.raises(DataError):
        fitted.probability_alive([1], [3.0], [2.0])


def test_s_equal_one_uses_the_log_limit() -> None:
    model = with_params(0.5, 10.0, 1.0, 12.0)
    value = model.expected_purchases_new_customer(np.array([26.0]))
    np.testing.assert_allclose(value, 0.5 * 12.0 / 10.0 * np.log1p(26.0 / 12.0), rtol=1e-12)
    near = with_params(0.5, 10.0, 1.0 + 1e-7, 12.0).expected_purchases_new_customer([26.0])
    np.testing.assert_allclose(value, near, rtol=1e-6)


def test_json_round_trip(fitted: ParetoNBD) -> None:
    loaded = Model.from_json(fitted.to_json())
    assert isinstance(loaded, ParetoNBD)
    assert loaded.params == fitted.params
    assert loaded.log_likelihood == fitted.log_likelihood
    assert loaded.standard_errors == fitted.standard_errors


def _probability_by_quadrature(
    model: ParetoNBD, n: int, t: float, x: float, t_x: float, big_t: float
) -> float:
    p = model.params
    size, rate_a, rate_b, s = p["r"] + x, p["alpha"] + big_t, p["beta"] + big_t, p["s"]

    def nb(tau: float) -> float:
        return float(nbinom.pmf(n, size, rate_a / (rate_a + tau)))

    def dropout(tau: float) -> float:
        return float(nb(tau) * s * rate_b**s * (rate_b + tau) ** (-s - 1))

    if_alive = (
        nb(t) * (rate_b / (rate_b + t)) ** s
        + quad(dropout, 0, t, epsabs=0, epsrel=1e-13, limit=200)[0]
    )
    alive = model.probability_alive([x], [t_x], [big_t])[0]
    return float(alive * if_alive + (1 - alive) * (n == 0))


@pytest.mark.parametrize(
    "case",
    [
        (0, 39.0, 0, 0.0, 39.0),
        (1, 39.0, 2, 30.0, 38.0),
        (3, 52.0, 10, 35.0, 39.0),
        (7, 10.0, 25, 38.0, 39.0),
        (20, 104.0, 30, 38.0, 39.0),
    ],
)
def test_probability_of_purchases_matches_adaptive_quadrature(
    fitted: ParetoNBD, case: tuple[int, float, int, float, float]
) -> None:
    n, t, x, t_x, big_t = case
    got = fitted.probability_of_purchases(n, t, [x], [t_x], [big_t])[0]
    assert got == pytest.approx(_probability_by_quadrature(fitted, *case), rel=1e-10)


@pytest.mark.parametrize(("x", "t_x", "big_t"), [(0, 0.0, 39.0), (2, 30.0, 38.0), (12, 20.0, 39.0)])
def test_probability_of_purchases_is_a_distribution_with_the_expected_mean(
    fitted: ParetoNBD, x: int, t_x: float, big_t: float
) -> None:
    check_purchase_distribution(fitted, x, t_x, big_t, 400)
    assert fitted.probability_of_purchases(0, 0.0, [x], [t_x], [big_t])[0] == 1.0
    assert fitted.probability_of_purchases(3, 0.0, [x], [t_x], [big_t])[0] == 0.0


@pytest.mark.parametrize(
    "params",
    [
        (0.553, 10.578, 0.606, 11.669),
        (0.3, 1e6, 0.5, 0.01),
        (0.3, 0.01, 0.5, 1e6),
        (5.0, 1e-8, 1.0, 1e8),
        (1e-6, 1e12, 20.0, 1e-6),
    ],
)
def test_probability_of_purchases_finite_on_extreme_inputs(
    params: tuple[float, float, float, float],
) -> None:
    x, t_x, big_t = extreme_grid()
    model = with_params(*params)
    for n in (0, 1, 5, 1000):
        for t in (0.0, 1.0, 520.0):
            pmf = model.probability_of_purchases(n, t, x, t_x, big_t)
            assert np.all(np.isfinite(pmf)) and np.all((pmf >= 0) & (pmf <= 1))


def test_probability_of_purchases_per_row_arguments(fitted: ParetoNBD) -> None:
    both = fitted.probability_of_purchases([0, 2], [10.0, 39.0], [1, 4], [5.0, 30.0], [38.0, 39.0])
    first = fitted.probability_of_purchases(0, 10.0, [1], [5.0], [38.0])
    second = fitted.probability_of_purchases(2, 39.0, [4], [30.0], [39.0])
    np.testing.assert_allclose(both, [first[0], second[0]], rtol=1e-14)


def test_dropout_integral_is_zero_without_time() -> None:
    value = log_dropout_integral(
        np.array([0.0, 2.0]), np.array([0.0, 0.0]), np.ones(2), np.ones(2), 0.5, np.ones(2)
    )
    assert np.all(value == -np.inf)


def test_probability_of_purchases_bad_inputs(fitted: ParetoNBD) -> None:
    with pytest.raises(DataError, match="n must"):
        fitted.probability_of_purchases(1.5, 1.0, [1], [1.0], [2.0])
    with pytest.raises(DataError, match="n must"):
        fitted.probability_of_purchases(-1, 1.0, [1], [1.0], [2.0])
    with pytest.raises(DataError, match="n must"):
        fitted.probability_of_purchases([1, 2, 3], 1.0, [1, 1], [1.0, 1.0], [2.0, 2.0])
    with pytest.raises(DataError, match="t must"):
        fitted.probability_of_purchases(1, -1.0, [1], [1.0], [2.0])
    with pytest.raises(DataError, match="t must"):
        fitted.probability_of_purchases(1, [1.0, 2.0, 3.0], [1, 1], [1.0, 1.0], [2.0, 2.0])
    with pytest.raises(DataError, match="recency"):
        fitted.probability_of_purchases(1, 1.0, [1], [3.0], [2.0])
