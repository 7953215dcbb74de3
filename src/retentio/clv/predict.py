"""Score every customer: expected purchases, P(alive), churn risk, spend, CLV, next purchase."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from retentio.clv.fitting import ClvFit, scoring_summary, spend_inputs
from retentio.core.frames import require_columns
from retentio.models.base import FloatArray
from retentio.models.horizon import Horizon, parse_horizon, unit_days
from retentio.models.risk import RISK_BANDS, churn_risk, risk_band
from retentio.models.transactions import TransactionModel, time_to_next_purchase, unique_rows
from retentio.models.value import discounted_purchases

__all__ = ["PREDICTION_COLUMNS", "predict_customers"]

#: The columns of :func:`predict_customers` after the customer's summary.
PREDICTION_COLUMNS = (
    "expected_purchases",
    "p_alive",
    "churn_risk",
    "risk_band",
    "expected_spend",
    "clv",
    "next_purchase_date",
)
#: The furthest a next purchase date is searched for, in days (ten years).
_NEXT_PURCHASE_DAYS = 3652.5


def predict_customers(
    summary: pd.DataFrame,
    fit: ClvFit,
    *,
    horizon: Horizon | str | int | float = "12M",
    discount_rate: float = 0.01,
    next_purchase: bool = True,
) -> pd.DataFrame:
    """Per-customer predictions over ``horizon`` from a :class:`ClvFit`.

    Parameters
    ----------
    summary
        A :func:`retentio.summarize` table in the fit's time unit.
    fit
        The fitted models (:func:`retentio.clv.fit_clv`).
    horizon
        ``"12M"``, ``"26W"``, ``"90D"``, ``"1Y"`` or a number of months.
    discount_rate
        CLV's discount rate per step of the horizon (per month for ``"12M"``).
    next_purchase
        Whether to search each customer's next purchase date (the slowest column: about a
        second for a million customers); without it the column is left out.

    Returns
    -------
    pandas.DataFrame
        The summary's columns, then ``expected_purchases`` (over the horizon), ``p_alive``,
        ``churn_risk`` (1 - p_alive), ``risk_band`` (low, medium, high, critical; see
        :mod:`retentio.models.risk`), ``expected_spend`` and ``clv`` (empty without a spend
        model; customers whose repeat purchases were refunded get the mean spend) and
        ``next_purchase_date`` (the day by which the expected purchase count reaches 1; empty
        when it stays below 1 for ten years).
    """
    span = parse_horizon(horizon)
    require_columns(summary, ("frequency", "recency", "T"))
    model: TransactionModel = fit.transaction  # type: ignore[assignment]
    scored = scoring_summary(summary, fit)
    x, t_x, big_t = (scored[c].to_numpy(dtype=np.float64) for c in ("frequency", "recency", "T"))
    days_per_unit = unit_days(fit.time_unit)
    t = span.days / days_per_unit
    if fit.transaction.discrete:
        t = float(round(t))
    result = summary.copy()
    alive = model.probability_alive(x, t_x, big_t)
    (ux, uT), inverse = unique_rows(x, big_t)  # E[X(t)] = P(alive) E[X(t) | alive, x, T]
    result["expected_purchases"] = alive * model.expected_purchases_if_alive(t, ux, uT)[inverse]
    result["p_alive"] = alive
    risk = churn_risk(np.clip(alive, 0.0, 1.0))
    result["churn_risk"] = risk
    result["risk_band"] = pd.Categorical(
        risk_band(risk), categories=[name for name, _ in RISK_BANDS], ordered=True
    )
    if fit.spend is not None and "monetary_value" in summary.columns:
        spend = fit.spend.expected_spend(*spend_inputs(summary))
        result["expected_spend"] = spend
        purchases = discounted_purchases(
            model, scored, span, discount_rate, fit.time_unit, probability_alive=alive
        )
        result["clv"] = purchases * spend
    else:
        result["expected_spend"] = math.nan
        result["clv"] = math.nan
    if not next_purchase:
        return result
    wait = time_to_next_purchase(
        model,
        x,
        t_x,
        big_t,
        max_horizon=_NEXT_PURCHASE_DAYS / days_per_unit,
        precision=0.25 / days_per_unit,  # a quarter of a day: dates are whole days
    )
    result["next_purchase_date"] = _dates(fit, wait * days_per_unit).astype("datetime64[s]")
    return result


def _dates(fit: ClvFit, days: FloatArray) -> NDArray[np.datetime64]:
    """``observation_end`` plus ``days`` rounded up to whole days; NaT where ``days`` is NaN."""
    start = np.datetime64(fit.observation_end, "D")
    with np.errstate(invalid="ignore"):
        offsets = np.where(np.isnan(days), 0, np.ceil(days)).astype("int64")
    dates = start + offsets.astype("timedelta64[D]")
    return np.where(np.isnan(days), np.datetime64("NaT"), dates)
