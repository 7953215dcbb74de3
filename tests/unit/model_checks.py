"""Checks shared by the model tests: central-difference gradients and an extreme input grid."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
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


def check_gradient(
    terms: Callable[..., tuple[Floats, Floats]], point: tuple[float, ...], cdnow: Any
) -> None:
    """``terms``' analytic gradient matches central differences on a few rows and, summed as
    the optimiser sees it, over the CDNOW data (columns x, t_x, T)."""
    x = np.array([0, 1, 2, 7, 30, 0, 1.0])
    t_x = np.array([0, 5.0, 30.0, 12.5, 38.0, 0, 38.5])
    big_t = np.array([38.5, 38.5, 32.0, 39.0, 39.0, 1.0, 38.5])
    log_params = np.log(np.array(point))
    analytic = terms(log_params, x, t_x, big_t)[1]
    numeric = central_gradient(terms, log_params, x, t_x, big_t)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-7)
    cx, ctx, ct = (cdnow[c].to_numpy(dtype=np.float64) for c in ("x", "t_x", "T"))
    total = terms(log_params, cx, ctx, ct)[1].sum(axis=0)
    numeric_total = central_gradient(terms, log_params, cx, ctx, ct).sum(axis=0)
    np.testing.assert_allclose(total, numeric_total, rtol=1e-5)


def check_duplicated_rows_fit_like_weights(model_type: Any, cdnow: Any) -> None:
    """Fitting rows repeated 1-3 times equals fitting them once with those counts as weights."""
    head = cdnow.iloc[:400]
    counts = np.arange(400) % 3 + 1
    repeated = head.loc[head.index.repeat(counts)]
    by_rows = model_type().fit(repeated["x"], repeated["t_x"], repeated["T"])
    by_weights = model_type().fit(head["x"], head["t_x"], head["T"], weights=counts)
    for name in model_type.param_names:
        assert by_rows.params[name] == pytest.approx(by_weights.params[name], rel=1e-6)
    assert by_rows.log_likelihood == pytest.approx(by_weights.log_likelihood, rel=1e-9)
    assert by_rows.n_customers == by_weights.n_customers == int(counts.sum())


def check_purchase_distribution(model: Any, x: int, t_x: float, big_t: float, most: int) -> None:
    """``probability_of_purchases`` over 0..``most`` - 1 sums to 1 with the mean of
    ``expected_purchases``, at horizons 0, 1 and 39."""
    n = np.arange(0, most)
    rows = np.full(n.size, 1.0)
    for t in (0.0, 1.0, 39.0):
        pmf = model.probability_of_purchases(n, t, x * rows, t_x * rows, big_t * rows)
        assert np.all((pmf >= 0) & (pmf <= 1))
        assert pmf.sum() == pytest.approx(1.0, abs=1e-9)
        mean = model.expected_purchases(t, [x], [t_x], [big_t])[0]
        assert (n * pmf).sum() == pytest.approx(mean, rel=1e-8, abs=1e-12)
