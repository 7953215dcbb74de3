"""CLV, horizons, churn-risk bands and the expected time to the next purchase."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from retentio.core.errors import ConfigurationError, DataError, SchemaError
from retentio.datasets import load_cdnow_summary
from retentio.models import (
    RISK_BANDS,
    BetaGeo,
    BetaGeoBetaBinom,
    GammaGamma,
    Horizon,
    ParetoNBD,
    churn_risk,
    customer_lifetime_value,
    parse_horizon,
    risk_band,
    time_to_next_purchase,
)


def with_params(cls: type, **params: float):  # type: ignore[no-untyped-def]
    model = cls()
    model._params = params
    return model


@pytest.fixture(scope="module")
def bgnbd() -> BetaGeo:
    """Fader, Hardie & Lee (2005) CDNOW estimates (weeks)."""
    return with_params(BetaGeo, r=0.243, alpha=4.414, a=0.793, b=2.426)


@pytest.fixture(scope="module")
def spend() -> GammaGamma:
    """Fader, Hardie & Lee (2005, iso-value curves) CDNOW Gamma-Gamma estimates."""
    return with_params(GammaGamma, p=6.25, q=3.74, gamma=15.44)


@pytest.fixture(scope="module")
def summary() -> pd.DataFrame:
    cdnow = load_cdnow_summary().rename(columns={"x": "frequency", "t_x": "recency"})
    cdnow["monetary_value"] = np.where(cdnow["frequency"] > 0, 35.0, 0.0)
    return cdnow


@pytest.mark.parametrize(
    ("text", "steps", "unit", "days"),
    [
        ("12M", 12, "M", 365.25),
        ("26w", 26, "W", 182.0),
        (" 90 D ", 90, "D", 90.0),
        (3, 3, "M", 91.3125),
        ("1Y", 1, "Y", 365.25),
    ],
)
def test_horizons_parse(text: str | int, steps: int, unit: str, days: float) -> None:
    horizon = parse_horizon(text)
    assert (horizon.steps, horizon.unit) == (steps, unit)
    assert horizon.days == pytest.approx(days)
    assert parse_horizon(horizon) is horizon


@pytest.mark.parametrize("bad", ["12", "M", "0M", "-3W", "12X", 1.5, 0, True, "12 months"])
def test_bad_horizons_are_named(bad: object) -> None:
    with pytest.raises(ConfigurationError, match="horizon"):
        parse_horizon(bad)  # type: ignore[arg-type]


def test_horizon_steps_convert_between_units() -> None:
    assert Horizon(1, "W").step_in("D") == 7
    assert Horizon(1, "M").step_in("W") == pytest.approx(365.25 / 12 / 7)
    assert str(Horizon(1, "M")) == "1 month" and str(Horizon(26, "W")) == "26 weeks"
    with pytest.raises(ConfigurationError, match="freq"):
        Horizon(1, "M").step_in("H")


def test_risk_is_one_minus_alive_and_bands_cover_the_documented_ranges() -> None:
    risk = churn_risk([1.0, 0.8, 0.75, 0.5, 0.3, 0.0])
    np.testing.assert_allclose(risk, [0.0, 0.2, 0.25, 0.5, 0.7, 1.0])
    assert risk_band(risk).tolist() == ["low", "low", "medium", "high", "high", "critical"]
    assert [name for name, _ in RISK_BANDS] == ["low", "medium", "high", "critical"]
    assert risk_band([0.1, 0.9], bands=[("ok", 0.5), ("bad", 1.0)]).tolist() == ["ok", "bad"]
    with pytest.raises(DataError, match="probability_alive"):
        churn_risk([1.2])
    with pytest.raises(DataError, match="risk"):
        risk_band([-0.1])
    with pytest.raises(ConfigurationError, match="bands"):
        risk_band([0.1], bands=[("a", 0.5)])


def test_clv_is_the_discounted_sum_of_expected_purchases_times_spend(
    bgnbd: BetaGeo, spend: GammaGamma, summary: pd.DataFrame
) -> None:
    rows = summary.iloc[:50]
    clv = spend.customer_lifetime_value(bgnbd, rows, horizon="12M", discount_rate=0.01, freq="W")
    x, t_x, big_t = rows["frequency"], rows["recency"], rows["T"]
    step = 365.25 / 12 / 7
    expected = np.zeros(len(rows))
    for m in range(1, 13):
        gain = bgnbd.expected_purchases(m * step, x, t_x, big_t) - bgnbd.expected_purchases(
            (m - 1) * step, x, t_x, big_t
        )
        expected += gain / 1.01**m
    expected *= spend.expected_spend(x, rows["monetary_value"])
    np.testing.assert_allclose(clv, expected, rtol=1e-12)
    same = customer_lifetime_value(bgnbd, spend, rows, 12, 0.01, "W")
    np.testing.assert_allclose(same, clv)


def test_undiscounted_clv_over_one_step_is_spend_times_expected_purchases(
    bgnbd: BetaGeo, spend: GammaGamma, summary: pd.DataFrame
) -> None:
    clv = spend.customer_lifetime_value(bgnbd, summary, horizon="1Y", discount_rate=0.0, freq="D")
    t = 365.25
    direct = bgnbd.expected_purchases(t, summary["frequency"], summary["recency"], summary["T"])
    np.testing.assert_allclose(
        clv, direct * spend.expected_spend(summary["frequency"], summary["monetary_value"])
    )
    assert np.all(np.isfinite(clv)) and np.all(clv >= 0)


def test_discounting_lowers_clv_and_a_longer_horizon_raises_it(
    bgnbd: BetaGeo, spend: GammaGamma, summary: pd.DataFrame
) -> None:
    low = spend.customer_lifetime_value(bgnbd, summary, 12, 0.05, "W")
    high = spend.customer_lifetime_value(bgnbd, summary, 12, 0.0, "W")
    longer = spend.customer_lifetime_value(bgnbd, summary, 24, 0.05, "W")
    assert np.all(low <= high) and np.all(longer >= low) and low.sum() < high.sum()


def test_clv_checks_its_inputs(bgnbd: BetaGeo, spend: GammaGamma, summary: pd.DataFrame) -> None:
    with pytest.raises(SchemaError, match="monetary_value"):
        spend.customer_lifetime_value(bgnbd, summary.drop(columns="monetary_value"))
    with pytest.raises(ConfigurationError, match="discount_rate"):
        spend.customer_lifetime_value(bgnbd, summary, discount_rate=-1.0)
    with pytest.raises(ConfigurationError, match="freq"):
        spend.customer_lifetime_value(bgnbd, summary, freq="hours")


def test_clv_works_for_pareto_and_bgbb(spend: GammaGamma) -> None:
    pareto = with_params(ParetoNBD, r=0.553, alpha=10.578, s=0.606, beta=11.669)
    frame = pd.DataFrame(
        {"frequency": [0, 2, 5], "recency": [0, 3, 6], "T": [6, 6, 6], "n_periods": [6, 6, 6]}
    )
    frame["monetary_value"] = [0.0, 20.0, 40.0]
    pareto_clv = spend.customer_lifetime_value(pareto, frame, "6M", 0.01, "M")
    bgbb = with_params(BetaGeoBetaBinom, alpha=1.204, beta=0.750, gamma=0.657, delta=2.783)
    bgbb_clv = spend.customer_lifetime_value(bgbb, frame, "2Y", 0.1, "Y")
    direct = (
        bgbb.expected_purchases(1, [0, 2, 5], [0, 3, 6], [6, 6, 6]) / 1.1
        + (
            bgbb.expected_purchases(2, [0, 2, 5], [0, 3, 6], [6, 6, 6])
            - bgbb.expected_purchases(1, [0, 2, 5], [0, 3, 6], [6, 6, 6])
        )
        / 1.1**2
    )
    np.testing.assert_allclose(
        bgbb_clv, direct * spend.expected_spend([0, 2, 5], [0.0, 20.0, 40.0])
    )
    assert np.all(pareto_clv > 0) and pareto_clv[2] > pareto_clv[1]


def test_next_purchase_is_where_the_expected_count_reaches_one(bgnbd: BetaGeo) -> None:
    x = np.array([0.0, 2, 10, 40, 10])
    t_x = np.array([0.0, 30.43, 38, 38.5, 2])
    big_t = np.array([38.86, 38.86, 38.86, 38.86, 38.86])
    wait = time_to_next_purchase(bgnbd, x, t_x, big_t, max_horizon=520, precision=1e-9)
    reached = ~np.isnan(wait)
    assert reached[1:4].all()
    at = bgnbd.expected_purchases(wait[reached], x[reached], t_x[reached], big_t[reached])
    before = bgnbd.expected_purchases(
        wait[reached] * (1 - 1e-6), x[reached], t_x[reached], big_t[reached]
    )
    assert np.all(at >= 1) and np.all(before < 1)
    assert wait[3] < wait[2] < wait[1]  # more frequent buyers come back sooner
    coarse = time_to_next_purchase(bgnbd, x, t_x, big_t, max_horizon=520, precision=0.5)
    assert np.all(coarse[reached] >= wait[reached]) and np.all(
        coarse[reached] - wait[reached] <= 0.5
    )
    limit = bgnbd.expected_purchases(520, x[~reached], t_x[~reached], big_t[~reached])
    assert np.all(limit < 1)


def test_next_purchase_in_whole_periods_for_bgbb() -> None:
    bgbb = with_params(BetaGeoBetaBinom, alpha=1.204, beta=0.750, gamma=0.657, delta=2.783)
    x, t_x, n = np.array([6.0, 3, 0]), np.array([6.0, 6, 0]), np.array([6.0, 6, 6])
    wait = time_to_next_purchase(bgbb, x, t_x, n, max_horizon=50)
    assert wait[0] < wait[1] and np.all(wait[:2] == np.round(wait[:2]))
    assert np.all(bgbb.expected_purchases(wait[:2], x[:2], t_x[:2], n[:2]) >= 1)
    assert np.all(bgbb.expected_purchases(wait[:2] - 1, x[:2], t_x[:2], n[:2]) < 1)
    assert np.isnan(wait[2])
    with pytest.raises(ConfigurationError, match="max_horizon"):
        time_to_next_purchase(bgbb, x, t_x, n, max_horizon=0.5)


def test_expected_purchases_factor_into_alive_and_if_alive(bgnbd: BetaGeo) -> None:
    x, t_x, big_t = np.array([0.0, 2, 7]), np.array([0.0, 30.43, 10]), np.array([38.86] * 3)
    product = bgnbd.probability_alive(x, t_x, big_t) * bgnbd.expected_purchases_if_alive(
        39, x, big_t
    )
    np.testing.assert_allclose(product, bgnbd.expected_purchases(39, x, t_x, big_t), rtol=1e-12)
    bgbb = with_params(BetaGeoBetaBinom, alpha=1.204, beta=0.750, gamma=0.657, delta=2.783)
    x, t_x, n = np.array([0.0, 3, 6]), np.array([0.0, 5, 6]), np.array([6.0, 6, 6])
    product = bgbb.probability_alive(x, t_x, n) * bgbb.expected_purchases_if_alive(5, x, n)
    np.testing.assert_allclose(product, bgbb.expected_purchases(5, x, t_x, n), rtol=1e-12)
    with pytest.raises(DataError, match="T must"):
        bgnbd.expected_purchases_if_alive(1, [1], [0])
    with pytest.raises(DataError, match="frequency"):
        bgbb.expected_purchases_if_alive(1, [7], [6])


def test_next_purchase_is_computed_once_per_distinct_row(bgnbd: BetaGeo) -> None:
    calls: list[int] = []

    class Counting:
        name = "BetaGeo"
        discrete = False

        def probability_alive(self, x, t_x, big_t):  # type: ignore[no-untyped-def]
            calls.append(len(np.atleast_1d(x)))
            return bgnbd.probability_alive(x, t_x, big_t)

        def expected_purchases_if_alive(self, t, x, big_t):  # type: ignore[no-untyped-def]
            calls.append(len(np.atleast_1d(x)))
            return bgnbd.expected_purchases_if_alive(t, x, big_t)

    x = np.repeat([1.0, 3.0], 1000)
    wait = time_to_next_purchase(Counting(), x, x * 5, np.full(x.size, 39.0))  # type: ignore[arg-type]
    assert max(calls) == 2 and np.isfinite(wait).all()
    assert time_to_next_purchase(bgnbd, [], [], []).size == 0
