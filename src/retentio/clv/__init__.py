"""Customer lifetime value end to end: fit on a summary, score customers, check on a holdout."""

from retentio.clv.fitting import ClvFit, fit_clv, fit_document
from retentio.clv.holdout import HoldoutCheck, check_holdout, cumulative_transactions
from retentio.clv.predict import PREDICTION_COLUMNS, predict_customers

__all__ = [
    "PREDICTION_COLUMNS",
    "ClvFit",
    "HoldoutCheck",
    "check_holdout",
    "cumulative_transactions",
    "fit_clv",
    "fit_document",
    "predict_customers",
]
