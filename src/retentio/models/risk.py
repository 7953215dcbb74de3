"""Churn risk: 1 - P(alive), and the named bands a marketer acts on.

The bands (upper bounds exclusive, the last inclusive of 1):

========= ===================
band      churn risk
========= ===================
low       [0, 0.25)
medium    [0.25, 0.5)
high      [0.5, 0.75)
critical  [0.75, 1]
========= ===================

They are probabilities, not ranks: with a healthy customer base most customers may be "low".
Under BG/NBD a customer with no repeat purchase has P(alive) = 1 by construction (they can only
drop out after a repeat purchase), so their risk is 0; MBG/NBD and Pareto/NBD do not have this
property, which is one reason to compare models with :func:`retentio.models.select`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from retentio.core.errors import ConfigurationError, DataError
from retentio.models.base import FloatArray, as_array

__all__ = ["RISK_BANDS", "churn_risk", "risk_band"]

#: (band, upper bound of its churn risk); the last bound is 1 and includes 1.
RISK_BANDS: tuple[tuple[str, float], ...] = (
    ("low", 0.25),
    ("medium", 0.5),
    ("high", 0.75),
    ("critical", 1.0),
)


def churn_risk(probability_alive: ArrayLike) -> FloatArray:
    """1 - P(alive), checked to be a probability."""
    alive = as_array(probability_alive, "probability_alive")
    if np.any((alive < 0) | (alive > 1)):
        raise DataError("probability_alive must lie between 0 and 1")
    return np.asarray(1.0 - alive, dtype=np.float64)


def risk_band(
    risk: ArrayLike, bands: Sequence[tuple[str, float]] = RISK_BANDS
) -> NDArray[np.object_]:
    """The band name of each churn risk; ``bands`` are (name, upper bound) pairs ending at 1."""
    values = as_array(risk, "risk")
    if np.any((values < 0) | (values > 1)):
        raise DataError("risk must lie between 0 and 1")
    names = [name for name, _ in bands]
    bounds = np.array([bound for _, bound in bands], dtype=np.float64)
    if not bands or bounds[-1] != 1.0 or np.any(np.diff(bounds) <= 0) or bounds[0] <= 0:
        raise ConfigurationError("bands must have increasing upper bounds in (0, 1], ending at 1")
    index = np.minimum(np.searchsorted(bounds, values, side="right"), len(bands) - 1)
    return np.asarray(np.array(names, dtype=object)[index], dtype=np.object_)
