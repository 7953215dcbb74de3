"""Probability models of customer behaviour: BTYD transactions and spend."""

from retentio.models.base import Model
from retentio.models.betageo import BetaGeo
from retentio.models.bgbb import BetaGeoBetaBinom
from retentio.models.gammagamma import GammaGamma
from retentio.models.modbetageo import ModifiedBetaGeo
from retentio.models.pareto import ParetoNBD
from retentio.models.sbg import ShiftedBetaGeometric

__all__ = [
    "BetaGeo",
    "BetaGeoBetaBinom",
    "GammaGamma",
    "Model",
    "ModifiedBetaGeo",
    "ParetoNBD",
    "ShiftedBetaGeometric",
]
