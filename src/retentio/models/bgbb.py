"""The BG/BB model of discrete-time repeat transactions (Fader, Hardie & Shang 2010).

Fader, P. S., Hardie, B. G. S. & Shang, J. (2010), "Customer-base analysis in a discrete-time
noncontractual setting", *Marketing Science* 29(6), 1086-1108.

At each of ``n`` transaction opportunities after the first transaction an active customer
transacts with probability p ~ Beta(alpha, beta); before each of them they drop out for good
with probability theta ~ Beta(gamma, delta), so are alive at opportunity t w.p. (1-theta)^t.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.special import betaln, digamma, gammaln

from retentio.core.errors import DataError
from retentio.core.frames import require_columns
from retentio.models.base import (
    FloatArray,
    Model,
    as_array,
    check_frequency,
    check_same_length,
    check_weights,
    compress,
    distinct_rows,
    per_row,
    weighted_sum,
)

__all__ = ["BetaGeoBetaBinom"]

#: Half-width of the interval around gamma = 1 over which expectations are averaged (0/0 there).
_GAMMA_NEAR_ONE = 1e-5


#: Cells (rows x dropout times) of the likelihood evaluated at once; bounds the memory used.
_BLOCK_CELLS = 2_000_000


def _log_likelihood_terms(
    log_params: FloatArray, x: FloatArray, t_x: FloatArray, n: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Per-row log-likelihood and gradient, in blocks of rows of bounded memory."""
    width = int(np.max(n - t_x)) + 1 if n.size else 1
    step = max(1, _BLOCK_CELLS // width)
    if x.size <= step:
        return _log_likelihood_block(log_params, x, t_x, n)
    parts = [
        _log_likelihood_block(log_params, x[i : i + step], t_x[i : i + step], n[i : i + step])
        for i in range(0, x.size, step)
    ]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _log_likelihood_block(
    log_params: FloatArray, x: FloatArray, t_x: FloatArray, n: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Per-row log-likelihood (as in the paper) and its gradient w.r.t. the log-parameters.

    L = B(alpha+x, beta+n-x) B(gamma, delta+n) / (B(alpha, beta) B(gamma, delta))
        + sum_{i=0}^{n-t_x-1} B(alpha+x, beta+t_x-x+i) B(gamma+1, delta+t_x+i)
                              / (B(alpha, beta) B(gamma, delta)),
    summed in log space (alive throughout, or dropping out after opportunity t_x + i).
    """
    alpha, beta, gamma, delta = np.exp(log_params)
    # Every dropout term is a function of the whole numbers t_x + i and t_x - x + i, so the
    # special functions are tabulated once over 0..max(n) and the matrix is built by lookup.
    k = np.arange(int(np.max(n)) + 1 if n.size else 1, dtype=np.float64)
    lg_b, lg_ab = gammaln(beta + k), gammaln(alpha + beta + k)
    lg_d, lg_gd1 = gammaln(delta + k), gammaln(gamma + delta + 1 + k)
    ps_b, ps_ab = digamma(beta + k), digamma(alpha + beta + k)
    ps_d, ps_gd1 = digamma(delta + k), digamma(gamma + delta + 1 + k)

    width = int(np.max(n - t_x)) if n.size else 0
    i = np.arange(width, dtype=np.int64)[None, :]
    ix, itx, i_n = x.astype(np.int64), t_x.astype(np.int64), n.astype(np.int64)
    valid = i < (i_n - itx)[:, None]
    # dropout after opportunity t_x + i; the masked cells index a valid entry, then are excluded
    tail = np.where(valid, itx[:, None] + i, itx[:, None])
    gap = tail - ix[:, None]
    lg_ax = gammaln(alpha + x)
    log_drop = (
        (lg_ax + gammaln(gamma + 1))[:, None] + lg_b[gap] - lg_ab[tail] + lg_d[tail] - lg_gd1[tail]
    )
    log_drop = np.where(valid, log_drop, -np.inf)
    log_alive = betaln(alpha + x, beta + n - x) + betaln(gamma, delta + n)
    top = np.maximum(log_alive, np.max(log_drop, axis=1, initial=-np.inf))
    drop = np.exp(log_drop - top[:, None])
    alive = np.exp(log_alive - top)
    total = alive + drop.sum(axis=1)
    drop /= total[:, None]
    alive /= total
    dropped = 1.0 - alive
    norm = betaln(alpha, beta) + betaln(gamma, delta)
    ll = top + np.log(total) - norm

    psi_ax, psi_ab_n = digamma(alpha + x), digamma(alpha + beta + n)
    psi_gd_n = digamma(gamma + delta + n)
    drop_ab = np.sum(drop * ps_ab[tail], axis=1)
    drop_gd1 = np.sum(drop * ps_gd1[tail], axis=1)
    d_alpha = alive * (psi_ax - psi_ab_n) + dropped * psi_ax - drop_ab
    d_beta = alive * (digamma(beta + n - x) - psi_ab_n) + np.sum(drop * ps_b[gap], axis=1) - drop_ab
    d_gamma = alive * (digamma(gamma) - psi_gd_n) + dropped * digamma(gamma + 1) - drop_gd1
    d_delta = alive * (digamma(delta + n) - psi_gd_n) + np.sum(drop * ps_d[tail], axis=1) - drop_gd1
    psi_ab, psi_gd = digamma(alpha + beta), digamma(gamma + delta)
    d_alpha -= digamma(alpha) - psi_ab
    d_beta -= digamma(beta) - psi_ab
    d_gamma -= digamma(gamma) - psi_gd
    d_delta -= digamma(delta) - psi_gd
    grad = np.column_stack([alpha * d_alpha, beta * d_beta, gamma * d_gamma, delta * d_delta])
    return np.asarray(ll, dtype=np.float64), grad


def _check_discrete(
    frequency: ArrayLike, recency: ArrayLike, n_periods: ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Check (frequency, recency, n_periods) up front and return them as float arrays."""
    x = as_array(frequency, "frequency")
    t_x = as_array(recency, "recency")
    n = as_array(n_periods, "n_periods")
    check_same_length(frequency=x, recency=t_x, n_periods=n)
    check_frequency(x)
    check_frequency(t_x, "recency")
    check_frequency(n, "n_periods")
    if np.any(n < 0):
        raise DataError("n_periods must be >= 0 (the transaction opportunities after the first)")
    if np.any(t_x > n):
        raise DataError("recency must be between 0 and n_periods")
    if np.any(x > t_x):
        raise DataError("frequency must be <= recency (one transaction per opportunity)")
    if np.any((x == 0) & (t_x != 0)):
        raise DataError("recency must be 0 where frequency is 0")
    return x, t_x, n


def _horizon(t: ArrayLike, n: int | None = None) -> FloatArray:
    horizon = as_array(t, "t")
    if np.any(horizon < 0) or np.any(horizon != np.round(horizon)):
        raise DataError("t must hold whole numbers of periods >= 0")
    return horizon if n is None else per_row(horizon, n, "t")


def _log_alive_sum(gamma: float, delta: float, n: FloatArray, t: FloatArray) -> FloatArray:
    """log of sum_{k=n+1}^{n+t} B(gamma, delta+k) / B(gamma, delta), in closed form.

    delta/(gamma-1) Gamma(gamma+delta)/Gamma(1+delta)
    [Gamma(1+delta+n)/Gamma(gamma+delta+n) - Gamma(1+delta+n+t)/Gamma(gamma+delta+n+t)];
    the bracket and gamma - 1 share their sign, so the ratio is taken through expm1.
    """
    g_now = gammaln(1 + delta + n) - gammaln(gamma + delta + n)
    g_later = gammaln(1 + delta + n + t) - gammaln(gamma + delta + n + t)
    with np.errstate(divide="ignore"):
        ratio = np.log(-np.expm1(g_later - g_now) / (gamma - 1))
    return np.asarray(
        np.log(delta) + gammaln(gamma + delta) - gammaln(1 + delta) + g_now + ratio,
        dtype=np.float64,
    )


def _alive_sum(gamma: float, delta: float, n: FloatArray, t: FloatArray) -> FloatArray:
    """:func:`_log_alive_sum`, averaged either side of its 0/0 point at gamma = 1."""
    if abs(gamma - 1) < _GAMMA_NEAR_ONE:
        below = _log_alive_sum(1 - _GAMMA_NEAR_ONE, delta, n, t)
        above = _log_alive_sum(1 + _GAMMA_NEAR_ONE, delta, n, t)
        return (below + above) / 2
    return _log_alive_sum(gamma, delta, n, t)


class BetaGeoBetaBinom(Model):
    """BG/BB: Fader, Hardie & Shang (2010), "Customer-base analysis in a discrete-time
    noncontractual setting".

    Parameters ``alpha, beta`` (beta heterogeneity of the transaction probability) and
    ``gamma, delta`` (beta heterogeneity of the dropout probability). ``frequency`` counts
    the repeat transactions, ``recency`` is the opportunity of the last one (0 if none) and
    ``n_periods`` the number of opportunities after the first (0 for a customer just
    acquired, who then predicts like a new customer).
    """

    name = "BetaGeoBetaBinom"
    param_names = ("alpha", "beta", "gamma", "delta")
    discrete = True

    def fit(
        self,
        frequency: ArrayLike,
        recency: ArrayLike,
        n_periods: ArrayLike,
        weights: ArrayLike | None = None,
    ) -> BetaGeoBetaBinom:
        """Fit by maximum likelihood; ``weights`` count each row that many times."""
        x, t_x, n = _check_discrete(frequency, recency, n_periods)
        w = check_weights(weights, x.size)
        (cx, ct_x, cn), cw = compress(x, t_x, n, weights=w)
        total_weight = float(cw.sum())

        def neg_ll_and_grad(log_params: FloatArray) -> tuple[float, FloatArray]:
            ll, grad = _log_likelihood_terms(log_params, cx, ct_x, cn)
            return -weighted_sum(cw, ll) / total_weight, -weighted_sum(cw, grad) / total_weight

        return self._fit_objective(neg_ll_and_grad, np.zeros(4), total_weight, round(total_weight))

    def fit_summary(
        self, summary: pd.DataFrame, weights: ArrayLike | None = None
    ) -> BetaGeoBetaBinom:
        """Fit on a table with columns frequency, recency and n_periods (or ``periods``)."""
        periods = "n_periods" if "n_periods" in summary.columns else "periods"
        require_columns(summary, ("frequency", "recency", periods))
        return self.fit(summary["frequency"], summary["recency"], summary[periods], weights)

    def _log_likelihood_rows(self, x: FloatArray, t_x: FloatArray, n: FloatArray) -> FloatArray:
        """Per-row log-likelihood at the fitted parameters, computed once per unique row."""
        log_params = np.log(np.array([self.params[k] for k in self.param_names]))
        first, codes = distinct_rows(x, t_x, n)
        ll = _log_likelihood_terms(log_params, x[first], t_x[first], n[first])[0]
        return np.asarray(ll[codes], dtype=np.float64)

    # --- Predictions -----------------------------------------------------------------------

    def probability_alive(
        self, frequency: ArrayLike, recency: ArrayLike, n_periods: ArrayLike
    ) -> FloatArray:
        """P(alive at opportunity n+1 | x, t_x, n) (as in the paper)."""
        x, t_x, n = _check_discrete(frequency, recency, n_periods)
        alpha, beta, gamma, delta = (self.params[k] for k in self.param_names)
        log_joint = (
            betaln(alpha + x, beta + n - x)
            - betaln(alpha, beta)
            + betaln(gamma, delta + n + 1)
            - betaln(gamma, delta)
        )
        alive = np.exp(log_joint - self._log_likelihood_rows(x, t_x, n))
        return np.asarray(np.clip(alive, 0.0, 1.0), dtype=np.float64)

    def expected_purchases(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, n_periods: ArrayLike
    ) -> FloatArray:
        """E[transactions in opportunities n+1 .. n+t | x, t_x, n], the paper's closed form.

        ``t`` is a whole number of opportunities, scalar or one per row.
        """
        x, t_x, n = _check_discrete(frequency, recency, n_periods)
        horizon = _horizon(t, x.size)
        alpha, beta, gamma, delta = (self.params[k] for k in self.param_names)
        log_value = (
            betaln(alpha + x + 1, beta + n - x)
            - betaln(alpha, beta)
            - self._log_likelihood_rows(x, t_x, n)
            + _alive_sum(gamma, delta, n, horizon)
        )
        with np.errstate(under="ignore"):
            return np.asarray(np.exp(log_value), dtype=np.float64)

    def expected_purchases_if_alive(
        self, t: ArrayLike, frequency: ArrayLike, n_periods: ArrayLike
    ) -> FloatArray:
        """E[transactions in opportunities n+1 .. n+t | alive at n+1, x]: :meth:`expected_purchases`
        without its P(alive) factor; it depends on frequency and n_periods only."""
        x = as_array(frequency, "frequency")
        n = as_array(n_periods, "n_periods")
        check_same_length(frequency=x, n_periods=n)
        check_frequency(x)
        check_frequency(n, "n_periods")
        if np.any(x > n):
            raise DataError("frequency must be <= n_periods")
        horizon = _horizon(t, x.size)
        alpha, beta, gamma, delta = (self.params[k] for k in self.param_names)
        log_value = (
            betaln(alpha + x + 1, beta + n - x)
            - betaln(alpha + x, beta + n - x)
            + _alive_sum(gamma, delta, n, horizon)
            - betaln(gamma, delta + n + 1)
            + betaln(gamma, delta)
        )
        with np.errstate(under="ignore"):
            return np.asarray(np.exp(log_value), dtype=np.float64)

    def expected_purchases_new_customer(self, t: ArrayLike) -> FloatArray:
        """E[X(t)]: expected transactions in the first ``t`` opportunities."""
        horizon = _horizon(t)
        alpha, beta, gamma, delta = (self.params[k] for k in self.param_names)
        log_sum = _alive_sum(gamma, delta, np.zeros_like(horizon), horizon)
        with np.errstate(under="ignore"):
            return np.asarray(alpha / (alpha + beta) * np.exp(log_sum), dtype=np.float64)

    def probability_of_purchases(
        self,
        n: ArrayLike,
        t: ArrayLike,
        frequency: ArrayLike,
        recency: ArrayLike,
        n_periods: ArrayLike,
    ) -> FloatArray:
        """P(exactly n transactions in opportunities n_periods+1 .. n_periods+t | history).

        Alive through opportunity N = ``n_periods`` (its posterior probability), the
        posterior is p ~ Beta(alpha+x, beta+N-x), theta ~ Beta(gamma, delta+N); the customer
        then stays for m of the t opportunities (m < t with probability E[theta (1-theta)^m],
        m = t with E[(1-theta)^t]) and transacts Binomial(m, p) times; dead, the count is 0.
        ``n`` and ``t`` are whole numbers, scalar or one per row; the work grows with max(t).
        """
        x, t_x, big_n = _check_discrete(frequency, recency, n_periods)
        count = per_row(as_array(n, "n"), x.size, "n")
        check_frequency(count, "n")
        horizon = _horizon(t, x.size)
        alpha, beta, gamma, delta = (self.params[k] for k in self.param_names)
        log_p_norm = betaln(alpha + x, beta + big_n - x)
        log_theta_norm = betaln(gamma, delta + big_n)
        log_alive = (
            log_p_norm
            + log_theta_norm
            - betaln(alpha, beta)
            - betaln(gamma, delta)
            - self._log_likelihood_rows(x, t_x, big_n)
        )
        stays = np.arange(int(np.max(horizon)) + 1 if x.size else 1, dtype=np.float64)[None, :]
        k, h = count[:, None], horizon[:, None]
        valid = (stays >= k) & (stays <= h)
        rest = np.where(valid, stays - k, 0.0)
        log_binomial = gammaln(rest + k + 1) - gammaln(k + 1) - gammaln(rest + 1)
        log_p = betaln(alpha + x[:, None] + k, beta + (big_n - x)[:, None] + rest)
        log_theta = np.where(
            stays < h,
            betaln(gamma + 1, delta + big_n[:, None] + stays),
            betaln(gamma, delta + big_n[:, None] + h),
        )
        log_terms = log_binomial + log_p - log_p_norm[:, None] + log_theta - log_theta_norm[:, None]
        with np.errstate(under="ignore"):
            if_alive = np.sum(np.where(valid, np.exp(np.where(valid, log_terms, 0.0)), 0.0), axis=1)
            alive = np.exp(log_alive)
        result = alive * if_alive + (1 - alive) * (count == 0)
        return np.asarray(np.clip(result, 0.0, 1.0), dtype=np.float64)
