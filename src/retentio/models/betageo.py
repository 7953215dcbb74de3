"""The BG/NBD model of repeat purchasing (Fader, Hardie & Lee 2005).

Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005), "'Counting your customers' the easy way: an
alternative to the Pareto/NBD model", *Marketing Science* 24(2), 275-284.

While active, a customer buys at a Poisson rate lambda ~ Gamma(r, alpha); after each purchase
they drop out with probability p ~ Beta(a, b).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import betaln, digamma, expit, gammaln

from retentio.models._btyd import (
    FrequencyRecencyModel,
    expected_if_alive,
    purchase_count_probability,
)
from retentio.models.base import (
    FloatArray,
    as_array,
    check_frequency,
    check_horizon,
    check_transactions,
    per_row,
)

__all__ = ["BetaGeo"]

IntArray = NDArray[np.intp]


@dataclass(frozen=True)
class _Rows:
    """(x, t_x, T) rows with their distinct values: the special functions depend on x alone and
    the logarithms on T or t_x alone, each taking few values (whole days, say), so a fit
    evaluates them once per distinct value and gathers them for the rows."""

    x: FloatArray
    t_x: FloatArray
    big_t: FloatArray
    xs: FloatArray
    x_at: IntArray
    ts: FloatArray
    t_at: IntArray
    txs: FloatArray
    tx_at: IntArray

    @classmethod
    def of(cls, x: FloatArray, t_x: FloatArray, big_t: FloatArray) -> _Rows:
        xs, x_at = np.unique(x, return_inverse=True)
        ts, t_at = np.unique(big_t, return_inverse=True)
        txs, tx_at = np.unique(t_x, return_inverse=True)
        return cls(x, t_x, big_t, xs, x_at, ts, t_at, txs, tx_at)


def _log_likelihood_terms(
    log_params: FloatArray, x: FloatArray, t_x: FloatArray, big_t: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Per-row log-likelihood and its gradient (rows x 4) with respect to the log-parameters."""
    return _rows_terms(log_params, _Rows.of(x, t_x, big_t))


def _rows_terms(log_params: FloatArray, rows: _Rows) -> tuple[FloatArray, FloatArray]:
    """:func:`_log_likelihood_terms` on prepared rows.

    log L = lnG(r+x) - lnG(r) + r ln(alpha) - lnB(a, b) + log(exp(A1) + d exp(A2)) with
    A1 = lnB(a, b+x) - (r+x) ln(alpha+T), A2 = lnB(a+1, b+x-1) - (r+x) ln(alpha+t_x), d = [x>0].
    """
    r, alpha, a, b = np.exp(log_params)
    x, at = rows.x, rows.x_at
    xs = rows.xs
    xs1 = np.maximum(xs, 1.0)  # keeps the (unused) second term finite where x = 0
    repeat = x > 0
    log_t = np.log(alpha + rows.ts)[rows.t_at]
    log_tx = np.log(alpha + rows.txs)[rows.tx_at]
    a1 = betaln(a, b + xs)[at] - (r + x) * log_t
    a2 = np.where(repeat, betaln(a + 1, b + xs1 - 1)[at] - (r + x) * log_tx, -np.inf)
    top = np.maximum(a1, a2)
    e1 = np.exp(a1 - top)
    e2 = np.where(repeat, np.exp(np.where(repeat, a2, a1) - top), 0.0)
    total = e1 + e2
    pi1 = e1 / total
    pi2 = e2 / total
    constant = gammaln(r + xs) - gammaln(r) + r * np.log(alpha) - betaln(a, b)
    ll = constant[at] + top + np.log(total)

    psi_abx = digamma(a + b + xs)
    d_r = (digamma(r + xs) - digamma(r))[at] + np.log(alpha) - pi1 * log_t - pi2 * log_tx
    inverse_t = (1.0 / (alpha + rows.ts))[rows.t_at]
    inverse_tx = (1.0 / (alpha + rows.txs))[rows.tx_at]
    d_alpha = r / alpha - (r + x) * (pi1 * inverse_t + pi2 * inverse_tx)
    d_a = (
        -(digamma(a) - digamma(a + b))
        + pi1 * (digamma(a) - psi_abx)[at]
        + pi2 * (digamma(a + 1) - psi_abx)[at]
    )
    d_b = (
        -(digamma(b) - digamma(a + b))
        + pi1 * (digamma(b + xs) - psi_abx)[at]
        + pi2 * (digamma(b + xs1 - 1) - psi_abx)[at]
    )
    grad = np.column_stack([r * d_r, alpha * d_alpha, a * d_a, b * d_b])
    return ll, grad


class BetaGeo(FrequencyRecencyModel):
    """BG/NBD: Fader, Hardie & Lee (2005), "Counting your customers the easy way".

    Parameters ``r, alpha`` (gamma heterogeneity of the purchase rate) and ``a, b`` (beta
    heterogeneity of the dropout probability). Time is in the unit of ``recency`` and ``T``.
    """

    name = "BetaGeo"
    param_names = ("r", "alpha", "a", "b")

    def _terms(
        self, log_params: FloatArray, x: FloatArray, t_x: FloatArray, big_t: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        return _log_likelihood_terms(log_params, x, t_x, big_t)

    def _prepare(self, x: FloatArray, t_x: FloatArray, big_t: FloatArray) -> _Rows:
        return _Rows.of(x, t_x, big_t)

    def _prepared_terms(
        self, log_params: FloatArray, prepared: Any
    ) -> tuple[FloatArray, FloatArray]:
        return _rows_terms(log_params, prepared)

    # --- Predictions -----------------------------------------------------------------------

    def probability_alive(
        self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """P(alive | x, t_x, T); 1 for customers with no repeat purchase (eq. 5 of the paper)."""
        x, t_x, big_t = check_transactions(frequency, recency, T)
        return self._alive(x, t_x, big_t)

    def _alive(self, x: FloatArray, t_x: FloatArray, big_t: FloatArray) -> FloatArray:
        return np.asarray(expit(-self._log_odds_dead(x, t_x, big_t)), dtype=np.float64)

    def _log_odds_dead(self, x: FloatArray, t_x: FloatArray, big_t: FloatArray) -> FloatArray:
        p = self.params
        r, alpha, a, b = p["r"], p["alpha"], p["a"], p["b"]
        repeat = x > 0
        x1 = np.where(repeat, x, 1.0)
        log_odds = (
            np.log(a)
            - np.log(b + x1 - 1)
            + (r + x1) * (np.log(alpha + big_t) - np.log(alpha + t_x))
        )
        return np.where(repeat, log_odds, -np.inf)

    def expected_purchases(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """E[purchases in (T, T+t] | x, t_x, T] (eq. 10 of the paper); ``t`` scalar or per row."""
        x, t_x, big_t = check_transactions(frequency, recency, T)
        horizon = check_horizon(t, x.size)
        return self._expected_if_alive(horizon, x, big_t) * self._alive(x, t_x, big_t)

    def expected_purchases_new_customer(self, t: ArrayLike) -> FloatArray:
        """E[X(t)] for a customer just acquired (eq. 7 of the paper)."""
        horizon = check_horizon(t)
        zeros = np.zeros_like(horizon)
        return self._expected_if_alive(horizon, zeros, zeros)

    def probability_of_purchases(
        self, n: ArrayLike, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """P(exactly n purchases in (T, T+t] | x, t_x, T); ``n`` and ``t`` scalar or per row.

        Alive at T (probability P(alive)), the posterior is lambda ~ Gamma(r+x, alpha+T) and
        p ~ Beta(a, b+x), and the future count is that of a new customer:
        E[(1-p)^n] NB(n) + [n>0] E[p (1-p)^(n-1)] P(NB >= n), with NB the gamma-Poisson count
        of size r+x and probability (alpha+T)/(alpha+T+t); dead, the count is 0.
        """
        x, t_x, big_t = check_transactions(frequency, recency, T)
        count = per_row(as_array(n, "n"), x.size, "n")
        check_frequency(count, "n")
        horizon = check_horizon(t, x.size)
        p = self.params
        r, alpha, a, b = p["r"], p["alpha"], p["a"], p["b"]
        alive = self._alive(x, t_x, big_t)
        return purchase_count_probability(alive, count, horizon, r, alpha, a, b + x, x, big_t)

    def _expected_if_alive(self, t: FloatArray, x: FloatArray, big_t: FloatArray) -> FloatArray:
        """(a+b+x-1)/(a-1) [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z)]."""
        p = self.params
        return expected_if_alive(p["r"], p["alpha"], p["a"], p["b"], t, x, big_t)
