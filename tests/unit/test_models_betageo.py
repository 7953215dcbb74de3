"""Unit tests of the BG/NBD model against the published CDNOW estimates and its own math."""

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
from scipy.special import hyp2f1

from retentio import summarize
from retentio.core.errors import DataError, SchemaError
from retentio.datasets import load_cdnow, load_cdnow_summary
from retentio.models import BetaGeo, _btyd
from retentio.models.betageo import _log_likelihood_terms
from retentio.models.simulate import simulate_betageo


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return load_cdnow_summary()


@pytest.fixture(scope="module")
def fitted(cdnow: pd.DataFrame) -> BetaGeo:
    return BetaGeo().fit(cdnow["x"], cdnow["t_x"], cdnow["T"])


def assert_published(model: BetaGeo) -> None:
    params = model.params
    assert params["r"] == pytest.approx(0.243, abs=5e-4)
    assert params["alpha"] == pytest.approx(4.414, abs=5e-4)
    assert params["a"] == pytest.approx(0.793, abs=5e-4)
    assert params["b"] == pytest.approx(2.426, abs=5e-4)
    assert model.log_likelihood == pytest.approx(-9582.4, abs=0.1)


def test_fit_matches_fader_hardie_lee_2005(fitted: BetaGeo) -> None:
    """Fader, Hardie & Lee (2005), "'Counting your customers' the easy way: an alternative to
    the Pareto/NBD model", Marketing Science 24(2), 275-284: on the CDNOW 39-week calibration
    sample of 2,357 customers, r=0.243, alpha=4.414, a=0.793, b=2.426 and LL=-9582.4."""
    assert_published(fitted)
    assert fitted.n_customers == 2357


def test_fit_summary_on_summarized_transactions_matches_the_paper() -> None:
    """Fader, Hardie & Lee (2005): the same fit from retentio.summarize of the raw CDNOW sample."""
    summary = summarize(load_cdnow(), observation_end="1997-09-30", time_unit="W")
    assert_published(BetaGeo().fit_summary(summary))


def test_standard_errors_and_summary(fitted: BetaGeo) -> None:
    table = fitted.summary()
    assert list(table.columns) == ["param", "estimate", "standard_error", "lower", "upper"]
    assert list(table["param"]) == ["r", "alpha", "a", "b"]
    assert np.all(np.isfinite(table[["standard_error", "lower", "upper"]].to_numpy()))
    assert np.all(table["standard_error"] > 0)
    assert np.all(table["lower"] < table["estimate"]) and np.all(table["estimate"] < table["upper"])
    wide, narrow = fitted.confidence_intervals(0.99), fitted.confidence_intervals(0.5)
    assert np.all(wide["upper"] - wide["lower"] > narrow["upper"] - narrow["lower"])


POINTS = [
    (0.243, 4.414, 0.793, 2.426),
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
    check_duplicated_rows_fit_like_weights(BetaGeo, cdnow)


@pytest.mark.parametrize("point", POINTS)
def test_finite_outputs_on_extreme_inputs(point: tuple[float, ...]) -> None:
    x, t_x, big_t = extreme_grid()
    ll, grad = _log_likelihood_terms(np.log(np.array(point)), x, t_x, big_t)
    assert np.all(np.isfinite(ll)) and np.all(np.isfinite(grad))
    model = BetaGeo()
    model._params = dict(zip(BetaGeo.param_names, point, strict=True))
    alive = model.probability_alive(x, t_x, big_t)
    assert np.all(np.isfinite(alive)) and np.all((alive >= 0) & (alive <= 1))
    for t in (0.0, 1.0, 52.0, 520.0):
        expected = model.expected_purchases(t, x, t_x, big_t)
        assert np.all(np.isfinite(expected)) and np.all(expected >= -1e-9)
    assert np.all(np.isfinite(model.expected_purchases_new_customer([0.0, 1.0, 520.0])))


def test_probability_alive(fitted: BetaGeo, cdnow: pd.DataFrame) -> None:
    alive = fitted.probability_alive(cdnow["x"], cdnow["t_x"], cdnow["T"])
    assert np.all(alive[cdnow["x"].to_numpy() == 0] == 1.0)
    assert np.all((alive >= 0) & (alive <= 1))
    # a buyer whose last purchase is long ago is less likely alive than a recent one
    early, late = fitted.probability_alive([5, 5], [5.0, 38.0], [39.0, 39.0])
    assert early < late


def test_expected_purchases_new_customer_closed_form(fitted: BetaGeo) -> None:
    p = fitted.params
    r, alpha, a, b = p["r"], p["alpha"], p["a"], p["b"]
    for t in (39.0, 78.0):
        # eq. 7 of Fader, Hardie & Lee (2005), written out directly
        by_hand = (
            (a + b - 1)
            / (a - 1)
            * (1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, t / (alpha + t)))
        )
        assert fitted.expected_purchases_new_customer(t)[0] == pytest.approx(by_hand, rel=1e-9)


def test_expected_purchases_conditional_closed_form(fitted: BetaGeo) -> None:
    p = fitted.params
    r, alpha, a, b = p["r"], p["alpha"], p["a"], p["b"]
    x, t_x, big_t, t = 2.0, 30.43, 38.86, 39.0
    # eq. 10 of Fader, Hardie & Lee (2005), written out directly
    z = t / (alpha + big_t + t)
    numerator = (
        (a + b + x - 1)
        / (a - 1)
        * (
            1
            - ((alpha + big_t) / (alpha + big_t + t)) ** (r + x)
            * hyp2f1(r + x, b + x, a + b + x - 1, z)
        )
    )
    denominator = 1 + a / (b + x - 1) * ((alpha + big_t) / (alpha + t_x)) ** (r + x)
    got = fitted.expected_purchases(t, [x], [t_x], [big_t])[0]
    assert got == pytest.approx(numerator / denominator, rel=1e-9)
    # vectorised: t per customer, and a new customer's history (x=0, t_x=0, T~0) is close to eq. 7
    many = fitted.expected_purchases([1.0, 39.0], [0, 0], [0.0, 0.0], [1e-9, 1e-9])
    np.testing.assert_allclose(many, fitted.expected_purchases_new_customer([1.0, 39.0]), rtol=1e-6)


@pytest.mark.parametrize(
    ("frequency", "recency", "big_t", "named"),
    [
        ([1, 2], [1.0], [2.0], "same length"),
        ([-1], [0.0], [2.0], "frequency"),
        ([1.5], [1.0], [2.0], "frequency"),
        ([1], [3.0], [2.0], "recency"),
        ([1], [-1.0], [2.0], "recency"),
        ([1], [0.0], [0.0], "T must be > 0"),
        ([1], [np.nan], [2.0], "recency"),
        (["a"], [1.0], [2.0], "frequency"),
    ],
)
def test_bad_inputs_name_the_argument(
    frequency: list[Any], recency: list[float], big_t: list[float], named: str
) -> None:
    with pytest.raises(DataError, match=named):
        BetaGeo().fit(frequency, recency, big_t)


def test_bad_weights_and_horizon(fitted: BetaGeo) -> None:
    with pytest.raises(DataError, match="weights"):
        BetaGeo().fit([1, 2], [1.0, 2.0], [3.0, 3.0], weights=[1.0])
    with pytest.raises(DataError, match="weights"):
        BetaGeo().fit([1, 2], [1.0, 2.0], [3.0, 3.0], weights=[-1.0, 1.0])
    with pytest.raises(DataError, match="t must"):
        fitted.expected_purchases(-1.0, [1], [1.0], [2.0])
    with pytest.raises(SchemaError, match="recency"):
        BetaGeo().fit_summary(pd.DataFrame({"frequency": [1], "T": [2.0]}))


@pytest.mark.parametrize(
    ("x", "t_x", "big_t"), [(0, 0.0, 39.0), (2, 30.43, 38.86), (5, 5.0, 39.0), (30, 38.0, 39.0)]
)
def test_probability_of_purchases_is_a_distribution_with_the_expected_mean(
    fitted: BetaGeo, x: int, t_x: float, big_t: float
) -> None:
    check_purchase_distribution(fitted, x, t_x, big_t, 600)
    # no time, no purchases
    assert fitted.probability_of_purchases(0, 0.0, [x], [t_x], [big_t])[0] == pytest.approx(1.0)


@pytest.mark.parametrize("point", POINTS)
def test_probability_of_purchases_finite_on_extreme_inputs(point: tuple[float, ...]) -> None:
    x, t_x, big_t = extreme_grid()
    model = BetaGeo()
    model._params = dict(zip(BetaGeo.param_names, point, strict=True))
    for n in (0, 1, 5, 1000):
        for t in (0.0, 1.0, 520.0):
            pmf = model.probability_of_purchases(n, t, x, t_x, big_t)
            assert np.all(np.isfinite(pmf)) and np.all((pmf >= 0) & (pmf <= 1))


def test_probability_of_purchases_bad_inputs(fitted: BetaGeo) -> None:
    with pytest.raises(DataError, match="n must"):
        fitted.probability_of_purchases(1.5, 1.0, [1], [1.0], [2.0])
    with pytest.raises(DataError, match="n must"):
        fitted.probability_of_purchases([1, 2, 3], 1.0, [1, 1], [1.0, 1.0], [2.0, 2.0])


def test_a_warm_started_fit_reaches_the_same_optimum(monkeypatch: pytest.MonkeyPatch) -> None:
    """Above WARM_START_ROWS distinct rows the fit starts from a part of them: same optimum."""
    big_t = np.random.default_rng(3).uniform(1.0, 100.0, 90_000)
    data = simulate_betageo({"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5}, big_t, seed=4)
    warm = BetaGeo().fit(data["frequency"], data["recency"], data["T"])
    monkeypatch.setattr(_btyd, "WARM_START_ROWS", 10**9)
    cold = BetaGeo().fit(data["frequency"], data["recency"], data["T"])
    assert warm.params == pytest.approx(cold.params, rel=1e-5)
    assert warm.log_likelihood == pytest.approx(cold.log_likelihood, rel=1e-12)
