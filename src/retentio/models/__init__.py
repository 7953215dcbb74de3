"""Probability models of customer behaviour: BTYD transactions, spend and retention.

One module per model on the small base class :class:`Model`; predictions take arrays and return
arrays. Around them: CLV (:func:`customer_lifetime_value`), churn-risk bands, the expected time
to the next purchase, holdout evaluation and model choice (:func:`evaluate`, :func:`select`) and
exact simulators (:mod:`retentio.models.simulate`).
"""

from retentio.models import simulate  # noqa: F401  (retentio.models.simulate, a module)
from retentio.models.base import Model
from retentio.models.betageo import BetaGeo
from retentio.models.bgbb import BetaGeoBetaBinom
from retentio.models.catalog import MODEL_KEYS, new_transaction_model
from retentio.models.evaluation import Evaluation, Selection, evaluate, select
from retentio.models.gammagamma import GammaGamma
from retentio.models.horizon import Horizon, parse_horizon
from retentio.models.modbetageo import ModifiedBetaGeo
from retentio.models.pareto import ParetoNBD
from retentio.models.risk import RISK_BANDS, churn_risk, risk_band
from retentio.models.sbg import ShiftedBetaGeometric
from retentio.models.transactions import TransactionModel, time_to_next_purchase
from retentio.models.value import customer_lifetime_value

__all__ = [
    "MODEL_KEYS",
    "RISK_BANDS",
    "BetaGeo",
    "BetaGeoBetaBinom",
    "Evaluation",
    "GammaGamma",
    "Horizon",
    "Model",
    "ModifiedBetaGeo",
    "ParetoNBD",
    "Selection",
    "ShiftedBetaGeometric",
    "TransactionModel",
    "churn_risk",
    "customer_lifetime_value",
    "evaluate",
    "new_transaction_model",
    "parse_horizon",
    "risk_band",
    "select",
    "time_to_next_purchase",
]
