"""What every transaction model offers, and the expected time to a customer's next purchase."""

from __future__ import annotations

from typing import Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

from retentio.core.errors import ConfigurationError
from retentio.models.base import FloatArray, as_array, check_same_length, group_codes

__all__ = ["TransactionModel", "time_to_next_purchase", "unique_rows"]


class TransactionModel(Protocol):
    """BetaGeo, ModifiedBetaGeo, ParetoNBD and BetaGeoBetaBinom (``T`` is ``n_periods``)."""

    name: str
    discrete: bool

    def expected_purchases(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, /
    ) -> FloatArray: ...

    def probability_alive(
        self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, /
    ) -> FloatArray: ...

    def expected_purchases_new_customer(self, t: ArrayLike, /) -> FloatArray: ...

    def expected_purchases_if_alive(
        self, t: ArrayLike, frequency: ArrayLike, T: ArrayLike, /
    ) -> FloatArray: ...


def unique_rows(*columns: FloatArray) -> tuple[tuple[FloatArray, ...], NDArray[np.intp]]:
    """The distinct rows of ``columns`` and, for every input row, the index of its distinct row.

    Predictions depend only on (frequency, recency, T), and real summaries repeat those a lot:
    computing once per distinct row is what makes scoring a million customers fast.
    """
    codes = group_codes(*columns)
    _, first = np.unique(codes, return_index=True)
    return tuple(column[first] for column in columns), codes


def time_to_next_purchase(
    model: TransactionModel,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    *,
    max_horizon: float | None = None,
    precision: float | None = None,
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
    precision
        The answer is at most this much above the exact horizon (default: a millionth of
        ``max_horizon``); BG/BB answers are exact whole periods.
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
    discrete = model.discrete
    if discrete:
        limit = float(np.floor(limit))
        if limit < 1:
            raise ConfigurationError("max_horizon must be at least 1 period for BG/BB")
    tolerance = limit * 1e-6 if precision is None else float(precision)
    if not (np.isfinite(tolerance) and tolerance > 0):
        raise ConfigurationError(f"precision must be a number > 0, got {precision}")
    (ux, ut_x, uT), inverse = unique_rows(x, t_x, big_t)
    answer = np.full(ux.size, np.nan)
    alive = model.probability_alive(ux, ut_x, uT)
    rows = np.flatnonzero(alive * model.expected_purchases_if_alive(limit, ux, uT) >= 1.0)
    if rows.size == 0:
        return np.asarray(answer[inverse], dtype=np.float64)
    fx, fT, level = ux[rows], uT[rows], 1.0 / alive[rows]
    low = np.zeros(rows.size)
    high = np.full(rows.size, limit)
    steps = int(np.ceil(np.log2(limit / (1.0 if discrete else tolerance)))) + 1
    for _ in range(max(steps, 1)):
        middle = np.floor((low + high) / 2) if discrete else (low + high) / 2
        ok = model.expected_purchases_if_alive(middle, fx, fT) >= level
        high = np.where(ok, middle, high)
        low = np.where(ok, low, middle)
        if discrete and np.all(high - low <= 1):
            break
    answer[rows] = high
    return np.asarray(answer[inverse], dtype=np.float64)
