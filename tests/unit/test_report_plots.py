"""retentio.reporting.plots: the model plots are the models' numbers, drawn as accessible SVG."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from datetime import date
from typing import TypeVar

import numpy as np
import pandas as pd
import pytest

from retentio.core.errors import ConfigurationError, SchemaError
from retentio.datasets import load_cdnow_summary
from retentio.models import (
    BetaGeo,
    BetaGeoBetaBinom,
    GammaGamma,
    Model,
    ModifiedBetaGeo,
    ParetoNBD,
)
from retentio.reporting.colors import heat_color
from retentio.reporting.plots import (
    DEFAULT_MAX_FREQUENCY,
    MAX_RECENCY_COLUMNS,
    calibration_holdout_chart,
    cumulative_transactions_chart,
    frequency_recency_matrix,
    frequency_recency_table,
)

NAN = float("nan")
T_CDNOW = 38.86  # weeks from the start of 1997 to the end of the 39-week calibration period
# BG/NBD on the CDNOW sample: Fader, Hardie & Lee (2005), "Counting your customers the easy way".
BG_PARAMS = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}


M = TypeVar("M", bound=Model)


def with_params(model_type: type[M], params: dict[str, float]) -> M:
    """A model with the given parameters, as if fitted."""
    model = model_type()
    model._params = params
    return model


@pytest.fixture
def bg() -> BetaGeo:
    return with_params(BetaGeo, BG_PARAMS)


@pytest.fixture
def bgbb() -> BetaGeoBetaBinom:
    # BG/BB on the donations data: Fader, Hardie & Shang (2010), table 2.
    params = {"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783}
    return with_params(BetaGeoBetaBinom, params)


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(f"<div>{svg}</div>")  # noqa: S314 - our own output, not untrusted XML
    (chart,) = list(root)
    assert chart.tag == "svg"
    return chart


def texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter("text")]


def assert_accessible(root: ET.Element, uid: str, title: str) -> str:
    """Check role, title and desc; return the desc."""
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == f"{uid}-title {uid}-desc"
    first, second = list(root)[:2]
    assert (first.tag, first.get("id"), first.text) == ("title", f"{uid}-title", title)
    assert (second.tag, second.get("id")) == ("desc", f"{uid}-desc")
    assert second.text
    return second.text


def cells(root: ET.Element) -> list[ET.Element]:
    return [r for r in root.iter("rect") if r.get("class") == "cell"]


def points(root: ET.Element) -> list[ET.Element]:
    return [c for c in root.iter("circle") if c.get("class") == "point"]


def polylines(root: ET.Element) -> list[list[tuple[float, float]]]:
    return [
        [(float(x), float(y)) for x, y in (p.split(",") for p in (e.get("points") or "").split())]
        for e in root.iter("polyline")
    ]


def title_of(element: ET.Element) -> str:
    found = element.find("title")
    assert found is not None and found.text
    return found.text


# --- frequency / recency table ------------------------------------------------------------


def test_table_values_are_the_fitted_models_own_predictions() -> None:
    summary = load_cdnow_summary()
    model = BetaGeo().fit(summary["x"], summary["t_x"], summary["T"])
    for name, value in BG_PARAMS.items():  # the paper's estimates, to three decimals
        assert model.params[name] == pytest.approx(value, abs=2e-3)
    table = frequency_recency_table(model, T_CDNOW, kind="expected", horizon=52, max_frequency=5)
    assert list(table.index) == [0, 1, 2, 3, 4, 5] and table.index.name == "frequency"
    assert table.columns.name == "recency"
    f, r = np.meshgrid(table.index.to_numpy(float), table.columns.to_numpy(float), indexing="ij")
    valid = (f > 0) | (r == 0)
    expected = model.expected_purchases(52, f[valid], r[valid], np.full(valid.sum(), T_CDNOW))
    np.testing.assert_allclose(table.to_numpy()[valid], expected, rtol=1e-12)
    assert np.isnan(table.to_numpy()[~valid]).all()


def test_table_of_p_alive(bg: BetaGeo) -> None:
    table = frequency_recency_table(bg, T_CDNOW, kind="alive", max_frequency=3)
    assert table.loc[0, 0.0] == 1.0  # no repeat purchase: alive for the BG/NBD
    assert table.loc[0].drop(0.0).isna().all()
    for f in (1, 2, 3):
        row = table.loc[f].to_numpy()
        direct = bg.probability_alive(
            np.full(row.size, f), table.columns.to_numpy(float), np.full(row.size, T_CDNOW)
        )
        np.testing.assert_allclose(row, direct, rtol=1e-12)
        assert (np.diff(row) > 0).all()  # a more recent last purchase: more likely alive
    assert table.loc[3, 5.0] < table.loc[1, 5.0]  # a long silence after many purchases


def test_recency_columns_are_round_bounded_and_within_t(bg: BetaGeo) -> None:
    table = frequency_recency_table(bg, T_CDNOW)
    recencies = table.columns.to_numpy(float)
    assert list(recencies) == list(range(39))  # 0..38 weeks, one a week
    assert list(table.index) == list(range(DEFAULT_MAX_FREQUENCY + 1))
    wide = frequency_recency_table(bg, 100.0)
    assert wide.columns.tolist() == [5.0 * i for i in range(21)]  # 2.5 would need 41 columns
    shorter = frequency_recency_table(bg, 100.0, max_recency=97).columns.to_numpy(float)
    assert np.allclose(np.diff(shorter), 2.5) and shorter[-1] == 95
    assert len(shorter) <= MAX_RECENCY_COLUMNS
    small = frequency_recency_table(bg, 0.5).columns.to_numpy(float)
    assert small[0] == 0 and small[-1] <= 0.5 and len(small) <= MAX_RECENCY_COLUMNS
    assert frequency_recency_table(bg, 10.0, max_recency=0).columns.tolist() == [0.0]


@pytest.mark.parametrize(
    "model_type, params",
    [
        (ModifiedBetaGeo, {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}),
        (ParetoNBD, {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}),
    ],
)
@pytest.mark.parametrize("kind", ["expected", "alive"])
def test_table_works_for_the_other_continuous_models(
    model_type: type, params: dict[str, float], kind: str
) -> None:
    model = with_params(model_type, params)
    table = frequency_recency_table(model, 20.0, kind=kind, horizon=10, max_frequency=4)  # type: ignore[arg-type]
    f, r = np.meshgrid(table.index.to_numpy(float), table.columns.to_numpy(float), indexing="ij")
    valid = (f > 0) | (r == 0)
    big_t = np.full(valid.sum(), 20.0)
    direct = (
        model.expected_purchases(10, f[valid], r[valid], big_t)
        if kind == "expected"
        else model.probability_alive(f[valid], r[valid], big_t)
    )
    np.testing.assert_allclose(table.to_numpy()[valid], direct, rtol=1e-12)


def test_bgbb_table_is_in_whole_periods_with_impossible_cells_empty(
    bgbb: BetaGeoBetaBinom,
) -> None:
    table = frequency_recency_table(bgbb, 6, kind="expected", horizon=5)
    assert list(table.index) == list(range(7))  # at most one transaction per opportunity
    assert list(table.columns) == list(range(7))
    for (f, r), value in table.stack(future_stack=True).items():
        if f > r or (f == 0 and r > 0):
            assert math.isnan(value)
        else:
            assert value == pytest.approx(bgbb.expected_purchases(5, [f], [r], [6])[0], rel=1e-12)
    alive = frequency_recency_table(bgbb, 6, kind="alive")
    assert alive.loc[6, 6] == pytest.approx(bgbb.probability_alive([6], [6], [6])[0])


def test_bgbb_refuses_fractional_periods(bgbb: BetaGeoBetaBinom) -> None:
    with pytest.raises(ConfigurationError, match="horizon must be a whole number"):
        frequency_recency_table(bgbb, 6, horizon=2.5)
    with pytest.raises(ConfigurationError, match="n_periods must be a whole number"):
        frequency_recency_table(bgbb, 6.5)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"kind": "dead"}, "kind must be"),
        ({"T": 0.0}, "T must be > 0"),
        ({"T": NAN}, "T must be a finite number"),
        ({"max_recency": 50.0}, "must not exceed T"),
        ({"max_frequency": -1}, "max_frequency must be a whole number"),
        ({"max_frequency": 2.5}, "max_frequency must be a whole number"),
        ({"horizon": -1.0}, "horizon must be"),
        ({"max_columns": 1}, "max_columns"),
    ],
)
def test_table_rejects_arguments_that_cannot_work(
    bg: BetaGeo, kwargs: dict[str, object], message: str
) -> None:
    args: dict[str, object] = {"T": T_CDNOW, **kwargs}
    with pytest.raises(ConfigurationError, match=message):
        frequency_recency_table(bg, **args)  # type: ignore[arg-type]


def test_table_of_an_unfitted_model_says_so() -> None:
    with pytest.raises(ConfigurationError, match="not fitted"):
        frequency_recency_table(BetaGeo(), T_CDNOW)


def test_table_of_a_spend_model_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="GammaGamma has no probability_alive"):
        frequency_recency_table(GammaGamma(), T_CDNOW, kind="alive")  # type: ignore[arg-type]


# --- frequency / recency matrix -----------------------------------------------------------


def test_matrix_draws_one_cell_per_possible_customer(bg: BetaGeo) -> None:
    svg = frequency_recency_matrix(bg, T_CDNOW, max_frequency=6, time_unit="week")
    root = parse(svg)
    desc = assert_accessible(root, "fr-matrix", "Expected purchases by frequency and recency")
    table = frequency_recency_table(bg, T_CDNOW, max_frequency=6)
    drawn = cells(root)
    assert len(drawn) == int(table.notna().to_numpy().sum()) == 1 + 6 * 39
    assert "weeks" in desc and "next 1 week" in desc
    assert "Recency: weeks from the first purchase to the last" in texts(root)
    assert {"0", "6", "38"} <= set(texts(root))


def test_matrix_tooltips_hold_the_values_and_colours_follow_them(bg: BetaGeo) -> None:
    root = parse(frequency_recency_matrix(bg, T_CDNOW, max_frequency=2, horizon=52))
    table = frequency_recency_table(bg, T_CDNOW, max_frequency=2, horizon=52)
    values = [v for v in table.to_numpy().ravel() if not math.isnan(v)]
    drawn = cells(root)
    vmax = max(values)
    for cell, value in zip(drawn, values, strict=True):
        assert f"{value:.4g} expected purchases in the next 52 periods" in title_of(cell)
        assert cell.get("fill") == heat_color(value, vmax)
    assert title_of(drawn[0]).startswith("0 repeat purchases:")
    assert title_of(drawn[1]).startswith("1 repeat purchase, the last after 0 periods:")


def test_matrix_of_p_alive_runs_from_0_to_100_percent(bg: BetaGeo) -> None:
    root = parse(frequency_recency_matrix(bg, T_CDNOW, kind="alive", max_frequency=3, uid="pa"))
    assert_accessible(root, "pa", "Probability alive by frequency and recency")
    assert {"0%", "100%", "P(alive)"} <= set(texts(root))
    first = cells(root)[0]
    assert "P(alive) 1.0000 (100.0%)" in title_of(first)
    assert first.get("fill") == heat_color(1.0)


def test_matrix_of_bgbb_counts_opportunities(bgbb: BetaGeoBetaBinom) -> None:
    root = parse(frequency_recency_matrix(bgbb, 6, kind="alive"))
    assert len(cells(root)) == 1 + sum(range(1, 7))  # (0, 0) and every frequency <= recency
    assert "Recency: opportunities from the first purchase to the last" in texts(root)


def test_matrix_title_is_escaped(bg: BetaGeo) -> None:
    nasty = "<script>x</script> & co"
    svg = frequency_recency_matrix(bg, T_CDNOW, max_frequency=1, title=nasty, time_unit="<w>")
    assert "<script>" not in svg and "<w>" not in svg
    root = parse(svg)
    assert_accessible(root, "fr-matrix", nasty)


# --- calibration vs holdout ---------------------------------------------------------------


def by_frequency(rows: int = 8) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "frequency": range(rows),
            "customers": [1411, 439, 214, 100, 62, 38, 31, 58][:rows],
            "actual": [0.24, 0.70, 1.41, 1.70, 2.50, 2.71, 3.60, 5.00][:rows],
            "predicted": [0.23, 0.75, 1.30, 1.90, 2.40, 3.00, 3.50, 5.60][:rows],
            "label": [str(i) for i in range(rows - 1)] + [f"{rows - 1}+"],
        }
    )


def test_calibration_chart_draws_actual_and_predicted_per_frequency() -> None:
    root = parse(calibration_holdout_chart(by_frequency()))
    desc = assert_accessible(root, "calibration-holdout", "Holdout purchases: actual vs predicted")
    assert "2,353 customers" in desc and "largest gap is 0.600 at 7+" in desc
    actual, predicted = polylines(root)
    assert len(actual) == len(predicted) == 8
    assert len(points(root)) == 16
    assert {"0", "6", "7+", "Actual", "Predicted by the model"} <= set(texts(root))
    last = points(root)[15]
    assert title_of(last) == (
        "7+ calibration purchases (58 customers): predicted 5.600 holdout purchases per customer"
    )
    assert actual[-1][1] > predicted[-1][1]  # 5.0 is drawn lower than 5.6


def test_calibration_chart_sorts_by_frequency_and_labels_without_a_label_column() -> None:
    table = by_frequency(3).drop(columns="label").iloc[::-1]
    root = parse(calibration_holdout_chart(table, uid="c", title="Fit"))
    assert_accessible(root, "c", "Fit")
    (actual, _) = polylines(root)
    assert [x for x, _ in actual] == sorted(x for x, _ in actual)
    assert actual[0][1] > actual[-1][1]  # frequency 0 (fewest holdout purchases) comes first
    assert {"0", "1", "2"} <= set(texts(root))


def test_calibration_chart_escapes_labels_and_leaves_gaps() -> None:
    table = by_frequency(4)
    table["label"] = ["<0>", "1", "2", "3 & more"]
    table.loc[1, "actual"] = NAN
    svg = calibration_holdout_chart(table)
    assert "<0>" not in svg
    root = parse(svg)
    assert {"<0>", "3 & more"} <= set(texts(root))
    assert [len(line) for line in polylines(root)] == [2, 4]  # actual broken, predicted whole
    assert len(points(root)) == 7


def test_calibration_chart_without_rows_says_no_data() -> None:
    root = parse(calibration_holdout_chart(by_frequency().iloc[0:0]))
    assert "No data" in texts(root)
    assert polylines(root) == [] and points(root) == []


def test_calibration_chart_names_missing_columns() -> None:
    with pytest.raises(SchemaError, match="predicted"):
        calibration_holdout_chart(by_frequency().drop(columns="predicted"))


# --- cumulative transactions --------------------------------------------------------------


def cumulative(weeks: int = 10) -> pd.DataFrame:
    actual = np.cumsum(np.arange(1, weeks + 1, dtype=float))
    return pd.DataFrame(
        {
            "period": pd.date_range("1997-01-06", periods=weeks, freq="7D"),
            "actual": actual,
            "predicted": actual * 1.2,
        }
    )


def rule(root: ET.Element) -> ET.Element:
    (found,) = [e for e in root.iter("line") if e.get("class") == "rule"]
    return found


def test_cumulative_chart_draws_two_lines_over_the_dates() -> None:
    root = parse(cumulative_transactions_chart(cumulative()))
    desc = assert_accessible(
        root, "cumulative-transactions", "Cumulative repeat transactions: actual vs predicted"
    )
    assert "from 1997-01-06 to 1997-03-10" in desc and "55 actual and 66 predicted" in desc
    actual, predicted = polylines(root)
    assert len(actual) == len(predicted) == 10
    assert all(p[1] <= a[1] for a, p in zip(actual, predicted, strict=True))
    assert {"1997-03-10", "Actual", "Predicted by the model", "Date"} <= set(texts(root))
    assert not [e for e in root.iter("line") if e.get("class") == "rule"]


def test_cumulative_chart_marks_the_calibration_end_between_periods() -> None:
    root = parse(cumulative_transactions_chart(cumulative(), calibration_end=date(1997, 2, 6)))
    xs = [x for x, _ in polylines(root)[0]]
    marker = rule(root)
    expected = xs[4] + (xs[5] - xs[4]) * 3 / 7
    assert float(marker.get("x1", "nan")) == pytest.approx(expected, abs=0.01)
    assert marker.get("stroke-dasharray")
    assert "calibration end" in texts(root)
    on_a_period = parse(
        cumulative_transactions_chart(cumulative(), calibration_end=pd.Timestamp("1997-01-27"))
    )
    assert float(rule(on_a_period).get("x1", "nan")) == pytest.approx(xs[3])


def test_cumulative_chart_with_labelled_periods() -> None:
    table = cumulative(4)
    table["period"] = ["W1", "W2", "W<3>", "W4"]
    root = parse(cumulative_transactions_chart(table, calibration_end="W<3>", uid="cum"))
    assert_accessible(root, "cum", "Cumulative repeat transactions: actual vs predicted")
    xs = [x for x, _ in polylines(root)[0]]
    assert float(rule(root).get("x1", "nan")) == pytest.approx(xs[2])
    assert {"W<3>", "Period"} <= set(texts(root))


def test_cumulative_chart_with_pandas_periods() -> None:
    table = cumulative(3)
    table["period"] = pd.period_range("1997-01", periods=3, freq="M")
    root = parse(cumulative_transactions_chart(table, calibration_end=date(1997, 2, 1)))
    xs = [x for x, _ in polylines(root)[0]]
    assert float(rule(root).get("x1", "nan")) == pytest.approx(xs[1])
    assert {"1997-01", "1997-03"} <= set(texts(root))


@pytest.mark.parametrize("end", [date(1996, 12, 31), date(1998, 1, 1), "W9", 3])
def test_cumulative_chart_rejects_a_calibration_end_off_the_axis(end: object) -> None:
    table = (
        cumulative() if isinstance(end, date) else cumulative().assign(period=list("abcdefghij"))
    )
    with pytest.raises(ConfigurationError, match="calibration_end"):
        cumulative_transactions_chart(table, calibration_end=end)


def test_cumulative_chart_leaves_gaps_and_says_no_data_when_empty() -> None:
    table = cumulative(6)
    table.loc[2, "predicted"] = NAN
    drawn = polylines(parse(cumulative_transactions_chart(table)))
    assert [len(line) for line in drawn] == [6, 2, 3]  # predicted broken at the gap
    empty = parse(cumulative_transactions_chart(cumulative().iloc[0:0]))
    assert "No data" in texts(empty)
    assert polylines(empty) == []


def test_cumulative_chart_names_missing_columns() -> None:
    with pytest.raises(SchemaError, match="period"):
        cumulative_transactions_chart(cumulative().drop(columns="period"))


def test_no_plot_contains_a_url(bg: BetaGeo) -> None:
    charts = [
        frequency_recency_matrix(bg, T_CDNOW, max_frequency=2),
        calibration_holdout_chart(by_frequency()),
        cumulative_transactions_chart(cumulative(), calibration_end=date(1997, 2, 6)),
    ]
    for chart in charts:
        parse(chart)
        assert "http" not in chart and "href" not in chart and "url(" not in chart
