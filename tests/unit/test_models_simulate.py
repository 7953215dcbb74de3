"""Unit tests of the exact model simulators: parameter recovery, moments, seeds and inputs.

Recovery: each model, fitted on a sample drawn from known parameters, lands within four
standard errors of them. Moments: on large samples (cheap to draw) the mean and the
distribution of the simulated frequency match the model's own closed forms within a few
sampling standard errors, which a biased simulator (lifetimes' BG/NBD generator, say) fails.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import pytest
from numpy.typing import NDArray
from scipy import stats
from scipy.special import betaln

from retentio.core.errors import DataError, SchemaError
from retentio.models import (
    BetaGeo,
    BetaGeoBetaBinom,
    GammaGamma,
    Model,
    ModifiedBetaGeo,
    ParetoNBD,
    ShiftedBetaGeometric,
)
from retentio.models.simulate import (
    simulate_betageo,
    simulate_bgbb,
    simulate_gamma_gamma,
    simulate_modified_betageo,
    simulate_pareto_nbd,
    simulate_sbg,
    survivors_from_lifetimes,
)

BG_TRUTH = {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5}
MBG_TRUTH = {"r": 0.5, "alpha": 6.0, "a": 0.9, "b": 1.6}
PARETO_TRUTH = {"r": 0.55, "alpha": 10.0, "s": 0.6, "beta": 12.0}
BGBB_TRUTH = {"alpha": 1.2, "beta": 0.75, "gamma": 0.65, "delta": 2.8}
GG_TRUTH = {"p": 6.0, "q": 4.0, "gamma": 15.0}
SBG_TRUTH = {"alpha": 0.7, "beta": 1.2}

#: Customers drawn for the moment checks: simulation is fast, only fits are slow.
MOMENT_SAMPLE = 400_000


def with_params(cls: type[Model], params: Mapping[str, float]) -> Any:
    model = cls()
    model._params = dict(params)
    return model


def assert_recovered(model: Model, truth: Mapping[str, float]) -> None:
    for name, value in truth.items():
        error = model.standard_errors[name]
        assert abs(model.params[name] - value) < 4 * error, (name, model.params[name], error)


def assert_mean_close(values: NDArray[np.float64], expected: float) -> None:
    """The sample mean within 4 of its standard errors of ``expected``."""
    error = float(np.std(values)) / np.sqrt(values.size)
    assert abs(float(np.mean(values)) - expected) < 4 * error, (np.mean(values), expected, error)


def assert_shares_close(counts: NDArray[np.float64], probabilities: NDArray[np.float64]) -> None:
    """Simulated shares of the values 0, 1, ... within 4 binomial standard errors of the pmf."""
    n = counts.size
    observed = np.array([np.mean(counts == k) for k in range(probabilities.size)])
    error = np.sqrt(probabilities * (1 - probabilities) / n)
    np.testing.assert_array_less(np.abs(observed - probabilities), 4 * error + 1e-12)


def assert_frequency_recency_shape(table: pd.DataFrame, end: str) -> None:
    assert list(table.columns) == ["frequency", "recency", end]
    assert all(table[c].dtype == np.float64 for c in table.columns)
    frequency, recency = table["frequency"].to_numpy(), table["recency"].to_numpy()
    assert np.all(frequency == np.round(frequency)) and np.all(frequency >= 0)
    assert np.all(recency[frequency == 0] == 0)
    assert np.all((recency >= 0) & (recency <= table[end].to_numpy()))


# --- BG/NBD --------------------------------------------------------------------------------


def test_betageo_recovers_the_parameters() -> None:
    """Per-customer T (uniform on 20..52 weeks): n_customers defaults to len(T)."""
    big_t = np.random.default_rng(0).uniform(20.0, 52.0, 30_000)
    table = simulate_betageo(BG_TRUTH, big_t, seed=1)
    assert len(table) == big_t.size
    np.testing.assert_array_equal(table["T"], big_t)
    assert_frequency_recency_shape(table, "T")
    assert np.all(table["recency"][table["frequency"] > 0] > 0)
    assert_recovered(BetaGeo().fit_summary(table), BG_TRUTH)


def test_betageo_matches_the_models_moments() -> None:
    table = simulate_betageo(BG_TRUTH, 39.0, MOMENT_SAMPLE, seed=2)
    model = with_params(BetaGeo, BG_TRUTH)
    frequency = table["frequency"].to_numpy()
    assert_mean_close(frequency, float(model.expected_purchases_new_customer(39.0)[0]))
    pmf = model.probability_of_purchases(
        np.arange(8), 39.0, np.zeros(8), np.zeros(8), np.full(8, 1e-12)
    )
    assert_shares_close(frequency, pmf)


# --- MBG/NBD -------------------------------------------------------------------------------


def test_modified_betageo_recovers_the_parameters() -> None:
    table = simulate_modified_betageo(MBG_TRUTH, 52.0, 20_000, seed=7)
    assert_frequency_recency_shape(table, "T")
    assert_recovered(ModifiedBetaGeo().fit_summary(table), MBG_TRUTH)


def test_modified_betageo_matches_the_models_moments() -> None:
    """A customer just acquired (x = 0, T ~ 0) predicts as a new customer, time-0 coin included."""
    table = simulate_modified_betageo(MBG_TRUTH, 52.0, MOMENT_SAMPLE, seed=8)
    model = with_params(ModifiedBetaGeo, MBG_TRUTH)
    frequency = table["frequency"].to_numpy()
    assert_mean_close(frequency, float(model.expected_purchases_new_customer(52.0)[0]))
    pmf = model.probability_of_purchases(
        np.arange(8), 52.0, np.zeros(8), np.zeros(8), np.full(8, 1e-12)
    )
    assert_shares_close(frequency, pmf)
    # more customers without a repeat purchase than BG/NBD at the same parameters
    bg_zero = with_params(BetaGeo, MBG_TRUTH).probability_of_purchases(0, 52.0, [0], [0.0], 1e-12)
    assert np.mean(frequency == 0) > bg_zero[0] + 0.05


# --- Pareto/NBD ----------------------------------------------------------------------------


def test_pareto_nbd_recovers_the_parameters() -> None:
    table = simulate_pareto_nbd(PARETO_TRUTH, 52.0, 10_000, seed=4)
    assert_frequency_recency_shape(table, "T")
    assert_recovered(ParetoNBD().fit_summary(table), PARETO_TRUTH)


def test_pareto_nbd_matches_the_models_mean() -> None:
    big_t = np.repeat([13.0, 39.0, 78.0], MOMENT_SAMPLE // 3)
    table = simulate_pareto_nbd(PARETO_TRUTH, big_t, seed=5)
    model = with_params(ParetoNBD, PARETO_TRUTH)
    for horizon in (13.0, 39.0, 78.0):
        frequency = table["frequency"].to_numpy()[big_t == horizon]
        assert_mean_close(frequency, float(model.expected_purchases_new_customer(horizon)[0]))


def test_pareto_nbd_share_without_repeat_purchase() -> None:
    """P(X(T) = 0) = E[mu/(lambda+mu) + lambda/(lambda+mu) exp(-(lambda+mu) T)] over
    lambda ~ Gamma(r, alpha) and mu ~ Gamma(s, beta), integrated over their quantiles."""
    r, alpha, s, beta = PARETO_TRUTH.values()
    table = simulate_pareto_nbd(PARETO_TRUTH, 39.0, MOMENT_SAMPLE, seed=6)
    nodes, weights = np.polynomial.legendre.leggauss(100)
    quantiles, weights = (nodes + 1) / 2, weights / 2
    lam = stats.gamma.ppf(quantiles, r, scale=1 / alpha)[:, None]
    mu = stats.gamma.ppf(quantiles, s, scale=1 / beta)[None, :]
    zero = mu / (lam + mu) + lam / (lam + mu) * np.exp(-(lam + mu) * 39.0)
    expected = float(weights @ zero @ weights)
    share = float(np.mean(table["frequency"] == 0))
    error = np.sqrt(expected * (1 - expected) / MOMENT_SAMPLE)
    assert abs(share - expected) < 4 * error, (share, expected, error)


# --- BG/BB ---------------------------------------------------------------------------------


def test_bgbb_recovers_the_parameters() -> None:
    table = simulate_bgbb(BGBB_TRUTH, 10, 40_000, seed=7)
    assert_frequency_recency_shape(table, "n_periods")
    assert np.all(table["frequency"] <= table["recency"])
    assert_recovered(BetaGeoBetaBinom().fit_summary(table), BGBB_TRUTH)


def test_bgbb_matches_the_models_moments() -> None:
    """Per-customer n_periods: the simulated counts of each cohort follow P(X(n) = k)."""
    periods = np.repeat([1.0, 6.0, 20.0], MOMENT_SAMPLE // 3)
    table = simulate_bgbb(BGBB_TRUTH, periods, seed=8)
    np.testing.assert_array_equal(table["n_periods"], periods)
    model = with_params(BetaGeoBetaBinom, BGBB_TRUTH)
    for n in (1, 6, 20):
        frequency = table["frequency"].to_numpy()[periods == n]
        assert_mean_close(frequency, float(model.expected_purchases_new_customer(n)[0]))
        counts = np.arange(min(n, 8) + 1)
        zeros = np.zeros(counts.size)
        assert_shares_close(
            frequency, model.probability_of_purchases(counts, n, zeros, zeros, zeros)
        )


# --- Gamma-Gamma ---------------------------------------------------------------------------


def test_gamma_gamma_recovers_the_parameters() -> None:
    frequency = np.random.default_rng(9).poisson(2.0, 30_000)
    table = simulate_gamma_gamma(GG_TRUTH, frequency, seed=10)
    assert list(table.columns) == ["frequency", "monetary_value"]
    np.testing.assert_array_equal(table["frequency"], frequency)
    spend = table["monetary_value"].to_numpy()
    assert np.all(spend[frequency == 0] == 0) and np.all(spend[frequency > 0] > 0)
    assert_recovered(GammaGamma().fit_summary(table), GG_TRUTH)


def test_gamma_gamma_matches_the_models_moments() -> None:
    """E[mean spend | x] = p gamma / (q - 1) whatever x; Var shrinks as 1/x within customer."""
    p, q, gamma = GG_TRUTH.values()
    frequency = np.repeat([1.0, 5.0, 50.0], MOMENT_SAMPLE // 3)
    spend = simulate_gamma_gamma(GG_TRUTH, frequency, seed=11)["monetary_value"].to_numpy()
    model = with_params(GammaGamma, GG_TRUTH)
    for x in (1.0, 5.0, 50.0):
        assert_mean_close(spend[frequency == x], p * gamma / (q - 1))
        # Var = E[Var | nu] + Var[E | nu] = p/x E[nu^-2] + p^2 Var[1/nu]
        inverse_moment_2 = gamma**2 / ((q - 1) * (q - 2))
        variance = p / x * inverse_moment_2 + p**2 * (inverse_moment_2 - (gamma / (q - 1)) ** 2)
        assert np.var(spend[frequency == x]) == pytest.approx(variance, rel=0.05)
    # the posterior mean of a customer's spend, averaged over customers, is the population mean
    expected = model.expected_spend(frequency, spend)
    assert float(np.mean(expected)) == pytest.approx(p * gamma / (q - 1), rel=0.01)


# --- sBG -----------------------------------------------------------------------------------


def test_sbg_recovers_the_parameters_from_lifetimes_and_survivors() -> None:
    table = simulate_sbg(SBG_TRUTH, 50_000, 12, seed=11)
    assert list(table.columns) == ["lifetime", "censored"]
    assert table["lifetime"].dtype == np.int64 and table["censored"].dtype == bool
    assert table["lifetime"].between(1, 12).all()
    assert (table["lifetime"][table["censored"]] == 12).all()
    by_customer = ShiftedBetaGeometric().fit_lifetimes(table["lifetime"], table["censored"])
    assert_recovered(by_customer, SBG_TRUTH)
    by_cohort = ShiftedBetaGeometric().fit(survivors_from_lifetimes(table, 12))
    assert_recovered(by_cohort, SBG_TRUTH)
    assert by_cohort.params == pytest.approx(by_customer.params, rel=1e-6)


def test_sbg_survivors_follow_the_survival_curve() -> None:
    table = simulate_sbg(SBG_TRUTH, MOMENT_SAMPLE, seed=12)
    assert not table["censored"].any() and (table["lifetime"] >= 1).all()
    survivors = survivors_from_lifetimes(table, 24)
    assert survivors[0] == MOMENT_SAMPLE and np.all(np.diff(survivors) <= 0)
    expected = with_params(ShiftedBetaGeometric, SBG_TRUTH).survival(np.arange(25))
    error = np.sqrt(expected * (1 - expected) / MOMENT_SAMPLE)
    np.testing.assert_array_less(np.abs(survivors / MOMENT_SAMPLE - expected), 4 * error + 1e-12)


def test_survivors_from_lifetimes_by_hand() -> None:
    table = pd.DataFrame(
        {"lifetime": [1, 2, 2, 3, 3, 5], "censored": [False, False, False, True, True, False]}
    )
    np.testing.assert_array_equal(survivors_from_lifetimes(table, 3), [6, 5, 3, 3])
    np.testing.assert_array_equal(survivors_from_lifetimes(table, 1), [6, 5])
    with pytest.raises(DataError, match="n_periods"):
        survivors_from_lifetimes(table, 4)
    with pytest.raises(SchemaError, match="censored"):
        survivors_from_lifetimes(table[["lifetime"]], 3)
    with pytest.raises(DataError, match="censored"):
        survivors_from_lifetimes(table.assign(censored=2), 3)
    with pytest.raises(DataError, match="lifetime"):
        survivors_from_lifetimes(table.assign(lifetime=0), 3)
    with pytest.raises(DataError, match="n_periods"):
        survivors_from_lifetimes(table, 0)


# --- Seeds, speed and inputs ---------------------------------------------------------------

DRAWS: list[tuple[Callable[..., pd.DataFrame], tuple[Any, ...]]] = [
    (simulate_betageo, (BG_TRUTH, 39.0, 1000)),
    (simulate_modified_betageo, (MBG_TRUTH, 39.0, 1000)),
    (simulate_pareto_nbd, (PARETO_TRUTH, 39.0, 1000)),
    (simulate_bgbb, (BGBB_TRUTH, 6, 1000)),
    (simulate_gamma_gamma, (GG_TRUTH, np.arange(1000) % 5)),
    (simulate_sbg, (SBG_TRUTH, 1000, 12)),
]


@pytest.mark.parametrize(("simulate", "args"), DRAWS, ids=lambda v: getattr(v, "__name__", ""))
def test_a_seed_makes_the_draws_reproducible(
    simulate: Callable[..., pd.DataFrame], args: tuple[Any, ...]
) -> None:
    first = simulate(*args, seed=42)
    pd.testing.assert_frame_equal(first, simulate(*args, seed=42))
    pd.testing.assert_frame_equal(first, simulate(*args, seed=np.random.default_rng(42)))
    assert not first.equals(simulate(*args, seed=43))
    generator = np.random.default_rng(5)
    assert not simulate(*args, seed=generator).equals(simulate(*args, seed=generator))
    assert len(simulate(*args)) == 1000


@pytest.mark.parametrize(
    ("simulate", "args"),
    [
        (simulate_betageo, ({"r": 0.01, "alpha": 1e-3, "a": 1e-3, "b": 50.0}, 100.0, 5000)),
        (simulate_modified_betageo, ({"r": 20.0, "alpha": 0.5, "a": 80.0, "b": 0.01}, 0.01, 5000)),
        (simulate_pareto_nbd, ({"r": 0.01, "alpha": 1e-3, "s": 1e-3, "beta": 1e3}, 100.0, 5000)),
        (simulate_bgbb, ({"alpha": 1e-3, "beta": 1e-3, "gamma": 1e-3, "delta": 1e3}, 500, 5000)),
        (simulate_gamma_gamma, ({"p": 0.5, "q": 0.05, "gamma": 1.0}, np.arange(5000) % 7)),
        (simulate_sbg, ({"alpha": 1e-3, "beta": 5.0}, 5000, None)),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_extreme_parameters_give_valid_tables(
    simulate: Callable[..., pd.DataFrame], args: tuple[Any, ...]
) -> None:
    """Beta draws that round to 0 or 1 and huge gamma draws still give finite valid rows."""
    table = simulate(*args, seed=3)
    assert len(table) == 5000
    numbers = table.drop(columns="censored", errors="ignore").to_numpy(dtype=np.float64)
    assert np.all(np.isfinite(numbers)) and np.all(numbers >= 0)
    if "recency" in table:
        assert_frequency_recency_shape(table, table.columns[2])


def test_a_million_betageo_customers_have_the_models_mean() -> None:
    table = simulate_betageo(BG_TRUTH, 52.0, 1_000_000, seed=13)
    assert len(table) == 1_000_000
    # the benchmark sample is the model in expectation
    expected = float(with_params(BetaGeo, BG_TRUTH).expected_purchases_new_customer(52.0)[0])
    assert_mean_close(table["frequency"].to_numpy(), expected)


def test_empty_samples() -> None:
    assert len(simulate_betageo(BG_TRUTH, 39.0, 0)) == 0
    assert len(simulate_bgbb(BGBB_TRUTH, np.array([], dtype=float))) == 0
    assert len(simulate_sbg(SBG_TRUTH, 0, 12)) == 0


@pytest.mark.parametrize(
    ("call", "named"),
    [
        (lambda: simulate_betageo({"r": 1.0, "alpha": 1.0, "a": 1.0}, 1.0, 5), "b"),
        (lambda: simulate_betageo({**BG_TRUTH, "s": 1.0}, 1.0, 5), "unknown key.*s"),
        (lambda: simulate_betageo({**BG_TRUTH, "a": 0.0}, 1.0, 5), "'a'.*> 0"),
        (lambda: simulate_betageo({**BG_TRUTH, "r": -1.0}, 1.0, 5), "'r'.*> 0"),
        (lambda: simulate_betageo({**BG_TRUTH, "r": float("nan")}, 1.0, 5), "'r'"),
        (lambda: simulate_betageo({**BG_TRUTH, "r": "x"}, 1.0, 5), "'r'.*number"),  # type: ignore[dict-item]
        (lambda: simulate_betageo([0.2, 4.0, 0.8, 2.5], 1.0, 5), "params"),  # type: ignore[arg-type]
        (lambda: simulate_betageo(BG_TRUTH, -1.0, 5), "T must be > 0"),
        (lambda: simulate_betageo(BG_TRUTH, [1.0, 0.0]), "T must be > 0"),
        (lambda: simulate_betageo(BG_TRUTH, [1.0, np.nan]), "T must be finite"),
        (lambda: simulate_betageo(BG_TRUTH, 1.0), "n_customers is required"),
        (lambda: simulate_betageo(BG_TRUTH, [1.0, 2.0], 3), "n_customers"),
        (lambda: simulate_betageo(BG_TRUTH, 1.0, -1), "n_customers"),
        (lambda: simulate_betageo(BG_TRUTH, 1.0, 2.5), "n_customers"),  # type: ignore[arg-type]
        (lambda: simulate_betageo(BG_TRUTH, 1.0, True), "n_customers"),
        (lambda: simulate_betageo(BG_TRUTH, 1.0, 5, seed="x"), "seed"),  # type: ignore[arg-type]
        (lambda: simulate_betageo(BG_TRUTH, 1.0, 5, seed=-1), "seed"),
        (lambda: simulate_betageo({**BG_TRUTH, "alpha": 1e-20}, 1e3, 5), "too many"),
        (lambda: simulate_modified_betageo({**BG_TRUTH, "b": 0}, 1.0, 5), "'b'"),
        (lambda: simulate_pareto_nbd(BG_TRUTH, 1.0, 5), "missing.*s, beta"),
        (lambda: simulate_pareto_nbd(PARETO_TRUTH, [-2.0]), "T must be > 0"),
        (lambda: simulate_bgbb(BGBB_TRUTH, 2.5, 5), "n_periods"),
        (lambda: simulate_bgbb(BGBB_TRUTH, -1, 5), "n_periods"),
        (lambda: simulate_bgbb(BGBB_TRUTH, 6), "n_customers is required when n_periods"),
        (lambda: simulate_gamma_gamma(GG_TRUTH, [1, -1]), "frequency"),
        (lambda: simulate_gamma_gamma(GG_TRUTH, [1.5]), "frequency"),
        (lambda: simulate_gamma_gamma({"p": 1.0, "q": 1.0}, [1]), "gamma"),
        (lambda: simulate_sbg(SBG_TRUTH, 10, 0), "n_periods"),
        (lambda: simulate_sbg(SBG_TRUTH, -5), "n_customers"),
        (lambda: simulate_sbg({"alpha": 1.0}, 10), "beta"),
    ],
)
def test_bad_inputs_name_the_argument(call: Callable[[], object], named: str) -> None:
    with pytest.raises(DataError, match=named):
        call()


# --- P(alive) ------------------------------------------------------------------------------


def share_alive_at(model: Model, end: float) -> float:
    """P(alive at the end of observation) of a new customer, from the model's definition."""
    p = model.params
    if isinstance(model, ParetoNBD):  # E[exp(-mu T)]
        return float((p["beta"] / (p["beta"] + end)) ** p["s"])
    if isinstance(model, BetaGeoBetaBinom):  # E[(1 - theta)^(n+1)]: alive at opportunity n+1
        return float(
            np.exp(betaln(p["gamma"], p["delta"] + end + 1) - betaln(p["gamma"], p["delta"]))
        )
    # BG/NBD: E[(1-p)^N] with N the NBD count of purchases by T; MBG/NBD: one coin more
    coins = 1.0 if isinstance(model, ModifiedBetaGeo) else 0.0
    n = np.arange(20_000.0)
    counts = stats.nbinom.pmf(n, p["r"], p["alpha"] / (p["alpha"] + end))
    survives = np.exp(betaln(p["a"], p["b"] + n + coins) - betaln(p["a"], p["b"]))
    return float(counts @ survives)


@pytest.mark.parametrize(
    ("simulate", "cls", "truth", "end"),
    [
        (simulate_betageo, BetaGeo, BG_TRUTH, 39.0),
        (simulate_modified_betageo, ModifiedBetaGeo, MBG_TRUTH, 52.0),
        (simulate_pareto_nbd, ParetoNBD, PARETO_TRUTH, 39.0),
        (simulate_bgbb, BetaGeoBetaBinom, BGBB_TRUTH, 6.0),
    ],
    ids=["betageo", "modified_betageo", "pareto_nbd", "bgbb"],
)
def test_mean_probability_alive_is_the_share_alive(
    simulate: Callable[..., pd.DataFrame], cls: type[Model], truth: Mapping[str, float], end: float
) -> None:
    """By the law of total probability the posterior P(alive | x, t_x, T) averages, over the
    customers drawn, to the unconditional share alive at T: a check of the joint distribution
    of frequency and recency, which the posterior weighs together."""
    model = with_params(cls, truth)
    table = simulate(truth, end, MOMENT_SAMPLE, seed=14)
    alive = model.probability_alive(*(table[c] for c in table.columns))
    assert_mean_close(alive, share_alive_at(model, end))
