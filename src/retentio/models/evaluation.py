"""Calibration/holdout evaluation of transaction models, and choosing between them.

A model is fitted on the calibration summary and predicts each customer's purchases over the
holdout; the predictions are compared with what the customers then did: per customer (MAE,
RMSE), in total, and by calibration frequency (the classic "conditional expectations" check of
Fader, Hardie & Lee 2005, figure 4). The calibration log-likelihood and BIC are reported too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from retentio.core.errors import ConfigurationError, ConvergenceError, DataError, SchemaError
from retentio.models.base import FloatArray, Model, as_array, check_frequency
from retentio.models.catalog import CONTINUOUS_MODELS, new_transaction_model

__all__ = ["Evaluation", "Selection", "evaluate", "select"]

_CRITERIA = ("rmse", "mae", "bic", "log_likelihood")


@dataclass(frozen=True)
class Evaluation:
    """How well one fitted model predicted the holdout."""

    model: str
    n_customers: int
    log_likelihood: float
    bic: float
    mae: float
    rmse: float
    actual_total: float
    predicted_total: float
    duration: float
    by_frequency: pd.DataFrame = field(repr=False)

    def metrics(self) -> dict[str, Any]:
        """The scalar results as a JSON-ready dict."""
        return {
            "model": self.model,
            "n_customers": self.n_customers,
            "log_likelihood": self.log_likelihood,
            "bic": self.bic,
            "mae": self.mae,
            "rmse": self.rmse,
            "actual_total": self.actual_total,
            "predicted_total": self.predicted_total,
            "duration": self.duration,
        }


@dataclass(frozen=True)
class Selection:
    """The result of :func:`select`: the best model's key, the comparison table and the fits."""

    best: str
    criterion: str
    table: pd.DataFrame
    models: dict[str, Model]
    evaluations: dict[str, Evaluation]


def _column(frame: pd.DataFrame, *names: str) -> str | None:
    return next((name for name in names if name in frame.columns), None)


def _calibration(summary_cal: pd.DataFrame, discrete: bool) -> tuple[FloatArray, ...]:
    periods = ("n_periods", "T_cal", "T") if discrete else ("T_cal", "T")
    names = [
        _column(summary_cal, "frequency_cal", "frequency"),
        _column(summary_cal, "recency_cal", "recency"),
        _column(summary_cal, *periods),
    ]
    if any(name is None for name in names):
        raise SchemaError(
            "summary_cal needs the columns frequency, recency and T (or frequency_cal, "
            "recency_cal and T_cal, as retentio.calibration_holdout returns); it has "
            + ", ".join(map(str, summary_cal.columns))
        )
    return tuple(as_array(summary_cal[str(name)], str(name)) for name in names)


def _holdout(
    summary_cal: pd.DataFrame,
    holdout: pd.DataFrame | pd.Series | ArrayLike | None,
    duration: float | None,
) -> tuple[FloatArray, float]:
    """Holdout purchase counts aligned with ``summary_cal`` and the holdout's length."""
    source: Any = summary_cal if holdout is None else holdout
    if isinstance(source, pd.DataFrame):
        count_column = _column(source, "frequency_holdout", "frequency")
        if count_column is None:
            raise SchemaError("holdout needs a frequency_holdout (or frequency) column")
        if duration is None and "duration_holdout" in source.columns:
            duration = float(source["duration_holdout"].iloc[0]) if len(source) else None
        both_keyed = "customer_id" in source.columns and "customer_id" in summary_cal.columns
        if both_keyed and source is not summary_cal:
            counts = source.set_index("customer_id")[count_column]
            source = counts.reindex(summary_cal["customer_id"]).fillna(0.0)
        else:
            source = source[count_column]
    actual = as_array(source, "holdout")
    check_frequency(actual, "holdout purchases")
    if actual.size != len(summary_cal):
        raise DataError(
            f"holdout has {actual.size} rows for {len(summary_cal)} calibration customers"
        )
    if duration is None:
        raise ConfigurationError("duration (the holdout's length in the summary's unit) is needed")
    if not (math.isfinite(duration) and duration > 0):
        raise ConfigurationError(f"duration must be a number > 0, got {duration}")
    return actual, float(duration)


def _by_frequency(
    x: FloatArray, actual: FloatArray, predicted: FloatArray, max_frequency: int
) -> pd.DataFrame:
    bucket = np.minimum(x, max_frequency).astype(np.int64)
    frame = pd.DataFrame({"frequency": bucket, "actual": actual, "predicted": predicted})
    grouped = frame.groupby("frequency", sort=True).agg(
        customers=("actual", "size"), actual=("actual", "mean"), predicted=("predicted", "mean")
    )
    grouped = grouped.reset_index()
    capped = bool(np.any(x > max_frequency))
    grouped.insert(
        1,
        "label",
        [
            f"{f}+" if capped and f == max_frequency else str(f)
            for f in grouped["frequency"].tolist()
        ],
    )
    return grouped


def evaluate(
    model: Model,
    summary_cal: pd.DataFrame,
    holdout: pd.DataFrame | pd.Series | ArrayLike | None = None,
    *,
    duration: float | None = None,
    max_frequency: int = 7,
) -> Evaluation:
    """Compare a fitted transaction model's holdout predictions with what happened.

    Parameters
    ----------
    model
        A transaction model fitted on ``summary_cal``.
    summary_cal
        The calibration summary: ``frequency, recency, T`` or the ``*_cal`` columns of
        :func:`retentio.calibration_holdout` (``n_periods`` for BG/BB).
    holdout
        The holdout purchases per customer: a DataFrame with ``frequency_holdout`` (and
        ``duration_holdout``), matched on ``customer_id`` when both tables have it, or an array
        in the order of ``summary_cal``; ``None`` reads them from ``summary_cal``.
    duration
        The holdout's length in the unit of ``T``; read from ``duration_holdout`` if absent.
    max_frequency
        Calibration frequencies above it are pooled into one "N+" row of ``by_frequency``.

    Returns
    -------
    Evaluation
        ``mae`` and ``rmse`` of the per-customer predictions, totals, the calibration
        ``log_likelihood`` and ``bic`` (k ln n - 2 LL), and ``by_frequency``: the mean actual
        and predicted holdout purchases by calibration frequency.
    """
    discrete = model.discrete
    x, t_x, big_t = _calibration(summary_cal, discrete)
    actual, span = _holdout(summary_cal, holdout, duration)
    if discrete and span != round(span):
        raise ConfigurationError("BG/BB needs a holdout of whole periods")
    predicted = model.expected_purchases(span, x, t_x, big_t)  # type: ignore[attr-defined]
    errors = predicted - actual
    log_likelihood = model.log_likelihood
    n = max(len(summary_cal), 1)
    return Evaluation(
        model=model.name,
        n_customers=len(summary_cal),
        log_likelihood=log_likelihood,
        bic=len(model.param_names) * math.log(n) - 2 * log_likelihood,
        mae=float(np.mean(np.abs(errors))) if errors.size else math.nan,
        rmse=float(np.sqrt(np.mean(errors**2))) if errors.size else math.nan,
        actual_total=float(actual.sum()),
        predicted_total=float(np.sum(predicted)),
        duration=span,
        by_frequency=_by_frequency(x, actual, predicted, max_frequency),
    )


def select(
    summary_cal: pd.DataFrame,
    holdout: pd.DataFrame | pd.Series | ArrayLike | None = None,
    *,
    duration: float | None = None,
    models: Sequence[str] = CONTINUOUS_MODELS,
    criterion: str = "rmse",
    penalizer: float = 0.0,
) -> Selection:
    """Fit each model on the calibration period and report which predicts the holdout best.

    Compares BG/NBD, MBG/NBD and Pareto/NBD by default (``models`` takes the keys bgnbd,
    mbgnbd, pareto and bgbb). ``criterion`` ranks them: ``rmse`` (default) or ``mae`` of the
    per-customer holdout predictions, ``bic`` or ``log_likelihood`` of the calibration fit. A
    model that fails to converge is listed with its error and not chosen.

    Returns
    -------
    Selection
        ``best`` (the winning key), ``table`` (one row per model, best first: model, rmse, mae,
        predicted_total, actual_total, log_likelihood, bic, error), the fitted ``models`` and
        their ``evaluations``.
    """
    if criterion not in _CRITERIA:
        raise ConfigurationError(f"criterion must be one of {', '.join(_CRITERIA)}")
    if not models:
        raise ConfigurationError("models must name at least one model")
    fitted: dict[str, Model] = {}
    evaluations: dict[str, Evaluation] = {}
    rows: list[dict[str, Any]] = []
    for key in models:
        model = new_transaction_model(key, penalizer)
        x, t_x, big_t = _calibration(summary_cal, model.discrete)
        try:
            model.fit(x, t_x, big_t)  # type: ignore[attr-defined]
        except ConvergenceError as exc:
            rows.append({"model": key, "error": str(exc)})
            continue
        result = evaluate(model, summary_cal, holdout, duration=duration)
        fitted[key], evaluations[key] = model, result
        metrics = result.metrics()
        rows.append({"model": key, **{k: metrics[k] for k in _TABLE_METRICS}, "error": ""})
    if not fitted:
        raise ConvergenceError("no model could be fitted: " + "; ".join(r["error"] for r in rows))
    table = pd.DataFrame(rows, columns=["model", *_TABLE_METRICS, "error"])
    ascending = criterion != "log_likelihood"
    table = table.sort_values(criterion, ascending=ascending, na_position="last", kind="stable")
    table = table.reset_index(drop=True)
    return Selection(
        best=str(table["model"].iloc[0]),
        criterion=criterion,
        table=table,
        models=fitted,
        evaluations=evaluations,
    )


_TABLE_METRICS = ("rmse", "mae", "predicted_total", "actual_total", "log_likelihood", "bic")
