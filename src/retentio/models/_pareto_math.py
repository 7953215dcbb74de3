"""The Pareto/NBD's integrals, their parameter derivatives and the purchase-count distribution.

Private to :mod:`retentio.models.pareto`. Both tools it builds on are vectorised over rows and
kept in log space: the positive series of 2F1(1, b; c; z) with its derivatives
(:mod:`retentio.models._pareto_series`, for z up to 0.99) and a Gauss-Legendre quadrature of
log-concave integrands (:mod:`retentio.models._pareto_quadrature`), used where the series
would be long (z near 1), where the interval is so short that a difference of two series would
cancel, and for the purchase-count distribution.

:func:`interval_moments` (the gradient's path) and :func:`log_interval_integral` (the value
alone, for predictions: :func:`hyp2f1_1_log_series` skips the derivative sums) sum each series
once per distinct (P, Q, t) of many rows: daily data has few distinct t.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.special import expit, gammaln

from retentio.models._pareto_quadrature import concave_quadrature, decreasing_root
from retentio.models._pareto_series import (
    SERIES_Z_MAX,
    distinct_rows,
    hyp2f1_1_log_series,
    hyp2f1_1_series,
)
from retentio.models.base import FloatArray

__all__ = [
    "MIN_SERIES_GAP",
    "SERIES_Z_MAX",
    "concave_quadrature",
    "decreasing_root",
    "distinct_rows",
    "hyp2f1_1_log_series",
    "hyp2f1_1_series",
    "interval_moments",
    "log_dropout_integral",
    "log_interval_integral",
]

#: Smallest share (J(t_x) - J(T)) / J(t_x) taken from the series (the difference loses about
#: log10(1/share) digits); shorter intervals go to the quadrature.
MIN_SERIES_GAP = 1e-4
#: Fewest series rows summed once per distinct (P, Q, t) (below, the hash group-by's fixed
#: cost, about 0.5 ms, is more than it saves: it would add half to a fit on CDNOW).
_DISTINCT_MIN_ROWS = 10_000


def log_sigmoid_pair(gap: FloatArray) -> tuple[FloatArray, FloatArray]:
    """(log(1 - sigma), log sigma) of sigma = expit(gap), without cancellation."""
    return -np.logaddexp(0.0, gap), -np.logaddexp(0.0, -gap)


def log_shift(log_rest: FloatArray, log_share: FloatArray, d: FloatArray) -> FloatArray:
    """log((e^c + e^(p+d)) / (e^c + e^p)) from log(1-sigma), log sigma with sigma = expit(p-c)."""
    return np.asarray(np.logaddexp(log_rest, log_share + d), dtype=np.float64)


def share(gap: FloatArray) -> FloatArray:
    """expit(gap) as a float array."""
    return np.asarray(expit(gap), dtype=np.float64)


def interval_moments(
    big_exp: FloatArray,
    small_exp: FloatArray,
    big: float,
    small: float,
    t_x: FloatArray,
    big_t: FloatArray,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """Moments of tau under the density proportional to (L+tau)^-P (l+tau)^-Q on [t_x, T].

    L = ``big`` >= l = ``small``, P = ``big_exp``, Q = ``small_exp`` (both > 0, P+Q > 1).
    Returns (E log((L+tau)/(L+t_x)), E 1/(L+tau), E log((l+tau)/(l+t_x)), E 1/(l+tau),
    log int_{t_x}^T (L+tau)^-P (l+tau)^-Q dtau), each moment clipped to its range; at
    t_x = T the moments are the values at T and the log integral is -inf.

    With J(P, Q; t) = int_t^inf (L+tau)^-P (l+tau)^-Q dtau
    = (L+t)^-P (l+t)^(1-Q) 2F1(1, P; P+Q; z_t) / (P+Q-1), z_t = (L-l)/(L+t)
    (the integral of Fader & Hardie's note after Euler's transformation), the integral over
    [t_x, T] is J(t_x) - J(T); the log moments are -d/dP and -d/dQ of its log, and the
    inverse moments are ratios of the same integral with P or Q raised by one. Rows with
    z_{t_x} <= SERIES_Z_MAX use the series, unless [t_x, T] holds less than MIN_SERIES_GAP of
    J(t_x) (the difference would cancel); the others the quadrature over log(l + tau), which
    integrates over [t_x, T] itself.
    """
    n = t_x.size
    width = big_t - t_x
    span_big = np.log1p(width / (big + t_x))
    span_small = np.log1p(width / (small + t_x))
    results = [np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n), np.full(n, -np.inf)]
    hard = (big - small) / (big + t_x) > SERIES_Z_MAX
    easy = np.flatnonzero(~hard)
    if easy.size:
        args = (big_exp[easy], small_exp[easy], big, small, t_x[easy], big_t[easy])
        parts, gap = _series_moments(*args)
        for j, part in enumerate(parts):
            results[j][easy] = part
        # J(t_x) - J(T) loses about log10(1/gap) digits: short intervals go to the quadrature
        hard[easy] = ~(gap >= MIN_SERIES_GAP) & (width[easy] > 0)
    if np.any(hard):
        args = (big_exp[hard], small_exp[hard], big, small, t_x[hard], big_t[hard])
        for j, part in enumerate(_quadrature_moments(*args)):
            results[j][hard] = part
    results[0] = np.clip(results[0], 0.0, span_big)
    results[1] = np.clip(results[1], 1.0 / (big + big_t), 1.0 / (big + t_x))
    results[2] = np.clip(results[2], 0.0, span_small)
    results[3] = np.clip(results[3], 1.0 / (small + big_t), 1.0 / (small + t_x))
    return results[0], results[1], results[2], results[3], results[4]


def log_interval_integral(
    big_exp: FloatArray,
    small_exp: FloatArray,
    big: float,
    small: float,
    t_x: FloatArray,
    big_t: FloatArray,
) -> FloatArray:
    """log int_{t_x}^T (L+tau)^-P (l+tau)^-Q dtau alone: :func:`interval_moments`'s last output,
    from the same series or quadrature on the same rows, without derivative sums or moments.

    The series are summed once per distinct (P, Q, t) (see :func:`_at_both_ends`); the rest
    is elementwise per row.
    """
    out = np.full(t_x.size, -np.inf)
    hard = (big - small) / (big + t_x) > SERIES_Z_MAX
    easy = np.flatnonzero(~hard)
    if easy.size:
        p, q, start, end = big_exp[easy], small_exp[easy], t_x[easy], big_t[easy]
        (log_h,) = _at_both_ends(_log_series, p, q, big, small, start, end)
        span_big = np.log1p((end - start) / (big + start))
        span_small = np.log1p((end - start) / (small + start))
        j0 = log_h[: easy.size]
        j1 = -p * span_big + (1 - q) * span_small + log_h[easy.size :]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            gap = -np.expm1(np.minimum(j1 - j0, 0.0))
            out[easy] = (
                -p * np.log(big + start)
                + (1 - q) * np.log(small + start)
                - np.log(p + q - 1.0)
                + j0
                + np.log(gap)
            )
        hard[easy] = ~(gap >= MIN_SERIES_GAP) & (end > start)
    if np.any(hard):
        args = (big_exp[hard], small_exp[hard], big, small, t_x[hard], big_t[hard])
        out[hard] = _quadrature_rule(*args)[2]
    return out


def _log_series(b: FloatArray, c: FloatArray, z: FloatArray) -> tuple[FloatArray]:
    return (hyp2f1_1_log_series(b, c, z),)


def _at_both_ends(
    series: Callable[[FloatArray, FloatArray, FloatArray], tuple[FloatArray, ...]],
    big_exp: FloatArray,
    small_exp: FloatArray,
    big: float,
    small: float,
    t_x: FloatArray,
    big_t: FloatArray,
) -> tuple[FloatArray, ...]:
    """``series(P, P+Q, z_t)`` at t = t_x (first half of each output) and t = T (second half).

    A row's series depends on (P, Q, t) only, and those repeat across rows (one customer's
    t_x is another's T; daily data has few distinct t), so each distinct (P, Q, t) is summed
    once: rows are independent in the series, so the values are the same as row by row.
    """
    ends, both_p, both_q = np.concatenate([t_x, big_t]), np.tile(big_exp, 2), np.tile(small_exp, 2)
    if ends.size < _DISTINCT_MIN_ROWS:
        return series(both_p, both_p + both_q, (big - small) / (big + ends))
    first, codes = distinct_rows(both_p, both_q, ends)
    p, q = both_p[first], both_q[first]
    return tuple(part[codes] for part in series(p, p + q, (big - small) / (big + ends[first])))


def _series_moments(
    big_exp: FloatArray,
    small_exp: FloatArray,
    big: float,
    small: float,
    t_x: FloatArray,
    big_t: FloatArray,
) -> tuple[list[FloatArray], FloatArray]:
    """:func:`interval_moments` through the series at t_x and at T, and the share
    (J(t_x) - J(T)) / J(t_x) of the tail integral that lies in [t_x, T]."""
    a = big_exp + small_exp - 1.0
    rows = t_x.size
    series = _at_both_ends(hyp2f1_1_series, big_exp, small_exp, big, small, t_x, big_t)
    span_big = np.log1p((big_t - t_x) / (big + t_x))
    span_small = np.log1p((big_t - t_x) / (small + t_x))
    zero = np.zeros(rows)
    pieces = []
    for half, s_big, s_small in (
        (slice(0, rows), zero, zero),
        (slice(rows, 2 * rows), span_big, span_small),
    ):
        log_h, d_big, d_small, log_h_big, log_h_small = (part[half] for part in series)
        # log J(t), and J(t) with P or Q raised by one, less their t-free parts and the
        # (L+t_x), (l+t_x) powers: what is left is small, so J(T)/J(t_x) keeps its digits
        log_j = -big_exp * s_big + (1 - small_exp) * s_small + log_h
        log_j_big = -(big_exp + 1) * s_big + (1 - small_exp) * s_small + log_h_big
        log_j_small = -big_exp * s_big - small_exp * s_small + log_h_small
        pieces.append((log_j, d_big, d_small, log_j_big, log_j_small))
    (j0, g_big0, g_small0, jb0, js0), (j1, g_big1, g_small1, jb1, js1) = pieces
    log_big0, log_small0 = np.log(big + t_x), np.log(small + t_x)
    log_ratio = np.log(a) - np.log(a + 1)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = np.exp(np.minimum(j1 - j0, 0.0))
        gap = -np.expm1(np.minimum(j1 - j0, 0.0))
        # E log((L+tau)/(L+t_x)) = -(d_P log J(t_x) - ratio d_P log J(T)) / (1 - ratio) shifted
        # by log(L+t_x); d_P log J(t) = -log(L+t) - 1/a + d_big(t).
        off_big = 1.0 / a + (ratio * (g_big1 - span_big) - g_big0) / gap
        off_small = 1.0 / a + (ratio * (g_small1 - span_small) - g_small0) / gap
        log_gap = np.log(gap)
        log_i = -big_exp * log_big0 + (1 - small_exp) * log_small0 - np.log(a) + j0 + log_gap
        inv_big = np.exp(
            jb0
            - j0
            + np.log(-np.expm1(np.minimum(jb1 - jb0, 0.0)))
            - log_gap
            - log_big0
            + log_ratio
        )
        inv_small = np.exp(
            js0
            - j0
            + np.log(-np.expm1(np.minimum(js1 - js0, 0.0)))
            - log_gap
            - log_small0
            + log_ratio
        )
    degenerate = ~(gap > 0) | ~np.isfinite(off_big + off_small + inv_big + inv_small)
    off_big = np.where(degenerate, span_big, off_big)
    off_small = np.where(degenerate, span_small, off_small)
    inv_big = np.where(degenerate, 1.0 / (big + big_t), inv_big)
    inv_small = np.where(degenerate, 1.0 / (small + big_t), inv_small)
    return [off_big, inv_big, off_small, inv_small, log_i], gap


def _quadrature_rule(
    big_exp: FloatArray,
    small_exp: FloatArray,
    big: float,
    small: float,
    t_x: FloatArray,
    big_t: FloatArray,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Weights and offsets rho - log(l + t_x) of the quadrature over rho = log(l + tau) of
    :func:`_quadrature_moments`, and the log integral.

    In rho the log-integrand psi(rho) = (1-Q) rho - P log(L - l + e^rho) is concave
    (dtau = e^rho drho). Positions are kept as offsets from rho0 = log(l + t_x), with the
    interval's length log1p((T - t_x)/(l + t_x)), so short intervals keep their digits.
    """
    with np.errstate(divide="ignore"):
        c = np.log(big - small)  # -inf at L == l (reached for short intervals): psi is linear
    rho0 = np.log(small + t_x)
    span = np.log1p((big_t - t_x) / (small + t_x))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        inner = (1 - small_exp) / big_exp
        peak = c + np.log(inner) - np.log1p(-inner) - rho0
    peak = np.where(inner <= 0, 0.0, np.where(inner >= 1, span, peak))
    peak = np.clip(np.where(np.isnan(peak), 0.0, peak), 0.0, span)
    log_rest, log_share = log_sigmoid_pair(rho0 + peak - c)
    q1, p = (1 - small_exp)[:, None], big_exp[:, None]
    lr, ls, pk = log_rest[:, None], log_share[:, None], (rho0 + peak)[:, None]

    def psi(d: FloatArray) -> FloatArray:
        return np.asarray(q1 * d - p * log_shift(lr, ls, d), dtype=np.float64)

    def dpsi(d: FloatArray) -> FloatArray:
        return np.asarray(q1 - p * share(pk + d - c), dtype=np.float64)

    nodes, weights = concave_quadrature(psi, dpsi, -peak, span - peak)
    log_peak = (1 - small_exp) * pk[:, 0] - big_exp * np.logaddexp(c, pk[:, 0])
    with np.errstate(divide="ignore"):
        log_integral = log_peak + np.log(weights.sum(axis=1))
    return weights, peak[:, None] + nodes, log_integral


def _quadrature_moments(
    big_exp: FloatArray,
    small_exp: FloatArray,
    big: float,
    small: float,
    t_x: FloatArray,
    big_t: FloatArray,
) -> list[FloatArray]:
    """:func:`interval_moments` by the quadrature of :func:`_quadrature_rule` (the log
    integral last)."""
    weights, offset, log_integral = _quadrature_rule(big_exp, small_exp, big, small, t_x, big_t)
    with np.errstate(divide="ignore"):
        c = np.log(big - small)
    rho0 = np.log(small + t_x)
    rho = rho0[:, None] + offset
    total = weights.sum(axis=1)
    rest0, share0 = log_sigmoid_pair(rho0 - c)
    off_big = (weights * log_shift(rest0[:, None], share0[:, None], offset)).sum(1)
    off_small = (weights * offset).sum(1)
    inv_big = (weights * np.exp(-np.logaddexp(c, rho))).sum(1)
    inv_small = (weights * np.exp(-rho)).sum(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        parts = [off_big / total, inv_big / total, off_small / total, inv_small / total]
    return [*(np.nan_to_num(part, nan=0.0) for part in parts), log_integral]


def log_dropout_integral(
    n: FloatArray,
    t: FloatArray,
    size: FloatArray,
    alpha: FloatArray,
    s: float,
    beta: FloatArray,
) -> FloatArray:
    """log int_0^t NB(n; tau) s beta^s (beta+tau)^-(s+1) dtau per row (-inf where t = 0).

    NB(n; tau) = Gamma(size+n) / (Gamma(size) n!) (alpha/(alpha+tau))^size (tau/(alpha+tau))^n
    is the gamma-Poisson count of a customer who buys until a dropout at tau. In
    rho = log tau the log-integrand (n+1) rho - (size+n) log(alpha+e^rho)
    - (s+1) log(beta+e^rho) is concave, so :func:`concave_quadrature` applies around its
    maximum (found by :func:`decreasing_root`, then clipped to log t).
    """
    out = np.full(n.size, -np.inf)
    keep = t > 0
    if not np.any(keep):
        return out
    n, t, size, alpha, beta = n[keep], t[keep], size[keep], alpha[keep], beta[keep]
    log_a, log_b = np.log(alpha), np.log(beta)
    top = size + n
    total = top + s + 1

    def slope(rho: FloatArray) -> FloatArray:
        return np.asarray(
            (n + 1) - top * share(rho - log_a) - (s + 1) * share(rho - log_b), dtype=np.float64
        )

    def curvature(rho: FloatArray) -> FloatArray:
        sa, sb = share(rho - log_a), share(rho - log_b)
        return np.asarray(-top * sa * (1 - sa) - (s + 1) * sb * (1 - sb), dtype=np.float64)

    left = np.minimum(log_a, log_b) - np.log(total + 1) - 5.0
    right = np.maximum(log_a, log_b) + np.log(total / (size + s)) + 5.0
    peak = np.minimum(decreasing_root(slope, curvature, left, right), np.log(t))
    rest_a, share_a = log_sigmoid_pair(peak - log_a)
    rest_b, share_b = log_sigmoid_pair(peak - log_b)
    n1, tp, s1 = (n + 1)[:, None], top[:, None], s + 1.0
    ra, sa, rb, sb = rest_a[:, None], share_a[:, None], rest_b[:, None], share_b[:, None]
    pk = peak[:, None]

    def psi(d: FloatArray) -> FloatArray:
        return np.asarray(
            n1 * d - tp * log_shift(ra, sa, d) - s1 * log_shift(rb, sb, d), dtype=np.float64
        )

    def dpsi(d: FloatArray) -> FloatArray:
        return np.asarray(
            n1 - tp * share(pk + d - log_a[:, None]) - s1 * share(pk + d - log_b[:, None]),
            dtype=np.float64,
        )

    lo = np.minimum(left, peak) - 60.0 - peak
    _, weights = concave_quadrature(psi, dpsi, lo, np.log(t) - peak)
    log_peak = (
        gammaln(top)
        - gammaln(size)
        - gammaln(n + 1)
        + size * log_a
        + np.log(s)
        + s * log_b
        + (n + 1) * peak
        - top * np.logaddexp(log_a, peak)
        - (s + 1) * np.logaddexp(log_b, peak)
    )
    with np.errstate(divide="ignore"):
        out[keep] = log_peak + np.log(weights.sum(axis=1))
    return out
