"""The Gamma-Gamma model of spend per transaction.

Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005), "RFM and CLV: using iso-value curves for
customer base analysis", *Journal of Marketing Research* 42(4), 415-430; and Fader & Hardie
(2013), "The Gamma-Gamma model of monetary value".

Each transaction of a customer is Gamma(p, nu) distributed, with nu ~ Gamma(q, gamma) across
customers; the model is fitted on the mean spend ``monetary_value`` of the ``frequency`` repeat
transactions of each customer who made at least one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.special import digamma, gammaln

from retentio.core.errors import ConvergenceError, DataError, EmptyDataError
from retentio.core.frames import require_columns
from retentio.models.base import (
    WARM_START_ROWS,
    FloatArray,
    Model,
    as_array,
    check_frequency,
    check_same_length,
    check_weights,
    weighted_sum,
)
from retentio.models.horizon import Horizon
from retentio.models.transactions import TransactionModel
from retentio.models.value import customer_lifetime_value

__all__ = ["GammaGamma"]


def _log_likelihood_terms(
    log_params: FloatArray, x: FloatArray, m: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Per-row log density of the mean spend ``m`` of ``x`` transactions, and its gradient.

    log f = lnG(px+q) - lnG(px) - lnG(q) + q ln(gamma) + (px-1) ln(m) + px ln(x)
            - (px+q) ln(x m + gamma)
    """
    p, q, gamma = np.exp(log_params)
    px = p * x
    log_total = np.log(x * m + gamma)
    log_xm = np.log(x) + np.log(m)
    psi_pxq = digamma(px + q)
    ll = (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(gamma)
        + (px - 1) * np.log(m)
        + px * np.log(x)
        - (px + q) * log_total
    )
    d_p = x * (psi_pxq - digamma(px) + log_xm - log_total)
    d_q = psi_pxq - digamma(q) + np.log(gamma) - log_total
    d_gamma = q / gamma - (px + q) / (x * m + gamma)
    grad = np.column_stack([p * d_p, q * d_q, gamma * d_gamma])
    return ll, grad


@dataclass(frozen=True)
class _SpendData:
    """The repeat buyers' data reduced to what the likelihood needs.

    Summed over customers, log f is a function of lnG terms of the distinct frequencies, of a
    few constant sums and of two sums over customers of ln(gamma + x m) (and of 1 / (gamma + x m)
    for the gradient): one pass of a logarithm and a division over the rows per evaluation.
    """

    rows_x: FloatArray  # frequency of every row
    rows_m: FloatArray  # mean spend of every row
    x: FloatArray  # distinct frequencies
    weight: FloatArray  # total weight of each distinct frequency
    total: FloatArray  # x m of every row
    w: FloatArray  # weight of every row
    wx: FloatArray  # weight times x of every row
    constant_p: float  # sum of w x (ln m + ln x)
    constant: float  # sum of w ln m

    @classmethod
    def of(cls, x: FloatArray, m: FloatArray, w: FloatArray) -> _SpendData:
        values, at = np.unique(x, return_inverse=True)
        log_m = np.log(m)
        return cls(
            rows_x=x,
            rows_m=m,
            x=values,
            weight=np.bincount(at, weights=w, minlength=values.size).astype(np.float64),
            total=x * m,
            w=w,
            wx=w * x,
            constant_p=float(np.dot(w * x, log_m + np.log(x))),
            constant=float(np.dot(w, log_m)),
        )

    def subsample(self, size: int, rng: np.random.Generator) -> _SpendData:
        """A random ``size`` of the rows (a start for the full fit)."""
        rows = rng.choice(self.total.size, size=size, replace=False)
        return _SpendData.of(self.rows_x[rows], self.rows_m[rows], self.w[rows])

    def neg_mean_ll_and_grad(self, log_params: FloatArray) -> tuple[float, FloatArray]:
        """Minus the mean log-likelihood and its gradient in the log-parameters."""
        p, q, gamma = np.exp(log_params)
        n = float(self.weight.sum())
        px = p * self.x
        log_total = np.log(self.total + gamma)
        inverse = 1.0 / (self.total + gamma)
        s1, s0 = weighted_sum(self.wx, log_total), weighted_sum(self.w, log_total)
        r1, r0 = weighted_sum(self.wx, inverse), weighted_sum(self.w, inverse)
        ll = (
            float(self.weight @ (gammaln(px + q) - gammaln(px)))
            - n * gammaln(q)
            + n * q * np.log(gamma)
            + p * self.constant_p
            - self.constant
            - p * s1
            - q * s0
        )
        psi = digamma(px + q)
        d_p = float(self.weight @ (self.x * (psi - digamma(px)))) + self.constant_p - s1
        d_q = float(self.weight @ psi) - n * digamma(q) + n * np.log(gamma) - s0
        d_gamma = n * q / gamma - (p * r1 + q * r0)
        grad = np.array([p * d_p, q * d_q, gamma * d_gamma])
        return -ll / n, -grad / n


def _check_spend(frequency: ArrayLike, monetary_value: ArrayLike) -> tuple[FloatArray, FloatArray]:
    x = as_array(frequency, "frequency")
    m = as_array(monetary_value, "monetary_value")
    check_same_length(frequency=x, monetary_value=m)
    check_frequency(x)
    if np.any(m < 0):
        raise DataError("monetary_value must be >= 0")
    if np.any((x > 0) & (m <= 0)):
        raise DataError("monetary_value must be > 0 where frequency > 0")
    return x, m


class GammaGamma(Model):
    """Gamma-Gamma spend model; parameters ``p``, ``q``, ``gamma``."""

    name = "GammaGamma"
    param_names = ("p", "q", "gamma")

    def fit(
        self,
        frequency: ArrayLike,
        monetary_value: ArrayLike,
        weights: ArrayLike | None = None,
    ) -> GammaGamma:
        """Fit on the customers with ``frequency > 0``; the others are left out."""
        x, m = _check_spend(frequency, monetary_value)
        w = check_weights(weights, x.size)
        repeat = (x > 0) & (w > 0)
        if not np.any(repeat):
            raise EmptyDataError(
                "frequency has no customer with a repeat purchase (frequency > 0): "
                "the Gamma-Gamma model needs repeat buyers"
            )
        x_r, m_r = x[repeat], m[repeat]
        if self.penalizer == 0 and not (np.any(x_r != x_r[0]) or np.any(m_r != m_r[0])):
            # Every repeat buyer alike (one customer, say): no spread between customers to fit,
            # the likelihood grows without end along a ridge. Said here, not left to where the
            # optimiser happens to stop, which differs between machines.
            raise ConvergenceError(
                "GammaGamma cannot be fitted: every repeat buyer has the same frequency and "
                "mean spend, so nothing separates one customer's spend from another's. "
                "Try a small penalizer (e.g. penalizer=0.001) or more data."
            )
        data = _SpendData.of(x_r, m_r, w[repeat])
        total_weight = float(data.weight.sum())
        # Start from the method of moments guess of a mean spend near the data's mean, refined
        # on a random part of the rows when there are many (fewer passes over all of them).
        mean_spend = float(np.average(data.rows_m, weights=data.w))
        x0 = np.log(np.array([1.0, 2.0, mean_spend]))
        if data.total.size > WARM_START_ROWS:
            part = data.subsample(WARM_START_ROWS // 4, np.random.default_rng(0))
            x0, _ = self._minimise(part.neg_mean_ll_and_grad, x0)
        return self._fit_objective(
            data.neg_mean_ll_and_grad, x0, total_weight, int(round(total_weight))
        )

    def fit_summary(self, summary: pd.DataFrame, weights: ArrayLike | None = None) -> GammaGamma:
        """Fit on a :func:`retentio.summarize` table (columns frequency, monetary_value)."""
        require_columns(summary, ("frequency", "monetary_value"))
        return self.fit(summary["frequency"], summary["monetary_value"], weights=weights)

    def expected_spend(self, frequency: ArrayLike, monetary_value: ArrayLike) -> FloatArray:
        """E[mean spend | x, m] = (p gamma + p x m) / (p x + q - 1); p gamma / (q-1) at x = 0."""
        x, m = _check_spend(frequency, monetary_value)
        p, q, gamma = (self.params[n] for n in self.param_names)
        if q <= 1:
            raise DataError(f"the fitted q={q:.4g} is <= 1: the population mean spend is infinite")
        return np.asarray((p * gamma + p * x * m) / (p * x + q - 1), dtype=np.float64)

    def customer_lifetime_value(
        self,
        transaction_model: TransactionModel,
        summary: pd.DataFrame,
        horizon: Horizon | str | int | float = 12,
        discount_rate: float = 0.01,
        freq: str = "D",
    ) -> FloatArray:
        """Discounted CLV of each customer of ``summary`` over ``horizon`` (12 months by
        default), combining ``transaction_model`` with this spend model; see
        :func:`retentio.models.value.customer_lifetime_value`."""
        return customer_lifetime_value(
            transaction_model, self, summary, horizon, discount_rate, freq
        )
