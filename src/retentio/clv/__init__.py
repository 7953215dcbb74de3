"""Customer lifetime value end to end: fit on a summary, score customers, check on a holdout;
and the sBG projection of subscription cohorts."""

from retentio.clv.cohorts import COHORT_COLUMNS, CURVE_COLUMNS, CohortProjection, project_cohorts
from retentio.clv.fitting import ClvFit, fit_clv, fit_document
from retentio.clv.holdout import HoldoutCheck, check_holdout, cumulative_transactions
from retentio.clv.predict import PREDICTION_COLUMNS, predict_customers
from retentio.clv.scores import SCORE_COLUMNS, Scores, compute_scores

__all__ = [
    "COHORT_COLUMNS",
    "CURVE_COLUMNS",
    "PREDICTION_COLUMNS",
    "SCORE_COLUMNS",
    "ClvFit",
    "CohortProjection",
    "HoldoutCheck",
    "Scores",
    "check_holdout",
    "compute_scores",
    "cumulative_transactions",
    "fit_clv",
    "fit_document",
    "predict_customers",
    "project_cohorts",
]
