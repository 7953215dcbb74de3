"""Calibration/holdout evaluation, model choice, the purchase timeline and the CLV workflow."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

import retentio
from retentio.clv import ClvFit, check_holdout, cumulative_transactions, fit_clv, predict_customers
from retentio.core.errors import (
    ConfigurationError,
    DataError,
    EmptyDataError,
    ModelFormatError,
    SchemaError,
)
from retentio.datasets import load_cdnow
from retentio.models import BetaGeo, ModifiedBetaGeo, evaluate, select

CAL_END, OBS_END = date(1997, 9, 30), date(1998, 6, 30)


@pytest.fixture(scope="module")
def transactions() -> object:
    return load_cdnow()


@pytest.fixture(scope="module")
def split(transactions: object) -> pd.DataFrame:
    return retentio.calibration_holdout(
        transactions, calibration_end=CAL_END, observation_end=OBS_END, time_unit="W"
    )


@pytest.fixture(scope="module")
def fitted(split: pd.DataFrame) -> BetaGeo:
    return BetaGeo().fit(split["frequency_cal"], split["recency_cal"], split["T_cal"])


def test_evaluate_compares_predictions_with_the_holdout(
    fitted: BetaGeo, split: pd.DataFrame
) -> None:
    result = evaluate(fitted, split)
    predicted = fitted.expected_purchases(
        39.0, split["frequency_cal"], split["recency_cal"], split["T_cal"]
    )
    actual = split["frequency_holdout"].to_numpy()
    assert result.duration == 39.0 and result.n_customers == 2357
    assert result.mae == pytest.approx(np.mean(np.abs(predicted - actual)))
    assert result.rmse == pytest.approx(np.sqrt(np.mean((predicted - actual) ** 2)))
    assert result.actual_total == actual.sum() and result.predicted_total == pytest.approx(
        predicted.sum()
    )
    assert result.log_likelihood == pytest.approx(-9582.4, abs=0.1)
    assert result.bic == pytest.approx(4 * np.log(2357) + 2 * 9582.43, abs=0.1)
    table = result.by_frequency
    assert table["label"].tolist() == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    assert table["customers"].sum() == 2357
    assert (table["customers"] * table["actual"]).sum() == pytest.approx(actual.sum())
    assert (table["customers"] * table["predicted"]).sum() == pytest.approx(predicted.sum())
    assert table["predicted"].is_monotonic_increasing


def test_evaluate_takes_the_holdout_separately_and_matches_customers(
    fitted: BetaGeo, split: pd.DataFrame
) -> None:
    calibration = split[["customer_id", "frequency_cal", "recency_cal", "T_cal"]]
    shuffled = split[["customer_id", "frequency_holdout"]].sample(frac=1.0, random_state=1)
    keyed = evaluate(fitted, calibration, shuffled, duration=39.0)
    assert keyed.rmse == pytest.approx(evaluate(fitted, split).rmse)
    plain = evaluate(fitted, calibration, split["frequency_holdout"].to_numpy(), duration=39.0)
    assert plain.mae == pytest.approx(keyed.mae)
    with pytest.raises(ConfigurationError, match="duration"):
        evaluate(fitted, calibration, split["frequency_holdout"])
    with pytest.raises(DataError, match="rows"):
        evaluate(fitted, calibration, [1, 2], duration=39.0)
    with pytest.raises(SchemaError, match="summary_cal"):
        evaluate(fitted, split[["customer_id"]], split, duration=39.0)


def test_select_ranks_the_three_models_and_returns_their_fits(split: pd.DataFrame) -> None:
    selection = select(split)
    assert set(selection.table["model"]) == {"bgnbd", "mbgnbd", "pareto"}
    assert selection.table["rmse"].is_monotonic_increasing
    assert selection.best == selection.table["model"].iloc[0]
    assert isinstance(selection.models["mbgnbd"], ModifiedBetaGeo)
    assert selection.models["pareto"].log_likelihood == pytest.approx(-9595.0, abs=0.1)
    by_ll = select(split, models=["bgnbd", "mbgnbd"], criterion="log_likelihood")
    assert by_ll.table["log_likelihood"].is_monotonic_decreasing
    with pytest.raises(ConfigurationError, match="criterion"):
        select(split, criterion="aic")
    with pytest.raises(ConfigurationError, match="unknown model"):
        select(split, models=["nbd"])


def test_purchase_timeline_adds_up_to_the_summaries(
    transactions: object, split: pd.DataFrame
) -> None:
    timeline = retentio.purchase_timeline(
        transactions, calibration_end=CAL_END, observation_end=OBS_END
    )
    assert timeline["period"].iloc[0] == pd.Timestamp("1997-01-01")
    assert timeline["period"].iloc[-1] == pd.Timestamp("1998-06-30")
    assert timeline["index"].tolist() == list(range(len(timeline)))
    assert timeline["new_customers"].sum() == len(split)
    in_calibration = timeline["period"] <= pd.Timestamp(CAL_END)
    assert timeline.loc[in_calibration, "repeat_purchases"].sum() == split["frequency_cal"].sum()
    assert (
        timeline.loc[~in_calibration, "repeat_purchases"].sum() == split["frequency_holdout"].sum()
    )
    with pytest.raises(ConfigurationError, match="calibration_end"):
        retentio.purchase_timeline(transactions, calibration_end=OBS_END, observation_end=CAL_END)


def test_cumulative_predictions_are_the_sum_of_new_customer_curves(
    transactions: object, fitted: BetaGeo
) -> None:
    timeline = retentio.purchase_timeline(
        transactions, calibration_end=CAL_END, observation_end=OBS_END
    )
    curve = cumulative_transactions(fitted, timeline, days_per_period=1.0, time_unit="W")
    day = 300
    births = timeline["new_customers"].to_numpy()[: day + 1]
    ages = (day - np.arange(day + 1)) / 7.0
    direct = float(np.sum(births * fitted.expected_purchases_new_customer(ages)))
    assert curve["predicted"].iloc[day] == pytest.approx(direct)
    assert curve["actual"].iloc[-1] == timeline["repeat_purchases"].sum()
    assert curve["predicted"].is_monotonic_increasing


def test_check_holdout_splits_at_the_holdout(transactions: object) -> None:
    check = check_holdout(transactions, observation_end=OBS_END, holdout="39W", time_unit="W")
    assert check.calibration_end == CAL_END
    assert check.selection.best in {"bgnbd", "mbgnbd", "pareto"}
    final = check.cumulative.iloc[-1]
    assert final["predicted"] == pytest.approx(final["actual"], rel=0.1)
    with pytest.raises(ConfigurationError, match="time_unit"):
        check_holdout(transactions, observation_end=OBS_END, time_unit="M")


def test_predict_customers_scores_every_customer(transactions: object) -> None:
    summary = retentio.summarize(transactions, observation_end=CAL_END, time_unit="W")
    fit = fit_clv(summary, observation_end=CAL_END, time_unit="W")
    assert fit.transaction.params["r"] == pytest.approx(0.243, abs=1e-3)
    assert fit.spend is not None and fit.spend.params["p"] == pytest.approx(6.25, abs=0.01)
    scored = predict_customers(summary, fit, horizon="39W", discount_rate=0.0)
    assert len(scored) == 2357 and scored["customer_id"].tolist() == summary["customer_id"].tolist()
    one = scored[scored["customer_id"] == "1"].iloc[0]
    assert one["expected_purchases"] == pytest.approx(1.226, abs=2e-3)  # the paper's example
    assert one["p_alive"] == pytest.approx(1 - one["churn_risk"])
    assert one["risk_band"] == "medium"
    assert scored["clv"].sum() == pytest.approx(
        (scored["expected_purchases"] * scored["expected_spend"]).sum(), rel=1e-9
    )
    quick = predict_customers(summary, fit, horizon="39W", discount_rate=0.0, next_purchase=False)
    assert "next_purchase_date" not in quick.columns
    assert quick["clv"].tolist() == scored["clv"].tolist()
    dates = scored["next_purchase_date"].dropna()
    assert (dates > pd.Timestamp(CAL_END)).all()
    assert set(scored["risk_band"].unique()) <= {"low", "medium", "high", "critical"}


def test_a_saved_fit_loads_back_and_rejects_other_files(transactions: object) -> None:
    summary = retentio.summarize(transactions, observation_end=CAL_END, time_unit="W")
    fit = fit_clv(summary, observation_end=CAL_END, model="pareto", spend=False, time_unit="W")
    again = ClvFit.from_json(fit.to_json())
    assert again.key == "pareto" and again.spend is None and again.time_unit == "W"
    assert again.transaction.params == fit.transaction.params
    assert again.observation_end == CAL_END
    with pytest.raises(ModelFormatError, match="not a saved retentio fit"):
        ClvFit.from_json(fit.transaction.to_json())
    with pytest.raises(ModelFormatError, match="invalid JSON"):
        ClvFit.from_json("{")
    with pytest.raises(SchemaError, match="monetary_value"):
        fit_clv(summary.drop(columns="monetary_value"), observation_end=CAL_END)
    with pytest.raises(ConfigurationError, match="unknown model"):
        fit_clv(summary, observation_end=CAL_END, model="xyz")


def test_clear_errors_for_a_holdout_too_long_and_no_repeat_buyers(transactions: object) -> None:
    with pytest.raises(ConfigurationError, match="choose a shorter holdout"):
        check_holdout(transactions, observation_end=OBS_END, holdout="100W")
    summary = pd.DataFrame(
        {"frequency": [0, 0], "recency": [0.0, 0.0], "T": [3.0, 5.0], "monetary_value": [0.0] * 2}
    )
    with pytest.raises(EmptyDataError, match="repeat purchase"):
        fit_clv(summary, observation_end=CAL_END)
