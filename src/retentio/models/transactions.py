"""What every transaction model offers, and the expected time to a customer's next purchase."""

from __future__ import annotations

from typing import Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

from retentio.core.errors import ConfigurationError
from retentio.models.base import FloatArray, as_array, check_same_length

__all__ = ["TransactionModel", "time_to_next_purchase", "unique_rows"]

#: Bisection steps of :func:`time_to_next_purchase`: the answer is within max_horizon / 2^40.
_BISECTION_STEPS = 40


class TransactionModel(Protocol):
    """BetaGeo, ModifiedBetaGeo, ParetoNBD and BetaGeoBetaBinom (``T`` is ``n_periods``)."""

    name: str

    def expected_purchases(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, /
    ) -> FloatArray: ...

    def probability_alive(
        self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, /
    ) -> FloatArray: ...

    def expected_purchases_new_customer(self, t: ArrayLike, /) -> FloatArray: ...


def unique_rows(*columns: FloatArray) -> tuple[tuple[FloatArray, ...], NDArray[np.intp]]:
    """The distinct rows of ``columns`` and, for every input row, the index of its distinct row.

    Predictions depend only on (frequency, recency, T), and real summaries repeat those a lot:
    computing once per distinct row is what makes scoring a million customers fast.
    """
    stacked = np.column_stack(columns)
    unique, inverse = np.unique(stacked, axis=0, return_inverse=True)
    rows = tuple(unique[:, j] for j in range(unique.shape[1]))
    return rows, np.asarray(inverse.reshape(-1), dtype=np.intp)


def time_to_next_purchase(
    model: TransactionModel,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    *,
    max_horizon: float | None = None,
) -> FloatArray:
    """The horizon t by which a customer's expected purchase count reaches 1.

    The smallest t with ``model.expected_purchases(t, ...) >= 1``, in the model's time unit
    (whole periods for BG/BB), found by bisection on the distinct (frequency, recency, T) rows.
    NaN where the expected count stays below 1 up to ``max_horizon`` (default: five times the
    largest ``T``), which is the case of most customers who have probably lapsed: their
    expected count levels off below one purchase.

    Parameters
    ----------
    model
        A fitted transaction model.
    frequency, recency, T
        The customers' summary (``T`` is ``n_periods`` for BetaGeoBetaBinom).
    max_horizon
        The longest horizon searched, in the model's time unit.
    """
    x = as_array(frequency, "frequency")
    t_x = as_array(recency, "recency")
    big_t = as_array(T, "T")
    n = check_same_length(frequency=x, recency=t_x, T=big_t)
    if n == 0:
        return np.empty(0)
    limit = 5 * float(np.max(big_t)) if max_horizon is None else float(max_horizon)
    if not (np.isfinite(limit) and limit > 0):
        raise ConfigurationError(f"max_horizon must be a number > 0, got {max_horizon}")
    discrete = model.name == "BetaGeoBetaBinom"
    if discrete:
        limit = float(np.floor(limit))
        if limit < 1:
            raise ConfigurationError("max_horizon must be at least 1 period for BG/BB")
    (ux, ut_x, uT), inverse = unique_rows(x, t_x, big_t)
    answer = np.full(ux.size, np.nan)
    rows = np.flatnonzero(model.expected_purchases(limit, ux, ut_x, uT) >= 1.0)
    if rows.size == 0:
        return np.asarray(answer[inverse], dtype=np.float64)
    fx, ft_x, fT = ux[rows], ut_x[rows], uT[rows]
    low = np.zeros(rows.size)
    high = np.full(rows.size, limit)
    steps = int(np.ceil(np.log2(limit))) + 1 if discrete else _BISECTION_STEPS
    for _ in range(steps):
        middle = np.floor((low + high) / 2) if discrete else (low + high) / 2
        ok = model.expected_purchases(middle, fx, ft_x, fT) >= 1.0
        high = np.where(ok, middle, high)
        low = np.where(ok, low, middle)
        if discrete and np.all(high - low <= 1):
            break
    answer[rows] = high
    return np.asarray(answer[inverse], dtype=np.float64)
