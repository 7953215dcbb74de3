"""Checks shared by the model tests: central-difference gradients and an extreme input grid."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

Floats = NDArray[np.float64]


def central_gradient(
    terms: Callable[..., tuple[Floats, Floats]], log_params: Floats, *data: Any
) -> Floats:
    """Per-row central-difference gradient of ``terms(log_params, *data)[0]``."""
    step = 1e-6
    rows = np.asarray(data[0]).size
    grad = np.empty((rows, log_params.size))
    for j in range(log_params.size):
        shift = np.zeros(log_params.size)
        shift[j] = step
        up = terms(log_params + shift, *data)[0]
        down = terms(log_params - shift, *data)[0]
        grad[:, j] = (up - down) / (2 * step)
    return grad


def extreme_grid() -> tuple[Floats, Floats, Floats]:
    """(frequency, recency, T) over frequency up to 1000, recency from 0 to T, T up to 520."""
    rows = []
    for big_t in (0.1, 1.0, 39.0, 520.0):
        for x in (0, 1, 10, 100, 1000):
            for share in (0.0, 0.001, 0.5, 1.0):
                rows.append((x, 0.0 if x == 0 else share * big_t, big_t))
    grid = np.array(rows, dtype=np.float64)
    return grid[:, 0], grid[:, 1], grid[:, 2]
