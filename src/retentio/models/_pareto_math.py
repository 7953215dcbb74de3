"""Numerical pieces of the Pareto/NBD gradient and purchase-count distribution (private).

Two tools, both vectorised over rows and kept in log space:

* :func:`hyp2f1_1_series` sums the positive series of 2F1(1, b; c; z) together with its
  derivatives with respect to b and c (term by term: d/db log (b)_k and d/dc log (c)_k are the
  running harmonic sums sum_{j<k} 1/(b+j), 1/(c+j)), for 0 <= z <= :data:`SERIES_Z_MAX`.
* :func:`concave_quadrature` integrates h(d) exp(psi(d)) for a concave psi with its maximum
  at d = 0, by composite Gauss-Legendre (graded towards the maximum) on v = sqrt(phi),
  phi(d) = -psi(d) + kappa |d|, so the exponential decay becomes a Gaussian and nearly flat
  stretches stay evenly covered. It is used where the series would be long (z near 1), where
  the interval is so short that a difference of two series would cancel, and for the
  purchase-count distribution; on the integrals of this package its relative error is
  about 1e-13 (checked against adaptive quadrature in the tests).

:func:`interval_moments` (the gradient's path) and :func:`log_interval_integral` (the value
alone, for predictions: :func:`hyp2f1_1_log_series` skips the derivative sums) sum each series
once per distinct (P, Q, t) of many rows: daily data has few distinct t.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.polynomial.legendre import leggauss
from numpy.typing import NDArray
from scipy.special import expit, gammaln

from retentio.models.base import FloatArray, group_codes

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

#: Largest argument z summed as a series (about 4000 terms at most; alpha/beta up to ~100 at
#: t = 0); beyond it, quadrature.
SERIES_Z_MAX = 0.99
#: Smallest share (J(t_x) - J(T)) / J(t_x) taken from the series (the difference loses about
#: log10(1/share) digits); shorter intervals go to the quadrature.
MIN_SERIES_GAP = 1e-4
#: Most series terms (never reached for z <= SERIES_Z_MAX).
_MAX_TERMS = 20000
#: Drop of the log-integrand below its maximum beyond which the integrand is ignored.
_CUT = 50.0
#: Composite Gauss-Legendre rule on [0, 1]: _OUTER equal panels on [1/4, 1] of _OUTER_NODES
#: nodes, and panels [2^-(j+1), 2^-j] for 2 <= j < _GRADES plus [0, 2^-_GRADES] of _NODES nodes,
#: graded so that features close to v = 0 (a peak's own scale) are resolved.
_OUTER = 3
_OUTER_NODES = 16
_GRADES = 12
_NODES = 10
_MAX_NEWTON = 200
#: Fewest series rows summed once per distinct (P, Q, t) (below, the hash group-by's fixed
#: cost, about 0.5 ms, is more than it saves: it would add half to a fit on CDNOW).
_DISTINCT_MIN_ROWS = 10_000


def _unit_rule() -> tuple[FloatArray, FloatArray]:
    edges = [0.0, *(2.0 ** -np.arange(_GRADES, 2, -1)), *np.linspace(0.25, 1.0, _OUTER + 1)]
    nodes, weights = [], []
    for j, (lo, hi) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
        x, w = leggauss(_NODES if j < _GRADES - 1 else _OUTER_NODES)
        nodes.append(lo + (hi - lo) * (x + 1) / 2)
        weights.append((hi - lo) * w / 2)
    return (
        np.asarray(np.concatenate(nodes), dtype=np.float64),
        np.asarray(np.concatenate(weights), dtype=np.float64),
    )


_UNIT_NODES, _UNIT_WEIGHTS = _unit_rule()

Curve = Callable[[FloatArray], FloatArray]


def hyp2f1_1_series(
    b: FloatArray, c: FloatArray, z: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """Positive series of H = 2F1(1, b; c; z) and relatives, for 0 <= z <= SERIES_Z_MAX, c > b > 0.

    Returns (log H, d log H/db + d log H/dc, d log H/dc, log 2F1(1, b+1; c+1; z),
    log 2F1(1, b; c+1; z)). With T_k = (b)_k / (c)_k z^k, d/db + d/dc of log T_k is
    sum_{j<k} (c-b) / ((b+j)(c+j)) >= 0 and d/dc log T_k is -sum_{j<k} 1/(c+j), so every sum
    is of terms of one sign. Rows leave the loop as soon as their terms stop counting.
    """
    n = z.size
    out = [np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)]
    active = np.arange(n)
    bb, cc, zz = b.copy(), c.copy(), z.copy()
    term = np.ones(n)
    term_b1 = np.ones(n)
    term_c1 = np.ones(n)
    total = np.ones(n)
    total_b1 = np.ones(n)
    total_c1 = np.ones(n)
    harm_bc = np.zeros(n)
    harm_c = np.zeros(n)
    sum_bc = np.zeros(n)
    sum_c = np.zeros(n)
    gap = cc - bb
    for k in range(_MAX_TERMS):
        b_k = bb + k
        inv_c = 1.0 / (cc + k)
        inv_c1 = 1.0 / (cc + (k + 1))
        bz = b_k * zz
        harm_bc += gap * inv_c / b_k
        harm_c += inv_c
        term *= bz * inv_c
        term_b1 *= (bz + zz) * inv_c1
        term_c1 *= bz * inv_c1
        total += term
        total_b1 += term_b1
        total_c1 += term_c1
        sum_bc += term * harm_bc
        sum_c += term * harm_c
        if k % 8 == 7 or k == _MAX_TERMS - 1:
            done = (term_b1 * (1.0 + harm_c + harm_bc) <= 1e-17) | (k == _MAX_TERMS - 1)
            if np.any(done):
                rows = active[done]
                out[0][rows] = np.log(total[done])
                out[1][rows] = sum_bc[done] / total[done]
                out[2][rows] = -sum_c[done] / total[done]
                out[3][rows] = np.log(total_b1[done])
                out[4][rows] = np.log(total_c1[done])
                keep = ~done
                active = active[keep]
                if active.size == 0:
                    break
                bb, cc, zz, gap = bb[keep], cc[keep], zz[keep], gap[keep]
                term, term_b1, term_c1 = term[keep], term_b1[keep], term_c1[keep]
                total, total_b1, total_c1 = total[keep], total_b1[keep], total_c1[keep]
                harm_bc, harm_c = harm_bc[keep], harm_c[keep]
                sum_bc, sum_c = sum_bc[keep], sum_c[keep]
    return out[0], out[1], out[2], out[3], out[4]


def hyp2f1_1_log_series(b: FloatArray, c: FloatArray, z: FloatArray) -> FloatArray:
    """log 2F1(1, b; c; z) alone: :func:`hyp2f1_1_series`'s first output without the derivative
    sums, for 0 <= z <= SERIES_Z_MAX, c > b > 0. Every term ratio (b+k) z / (c+k) is below z,
    so the tail after a term is below term z / (1-z): a row stops once that is below 1e-17."""
    n = z.size
    out = np.zeros(n)
    active = np.arange(n)
    bb, cc, zz = b.copy(), c.copy(), z.copy()
    tail = zz / (1.0 - zz)
    term = np.ones(n)
    total = np.ones(n)
    for k in range(_MAX_TERMS):
        term *= (bb + k) * zz * (1.0 / (cc + k))
        total += term
        if k % 8 == 7 or k == _MAX_TERMS - 1:
            done = (term * tail <= 1e-17 * total) | (k == _MAX_TERMS - 1)
            if np.any(done):
                out[active[done]] = np.log(total[done])
                keep = ~done
                active = active[keep]
                if active.size == 0:
                    break
                bb, cc, zz, tail = bb[keep], cc[keep], zz[keep], tail[keep]
                term, total = term[keep], total[keep]
    return out


def distinct_rows(*columns: FloatArray) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """(first, codes): the first row of each distinct row of ``columns`` and, for every row, the
    number of its distinct row (:func:`~retentio.models.base.group_codes`), so that
    ``column[first][codes]`` is ``column``."""
    codes = group_codes(*columns)
    # codes count up in order of first appearance: a row is a first where their maximum grows
    first = np.flatnonzero(np.diff(np.maximum.accumulate(codes), prepend=-1) > 0)
    return first, codes


def decreasing_root(
    f: Curve, df: Curve, lo: FloatArray, hi: FloatArray, iterations: int = _MAX_NEWTON
) -> FloatArray:
    """Root of a decreasing f on [lo, hi] per row (f(lo) >= 0 >= f(hi)), by Newton steps kept
    inside a shrinking bracket (bisection when a step would leave it)."""
    lo, hi = lo.copy(), hi.copy()
    x = (lo + hi) / 2
    for _ in range(iterations):
        value = f(x)
        lo = np.where(value > 0, x, lo)
        hi = np.where(value > 0, hi, x)
        slope = df(x)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = x - value / slope
        inside = np.isfinite(step) & (step > lo) & (step < hi)
        new = np.where(inside, step, (lo + hi) / 2)
        moved = np.abs(new - x)
        x = new
        if np.all((moved <= 1e-15 * (1.0 + np.abs(x))) | (hi - lo <= 1e-15 * (1.0 + np.abs(x)))):
            break
    return x


def concave_quadrature(
    psi: Curve, dpsi: Curve, lo: FloatArray, hi: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Nodes d and weights w (rows x k) with sum_k w h(d_k) ~ int_lo^hi h(d) exp(psi(d)) dd.

    ``psi`` is concave with psi(0) = 0 its maximum over [lo, hi] (lo <= 0 <= hi); ``psi`` and
    ``dpsi`` (its derivative) take arrays of shape (rows, m). Each side of 0 is mapped to
    v = sqrt(phi), phi(d) = -psi(d) + kappa |d| (kappa = 1 / side length: phi increases at
    least linearly, so nearly flat stretches stay evenly covered and small v is well
    conditioned), which turns the integral into
    int_0^V exp(-v^2) e^(kappa |d|) 2 v / (|psi'(d)| + kappa) dv, smooth in v, done by a
    composite Gauss-Legendre rule graded towards v = 0 (where a peak's own scale shows). Each
    node's d is solved by Newton from the far end, monotone for a convex increasing phi. The
    part where psi < 1 - _CUT is left out (relative error below e^(1 - _CUT)).
    """
    all_nodes, all_weights = [], []
    for end in (hi, lo):
        sign = np.where(end >= 0, 1.0, -1.0)[:, None]
        length = np.abs(end)[:, None]
        empty = length <= 0
        kappa = 1.0 / np.where(empty, 1.0, length)
        phi_end = -psi(end[:, None]) + 1.0
        root = np.sqrt(np.where(empty, 0.0, np.clip(phi_end, 0.0, _CUT)))
        v = root * _UNIT_NODES[None, :]
        target = v * v
        d = np.broadcast_to(end[:, None], v.shape).copy()
        for _ in range(_MAX_NEWTON):
            excess = -psi(d) + kappa * np.abs(d) - target
            step = np.where(excess > 0, excess / (-dpsi(d) * sign + kappa), 0.0)
            new = d - step * sign
            new = np.where(sign > 0, np.clip(new, 0.0, length), np.clip(new, -length, 0.0))
            moved = np.abs(new - d)
            d = new
            if np.all(moved <= 1e-15 * (1.0 + np.abs(d))):
                break
        slope = np.abs(dpsi(d)) + kappa
        weight = (
            root * _UNIT_WEIGHTS[None, :] * np.exp(kappa * np.abs(d) - target) * 2.0 * v / slope
        )
        all_nodes.append(d)
        all_weights.append(np.where(empty, 0.0, weight))
    return np.concatenate(all_nodes, axis=1), np.concatenate(all_weights, axis=1)


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
