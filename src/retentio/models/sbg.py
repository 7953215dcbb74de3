"""The shifted-beta-geometric (sBG) model of contractual retention.

Fader, P. S. & Hardie, B. G. S. (2007), "How to project customer retention", *Journal of
Interactive Marketing* 21(1), 76-90; and Fader & Hardie (2010), "Customer-base valuation in a
contractual setting: the perils of ignoring heterogeneity", *Marketing Science* 29(1), 85-93.

At the end of each period an active customer cancels with probability theta, with
theta ~ Beta(alpha, beta) across customers. ``T`` is the period in which a customer cancels
(1, 2, ...): P(T = t) = B(alpha+1, beta+t-1) / B(alpha, beta) and
S(t) = P(T > t) = B(alpha, beta+t) / B(alpha, beta).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.special import betaincinv, betaln, digamma, hyp2f1

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
    weighted_sum,
)

__all__ = ["ShiftedBetaGeometric"]


def _log_likelihood_terms(
    log_params: FloatArray, t: FloatArray, churned: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Per-row log-likelihood and its gradient (rows x 2) with respect to the log-parameters.

    A row churned in period ``t`` (``churned`` = 1) contributes log P(T = t); a row still active
    after ``t`` periods (``churned`` = 0) contributes log S(t).
    """
    alpha, beta = np.exp(log_params)
    dead = churned > 0
    t1 = np.where(dead, t, 1.0)  # keeps the (unused) churn terms finite where t = 0
    psi_ab = digamma(alpha + beta)
    psi_abt = digamma(alpha + beta + t)
    norm = betaln(alpha, beta)
    ll = np.where(dead, betaln(alpha + 1, beta + t1 - 1) - norm, betaln(alpha, beta + t) - norm)
    d_alpha = np.where(
        dead,
        digamma(alpha + 1) - digamma(alpha) + psi_ab - psi_abt,
        psi_ab - psi_abt,
    )
    d_beta = np.where(
        dead,
        digamma(beta + t1 - 1) - digamma(beta) + psi_ab - psi_abt,
        digamma(beta + t) - digamma(beta) + psi_ab - psi_abt,
    )
    grad = np.column_stack([alpha * d_alpha, beta * d_beta])
    return np.asarray(ll, dtype=np.float64), grad


def _check_survivors(survivors: ArrayLike) -> FloatArray:
    s = as_array(survivors, "survivors")
    if s.size < 2:
        raise DataError("survivors must hold the cohort size and at least one later count")
    check_frequency(s, "survivors")
    if s[0] <= 0:
        raise DataError("survivors[0] (the cohort size) must be > 0")
    if np.any(np.diff(s) > 0):
        raise DataError("survivors must not increase from one period to the next")
    return s


def _check_lifetimes(durations: ArrayLike, censored: ArrayLike) -> tuple[FloatArray, FloatArray]:
    t = as_array(durations, "durations")
    c = as_array(censored, "censored")
    check_same_length(durations=t, censored=c)
    check_frequency(t, "durations")
    if np.any((c != 0) & (c != 1)):
        raise DataError("censored must hold booleans (1 = still active, 0 = cancelled)")
    if np.any((c == 0) & (t < 1)):
        raise DataError("durations must be >= 1 for customers who cancelled (censored false)")
    return t, c


def _whole_periods(values: ArrayLike, name: str, smallest: int) -> FloatArray:
    t = as_array(values, name)
    if np.any(t < smallest) or np.any(t != np.round(t)):
        raise DataError(f"{name} must hold whole numbers >= {smallest}")
    return t


class ShiftedBetaGeometric(Model):
    """sBG: Fader & Hardie (2007), "How to project customer retention".

    Parameters ``alpha, beta`` of the beta distribution of the per-period churn probability.
    Fit on the survivors per period of one cohort (:meth:`fit`) or on per-customer lifetimes
    with censoring (:meth:`fit_lifetimes`).
    """

    name = "ShiftedBetaGeometric"
    param_names = ("alpha", "beta")

    def fit(self, survivors: ArrayLike) -> ShiftedBetaGeometric:
        """Fit on one cohort: ``survivors[0]`` its size, ``survivors[t]`` active after t periods.

        The likelihood is that of the paper: the ``survivors[t-1] - survivors[t]`` customers
        who cancel in period t each contribute P(T = t), the last survivors S(n).
        """
        s = _check_survivors(survivors)
        n = s.size - 1
        periods = np.arange(1, n + 1, dtype=np.float64)
        durations = np.concatenate([periods, [float(n)]])
        churned = np.concatenate([np.ones(n), [0.0]])
        counts = np.concatenate([-np.diff(s), [s[-1]]])
        return self._fit_rows(durations, churned, counts)

    def fit_lifetimes(
        self, durations: ArrayLike, censored: ArrayLike, weights: ArrayLike | None = None
    ) -> ShiftedBetaGeometric:
        """Fit on per-customer data: periods observed, and whether still active (censored)."""
        t, c = _check_lifetimes(durations, censored)
        w = check_weights(weights, t.size)
        return self._fit_rows(t, 1.0 - c, w)

    def fit_summary(
        self, summary: pd.DataFrame, weights: ArrayLike | None = None
    ) -> ShiftedBetaGeometric:
        """Fit on a per-customer table with columns ``duration`` and ``censored``."""
        require_columns(summary, ("duration", "censored"))
        return self.fit_lifetimes(summary["duration"], summary["censored"], weights=weights)

    def _fit_rows(
        self, durations: FloatArray, churned: FloatArray, weights: FloatArray
    ) -> ShiftedBetaGeometric:
        (ct, cc), cw = compress(durations, churned, weights=weights)
        if not np.any(cc > 0):
            raise DataError("the data hold no cancellation: the churn rate cannot be estimated")
        total_weight = float(cw.sum())

        def neg_ll_and_grad(log_params: FloatArray) -> tuple[float, FloatArray]:
            ll, grad = _log_likelihood_terms(log_params, ct, cc)
            return -weighted_sum(cw, ll) / total_weight, -weighted_sum(cw, grad) / total_weight

        x0 = np.zeros(2)
        return self._fit_objective(neg_ll_and_grad, x0, total_weight, int(round(total_weight)))

    # --- Predictions -----------------------------------------------------------------------

    def retention_rate(self, t: ArrayLike) -> FloatArray:
        """r_t = P(T > t | T > t-1) = (beta+t-1) / (alpha+beta+t-1), for periods t >= 1."""
        periods = _whole_periods(t, "t", 1)
        alpha, beta = self.params["alpha"], self.params["beta"]
        return np.asarray((beta + periods - 1) / (alpha + beta + periods - 1), dtype=np.float64)

    def survival(self, t: ArrayLike) -> FloatArray:
        """S(t) = B(alpha, beta+t) / B(alpha, beta): the share still active after t periods."""
        periods = _whole_periods(t, "t", 0)
        alpha, beta = self.params["alpha"], self.params["beta"]
        return np.asarray(np.exp(betaln(alpha, beta + periods) - betaln(alpha, beta)))

    def expected_remaining_lifetime(self, renewals: ArrayLike, discount_rate: float) -> FloatArray:
        """Discounted expected residual lifetime (DERL) of a customer with ``renewals`` renewals.

        Fader & Hardie (2010), with n - 1 = ``renewals`` and z = 1/(1+d), just before the
        customer's n-th renewal decision:
        DERL = (beta+n-1)/(alpha+beta+n-1) 2F1(1, beta+n; alpha+beta+n; z), the expected
        number of future payments, the next one undiscounted and each later one discounted by
        (1+d) per period (their Table 3 is reproduced by the tests). Multiply by the payment
        for the residual value. Infinite when ``discount_rate`` is 0 and alpha <= 1.
        """
        done = _whole_periods(renewals, "renewals", 0)
        d = as_array(discount_rate, "discount_rate")[0]
        if not d >= 0:
            raise DataError(f"discount_rate must be a finite number >= 0, got {discount_rate}")
        alpha, beta = self.params["alpha"], self.params["beta"]
        n = done + 1
        if d == 0:
            if alpha <= 1:
                return np.full(n.size, np.inf)
            # the limit of the series at z = 1 (Gauss): (beta+n-1)/(alpha-1)
            return np.asarray((beta + n - 1) / (alpha - 1), dtype=np.float64)
        z = 1.0 / (1.0 + d)
        with np.errstate(all="ignore"):
            series = np.asarray(hyp2f1(1.0, beta + n, alpha + beta + n, z), dtype=np.float64)
        bad = ~np.isfinite(series)
        if np.any(bad):
            series[bad] = _renewal_quadrature(alpha, beta + n[bad], d)
        rate = (beta + n - 1) / (alpha + beta + n - 1)
        return np.asarray(rate * series, dtype=np.float64)


#: Gauss-Legendre nodes and weights on (0, 1) for :func:`_renewal_quadrature`.
_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(256)
_NODES, _WEIGHTS = (_NODES + 1) / 2, _WEIGHTS / 2


def _renewal_quadrature(alpha: float, b: FloatArray, d: float) -> FloatArray:
    """2F1(1, b; b+alpha; 1/(1+d)) where scipy's hyp2f1 gives up (large b, small d).

    It equals (1+d) E[1/(d+V)] with V ~ Beta(alpha, b) (Euler's integral), taken as an
    integral over the quantiles of V so that the mass is found however concentrated it is:
    the integrand is bounded by 1/d and smooth, and the result accurate to about 1e-7.
    """
    unique, inverse = np.unique(b, return_inverse=True)
    quantiles = betaincinv(alpha, unique[:, None], _NODES[None, :])
    values = (1 + d) * np.sum(_WEIGHTS / (d + quantiles), axis=1)
    return np.asarray(values[inverse.reshape(-1)], dtype=np.float64)
