"""Unit tests of the Pareto/NBD model against the published CDNOW estimates and its own math."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.integrate import quad
from scipy.special import gammaln

from retentio.core.errors import DataError, SchemaError
from retentio.datasets import load_cdnow_summary
from retentio.models import Model, ParetoNBD
from retentio.models.pareto import _log_likelihood_rows, _log_likelihood_terms


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


def _likelihood_by_quadrature(
    r: float, alpha: float, s: float, beta: float, x: float, t_x: float, big_t: float
) -> float:
    """Fader & Hardie's likelihood with A0 as the integral it comes from."""
    integral = quad(
        lambda y: (alpha + y) ** -(r + x) * (beta + y) ** -(s + 1), t_x, big_t, epsabs=0
    )[0]
    const = np.exp(gammaln(r + x) - gammaln(r)) * alpha**r * beta**s
    return float(const * ((alpha + big_t) ** -(r + x) * (beta + big_t) ** -s + s * integral))


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
    expected = [_likelihood_by_quadrature(*params, *row) for row in zip(x, t_x, big_t, strict=True)]
    np.testing.assert_allclose(ll, np.log(expected), rtol=1e-8)


def test_gradient_matches_finite_differences() -> None:
    x = np.array([0.0, 1.0, 4.0, 12.0])
    t_x = np.array([0.0, 3.0, 20.0, 30.0])
    big_t = np.array([10.0, 30.0, 35.0, 38.0])
    log_params = np.log(np.array([0.6, 9.0, 0.7, 13.0]))
    _, grad = _log_likelihood_terms(log_params, x, t_x, big_t)
    h = 1e-6
    for j in range(4):
        step = np.zeros(4)
        step[j] = h
        numeric = (
            _log_likelihood_rows(log_params + step, x, t_x, big_t)
            - _log_likelihood_rows(log_params - step, x, t_x, big_t)
        ) / (2 * h)
        np.testing.assert_allclose(grad[:, j], numeric, rtol=1e-6, atol=1e-7)


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
