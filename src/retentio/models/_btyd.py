"""Special-function pieces shared by the BG/NBD family (BG/NBD, MBG/NBD)."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from typing import Any, Self

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.special import betaln, hyp2f1
from scipy.stats import nbinom

from retentio.core.frames import require_columns
from retentio.models.base import (
    WARM_START_ROWS,
    FloatArray,
    Model,
    as_array,
    check_frequency,
    check_horizon,
    check_observation_time,
    check_same_length,
    check_transactions,
    check_weights,
    compress,
    weighted_sum,
)

__all__ = ["A_NEAR_ONE", "FrequencyRecencyModel", "expected_if_alive", "purchase_count_probability"]


#: Rows per block of a fit's likelihood evaluation.
_BLOCK = 32_768


class FrequencyRecencyModel(Model):
    """A model of (frequency, recency, T) data: fitting, the summary table and per-row
    log-likelihoods all come from one vectorised function of the log-parameters."""

    @abstractmethod
    def _terms(
        self, log_params: FloatArray, x: FloatArray, t_x: FloatArray, big_t: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        """Per-row log-likelihood and its gradient (rows x parameters) in log-parameters."""

    def _start(self, big_t: FloatArray) -> FloatArray:
        """Starting log-parameters: rates near one purchase per tenth of the mean T."""
        scale = max(float(np.mean(big_t)), 1e-3) / 10
        return np.asarray(np.log([1.0, scale, 1.0, 1.0]), dtype=np.float64)

    def fit(
        self,
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,
        weights: ArrayLike | None = None,
    ) -> Self:
        """Fit by maximum likelihood; ``weights`` count each row that many times."""
        x, t_x, big_t = check_transactions(frequency, recency, T)
        w = check_weights(weights, x.size)
        (cx, ct_x, cT), cw = compress(x, t_x, big_t, weights=w)
        total_weight = float(cw.sum())
        x0 = self._start(big_t)
        if cx.size > WARM_START_ROWS:
            # Start from the optimum of a random part of the rows: fewer passes over all.
            part = np.random.default_rng(0).choice(cx.size, WARM_START_ROWS // 4, replace=False)
            x0, _ = self._minimise(self._objective(cx[part], ct_x[part], cT[part], cw[part]), x0)
        objective = self._objective(cx, ct_x, cT, cw)
        return self._fit_objective(objective, x0, total_weight, int(round(total_weight)))

    def _objective(
        self, x: FloatArray, t_x: FloatArray, big_t: FloatArray, w: FloatArray
    ) -> Callable[[FloatArray], tuple[float, FloatArray]]:
        """Minus the weighted mean log-likelihood of the rows and its gradient."""
        # In blocks of rows: the temporaries of one block stay in the CPU's cache, and no
        # evaluation asks the OS for (and zeroes) tens of megabytes of fresh memory.
        blocks = [
            (
                self._prepare(x[i : i + _BLOCK], t_x[i : i + _BLOCK], big_t[i : i + _BLOCK]),
                w[i : i + _BLOCK],
            )
            for i in range(0, x.size, _BLOCK)
        ]
        total = float(w.sum())

        def neg_ll_and_grad(log_params: FloatArray) -> tuple[float, FloatArray]:
            value = 0.0
            grad = np.zeros(log_params.size)
            for prepared, weights in blocks:
                ll, rows_grad = self._prepared_terms(log_params, prepared)
                value -= weighted_sum(weights, ll)
                grad -= weighted_sum(weights, rows_grad)
            return value / total, grad / total

        return neg_ll_and_grad

    def _prepare(self, x: FloatArray, t_x: FloatArray, big_t: FloatArray) -> Any:
        """Whatever of the rows :meth:`_prepared_terms` reuses at every evaluation of a fit."""
        return (x, t_x, big_t)

    def _prepared_terms(
        self, log_params: FloatArray, prepared: Any
    ) -> tuple[FloatArray, FloatArray]:
        """:meth:`_terms` on rows made ready by :meth:`_prepare`."""
        return self._terms(log_params, *prepared)

    def fit_summary(self, summary: pd.DataFrame, weights: ArrayLike | None = None) -> Self:
        """Fit on a :func:`retentio.summarize` table (columns frequency, recency, T)."""
        require_columns(summary, ("frequency", "recency", "T"))
        return self.fit(summary["frequency"], summary["recency"], summary["T"], weights=weights)

    def expected_purchases_if_alive(
        self, t: ArrayLike, frequency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """E[purchases in (T, T+t] | alive at T, x]: :meth:`expected_purchases` without its
        P(alive) factor. It depends on frequency and T only, not on recency, which is what
        makes scoring (CLV over many steps) cheap: computed once per distinct (frequency, T)."""
        x = as_array(frequency, "frequency")
        big_t = as_array(T, "T")
        check_same_length(frequency=x, T=big_t)
        check_frequency(x)
        check_observation_time(big_t)
        horizon = check_horizon(t, x.size)
        return self._expected_if_alive(horizon, x, big_t)

    def _expected_if_alive(self, t: FloatArray, x: FloatArray, big_t: FloatArray) -> FloatArray:
        """Expected purchases in the next ``t`` of a customer alive at T (checked inputs)."""
        raise NotImplementedError(f"{type(self).__name__} has no expected_purchases_if_alive")

    def _log_likelihood_rows(
        self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """Per-customer log-likelihood at the fitted parameters."""
        x, t_x, big_t = check_transactions(frequency, recency, T)
        log_params = np.log(np.array([self.params[n] for n in self.param_names]))
        return self._terms(log_params, x, t_x, big_t)[0]


def expected_if_alive(
    r: float, alpha: float, a: float, b: float, t: FloatArray, x: FloatArray, big_t: FloatArray
) -> FloatArray:
    """Expected purchases in the next ``t`` of a customer still alive (BG/NBD's eq. 10 without
    P(alive)); MBG/NBD uses it at b + 1. At a = 1 the expression is 0/0 but smooth in a, so it
    is taken as the mean of its values just either side."""
    if abs(a - 1) < A_NEAR_ONE:
        below = _expected_if_alive_at(r, alpha, 1 - A_NEAR_ONE, b, t, x, big_t)
        above = _expected_if_alive_at(r, alpha, 1 + A_NEAR_ONE, b, t, x, big_t)
        return (below + above) / 2
    return _expected_if_alive_at(r, alpha, a, b, t, x, big_t)


def purchase_count_probability(
    alive: FloatArray,
    count: FloatArray,
    horizon: FloatArray,
    r: float,
    alpha: float,
    a: float,
    b_post: FloatArray,
    x: FloatArray,
    big_t: FloatArray,
) -> FloatArray:
    """P(exactly ``count`` purchases in (T, T+t]) of a BG/NBD-family customer.

    Alive at T (probability ``alive``), lambda ~ Gamma(r+x, alpha+T) and p ~ Beta(a, ``b_post``)
    and the count is that of a new BG/NBD customer: E[(1-p)^n] NB(n) + [n>0] E[p (1-p)^(n-1)]
    P(NB >= n), with NB the gamma-Poisson count of size r+x and probability
    (alpha+T)/(alpha+T+t); dead, the count is 0.
    """
    size = r + x
    success = (alpha + big_t) / (alpha + big_t + horizon)
    log_base = betaln(a, b_post)
    stays = np.exp(betaln(a, b_post + count) - log_base) * nbinom.pmf(count, size, success)
    drops = np.where(
        count > 0,
        np.exp(betaln(a + 1, b_post + np.maximum(count, 1) - 1) - log_base)
        * nbinom.sf(np.maximum(count, 1) - 1, size, success),
        0.0,
    )
    result = alive * (stays + drops) + (1 - alive) * (count == 0)
    return np.asarray(np.clip(result, 0.0, 1.0), dtype=np.float64)


#: Half-width of the interval around a = 1 over which eq. 10 is averaged (its 0/0 point).
A_NEAR_ONE = 1e-5
#: Most terms of the direct hypergeometric series used when scipy's hyp2f1 gives up.
_SERIES_TERMS = 20000


def _expected_if_alive_at(
    r: float, alpha: float, a: float, b: float, t: FloatArray, x: FloatArray, big_t: FloatArray
) -> FloatArray:
    """Eq. 10 without the P(alive) factor, with the 2F1 factor in its best-behaved form.

    Euler's transformation turns ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z) into
    (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z): two small fixed parameters and a large third,
    so the series converges fast and never overflows. Where scipy's hyp2f1 still fails (its
    special branches when c-a-b is an integer) Pfaff's form and then the series itself are used.
    """
    z = t / (alpha + big_t + t)
    c = a + b + x - 1
    with np.errstate(all="ignore"):
        term = np.exp((a - 1) * (np.log(alpha + big_t) - np.log(alpha + big_t + t))) * hyp2f1(
            a + b - 1 - r, a - 1, c, z
        )
        bad = ~np.isfinite(term)
        if np.any(bad):
            term[bad] = hyp2f1(r + x[bad], a - 1, c[bad], -t[bad] / (alpha + big_t[bad]))
            bad = ~np.isfinite(term)
        if np.any(bad):
            series = _hyp2f1_series(a + b - 1 - r, a - 1, c[bad], z[bad])
            term[bad] = (1 - z[bad]) ** (a - 1) * series
    return np.asarray((c / (a - 1)) * (1 - term), dtype=np.float64)


def _hyp2f1_series(p: float, q: float, c: FloatArray, z: FloatArray) -> FloatArray:
    """The Gauss series sum_k (p)_k (q)_k / (c)_k z^k / k!, summed until it stops changing."""
    total = np.ones_like(z)
    summand = np.ones_like(z)
    for k in range(_SERIES_TERMS):
        summand = summand * (p + k) * (q + k) / ((c + k) * (k + 1)) * z
        total = total + summand
        if np.all(np.abs(summand) <= 1e-16 * np.abs(total)):
            break
    return total
