"""Special-function pieces shared by the BG/NBD family (BG/NBD, MBG/NBD)."""

from __future__ import annotations

import numpy as np
from scipy.special import hyp2f1

from retentio.models.base import FloatArray

__all__ = ["A_NEAR_ONE", "expected_if_alive"]


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
