"""Positive series of the Gauss function 2F1(1, b; c; z) for the Pareto/NBD (private).

:func:`hyp2f1_1_series` sums it together with its derivatives with respect to b and c (term by
term: d/db log (b)_k and d/dc log (c)_k are the running harmonic sums sum_{j<k} 1/(b+j),
1/(c+j)) for 0 <= z <= :data:`SERIES_Z_MAX`; :func:`hyp2f1_1_log_series` sums the value alone
(for predictions). :func:`distinct_rows` lets callers sum each distinct series once.
"""

from __future__ import annotations

import numpy as np

from retentio.models.base import FloatArray, distinct_rows

__all__ = ["SERIES_Z_MAX", "distinct_rows", "hyp2f1_1_log_series", "hyp2f1_1_series"]

#: Largest argument z summed as a series (about 4000 terms at most; alpha/beta up to ~100 at
#: t = 0); beyond it, quadrature.
SERIES_Z_MAX = 0.99
#: Most series terms (never reached for z <= SERIES_Z_MAX).
_MAX_TERMS = 20000


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
