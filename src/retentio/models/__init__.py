"""Probability models of customer behaviour: BTYD transactions and spend."""

from retentio.models.base import Model
from retentio.models.betageo import BetaGeo
from retentio.models.gammagamma import GammaGamma

__all__ = ["BetaGeo", "GammaGamma", "Model"]
