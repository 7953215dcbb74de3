"""Exact, vectorised simulators of the models in :mod:`retentio.models`.

Each function draws customers from the generative story of one model, exactly (no time grid,
no truncation of the purchase process) and without a Python loop per customer, so a million
customers take under a second. They serve parameter-recovery tests and benchmarks:
fitting the matching model on a large simulated sample recovers the parameters.

The continuous-time BTYD simulators rest on one identity: given that ``N`` purchases of a
Poisson process fall in (0, T), their times are ``N`` sorted uniform draws on (0, T), and the
k-th of them is ``T * Beta(k, N - k + 1)``. A customer who can make at most ``K`` repeat
purchases before dropping out makes ``x = min(N, K)`` of them, the last at the x-th arrival.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from retentio.core.errors import DataError
from retentio.core.frames import require_columns
from retentio.models.base import FloatArray, as_array, check_frequency, check_observation_time

__all__ = [
    "simulate_betageo",
    "simulate_bgbb",
    "simulate_gamma_gamma",
    "simulate_modified_betageo",
    "simulate_pareto_nbd",
    "simulate_sbg",
    "survivors_from_lifetimes",
]

Seed = int | np.random.Generator | None
IntArray = NDArray[np.int64]

#: Largest expected purchase count lambda * T numpy's Poisson sampler is asked for.
_MAX_POISSON_MEAN = 1e15
#: sBG lifetimes beyond this many periods (a churn probability that rounds to 0) are censored.
_MAX_LIFETIME = 2**62


# --- Input checks ------------------------------------------------------------------------


def _check_params(params: Mapping[str, float], names: tuple[str, ...]) -> tuple[float, ...]:
    """The values of ``names`` in ``params``, each a finite number > 0; no other keys."""
    if not isinstance(params, Mapping):
        raise DataError(f"params must be a mapping with the keys {', '.join(names)}")
    missing = [name for name in names if name not in params]
    if missing:
        raise DataError(f"params is missing the key(s) {', '.join(missing)}")
    extra = sorted(str(key) for key in params if key not in names)
    if extra:
        raise DataError(
            f"params has unknown key(s) {', '.join(extra)}; expected {', '.join(names)}"
        )
    values = []
    for name in names:
        try:
            value = float(params[name])
        except (TypeError, ValueError):
            raise DataError(f"params[{name!r}] must be a number, got {params[name]!r}") from None
        if not (math.isfinite(value) and value > 0):
            raise DataError(f"params[{name!r}] must be a finite number > 0, got {value}")
        values.append(value)
    return tuple(values)


def _check_count(value: object, name: str, smallest: int) -> int:
    """A whole number >= ``smallest`` given as an int (or a whole float)."""
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        count = int(value)
    elif isinstance(value, float | np.floating) and float(value).is_integer():
        count = int(value)
    else:
        raise DataError(f"{name} must be a whole number >= {smallest}, got {value!r}")
    if count < smallest:
        raise DataError(f"{name} must be a whole number >= {smallest}, got {count}")
    return count


def _per_customer(values: ArrayLike, n_customers: int | None, name: str) -> FloatArray:
    """``values`` (a scalar, or one per customer) as one float per customer."""
    array = as_array(values, name)
    if np.ndim(values) == 0:
        if n_customers is None:
            raise DataError(f"n_customers is required when {name} is a scalar")
        return np.full(_check_count(n_customers, "n_customers", 0), array[0])
    if n_customers is not None and _check_count(n_customers, "n_customers", 0) != array.size:
        raise DataError(
            f"n_customers ({n_customers}) differs from the number of {name} values ({array.size})"
        )
    return array


def _generator(seed: Seed) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int | np.integer)):
        raise DataError(f"seed must be an int, a numpy Generator or None, got {seed!r}")
    try:
        return np.random.default_rng(seed)
    except ValueError as exc:
        raise DataError(f"seed is not usable: {exc}") from None


# --- Shared draws ------------------------------------------------------------------------


def _trials_to_first_success(rng: np.random.Generator, prob: FloatArray) -> FloatArray:
    """Geometric draws on {1, 2, ...}: Bernoulli(``prob``) trials up to the first success.

    Drawn by inversion in floating point, so that a probability that rounds to 0 (a beta draw
    with a tiny first parameter) gives infinity rather than an error or an integer overflow:
    the number of failures exceeds k with probability (1 - prob)^k exactly when
    U <= (1 - prob)^k, U uniform on (0, 1].
    """
    uniform = 1.0 - rng.random(prob.size)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        log_stay = np.log1p(-prob)
        failures = np.where(log_stay < 0, np.floor(np.log(uniform) / log_stay), np.inf)
    return np.asarray(failures + 1.0, dtype=np.float64)


def _poisson(rng: np.random.Generator, mean: FloatArray) -> FloatArray:
    if np.any(mean > _MAX_POISSON_MEAN):
        raise DataError(
            f"the parameters and T give up to {float(np.max(mean)):.3g} expected purchases per "
            "customer, too many to simulate: rescale time or the rate parameters"
        )
    return np.asarray(rng.poisson(mean), dtype=np.float64)


def _frequency_recency(
    rng: np.random.Generator, rate: FloatArray, big_t: FloatArray, most: FloatArray
) -> pd.DataFrame:
    """At most ``most`` repeat purchases of a Poisson(``rate``) process on (0, T)."""
    arrivals = _poisson(rng, rate * big_t)
    frequency = np.minimum(arrivals, most)
    recency = np.zeros(frequency.size)
    some = frequency > 0
    # the x-th of N sorted uniform times on (0, T)
    recency[some] = big_t[some] * rng.beta(frequency[some], arrivals[some] - frequency[some] + 1.0)
    return pd.DataFrame({"frequency": frequency, "recency": recency, "T": big_t})


def _observation_times(T: ArrayLike, n_customers: int | None) -> FloatArray:
    big_t = _per_customer(T, n_customers, "T")
    check_observation_time(big_t)
    return big_t


# --- Continuous-time BTYD ----------------------------------------------------------------


def _betageo_family(
    params: Mapping[str, float],
    T: ArrayLike,
    n_customers: int | None,
    seed: Seed,
    *,
    coin_at_start: bool,
) -> pd.DataFrame:
    """BG/NBD draws; with ``coin_at_start`` (MBG/NBD) the dropout coin is also flipped at 0."""
    r, alpha, a, b = _check_params(params, ("r", "alpha", "a", "b"))
    big_t = _observation_times(T, n_customers)
    rng = _generator(seed)
    rate = rng.gamma(r, 1.0 / alpha, big_t.size)
    dropout = rng.beta(a, b, big_t.size)
    most = _trials_to_first_success(rng, dropout) - (1.0 if coin_at_start else 0.0)
    return _frequency_recency(rng, rate, big_t, most)


def simulate_betageo(
    params: Mapping[str, float],
    T: ArrayLike,
    n_customers: int | None = None,
    *,
    seed: Seed = None,
) -> pd.DataFrame:
    """Draw customers from the BG/NBD model (Fader, Hardie & Lee 2005).

    Each customer buys at a Poisson rate lambda ~ Gamma(r, rate alpha) from the first purchase
    at time 0, and after each repeat purchase drops out with probability p ~ Beta(a, b). So
    they make at most K ~ Geometric(p) repeat purchases (K >= 1) and, with N ~ Poisson(lambda T)
    arrivals in (0, T), x = min(N, K) of them.

    Parameters
    ----------
    params : Mapping[str, float]
        ``r``, ``alpha``, ``a`` and ``b``, each > 0 (e.g. a fitted ``BetaGeo().params``).
    T : float or array_like
        Time from each customer's first purchase to the end of observation, > 0: one value
        for all customers or one per customer.
    n_customers : int, optional
        Number of customers; required when ``T`` is a scalar, defaults to ``len(T)``.
    seed : int, numpy.random.Generator or None
        Seed or generator of the random draws.

    Returns
    -------
    pandas.DataFrame
        One row per customer: ``frequency`` (repeat purchases), ``recency`` (time of the last
        repeat purchase, 0 if none) and ``T``, all floats, as ``BetaGeo.fit`` takes them.

    Raises
    ------
    DataError
        A missing, unknown or non-positive parameter, ``T <= 0``, or a bad ``n_customers``.
    """
    return _betageo_family(params, T, n_customers, seed, coin_at_start=False)


def simulate_modified_betageo(
    params: Mapping[str, float],
    T: ArrayLike,
    n_customers: int | None = None,
    *,
    seed: Seed = None,
) -> pd.DataFrame:
    """Draw customers from the MBG/NBD model (Batislam, Denizel & Filiztekin 2007).

    As :func:`simulate_betageo`, but the dropout coin is also flipped at time 0, right after
    the first purchase, as in the likelihood ``ModifiedBetaGeo`` fits: the number of repeat
    purchases before dropping out is K = Geometric(p) - 1 >= 0, and x = min(N, K).

    Parameters
    ----------
    params : Mapping[str, float]
        ``r``, ``alpha``, ``a`` and ``b``, each > 0.
    T : float or array_like
        Time from each customer's first purchase to the end of observation, > 0.
    n_customers : int, optional
        Number of customers; required when ``T`` is a scalar, defaults to ``len(T)``.
    seed : int, numpy.random.Generator or None
        Seed or generator of the random draws.

    Returns
    -------
    pandas.DataFrame
        Columns ``frequency``, ``recency`` and ``T`` (floats), one row per customer.

    Raises
    ------
    DataError
        A missing, unknown or non-positive parameter, ``T <= 0``, or a bad ``n_customers``.
    """
    return _betageo_family(params, T, n_customers, seed, coin_at_start=True)


def simulate_pareto_nbd(
    params: Mapping[str, float],
    T: ArrayLike,
    n_customers: int | None = None,
    *,
    seed: Seed = None,
) -> pd.DataFrame:
    """Draw customers from the Pareto/NBD model (Schmittlein, Morrison & Colombo 1987).

    Each customer buys at a Poisson rate lambda ~ Gamma(r, rate alpha) from time 0 until the
    end of an exponential lifetime of rate mu ~ Gamma(s, rate beta). Over the active time
    min(lifetime, T) they make x ~ Poisson(lambda min(lifetime, T)) repeat purchases, the
    last at the maximum of x uniform times, min(lifetime, T) Beta(x, 1).

    Parameters
    ----------
    params : Mapping[str, float]
        ``r``, ``alpha``, ``s`` and ``beta``, each > 0.
    T : float or array_like
        Time from each customer's first purchase to the end of observation, > 0.
    n_customers : int, optional
        Number of customers; required when ``T`` is a scalar, defaults to ``len(T)``.
    seed : int, numpy.random.Generator or None
        Seed or generator of the random draws.

    Returns
    -------
    pandas.DataFrame
        Columns ``frequency``, ``recency`` and ``T`` (floats), one row per customer.

    Raises
    ------
    DataError
        A missing, unknown or non-positive parameter, ``T <= 0``, or a bad ``n_customers``.
    """
    r, alpha, s, beta = _check_params(params, ("r", "alpha", "s", "beta"))
    big_t = _observation_times(T, n_customers)
    rng = _generator(seed)
    rate = rng.gamma(r, 1.0 / alpha, big_t.size)
    dropout_rate = rng.gamma(s, 1.0 / beta, big_t.size)
    with np.errstate(divide="ignore", over="ignore"):
        lifetime = rng.standard_exponential(big_t.size) / dropout_rate
    active = np.minimum(lifetime, big_t)
    frequency = _poisson(rng, rate * active)
    recency = np.zeros(big_t.size)
    some = frequency > 0
    recency[some] = active[some] * rng.beta(frequency[some], 1.0)
    return pd.DataFrame({"frequency": frequency, "recency": recency, "T": big_t})


# --- Discrete time -----------------------------------------------------------------------


def simulate_bgbb(
    params: Mapping[str, float],
    n_periods: ArrayLike,
    n_customers: int | None = None,
    *,
    seed: Seed = None,
) -> pd.DataFrame:
    """Draw customers from the BG/BB model (Fader, Hardie & Shang 2010).

    At each of ``n_periods`` transaction opportunities after the first transaction, a customer
    still alive transacts with probability p ~ Beta(alpha, beta); before each opportunity they
    drop out with probability theta ~ Beta(gamma, delta), so they are alive at the first
    m = min(Geometric(theta) - 1, n_periods) opportunities. Reading those m opportunities
    backwards, the ones after the last transaction are the failures before a first success,
    J = Geometric(p) - 1: with J < m the last transaction is at opportunity m - J and the
    m - J - 1 before it hold Binomial(m - J - 1, p) more; with J >= m there is none. No
    customers-by-opportunities matrix is built.

    Parameters
    ----------
    params : Mapping[str, float]
        ``alpha``, ``beta``, ``gamma`` and ``delta``, each > 0.
    n_periods : int or array_like
        Transaction opportunities after the first transaction, whole numbers >= 0: one for
        all customers or one per customer.
    n_customers : int, optional
        Number of customers; required when ``n_periods`` is a scalar, defaults to its length.
    seed : int, numpy.random.Generator or None
        Seed or generator of the random draws.

    Returns
    -------
    pandas.DataFrame
        Columns ``frequency`` (repeat transactions), ``recency`` (opportunity of the last,
        0 if none) and ``n_periods``, as floats, as ``BetaGeoBetaBinom.fit`` takes them.

    Raises
    ------
    DataError
        A missing, unknown or non-positive parameter, ``n_periods`` not whole and >= 0, or a
        bad ``n_customers``.
    """
    alpha, beta, gamma, delta = _check_params(params, ("alpha", "beta", "gamma", "delta"))
    periods = _per_customer(n_periods, n_customers, "n_periods")
    check_frequency(periods, "n_periods")
    rng = _generator(seed)
    size = periods.size
    transact = rng.beta(alpha, beta, size)
    dropout = rng.beta(gamma, delta, size)
    alive = np.minimum(_trials_to_first_success(rng, dropout) - 1.0, periods)
    idle_at_end = _trials_to_first_success(rng, transact) - 1.0
    bought = idle_at_end < alive
    recency = np.where(bought, alive - idle_at_end, 0.0)
    before_last = np.where(bought, recency - 1.0, 0.0).astype(np.int64)
    frequency = np.where(bought, 1.0 + rng.binomial(before_last, transact), 0.0)
    return pd.DataFrame({"frequency": frequency, "recency": recency, "n_periods": periods})


# --- Spend -------------------------------------------------------------------------------


def simulate_gamma_gamma(
    params: Mapping[str, float], frequency: ArrayLike, *, seed: Seed = None
) -> pd.DataFrame:
    """Draw mean spends from the Gamma-Gamma model (Fader, Hardie & Lee 2005; Fader & Hardie 2013).

    Each customer has nu ~ Gamma(q, rate gamma) and each of their ``frequency`` transactions
    is Gamma(p, rate nu), as ``GammaGamma`` fits; their sum is Gamma(p x, rate nu), so the
    mean spend is drawn directly as Gamma(p x, rate nu) / x.

    Parameters
    ----------
    params : Mapping[str, float]
        ``p``, ``q`` and ``gamma``, each > 0.
    frequency : array_like
        Number of transactions of each customer, whole numbers >= 0 (e.g. the ``frequency``
        column of a :func:`simulate_betageo` table).
    seed : int, numpy.random.Generator or None
        Seed or generator of the random draws.

    Returns
    -------
    pandas.DataFrame
        Columns ``frequency`` and ``monetary_value`` (the mean of the draws, 0 where the
        frequency is 0), floats, one row per customer.

    Raises
    ------
    DataError
        A missing, unknown or non-positive parameter, or ``frequency`` not whole and >= 0.
    """
    p, q, gamma = _check_params(params, ("p", "q", "gamma"))
    x = as_array(frequency, "frequency")
    check_frequency(x)
    rng = _generator(seed)
    nu = rng.gamma(q, 1.0 / gamma, x.size)
    spend = np.zeros(x.size)
    some = x > 0
    with np.errstate(divide="ignore", over="ignore"):
        spend[some] = rng.standard_gamma(p * x[some]) / (nu[some] * x[some])
    return pd.DataFrame({"frequency": x, "monetary_value": spend})


# --- Contractual retention ---------------------------------------------------------------


def simulate_sbg(
    params: Mapping[str, float],
    n_customers: int,
    n_periods: int | None = None,
    *,
    seed: Seed = None,
) -> pd.DataFrame:
    """Draw customer lifetimes from the shifted-beta-geometric model (Fader & Hardie 2007).

    Each customer cancels at the end of each period with probability theta ~ Beta(alpha,
    beta): the period in which they cancel is Geometric(theta) >= 1.

    Parameters
    ----------
    params : Mapping[str, float]
        ``alpha`` and ``beta``, each > 0.
    n_customers : int
        Number of customers (the cohort size), >= 0.
    n_periods : int, optional
        Periods observed, >= 1: a customer still active after them is censored at
        ``n_periods``. Without it nothing is censored, save lifetimes beyond 2**62 periods
        (a churn probability that rounds to 0), which are censored there.
    seed : int, numpy.random.Generator or None
        Seed or generator of the random draws.

    Returns
    -------
    pandas.DataFrame
        Columns ``lifetime`` (int: the period of cancellation, or ``n_periods`` when
        censored) and ``censored`` (bool: still active), as
        ``ShiftedBetaGeometric.fit_lifetimes(lifetime, censored)`` takes them; see
        :func:`survivors_from_lifetimes` for ``ShiftedBetaGeometric.fit``.

    Raises
    ------
    DataError
        A missing, unknown or non-positive parameter, or a bad ``n_customers``/``n_periods``.
    """
    alpha, beta = _check_params(params, ("alpha", "beta"))
    size = _check_count(n_customers, "n_customers", 0)
    horizon = _MAX_LIFETIME if n_periods is None else _check_count(n_periods, "n_periods", 1)
    rng = _generator(seed)
    cancels_in = _trials_to_first_success(rng, rng.beta(alpha, beta, size))
    censored = cancels_in > horizon
    lifetime = np.minimum(cancels_in, float(horizon)).astype(np.int64)
    return pd.DataFrame({"lifetime": lifetime, "censored": censored})


def survivors_from_lifetimes(lifetimes: pd.DataFrame, n_periods: int) -> IntArray:
    """Customers still active after 0..``n_periods`` periods: ShiftedBetaGeometric.fit's input.

    ``survivors[0]`` is the cohort size and ``survivors[t]`` the customers who have not
    cancelled in periods 1..t, i.e. still active at the start of period t + 1.

    Parameters
    ----------
    lifetimes : pandas.DataFrame
        Columns ``lifetime`` (the period of cancellation, or of censoring) and ``censored``
        (still active after ``lifetime`` periods), as :func:`simulate_sbg` returns them.
    n_periods : int
        Periods to count, >= 1; at most the smallest censored lifetime, beyond which the
        survivors are unknown.

    Returns
    -------
    numpy.ndarray
        ``n_periods + 1`` counts (int64), non-increasing.

    Raises
    ------
    SchemaError
        A missing column.
    DataError
        Lifetimes that are not whole numbers (>= 1 where not censored), a ``censored`` column
        that is not boolean, or ``n_periods`` beyond a censoring time.
    """
    require_columns(lifetimes, ("lifetime", "censored"), "lifetimes")
    periods = _check_count(n_periods, "n_periods", 1)
    lifetime = as_array(lifetimes["lifetime"], "lifetime")
    flags = as_array(lifetimes["censored"], "censored")
    if np.any((flags != 0) & (flags != 1)):
        raise DataError("censored must hold booleans (True = still active)")
    censored = flags == 1
    check_frequency(lifetime, "lifetime")
    if np.any(~censored & (lifetime < 1)):
        raise DataError("lifetime must be >= 1 for customers who cancelled (censored false)")
    if np.any(censored & (lifetime < periods)):
        first = int(np.min(lifetime[censored]))
        raise DataError(
            f"n_periods ({periods}) goes beyond the censoring of some customers after {first} "
            "period(s): their later survival is unknown"
        )
    cancelled = np.sort(lifetime[~censored])
    after = np.searchsorted(cancelled, np.arange(periods + 1), side="right")
    survivors = cancelled.size - after + int(np.sum(censored))
    return np.asarray(survivors, dtype=np.int64)
