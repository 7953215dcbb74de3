"""Unit tests of the Gamma-Gamma spend model against the published CDNOW estimates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from model_checks import central_gradient

from retentio.core.errors import DataError, EmptyDataError
from retentio.datasets import load_cdnow_summary
from retentio.models import GammaGamma, gammagamma
from retentio.models.gammagamma import _log_likelihood_terms, _SpendData
from retentio.models.simulate import simulate_gamma_gamma


@pytest.fixture(scope="module")
def repeat_buyers() -> pd.DataFrame:
    summary = load_cdnow_summary()
    return summary[summary["x"] > 0]


@pytest.fixture(scope="module")
def fitted(repeat_buyers: pd.DataFrame) -> GammaGamma:
    return GammaGamma().fit(repeat_buyers["x"], repeat_buyers["zbar"])


def test_fit_matches_fader_hardie_2013(fitted: GammaGamma) -> None:
    """Fader & Hardie (2013), "The Gamma-Gamma model of monetary value" (and Fader, Hardie & Lee
    2005, "RFM and CLV: using iso-value curves", JMR 42(4)): on the 946 CDNOW repeat buyers,
    p=6.25, q=3.74, gamma=15.44."""
    params = fitted.params
    assert params["p"] == pytest.approx(6.25, abs=5e-3)
    assert params["q"] == pytest.approx(3.74, abs=5e-3)
    assert params["gamma"] == pytest.approx(15.44, abs=1e-2)
    assert fitted.n_customers == 946
    assert np.isfinite(fitted.log_likelihood) and fitted.log_likelihood < 0
    assert np.all(fitted.summary()["standard_error"] > 0)


def test_customers_without_repeat_purchases_are_left_out(repeat_buyers: pd.DataFrame) -> None:
    summary = load_cdnow_summary()
    everyone = GammaGamma().fit(summary["x"], summary["zbar"])
    only_repeat = GammaGamma().fit(repeat_buyers["x"], repeat_buyers["zbar"])
    assert everyone.params == pytest.approx(only_repeat.params)


POINTS = [(6.25, 3.74, 15.44), (1.0, 1.0, 1.0), (0.2, 30.0, 500.0), (50.0, 1.5, 0.01)]


@pytest.mark.parametrize("point", POINTS)
def test_analytic_gradient_matches_finite_differences(point: tuple[float, ...]) -> None:
    x = np.array([1, 2, 5, 20, 1, 3.0])
    m = np.array([10.0, 35.5, 0.5, 120.0, 1000.0, 2.25])
    log_params = np.log(np.array(point))
    analytic = _log_likelihood_terms(log_params, x, m)[1]
    numeric = central_gradient(_log_likelihood_terms, log_params, x, m)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("point", POINTS)
def test_finite_outputs_on_extreme_inputs(point: tuple[float, ...]) -> None:
    x, m = (g.ravel() for g in np.meshgrid([1.0, 10.0, 100.0, 1000.0], [1e-3, 1.0, 1e3, 1e6]))
    ll, grad = _log_likelihood_terms(np.log(np.array(point)), x, m)
    assert np.all(np.isfinite(ll)) and np.all(np.isfinite(grad))
    model = GammaGamma()
    model._params = dict(zip(GammaGamma.param_names, point, strict=True))
    if point[1] > 1:
        assert np.all(np.isfinite(model.expected_spend(x, m)))


def test_duplicated_rows_fit_like_weights(repeat_buyers: pd.DataFrame) -> None:
    head = repeat_buyers.iloc[:300]
    counts = np.arange(300) % 4 + 1
    repeated = head.loc[head.index.repeat(counts)]
    by_rows = GammaGamma().fit(repeated["x"], repeated["zbar"])
    by_weights = GammaGamma().fit(head["x"], head["zbar"], weights=counts)
    for name in GammaGamma.param_names:
        assert by_rows.params[name] == pytest.approx(by_weights.params[name], rel=1e-6)
    assert by_rows.log_likelihood == pytest.approx(by_weights.log_likelihood, rel=1e-9)


def test_expected_spend(fitted: GammaGamma, repeat_buyers: pd.DataFrame) -> None:
    p, q, gamma = (fitted.params[n] for n in GammaGamma.param_names)
    population_mean = p * gamma / (q - 1)
    spend = fitted.expected_spend([0, 1, 2], [0.0, 50.0, 20.0])
    assert spend[0] == pytest.approx(population_mean)
    assert spend[1] == pytest.approx((p * gamma + p * 50.0) / (p + q - 1))
    # shrinkage: between the population mean and the customer's own mean
    assert min(population_mean, 20.0) < spend[2] < max(population_mean, 20.0)
    many = fitted.expected_spend(repeat_buyers["x"], repeat_buyers["zbar"])
    assert many.shape == (946,) and np.all(np.isfinite(many))


def test_no_repeat_buyers_is_a_clear_error() -> None:
    with pytest.raises(EmptyDataError, match="frequency > 0"):
        GammaGamma().fit([0, 0], [0.0, 0.0])


@pytest.mark.parametrize(
    ("frequency", "monetary_value", "named"),
    [
        ([1, 2], [1.0], "same length"),
        ([-1], [1.0], "frequency"),
        ([0.5], [1.0], "frequency"),
        ([1], [0.0], "monetary_value"),
        ([1], [-3.0], "monetary_value"),
        ([1], [np.inf], "monetary_value"),
    ],
)
def test_bad_inputs_name_the_argument(
    frequency: list[float], monetary_value: list[float], named: str
) -> None:
    with pytest.raises(DataError, match=named):
        GammaGamma().fit(frequency, monetary_value)


def test_the_fit_objective_is_the_sum_of_the_rows() -> None:
    """The fit's sufficient-statistics objective equals the per-row log density, summed."""
    rng = np.random.default_rng(4)
    x = rng.integers(1, 9, 500).astype(float)
    m = rng.gamma(3.0, 10.0, 500)
    w = rng.integers(1, 4, 500).astype(float)
    log_params = np.log(np.array([5.0, 3.0, 12.0]))
    value, grad = _SpendData.of(x, m, w).neg_mean_ll_and_grad(log_params)
    ll, rows_grad = _log_likelihood_terms(log_params, x, m)
    assert value == pytest.approx(-(w @ ll) / w.sum(), rel=1e-12)
    np.testing.assert_allclose(grad, -(w @ rows_grad) / w.sum(), rtol=1e-10)


def test_a_warm_started_fit_reaches_the_same_optimum(monkeypatch: pytest.MonkeyPatch) -> None:
    frequency = np.random.default_rng(5).integers(1, 12, 90_000)
    data = simulate_gamma_gamma({"p": 6.25, "q": 3.74, "gamma": 15.44}, frequency, seed=6)
    warm = GammaGamma().fit(data["frequency"], data["monetary_value"])
    monkeypatch.setattr(gammagamma, "WARM_START_ROWS", 10**9)
    cold = GammaGamma().fit(data["frequency"], data["monetary_value"])
    assert warm.params == pytest.approx(cold.params, rel=1e-5)
    assert warm.log_likelihood == pytest.approx(cold.log_likelihood, rel=1e-12)
