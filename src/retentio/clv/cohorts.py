"""The sBG projection of subscription cohorts: each start-month cohort's survival counts
(:func:`retentio.analytics.cohort_survival`) fitted with the shifted-beta-geometric model
(:class:`retentio.models.ShiftedBetaGeometric`, Fader & Hardie 2007), projected forward, with
the expected lifetime the fit implies. Pure: tables in, tables out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from retentio.core.errors import ConfigurationError, ConvergenceError, DataError
from retentio.core.frames import require_columns
from retentio.models.sbg import ShiftedBetaGeometric

__all__ = [
    "COHORT_COLUMNS",
    "CURVE_COLUMNS",
    "MIN_PERIODS",
    "CohortProjection",
    "project_cohorts",
]

#: The fewest periods a cohort is fitted on: over one period every (alpha, beta) with the same
#: alpha / (alpha + beta) fits as well as the next.
MIN_PERIODS = 2
#: The columns of :attr:`CohortProjection.cohorts`.
COHORT_COLUMNS = (
    "cohort",
    "subscriptions",
    "periods_observed",
    "fitted",
    "note",
    "alpha",
    "beta",
    "next_retention",
    "expected_lifetime",
    "capped_lifetime",
)
#: The columns of :attr:`CohortProjection.curves`.
CURVE_COLUMNS = ("cohort", "period", "observed", "projected")


@dataclass(frozen=True)
class CohortProjection:
    """What :func:`project_cohorts` found: one row per cohort, and the curves."""

    cohorts: pd.DataFrame
    curves: pd.DataFrame
    horizon: int
    cap: int


def _fit(active: np.ndarray) -> tuple[ShiftedBetaGeometric | None, str]:
    """The model fitted on one cohort's counts, or None and why not."""
    if active.size < MIN_PERIODS + 1:
        return None, f"fewer than {MIN_PERIODS} periods observed"
    if active[-1] == active[0]:
        return None, "no cancellation yet"
    try:
        return ShiftedBetaGeometric().fit(active), ""
    except (DataError, ConvergenceError):
        return None, "the counts do not pin the parameters down"


def project_cohorts(
    survival: pd.DataFrame, *, horizon: int = 12, cap: int = 60
) -> CohortProjection:
    """Fit the sBG model on each cohort's survival counts and project them.

    Parameters
    ----------
    survival
        Survival counts by cohort and period (``cohort``, ``period``, ``active``), as
        :func:`retentio.analytics.cohort_survival` gives them: periods 0 to n of each cohort,
        ``active`` not rising.
    horizon
        Periods projected past the last one observed.
    cap
        The periods of ``capped_lifetime``.

    Returns
    -------
    CohortProjection
        ``cohorts``, one row per cohort (:data:`COHORT_COLUMNS`): ``subscriptions`` (period
        0's count), ``periods_observed`` (n), ``fitted``, ``note`` (why a cohort was not fitted:
        fewer than :data:`MIN_PERIODS` periods observed, no cancellation yet, or counts that
        leave the two parameters undetermined),
        ``alpha`` and ``beta`` of the beta distribution of the per-period cancellation
        probability; ``next_retention``: the share of those live after n periods expected to
        stay for period n + 1 (r(n+1) = (beta + n) / (alpha + beta + n)); ``expected_lifetime``:
        E[T] = (alpha + beta - 1) / (alpha - 1) periods, counting the first, infinite when
        alpha <= 1 (the most loyal never leave); ``capped_lifetime``: the expected periods
        within the first ``cap`` (sum of S(t), t < cap), always finite. NaN when not fitted.
        ``curves`` (:data:`CURVE_COLUMNS`): per cohort and period 0 to n + ``horizon``, the
        ``observed`` share (NaN past n) and the ``projected`` one, S(t) = B(alpha, beta + t)
        / B(alpha, beta) (NaN when not fitted).
    """
    if horizon < 0 or cap < 1:
        raise ConfigurationError(f"horizon: 0 or more, cap: 1 or more; got {horizon}, {cap}")
    require_columns(survival, ("cohort", "period", "active"), "survival")
    summaries: list[dict[str, object]] = []
    curves: list[pd.DataFrame] = []
    ordered = survival.sort_values(["cohort", "period"], kind="stable")
    for cohort, rows in ordered.groupby("cohort", sort=True):
        active = rows["active"].to_numpy(dtype=np.float64)
        if not np.array_equal(rows["period"].to_numpy(), np.arange(active.size)):
            raise DataError(f"survival: cohort {cohort}'s periods are not 0, 1, 2, ...")
        model, note = _fit(active)
        observed = active.size - 1
        periods = np.arange(observed + horizon + 1)
        shares = np.full(periods.size, math.nan)
        shares[: active.size] = active / active[0]
        projected = np.full(periods.size, math.nan)
        found = dict.fromkeys(
            ("alpha", "beta", "next_retention", "expected_lifetime", "capped_lifetime"),
            math.nan,
        )
        if model is not None:
            projected = model.survival(periods)
            found = {
                "alpha": model.params["alpha"],
                "beta": model.params["beta"],
                "next_retention": float(model.retention_rate([observed + 1])[0]),
                "expected_lifetime": 1.0 + float(model.expected_remaining_lifetime([0], 0.0)[0]),
                "capped_lifetime": float(model.survival(np.arange(cap)).sum()),
            }
        summaries.append(
            {
                "cohort": cohort,
                "subscriptions": int(active[0]),
                "periods_observed": observed,
                "fitted": model is not None,
                "note": note,
                **found,
            }
        )
        curves.append(
            pd.DataFrame(
                {"cohort": cohort, "period": periods, "observed": shares, "projected": projected}
            )
        )
    table = pd.DataFrame(summaries, columns=list(COHORT_COLUMNS))
    lines = (
        pd.concat(curves, ignore_index=True)
        if curves
        else pd.DataFrame({c: [] for c in CURVE_COLUMNS})
    )
    return CohortProjection(
        cohorts=table.astype({"subscriptions": "int64", "periods_observed": "int64"}),
        curves=lines.astype({"period": "int64", "observed": "float64", "projected": "float64"}),
        horizon=horizon,
        cap=cap,
    )
