"""Unit tests of the BG/BB model against the published donations fit and its own math."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from model_checks import central_gradient
from scipy.special import betaln

from retentio.core.errors import DataError, SchemaError
from retentio.datasets import load_donations
from retentio.models import BetaGeoBetaBinom, Model
from retentio.models.bgbb import _log_likelihood_terms


@pytest.fixture(scope="module")
def donations() -> pd.DataFrame:
    return load_donations()


@pytest.fixture(scope="module")
def fitted(donations: pd.DataFrame) -> BetaGeoBetaBinom:
    return BetaGeoBetaBinom().fit(
        donations["frequency"], donations["recency"], donations["periods"], donations["weights"]
    )


def test_fit_matches_fader_hardie_shang_2010(fitted: BetaGeoBetaBinom) -> None:
    """Fader, Hardie & Shang (2010), "Customer-base analysis in a discrete-time noncontractual
    setting", Marketing Science 29(6), 1086-1108: on the 11,104 donors of the 1995 cohort over
    six repeat opportunities, alpha=1.204, beta=0.750, gamma=0.657, delta=2.783, LL=-33,225.6."""
    params = fitted.params
    assert params["alpha"] == pytest.approx(1.204, abs=5e-4)
    assert params["beta"] == pytest.approx(0.750, abs=5e-4)
    assert params["gamma"] == pytest.approx(0.657, abs=5e-4)
    assert params["delta"] == pytest.approx(2.783, abs=5e-4)
    assert fitted.log_likelihood == pytest.approx(-33225.6, abs=0.1)
    assert fitted.n_customers == 11104
    assert np.all(fitted.summary()["standard_error"] > 0)


def test_fit_summary_reads_the_donations_table(
    donations: pd.DataFrame, fitted: BetaGeoBetaBinom
) -> None:
    model = BetaGeoBetaBinom().fit_summary(donations, weights=donations["weights"])
    assert model.params == pytest.approx(fitted.params, rel=1e-9)


def test_probability_alive_matches_table_6(fitted: BetaGeoBetaBinom) -> None:
    """Fader, Hardie & Shang (2010), Table 6, P(alive in 2002): 0.11 for (x=0, t_x=0),
    0.59 for (x=2, t_x=4) and 0.93 for (x=6, t_x=6), n = 6."""
    alive = fitted.probability_alive([0, 2, 6], [0, 4, 6], [6, 6, 6])
    np.testing.assert_allclose(alive, [0.11, 0.59, 0.93], atol=5e-3)


def test_conditional_expectations_match_hardies_spreadsheet(
    donations: pd.DataFrame, fitted: BetaGeoBetaBinom
) -> None:
    """Hardie's BG/BB spreadsheet for Fader, Hardie & Shang (2010) (brucehardie.com/notes/010,
    "Conditional Expectations (II)"): 12,884.2 expected donations in 2002-2006 in total."""
    per_donor = fitted.expected_purchases(
        5, donations["frequency"], donations["recency"], donations["periods"]
    )
    assert float(per_donor @ donations["weights"]) == pytest.approx(12884.2, abs=0.1)


def test_probability_of_purchases_matches_hardies_spreadsheet(fitted: BetaGeoBetaBinom) -> None:
    """Hardie's BG/BB spreadsheet for Fader, Hardie & Shang (2010) (brucehardie.com/notes/010,
    "In-Sample Fit"): of the 11,104 donors, 3,454.9 expected with 0 and 1,253.1 with 6 repeat
    donations in the six opportunities, i.e. P(X(6) = x) for a new customer (n_periods = 0)."""
    new = fitted.probability_of_purchases([0, 6], 6, [0, 0], [0, 0], [0, 0])
    np.testing.assert_allclose(11104 * new, [3454.9, 1253.1], atol=0.05)


@pytest.mark.parametrize("point", [(1.204, 0.750, 0.657, 2.783), (0.1, 20.0, 3.0, 0.2)])
def test_probability_of_purchases_is_a_distribution(
    point: tuple[float, float, float, float], donations: pd.DataFrame
) -> None:
    model = BetaGeoBetaBinom()
    model._params = dict(zip(BetaGeoBetaBinom.param_names, point, strict=True))
    history = donations["frequency"], donations["recency"], donations["periods"]
    probs = np.array([model.probability_of_purchases(k, 5, *history) for k in range(6)])
    np.testing.assert_allclose(probs.sum(axis=0), 1.0, rtol=1e-10)
    np.testing.assert_allclose(
        np.arange(6) @ probs, model.expected_purchases(5, *history), rtol=1e-10
    )
    np.testing.assert_array_equal(model.probability_of_purchases(0, 0, *history), 1.0)
    new = model.expected_purchases(6, [0], [0], [0])
    np.testing.assert_allclose(new, model.expected_purchases_new_customer(6), rtol=1e-12)


def brute_force_expected(
    params: tuple[float, float, float, float], t: int, x: int, t_x: int, n: int
) -> float:
    """E[p | history, alive] times the sum of P(alive at n+k | history) over k = 1..t."""
    alpha, beta, gamma, delta = params
    drop = [
        np.exp(betaln(alpha + x, beta + t_x - x + i) + betaln(gamma + 1, delta + t_x + i))
        for i in range(n - t_x)
    ]
    likelihood = np.exp(betaln(alpha + x, beta + n - x) + betaln(gamma, delta + n)) + sum(drop)
    total = 0.0
    for k in range(1, t + 1):
        joint = np.exp(betaln(alpha + x + 1, beta + n - x) + betaln(gamma, delta + n + k))
        total += joint / likelihood
    return total


POINTS = [
    (1.204, 0.750, 0.657, 2.783),
    (1.0, 1.0, 1.0, 1.0),
    (0.1, 20.0, 3.0, 0.2),
    (30.0, 0.05, 0.05, 30.0),
]


@pytest.mark.parametrize("point", POINTS)
def test_predictions_match_their_definitions(point: tuple[float, float, float, float]) -> None:
    model = BetaGeoBetaBinom()
    model._params = dict(zip(BetaGeoBetaBinom.param_names, point, strict=True))
    x, t_x, n = np.array([0, 1, 3, 3, 6]), np.array([0, 1, 3, 7, 6]), np.array([6, 6, 6, 9, 6])
    expected = model.expected_purchases(4, x, t_x, n)
    for value, row in zip(expected, zip(x, t_x, n, strict=True), strict=True):
        assert value == pytest.approx(brute_force_expected(point, 4, *map(int, row)), rel=1e-9)
    alpha, beta, gamma, delta = point
    horizon = np.arange(0, 8)
    new = model.expected_purchases_new_customer(horizon)
    alive = np.exp(betaln(gamma, delta + np.arange(1, 8)) - betaln(gamma, delta))
    np.testing.assert_allclose(new[1:], alpha / (alpha + beta) * np.cumsum(alive), rtol=1e-9)
    assert new[0] == 0.0
    # a customer with no history at n = 0 is exactly a new customer
    zero = model.expected_purchases(5, [0], [0], [1])
    assert zero[0] > 0


def test_gamma_of_one_is_continuous() -> None:
    near, exact = BetaGeoBetaBinom(), BetaGeoBetaBinom()
    near._params = {"alpha": 1.2, "beta": 0.7, "gamma": 1.0 + 1e-3, "delta": 2.0}
    exact._params = {"alpha": 1.2, "beta": 0.7, "gamma": 1.0, "delta": 2.0}
    np.testing.assert_allclose(
        exact.expected_purchases_new_customer([1, 5, 50]),
        near.expected_purchases_new_customer([1, 5, 50]),
        rtol=1e-2,
    )
    assert exact.expected_purchases_new_customer([1])[0] == pytest.approx(
        1.2 / 1.9 * 2.0 / 3.0, rel=1e-8
    )


@pytest.mark.parametrize("point", POINTS)
def test_analytic_gradient_matches_finite_differences(
    point: tuple[float, float, float, float],
) -> None:
    x = np.array([0, 1, 1, 3, 6, 2, 30.0])
    t_x = np.array([0, 1, 5, 4, 6, 2, 40.0])
    n = np.array([6, 6, 6, 6, 6, 10, 50.0])
    log_params = np.log(np.array(point))
    analytic = _log_likelihood_terms(log_params, x, t_x, n)[1]
    numeric = central_gradient(_log_likelihood_terms, log_params, x, t_x, n)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("point", POINTS)
def test_finite_outputs_on_extreme_inputs(point: tuple[float, float, float, float]) -> None:
    """Frequency up to 1,000, recency = n, n up to ten years of days."""
    n = np.array([1, 6, 1000, 3650, 3650, 3650, 1000.0])
    x = np.array([1, 0, 1000, 1000, 1, 0, 1.0])
    t_x = np.array([1, 0, 1000, 3650, 1, 0, 1000.0])
    ll, grad = _log_likelihood_terms(np.log(np.array(point)), x, t_x, n)
    assert np.all(np.isfinite(ll)) and np.all(np.isfinite(grad))
    model = BetaGeoBetaBinom()
    model._params = dict(zip(BetaGeoBetaBinom.param_names, point, strict=True))
    alive = model.probability_alive(x, t_x, n)
    assert np.all(np.isfinite(alive)) and np.all((alive >= 0) & (alive <= 1))
    for t in (0, 1, 365, 100000):
        expected = model.expected_purchases(t, x, t_x, n)
        assert np.all(np.isfinite(expected)) and np.all(expected >= 0)
    assert np.all(np.isfinite(model.expected_purchases_new_customer([0, 1, 100000])))
    for count in (0, 1, 365):
        probability = model.probability_of_purchases(count, 365, x, t_x, n)
        assert np.all(np.isfinite(probability)) and np.all((probability >= 0) & (probability <= 1))


def test_duplicated_rows_fit_like_weights(donations: pd.DataFrame) -> None:
    counts = np.arange(len(donations)) % 3 + 1
    repeated = donations.loc[donations.index.repeat(counts)]
    by_rows = BetaGeoBetaBinom().fit(
        repeated["frequency"], repeated["recency"], repeated["periods"], repeated["weights"]
    )
    by_weights = BetaGeoBetaBinom().fit(
        donations["frequency"],
        donations["recency"],
        donations["periods"],
        donations["weights"] * counts,
    )
    for name in BetaGeoBetaBinom.param_names:
        assert by_rows.params[name] == pytest.approx(by_weights.params[name], rel=1e-6)
    assert by_rows.log_likelihood == pytest.approx(by_weights.log_likelihood, rel=1e-9)


def test_json_round_trip(fitted: BetaGeoBetaBinom) -> None:
    loaded = Model.from_json(fitted.to_json())
    assert isinstance(loaded, BetaGeoBetaBinom)
    assert loaded.params == fitted.params
    assert loaded.log_likelihood == fitted.log_likelihood
    np.testing.assert_array_equal(
        loaded.probability_alive([2], [4], [6]), fitted.probability_alive([2], [4], [6])
    )


@pytest.mark.parametrize(
    ("frequency", "recency", "n_periods", "named"),
    [
        ([1, 2], [1], [6], "same length"),
        ([-1], [0], [6], "frequency"),
        ([1.5], [2], [6], "frequency"),
        ([1], [1.5], [6], "recency"),
        ([1], [7], [6], "recency"),
        ([0], [3], [6], "recency"),
        ([3], [2], [6], "frequency"),
        ([0], [0], [-1], "n_periods"),
        ([0], [0], [np.nan], "n_periods"),
    ],
)
def test_bad_inputs_name_the_argument(
    frequency: list[float], recency: list[float], n_periods: list[float], named: str
) -> None:
    with pytest.raises(DataError, match=named):
        BetaGeoBetaBinom().fit(frequency, recency, n_periods)


def test_bad_prediction_inputs_name_the_argument(fitted: BetaGeoBetaBinom) -> None:
    with pytest.raises(DataError, match="t must"):
        fitted.expected_purchases(1.5, [1], [1], [6])
    with pytest.raises(DataError, match="t must"):
        fitted.expected_purchases([1, 2], [1], [1], [6])
    with pytest.raises(DataError, match="t must"):
        fitted.expected_purchases_new_customer([-1])
    with pytest.raises(DataError, match="n must"):
        fitted.probability_of_purchases([0.5], 1, [1], [1], [6])
    with pytest.raises(DataError, match="weights"):
        BetaGeoBetaBinom().fit([1], [1], [6], weights=[-1])
    with pytest.raises(SchemaError, match="recency"):
        BetaGeoBetaBinom().fit_summary(pd.DataFrame({"frequency": [1], "periods": [6]}))
