"""Choose and check a transaction model on real transactions: a calibration/holdout split.

The last ``holdout`` of the history is held out; each model is fitted on the calibration
summary, predicts the holdout, and is compared with what the customers did: per customer, by
calibration frequency, and as cumulative repeat purchases over time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from retentio.analytics import calibration_holdout, purchase_timeline
from retentio.core.errors import ConfigurationError, EmptyDataError
from retentio.models.base import Model
from retentio.models.catalog import CONTINUOUS_MODELS
from retentio.models.evaluation import Selection, select
from retentio.models.horizon import Horizon, parse_horizon, unit_days
from retentio.models.transactions import TransactionModel

__all__ = ["HoldoutCheck", "check_holdout", "cumulative_transactions"]


@dataclass(frozen=True)
class HoldoutCheck:
    """The model comparison and, for the best model, the cumulative purchases over time."""

    selection: Selection
    calibration_end: date
    observation_end: date
    time_unit: str
    cumulative: pd.DataFrame


def cumulative_transactions(
    model: Model, timeline: pd.DataFrame, *, days_per_period: float, time_unit: str = "D"
) -> pd.DataFrame:
    """Actual and expected cumulative repeat purchases, period by period.

    ``timeline`` is :func:`retentio.purchase_timeline`'s table. A customer acquired in period
    b is expected to have made E[X(t - b)] repeat purchases by the end of period t (the model's
    new-customer expectation), so the expected total is the convolution of the acquisitions
    with that curve.

    Returns
    -------
    pandas.DataFrame
        ``period``, ``actual`` and ``predicted`` cumulative repeat purchases.
    """
    predictor: TransactionModel = model  # type: ignore[assignment]
    ages = np.arange(len(timeline), dtype=np.float64) * days_per_period / unit_days(time_unit)
    if model.discrete:
        ages = np.round(ages)
    curve = predictor.expected_purchases_new_customer(ages)
    births = timeline["new_customers"].to_numpy(dtype=np.float64)
    predicted = np.convolve(births, curve)[: len(timeline)]
    actual = np.cumsum(timeline["repeat_purchases"].to_numpy(dtype=np.float64))
    return pd.DataFrame({"period": timeline["period"], "actual": actual, "predicted": predicted})


def check_holdout(
    transactions: object,
    *,
    observation_end: date,
    holdout: Horizon | str = "26W",
    time_unit: str = "D",
    models: Sequence[str] = CONTINUOUS_MODELS,
    criterion: str = "rmse",
    penalizer: float = 0.0,
) -> HoldoutCheck:
    """Hold out the last ``holdout`` before ``observation_end``, compare ``models`` on it.

    ``time_unit`` (D or W) is the unit of the summaries' ``recency`` and ``T``; purchases are
    grouped by day as in :func:`retentio.summarize`.
    """
    span = parse_horizon(holdout, "holdout")
    unit = time_unit.upper()
    if unit not in ("D", "W"):
        raise ConfigurationError("time_unit must be D or W for a holdout check")
    calibration_end = observation_end - timedelta(days=round(span.days))
    try:
        split = calibration_holdout(
            transactions,
            calibration_end=calibration_end,
            observation_end=observation_end,
            time_unit=unit,
        )
    except EmptyDataError:
        raise ConfigurationError(
            f"a holdout of {span} leaves no history to fit on: the calibration period would "
            f"end on {calibration_end}, before the first purchase; choose a shorter holdout"
        ) from None
    # Customers acquired on the calibration end day (T_cal = 0) tell the models nothing.
    split = split[split["T_cal"] > 0].reset_index(drop=True)
    if not split["frequency_cal"].gt(0).any():
        raise ConfigurationError(
            f"no customer made a repeat purchase before {calibration_end}: choose a shorter holdout"
        )
    selection = select(split, models=models, criterion=criterion, penalizer=penalizer)
    timeline = purchase_timeline(
        transactions, calibration_end=calibration_end, observation_end=observation_end
    )
    cumulative = cumulative_transactions(
        selection.models[selection.best], timeline, days_per_period=1.0, time_unit=unit
    )
    return HoldoutCheck(selection, calibration_end, observation_end, unit, cumulative)
