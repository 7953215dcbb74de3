"""The report's "Predictions" section: BG/NBD and Gamma-Gamma fitted on the data.

It answers "who is about to lapse and what is each customer worth": customers and 12-month
CLV by churn-risk band, P(alive) over frequency and recency, and, when the history is long
enough, how well the model predicted a held-out last half year. A fit that fails is reported
in the section instead of failing the report.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pandas as pd

from retentio.analytics import summarize
from retentio.clv import check_holdout, fit_clv, predict_customers
from retentio.core.errors import ConfigurationError, ConvergenceError, DataError
from retentio.reporting.colors import RETURNING_COLOR
from retentio.reporting.format import (
    format_compact,
    format_count,
    format_money,
    format_number,
    format_percent,
)
from retentio.reporting.plots import (
    calibration_holdout_chart,
    cumulative_transactions_chart,
    frequency_recency_matrix,
)
from retentio.reporting.svg import bar_chart

__all__ = ["HOLDOUT", "HORIZON", "predictions_section"]

HORIZON = "12M"
"""The horizon of the section's expected purchases and CLV (monthly discount 1%)."""
HOLDOUT = "26W"
"""The held-out end of the history in the model check, done when the data span a year."""
_DISCOUNT = 0.01
_MIN_HISTORY = timedelta(days=365)
_MATRIX_FREQUENCY = 99  # percentile of the frequencies that bounds the matrix's rows
_NO_CHECK: dict[str, Any] = {
    "calibration_end": "",
    "check_facts": [],
    "by_frequency": "",
    "cumulative": "",
}


def predictions_section(tx: object, end: date, currency: str | None) -> dict[str, Any]:
    """Template data of the section; ``{"error": message}`` when the models cannot be fitted."""
    summary = summarize(tx, observation_end=end, time_unit="W")
    try:
        fit = fit_clv(summary, observation_end=end, time_unit="W")
        scored = predict_customers(
            summary, fit, horizon=HORIZON, discount_rate=_DISCOUNT, next_purchase=False
        )
    except (ConvergenceError, DataError) as exc:
        return {"error": str(exc)}
    model = fit.transaction
    spend = fit.spend.params if fit.spend is not None else {}
    oldest = float(summary["T"].max())  # weeks; > 0, as the fit needs a repeat buyer
    top = int(summary.loc[summary["T"] > 0, "frequency"].quantile(_MATRIX_FREQUENCY / 100))
    risk_customers, risk_value = _risk_charts(scored, currency)
    return {
        "error": "",
        "facts": _facts(scored, currency),
        "risk_customers": risk_customers,
        "risk_value": risk_value,
        "params": ", ".join(f"{k} = {v:.3g}" for k, v in model.params.items()),
        "spend_params": ", ".join(f"{k} = {v:.3g}" for k, v in spend.items()),
        "matrix": frequency_recency_matrix(
            model,  # type: ignore[arg-type]
            float(round(oldest, 1)),
            kind="alive",
            max_frequency=max(top, 1),
            time_unit="week",
            uid="alive-matrix",
            title="P(alive) by repeat purchases and weeks to the last one (longest customers)",
        ),
        **_holdout_check(tx, end, oldest),
    }


def _facts(scored: pd.DataFrame, currency: str | None) -> list[tuple[str, str]]:
    at_risk = scored["risk_band"].isin(["high", "critical"])
    return [
        ("Customers scored", format_count(len(scored))),
        (
            "Expected purchases, next 12 months",
            format_number(scored["expected_purchases"].sum(), 0),
        ),
        ("Mean P(alive)", format_percent(scored["p_alive"].mean())),
        ("High or critical churn risk", format_count(int(at_risk.sum()))),
        (
            "Predicted CLV, next 12 months",
            format_money(scored["clv"].sum(), currency, compact=True),
        ),
    ]


def _risk_charts(scored: pd.DataFrame, currency: str | None) -> tuple[Any, Any]:
    groups = scored.groupby("risk_band", observed=False)
    sizes = groups.size()
    bands = [str(b) for b in sizes.index]
    counts = [int(n) for n in sizes]
    value = [float(v) for v in groups["clv"].sum()]
    share = [n / max(len(scored), 1) for n in counts]
    customers = bar_chart(
        bands,
        counts,
        uid="risk-customers",
        title="Customers per churn-risk band",
        desc="; ".join(f"{b}: {format_count(n)}" for b, n in zip(bands, counts, strict=True)),
        x_label="Customers",
        value_format=format_compact,
        value_labels=[
            f"{format_count(n)} \u00b7 {format_percent(s)}"
            for n, s in zip(counts, share, strict=True)
        ],
    )
    worth = bar_chart(
        bands,
        value,
        uid="risk-value",
        title="Predicted 12-month CLV per churn-risk band",
        desc="; ".join(
            f"{b}: {format_money(v, currency, compact=True)}"
            for b, v in zip(bands, value, strict=True)
        ),
        x_label=f"CLV ({currency})" if currency else "CLV",
        value_format=format_compact,
        color=RETURNING_COLOR,
    )
    return customers, worth


def _holdout_check(tx: object, end: date, history_weeks: float) -> dict[str, Any]:
    """Charts of the BG/NBD holdout check, or the reason it was not done."""
    if timedelta(weeks=history_weeks) < _MIN_HISTORY:
        return {"check_note": "The history is shorter than a year: no holdout check.", **_NO_CHECK}
    try:
        check = check_holdout(tx, observation_end=end, holdout=HOLDOUT, models=("bgnbd",))
    except (ConfigurationError, ConvergenceError, DataError) as exc:
        # ConfigurationError: the fixed holdout does not suit these data (e.g. no repeat
        # purchase before it); the report chose the holdout, so it is reported, not raised.
        return {"check_note": f"The holdout check failed: {exc}", **_NO_CHECK}
    result = check.selection.evaluations["bgnbd"]
    return {
        "check_note": "",
        "calibration_end": check.calibration_end.isoformat(),
        "check_facts": [
            ("Actual holdout purchases", format_count(int(result.actual_total))),
            ("Predicted", format_number(result.predicted_total, 0)),
            ("Error per customer (MAE)", format_number(result.mae, 2)),
        ],
        "by_frequency": calibration_holdout_chart(result.by_frequency, uid="holdout-by-frequency"),
        "cumulative": cumulative_transactions_chart(
            check.cumulative, calibration_end=check.calibration_end, uid="holdout-cumulative"
        ),
    }
