"""The MBG/NBD model of repeat purchasing (Batislam, Denizel & Filiztekin 2007).

Batislam, E. P., Denizel, M. & Filiztekin, A. (2007), "Empirical validation and comparison of
models for customer base analysis", *International Journal of Research in Marketing* 24(3),
201-209; the same model is the "central variant" of Hoppe & Wagner (2007), *Marketing Journal
of Research and Management* 3(2), 75-90.

Like BG/NBD, but the dropout coin is also flipped at time 0 (right after the first purchase),
so a customer with no repeat purchase may already be gone: P(alive) < 1 even at frequency 0.
While active, a customer buys at a Poisson rate lambda ~ Gamma(r, alpha); at time 0 and after
each purchase they drop out with probability p ~ Beta(a, b).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import betaln, digamma, expit, gammaln

# Shared with BG/NBD: once alive at T, an MBG/NBD customer's future is a BG/NBD new customer's
# with b shifted by one (the time-0 coin flip), so eq. 10 of Fader, Hardie & Lee is reused.
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

__all__ = ["ModifiedBetaGeo"]


def _log_likelihood_terms(
    log_params: FloatArray, x: FloatArray, t_x: FloatArray, big_t: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Per-row log-likelihood and its gradient (rows x 4) with respect to the log-parameters.

    log L = lnG(r+x) - lnG(r) + r ln(alpha) - lnB(a, b) + log(exp(A1) + exp(A2)) with
    A1 = lnB(a, b+x+1) - (r+x) ln(alpha+T) (alive at T) and
    A2 = lnB(a+1, b+x) - (r+x) ln(alpha+t_x) (dropped out at t_x; present also for x = 0).
    """
    r, alpha, a, b = np.exp(log_params)
    log_t = np.log(alpha + big_t)
    log_tx = np.log(alpha + t_x)
    a1 = betaln(a, b + x + 1) - (r + x) * log_t
    a2 = betaln(a + 1, b + x) - (r + x) * log_tx
    top = np.maximum(a1, a2)
    e1 = np.exp(a1 - top)
    e2 = np.exp(a2 - top)
    total = e1 + e2
    pi1 = e1 / total
    pi2 = e2 / total
    ll = gammaln(r + x) - gammaln(r) + r * np.log(alpha) - betaln(a, b) + top + np.log(total)

    psi_abx = digamma(a + b + x + 1)
    d_r = digamma(r + x) - digamma(r) + np.log(alpha) - pi1 * log_t - pi2 * log_tx
    d_alpha = r / alpha - (r + x) * (pi1 / (alpha + big_t) + pi2 / (alpha + t_x))
    d_a = (
        -(digamma(a) - digamma(a + b))
        + pi1 * (digamma(a) - psi_abx)
        + pi2 * (digamma(a + 1) - psi_abx)
    )
    d_b = (
        -(digamma(b) - digamma(a + b))
        + pi1 * (digamma(b + x + 1) - psi_abx)
        + pi2 * (digamma(b + x) - psi_abx)
    )
    grad = np.column_stack([r * d_r, alpha * d_alpha, a * d_a, b * d_b])
    return ll, grad


class ModifiedBetaGeo(FrequencyRecencyModel):
    """MBG/NBD: Batislam, Denizel & Filiztekin (2007); Hoppe & Wagner (2007).

    Parameters ``r, alpha`` (gamma heterogeneity of the purchase rate) and ``a, b`` (beta
    heterogeneity of the dropout probability). Time is in the unit of ``recency`` and ``T``.
    """

    name = "ModifiedBetaGeo"
    param_names = ("r", "alpha", "a", "b")

    def _terms(
        self, log_params: FloatArray, x: FloatArray, t_x: FloatArray, big_t: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        return _log_likelihood_terms(log_params, x, t_x, big_t)

    # --- Predictions -----------------------------------------------------------------------

    def probability_alive(
        self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """P(alive | x, t_x, T) = 1 / (1 + a/(b+x) ((alpha+T)/(alpha+t_x))^(r+x)); < 1 at x = 0."""
        x, t_x, big_t = check_transactions(frequency, recency, T)
        return self._alive(x, t_x, big_t)

    def _alive(self, x: FloatArray, t_x: FloatArray, big_t: FloatArray) -> FloatArray:
        p = self.params
        r, alpha, a, b = p["r"], p["alpha"], p["a"], p["b"]
        log_odds_dead = (
            np.log(a) - np.log(b + x) + (r + x) * (np.log(alpha + big_t) - np.log(alpha + t_x))
        )
        return np.asarray(expit(-log_odds_dead), dtype=np.float64)

    def expected_purchases(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """E[purchases in (T, T+t] | x, t_x, T]; ``t`` scalar or per row.

        (a+b+x)/(a-1) [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x+1; a+b+x; z)] P(alive).
        """
        x, t_x, big_t = check_transactions(frequency, recency, T)
        horizon = check_horizon(t, x.size)
        return self._expected_if_alive(horizon, x, big_t) * self._alive(x, t_x, big_t)

    def expected_purchases_new_customer(self, t: ArrayLike) -> FloatArray:
        """E[X(t)] = b/(a-1) [1 - (alpha/(alpha+t))^r 2F1(r, b+1; a+b; t/(alpha+t))]."""
        horizon = check_horizon(t)
        p = self.params
        zeros = np.zeros_like(horizon)
        survives_start = p["b"] / (p["a"] + p["b"])
        return survives_start * self._expected_if_alive(horizon, zeros, zeros)

    def probability_of_purchases(
        self, n: ArrayLike, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """P(exactly n purchases in (T, T+t] | x, t_x, T); ``n`` and ``t`` scalar or per row.

        Alive at T, the posterior is lambda ~ Gamma(r+x, alpha+T) and p ~ Beta(a, b+x+1) (x+1
        coins survived), and the next coin is flipped at the next purchase, as for a new BG/NBD
        customer: E[(1-p)^n] NB(n) + [n>0] E[p (1-p)^(n-1)] P(NB >= n), with NB the
        gamma-Poisson count of size r+x and probability (alpha+T)/(alpha+T+t); dead, it is 0.
        """
        x, t_x, big_t = check_transactions(frequency, recency, T)
        count = per_row(as_array(n, "n"), x.size, "n")
        check_frequency(count, "n")
        horizon = check_horizon(t, x.size)
        p = self.params
        r, alpha, a, b = p["r"], p["alpha"], p["a"], p["b"]
        alive = self._alive(x, t_x, big_t)
        return purchase_count_probability(alive, count, horizon, r, alpha, a, b + x + 1, x, big_t)

    def _expected_if_alive(self, t: FloatArray, x: FloatArray, big_t: FloatArray) -> FloatArray:
        """BG/NBD's eq. 10 without P(alive), at b + 1."""
        p = self.params
        return expected_if_alive(p["r"], p["alpha"], p["a"], p["b"] + 1, t, x, big_t)
