"""Plots of the predictive models, drawn with the report's SVG charts (no plotting library).

* :func:`frequency_recency_matrix` - expected purchases or P(alive) for each frequency and
  recency, as a heatmap; :func:`frequency_recency_table` gives the same numbers as a table;
* :func:`calibration_holdout_chart` - mean holdout purchases, actual vs predicted, per number
  of repeat purchases in the calibration period;
* :func:`cumulative_transactions_chart` - cumulative repeat transactions, actual vs predicted.

Each chart is one accessible ``<svg role="img">`` (see :mod:`retentio.reporting.svg`). The
models never import this module; it only calls their prediction methods.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date
from typing import Literal

import numpy as np
import pandas as pd
from markupsafe import Markup
from numpy.typing import NDArray

from retentio.core.errors import ConfigurationError
from retentio.core.frames import require_columns
from retentio.models.bgbb import BetaGeoBetaBinom
from retentio.models.transactions import TransactionModel
from retentio.reporting.colors import ACCENT, RETURNING_COLOR
from retentio.reporting.format import (
    format_compact,
    format_count,
    format_date,
    format_number,
    format_percent,
)
from retentio.reporting.svg import Series, _nice_step, heatmap
from retentio.reporting.svg_lines import line_chart

__all__ = [
    "ACTUAL_COLOR",
    "DEFAULT_MAX_FREQUENCY",
    "MAX_RECENCY_COLUMNS",
    "PREDICTED_COLOR",
    "calibration_holdout_chart",
    "cumulative_transactions_chart",
    "frequency_recency_matrix",
    "frequency_recency_table",
]

DEFAULT_MAX_FREQUENCY = 20
"""Rows of the frequency/recency matrix when ``max_frequency`` is not given: 0 to 20 repeat
purchases (the data are not at hand here; pass e.g. the 99th percentile of the frequencies)."""
MAX_RECENCY_COLUMNS = 40
"""At most this many recency columns: 0 to ``max_recency`` in round steps."""
ACTUAL_COLOR = RETURNING_COLOR
"""Observed values: dark blue, solid line, filled dots."""
PREDICTED_COLOR = ACCENT
"""Model predictions: the accent blue, dashed line, hollow dots (told apart without colour)."""

Kind = Literal["expected", "alive"]
_KINDS = ("expected", "alive")


# --- Frequency / recency matrix -----------------------------------------------------------


def _number(name: str, value: object, *, whole: bool) -> float:
    """``value`` as a finite number >= 0 (a whole one if ``whole``), else ConfigurationError."""
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        x = math.nan
    if isinstance(value, bool) or not math.isfinite(x) or x < 0 or (whole and x != round(x)):
        kind = "a whole number" if whole else "a finite number"
        raise ConfigurationError(f"{name} must be {kind} >= 0, got {value!r}")
    return x


def _recency_grid(max_recency: float, max_columns: int, *, whole: bool) -> NDArray[np.float64]:
    """0 to ``max_recency`` in the smallest round step (1, 2, 2.5 or 5 times a power of ten;
    a whole number for discrete time) that needs at most ``max_columns`` columns."""
    if max_recency == 0:
        return np.zeros(1)
    raw = max_recency / (max_columns - 1)
    if whole:
        step = float(max(1, math.ceil(raw)))
    else:
        step = _nice_step(raw)
    count = math.floor(max_recency / step + 1e-9) + 1
    return np.round(np.arange(count) * step, 10)


def frequency_recency_table(
    model: TransactionModel,
    T: float,
    *,
    kind: Kind = "expected",
    horizon: float = 1.0,
    max_frequency: int | None = None,
    max_recency: float | None = None,
    max_columns: int = MAX_RECENCY_COLUMNS,
) -> pd.DataFrame:
    """Expected purchases or P(alive) for every frequency and recency of customers of age T.

    Parameters
    ----------
    model
        A fitted BetaGeo, ModifiedBetaGeo or ParetoNBD (continuous time), or BetaGeoBetaBinom
        (discrete time: ``T`` is then ``n_periods`` and every number is a whole period).
    T
        The customers' age: time from their first purchase to the end of the calibration.
    kind
        ``"expected"``: ``model.expected_purchases(horizon, frequency, recency, T)``;
        ``"alive"``: ``model.probability_alive(frequency, recency, T)``.
    horizon
        The prediction horizon of ``kind="expected"``, in the unit of ``T``.
    max_frequency
        The last row (default :data:`DEFAULT_MAX_FREQUENCY`, at most ``T`` for BG/BB).
    max_recency
        The last column's upper bound (default ``T``); the columns run from 0 in round steps,
        at most ``max_columns`` of them.

    Returns
    -------
    pandas.DataFrame
        Index ``frequency`` (0, 1, ...), columns ``recency``; impossible cells are NaN:
        recency above 0 with no repeat purchase, and for BG/BB frequency above recency.
    """
    if kind not in _KINDS:
        raise ConfigurationError(f"kind must be 'expected' or 'alive', got {kind!r}")
    method = "probability_alive" if kind == "alive" else "expected_purchases"
    if not callable(getattr(model, method, None)):
        raise ConfigurationError(
            f"{type(model).__name__} has no {method}(): pass a BetaGeo, ModifiedBetaGeo, "
            "ParetoNBD or BetaGeoBetaBinom model"
        )
    discrete = isinstance(model, BetaGeoBetaBinom)
    age = _number("n_periods" if discrete else "T", T, whole=discrete)
    if not discrete and age == 0:
        raise ConfigurationError("T must be > 0 (the time from the first purchase to the end)")
    ahead = _number("horizon", horizon, whole=discrete)
    default_rows = min(DEFAULT_MAX_FREQUENCY, int(age)) if discrete else DEFAULT_MAX_FREQUENCY
    wanted = default_rows if max_frequency is None else max_frequency
    rows = int(_number("max_frequency", wanted, whole=True))
    last = _number("max_recency", age if max_recency is None else max_recency, whole=discrete)
    if last > age:
        raise ConfigurationError(f"max_recency ({last:g}) must not exceed T ({age:g})")
    if isinstance(max_columns, bool) or not isinstance(max_columns, int) or max_columns < 2:
        raise ConfigurationError(f"max_columns must be a whole number >= 2, got {max_columns!r}")
    frequencies = np.arange(rows + 1)
    recencies = _recency_grid(last, max_columns, whole=discrete)
    f, r = np.meshgrid(frequencies.astype(np.float64), recencies, indexing="ij")
    valid = (f > 0) | (r == 0)
    if discrete:
        valid &= f <= r
    values = np.full(f.shape, np.nan)
    x, t_x, big_t = f[valid], r[valid], np.full(int(valid.sum()), age)
    if x.size:
        if kind == "alive":
            values[valid] = model.probability_alive(x, t_x, big_t)
        else:
            values[valid] = model.expected_purchases(ahead, x, t_x, big_t)
    columns = recencies.astype(np.int64) if discrete else recencies
    return pd.DataFrame(
        values,
        index=pd.Index(frequencies, name="frequency"),
        columns=pd.Index(columns, name="recency"),
    )


def _plural(word: str, count: float) -> str:
    if count == 1:
        return word
    if word.endswith("y") and word[-2:-1] not in set("aeiou"):
        return word[:-1] + "ies"
    return word + "s"


def _g(value: float) -> str:
    """A short plain number: ``38.86``, ``20``, ``0.5``."""
    return f"{value:.6g}"


def frequency_recency_matrix(
    model: TransactionModel,
    T: float,
    *,
    kind: Kind = "expected",
    horizon: float = 1.0,
    max_frequency: int | None = None,
    max_recency: float | None = None,
    time_unit: str | None = None,
    uid: str = "fr-matrix",
    title: str | None = None,
) -> Markup:
    """Heatmap of :func:`frequency_recency_table`: frequency rows (top down), recency columns.

    ``time_unit`` is the singular noun of the unit of ``T`` (``"week"``); default ``"period"``
    (``"opportunity"`` for BG/BB). Each cell's tooltip holds its value; impossible cells stay
    empty. P(alive) is shaded from 0 to 100%, expected purchases from 0 to the largest value.
    """
    table = frequency_recency_table(
        model, T, kind=kind, horizon=horizon, max_frequency=max_frequency, max_recency=max_recency
    )
    discrete = isinstance(model, BetaGeoBetaBinom)
    unit = time_unit or ("opportunity" if discrete else "period")
    alive = kind == "alive"
    recencies = [float(c) for c in table.columns]
    grid = table.to_numpy(dtype=np.float64)

    in_horizon = f"in the next {_g(horizon)} {_plural(unit, horizon)}"

    def what(value: float) -> str:
        if alive:
            return f"P(alive) {value:.4f} ({format_percent(value)})"
        return f"{value:.4g} expected purchases {in_horizon}"

    titles = [
        [
            f"{f} {_plural('repeat purchase', f)}"
            + (f", the last after {_g(r)} {_plural(unit, r)}" if f else "")
            + f": {what(float(grid[i, j]))}"
            for j, r in enumerate(recencies)
        ]
        for i, f in enumerate(int(f) for f in table.index)
    ]
    name = "Probability alive" if alive else "Expected purchases"
    short = format_percent if alive else (lambda v: f"{v:.3g}")
    finite = grid[np.isfinite(grid)]
    if finite.size:
        i, j = np.unravel_index(int(np.nanargmax(grid)), grid.shape)
        spread = (
            f"from {short(float(finite.min()))} to {short(float(finite.max()))}, the highest "
            f"at {int(i)} repeat purchases and recency {_g(recencies[int(j)])}"
        )
    else:
        spread = "no values"
    desc = (
        f"{name}{'' if alive else ' ' + in_horizon} for customers aged {_g(float(T))} "
        f"{_plural(unit, float(T))}, by repeat purchases (rows, 0 to {int(table.index[-1])}) "
        f"and {_plural(unit, 2)} from the first purchase to the last (columns, 0 to "
        f"{_g(recencies[-1])}): {spread}."
    )
    return heatmap(
        [str(int(f)) for f in table.index],
        [_g(r) for r in recencies],
        grid.tolist(),
        uid=uid,
        title=title or f"{name} by frequency and recency",
        desc=desc,
        x_label=f"Recency: {_plural(unit, 2)} from the first purchase to the last",
        y_label="Frequency: repeat purchases",
        value_format=(lambda v: format_percent(v, 0)) if alive else format_compact,
        cell_titles=titles,
        vmax=1.0 if alive else None,
        key_label="P(alive)" if alive else f"Purchases in {_g(horizon)} {_plural(unit, horizon)}",
    )


# --- Calibration vs holdout and cumulative transactions -----------------------------------


def _floats(values: pd.Series) -> list[float]:
    """The column as floats, NaN where a value is missing or not a number."""
    return [float(v) for v in pd.to_numeric(values, errors="coerce").astype("float64")]


def _actual_vs_predicted(actual: list[float], predicted: list[float]) -> list[Series]:
    """The two series of the model checks: actual solid, predicted dashed."""
    return [
        Series("Actual", actual, ACTUAL_COLOR),
        Series("Predicted by the model", predicted, PREDICTED_COLOR, dashed=True),
    ]


def calibration_holdout_chart(
    by_frequency: pd.DataFrame, *, uid: str = "calibration-holdout", title: str | None = None
) -> Markup:
    """Mean holdout purchases per customer, actual vs predicted, by calibration frequency.

    ``by_frequency`` has one row per number of repeat purchases in the calibration period:
    ``frequency``, ``customers``, ``actual`` and ``predicted`` (means per customer), and an
    optional ``label`` for the axis (e.g. ``"7+"`` for a last row that holds 7 and more).
    """
    require_columns(by_frequency, ("frequency", "customers", "actual", "predicted"), "by_frequency")
    table = by_frequency.sort_values("frequency", kind="stable")
    if "label" in table.columns:
        labels = [str(v) for v in table["label"]]
    else:
        labels = [_g(v) if math.isfinite(v) else "?" for v in _floats(table["frequency"])]
    actual, predicted = _floats(table["actual"]), _floats(table["predicted"])
    customers = _floats(table["customers"])
    point_titles = [
        [
            f"{label} calibration purchases ({format_count(n)} customers): {name} "
            f"{format_number(v, 3)} holdout purchases per customer"
            for label, n, v in zip(labels, customers, values, strict=True)
        ]
        for name, values in (("actual", actual), ("predicted", predicted))
    ]
    gaps = [
        (abs(a - p), label)
        for a, p, label in zip(actual, predicted, labels, strict=True)
        if math.isfinite(a - p)
    ]
    if gaps:
        gap, at = max(gaps)
        total = sum(n for n in customers if math.isfinite(n))
        desc = (
            f"Mean purchases per customer in the holdout period, actual and predicted, for "
            f"{format_count(total)} customers by repeat purchases in the calibration period "
            f"({labels[0]} to {labels[-1]}); the largest gap is {format_number(gap, 3)} at {at}."
        )
    else:
        desc = "No customers to compare."
    return line_chart(
        labels,
        _actual_vs_predicted(actual, predicted),
        uid=uid,
        title=title or "Holdout purchases: actual vs predicted",
        desc=desc,
        x_label="Repeat purchases in the calibration period",
        y_label="Holdout purchases per customer",
        y_format=lambda v: f"{v:.3g}",
        markers=True,
        point_titles=point_titles,
    )


def _period_axis(periods: pd.Series) -> tuple[list[str], pd.DatetimeIndex | None]:
    """Labels of the periods and, when they are dates, the dates themselves."""
    if isinstance(periods.dtype, pd.PeriodDtype):
        return [str(p) for p in periods], pd.DatetimeIndex(periods.dt.to_timestamp())
    values = list(periods)
    if pd.api.types.is_datetime64_any_dtype(periods.dtype) or (
        values and all(isinstance(v, date) for v in values)
    ):
        stamps = pd.DatetimeIndex(pd.to_datetime(periods))
        return [format_date(v) for v in stamps], stamps
    return [str(v) for v in values], None


def _rule_position(
    end: object, periods: Sequence[object], labels: Sequence[str], stamps: pd.DatetimeIndex | None
) -> float:
    """Where ``end`` falls along the periods, in label units (between two dates: in between)."""
    if stamps is not None and isinstance(end, date | str):
        try:
            moment = pd.Timestamp(end)
            if stamps.tz is not None and moment.tz is None:
                moment = moment.tz_localize(stamps.tz)
            inside = len(stamps) > 0 and not stamps.hasnans and stamps[0] <= moment <= stamps[-1]
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"calibration_end {end!r} is not a date: {exc}") from None
        if not inside:
            raise ConfigurationError(
                f"calibration_end {end!r} is outside the periods "
                f"({labels[0] if labels else '-'} to {labels[-1] if labels else '-'})"
            )
        xp = stamps.asi8.astype(np.float64)
        return float(np.interp(float(moment.value), xp, np.arange(len(xp), dtype=np.float64)))
    for i, (period, label) in enumerate(zip(periods, labels, strict=True)):
        if end == period or str(end) == label:
            return float(i)
    raise ConfigurationError(f"calibration_end {end!r} is none of the periods")


def cumulative_transactions_chart(
    cumulative: pd.DataFrame,
    *,
    calibration_end: object = None,
    uid: str = "cumulative-transactions",
    title: str | None = None,
) -> Markup:
    """Cumulative repeat transactions over time, actual vs predicted.

    ``cumulative`` has the columns ``period`` (dates, pandas periods or labels), ``actual`` and
    ``predicted``. ``calibration_end`` (a date, or one of the period labels) draws a dashed
    vertical "calibration end" marker, between two periods when it falls between their dates.
    """
    require_columns(cumulative, ("period", "actual", "predicted"), "cumulative")
    table = cumulative
    labels, stamps = _period_axis(table["period"])
    if stamps is not None and not stamps.hasnans and not stamps.is_monotonic_increasing:
        order = np.argsort(stamps.asi8, kind="stable")
        table, stamps = table.iloc[order], stamps[order]
        labels = [labels[i] for i in order]
    actual, predicted = _floats(table["actual"]), _floats(table["predicted"])
    rule_at = (
        None
        if calibration_end is None
        else _rule_position(calibration_end, list(table["period"]), labels, stamps)
    )
    finite = [
        (label, a, p) for label, a, p in zip(labels, actual, predicted, strict=True)
        if math.isfinite(a) or math.isfinite(p)
    ]  # fmt: skip
    if finite:
        last_label, last_actual, last_predicted = finite[-1]
        desc = (
            f"Cumulative repeat transactions from {labels[0]} to {labels[-1]}: by {last_label}, "
            f"{format_number(last_actual, 0)} actual and "
            f"{format_number(last_predicted, 0)} predicted."
        )
        if calibration_end is not None:
            shown = format_date(calibration_end) if isinstance(calibration_end, date) else None
            desc += f" The calibration period ends at {shown or calibration_end}."
    else:
        desc = "No transactions to compare."
    return line_chart(
        labels,
        _actual_vs_predicted(actual, predicted),
        uid=uid,
        title=title or "Cumulative repeat transactions: actual vs predicted",
        desc=desc,
        x_label="Date" if stamps is not None else "Period",
        y_label="Cumulative repeat transactions",
        y_format=format_compact,
        rule_at=rule_at,
        rule_label="calibration end",
    )
