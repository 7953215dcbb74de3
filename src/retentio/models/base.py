"""The small base class every model derives from: fitting, summaries and JSON save/load.

Subclasses own the likelihood (with its analytic gradient) and the predictions; the base class
owns the optimiser, the Hessian-based standard errors, the summary table and the file format.
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import optimize, stats

from retentio.core.errors import ConfigurationError, ConvergenceError, DataError, ModelFormatError

__all__ = [
    "Model",
    "as_array",
    "check_transactions",
    "compress",
    "distinct_rows",
    "group_codes",
    "per_row",
    "weighted_sum",
]

FloatArray = NDArray[np.float64]
Objective = Callable[[FloatArray], tuple[float, FloatArray]]

#: Log-parameters are kept within these bounds so that exp() never overflows.
_GRADIENT_TOLERANCE = 1e-4  # max |gradient| of an accepted fit that did not report success
_LOG_BOUND = 30.0
#: Above this many (distinct) rows, a fit first runs on a random quarter of this many rows and
#: starts the full fit from there: fewer passes over all the rows, the same optimum.
WARM_START_ROWS = 80_000
#: Step of the central finite differences of the gradient that give the Hessian.
_HESSIAN_STEP = 1e-5

_ADVICE = (
    "Try a small penalizer (e.g. penalizer=0.001), more data, or rescaling time "
    "(e.g. weeks instead of days)."
)

_REGISTRY: dict[str, type[Model]] = {}


def as_array(values: ArrayLike, name: str) -> FloatArray:
    """One-dimensional float array of ``values``; a clear error naming ``name`` otherwise."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name} must be numeric: {exc}") from None
    if array.ndim == 0:
        array = array.reshape(1)
    if array.ndim != 1:
        raise DataError(f"{name} must be one-dimensional, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise DataError(f"{name} must be finite (no NaN or infinity)")
    return array


def per_row(values: FloatArray, n: int, name: str) -> FloatArray:
    """A scalar repeated for ``n`` rows, or ``n`` values; a DataError naming ``name`` otherwise."""
    if values.size == 1:
        return np.full(n, values[0])
    if values.size != n:
        raise DataError(f"{name} must be a scalar or have one value per customer ({n})")
    return values


def check_horizon(t: ArrayLike, n: int | None = None) -> FloatArray:
    """Horizons ``t`` >= 0: as given, or (with ``n``) a scalar or one per row of ``n`` rows."""
    horizon = as_array(t, "t")
    if n is not None:
        horizon = per_row(horizon, n, "t")
    if np.any(horizon < 0):
        raise DataError("t must be >= 0")
    return horizon


def check_same_length(**arrays: FloatArray) -> int:
    """The common length of ``arrays``; a DataError naming them when they differ."""
    lengths = {name: array.size for name, array in arrays.items()}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{name} has {n}" for name, n in lengths.items())
        raise DataError(f"the inputs must have the same length: {listed}")
    return next(iter(lengths.values()), 0)


def check_frequency(frequency: FloatArray, name: str = "frequency") -> None:
    """Frequencies must be whole numbers >= 0."""
    if np.any(frequency < 0) or np.any(frequency != np.round(frequency)):
        raise DataError(f"{name} must hold whole numbers >= 0")


def check_observation_time(big_t: FloatArray) -> None:
    """T (the time from the first purchase to the end of observation) must be > 0."""
    if np.any(big_t <= 0):
        raise DataError("T must be > 0 (the time from the first purchase to the end)")


def check_transactions(
    frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Check (frequency, recency, T) arrays up front and return them as float arrays."""
    x = as_array(frequency, "frequency")
    t_x = as_array(recency, "recency")
    big_t = as_array(T, "T")
    check_same_length(frequency=x, recency=t_x, T=big_t)
    check_frequency(x)
    check_observation_time(big_t)
    if np.any(t_x < 0) or np.any(t_x > big_t):
        raise DataError("recency must be between 0 and T")
    if np.any((x == 0) & (t_x != 0)):
        raise DataError("recency must be 0 where frequency is 0")
    return x, t_x, big_t


def check_weights(weights: ArrayLike | None, n: int) -> FloatArray:
    """User weights (default 1 per row): finite, >= 0, one per row, not all zero."""
    if weights is None:
        return np.ones(n)
    w = as_array(weights, "weights")
    if w.size != n:
        raise DataError(f"weights must have one value per row: {w.size} for {n} rows")
    if np.any(w < 0) or not np.any(w > 0):
        raise DataError("weights must be >= 0 and not all 0")
    return w


def group_codes(*columns: FloatArray) -> NDArray[np.intp]:
    """For every row, the number of its distinct (column values) row, 0, 1, ... in order of
    first appearance. A hash group-by: an order of magnitude faster than numpy's sort-based
    ``unique(axis=0)`` on millions of rows (the inputs are finite, so no row is dropped)."""
    if not columns or columns[0].size == 0:
        return np.zeros(0, dtype=np.intp)
    frame = pd.DataFrame({str(j): column for j, column in enumerate(columns)})
    codes = frame.groupby(list(frame.columns), sort=False).ngroup()
    return np.asarray(codes.to_numpy(), dtype=np.intp)


def distinct_rows(*columns: FloatArray) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """(first, codes): the first row of each distinct row of ``columns`` and, for every row, the
    number of its distinct row (:func:`group_codes`), so that
    ``column[first][codes]`` is ``column``."""
    codes = group_codes(*columns)
    # codes count up in order of first appearance: a row is a first where their maximum grows
    first = np.flatnonzero(np.diff(np.maximum.accumulate(codes), prepend=-1) > 0)
    return first, codes


def weighted_sum(weights: FloatArray, values: FloatArray) -> Any:
    """``weights @ values`` (a float for 1-D ``values``, one per column for 2-D) without BLAS.

    numpy's ``@`` hands long vectors to OpenBLAS, whose worker threads then spin between calls;
    on a two-core machine that made a million-customer Gamma-Gamma fit six times slower.
    ``einsum`` sums in numpy's own single-threaded loop.
    """
    if values.ndim == 1:
        return float(np.einsum("i,i->", weights, values))
    return np.einsum("i,ij->j", weights, values)


def compress(
    *columns: FloatArray, weights: FloatArray | None = None
) -> tuple[tuple[FloatArray, ...], FloatArray]:
    """Unique rows of ``columns`` with their total weight (count times any user weight)."""
    first, codes = distinct_rows(*columns)
    if codes.size == 0:
        return tuple(np.empty(0) for _ in columns), np.empty(0)
    total = np.bincount(codes, weights=weights, minlength=first.size).astype(np.float64)
    keep = total > 0
    return tuple(column[first][keep] for column in columns), total[keep]


class Model(ABC):
    """Base of every retentio model: maximum likelihood on log-parameters, with an L2 penalizer.

    Subclasses set ``name`` and ``param_names`` and, in ``fit``, call :meth:`_fit_objective`
    with the negative mean log-likelihood and its gradient with respect to the log-parameters.
    """

    name: ClassVar[str] = ""
    param_names: ClassVar[tuple[str, ...]] = ()
    #: True for models of whole periods (BG/BB: ``T`` is ``n_periods``, horizons are whole).
    discrete: ClassVar[bool] = False
    version: ClassVar[int] = 1

    def __init__(self, penalizer: float = 0.0) -> None:
        if not (math.isfinite(penalizer) and penalizer >= 0):
            raise ConfigurationError(f"penalizer must be a finite number >= 0, got {penalizer}")
        self.penalizer = float(penalizer)
        self._params: dict[str, float] | None = None
        self._standard_errors: dict[str, float] = {}
        self._log_likelihood = math.nan
        self.n_customers = 0

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.name:
            _REGISTRY[cls.name] = cls

    def __repr__(self) -> str:
        if self._params is None:
            return f"{type(self).__name__}(penalizer={self.penalizer}) (not fitted)"
        shown = ", ".join(f"{k}={v:.4g}" for k, v in self._params.items())
        return f"{type(self).__name__}({shown}, n_customers={self.n_customers})"

    @abstractmethod
    def fit_summary(self, summary: pd.DataFrame, weights: ArrayLike | None = None) -> Self:
        """Fit on a :func:`retentio.summarize` table; returns the fitted model."""

    # --- Results ---------------------------------------------------------------------------

    @property
    def params(self) -> dict[str, float]:
        """The fitted parameters, by name."""
        if self._params is None:
            raise ConfigurationError(f"{type(self).__name__} is not fitted: call .fit() first")
        return dict(self._params)

    @property
    def log_likelihood(self) -> float:
        """The total log-likelihood of the fitted data (without the penalty)."""
        self.params  # noqa: B018 - raises when not fitted
        return self._log_likelihood

    @property
    def standard_errors(self) -> dict[str, float]:
        """Standard errors of the parameters, from the inverse Hessian (delta method)."""
        self.params  # noqa: B018 - raises when not fitted
        return dict(self._standard_errors)

    def confidence_intervals(self, level: float = 0.95) -> pd.DataFrame:
        """Normal (delta method) intervals: one row per parameter, columns lower and upper."""
        if not 0 < level < 1:
            raise ConfigurationError(f"level must be between 0 and 1, got {level}")
        z = float(stats.norm.ppf(0.5 + level / 2))
        params, errors = self.params, self.standard_errors
        rows = {
            name: (params[name] - z * errors[name], params[name] + z * errors[name])
            for name in self.param_names
        }
        return pd.DataFrame.from_dict(rows, orient="index", columns=["lower", "upper"])

    def summary(self, level: float = 0.95) -> pd.DataFrame:
        """One row per parameter: param, estimate, standard_error, lower, upper."""
        intervals = self.confidence_intervals(level)
        return pd.DataFrame(
            {
                "param": list(self.param_names),
                "estimate": [self.params[n] for n in self.param_names],
                "standard_error": [self.standard_errors[n] for n in self.param_names],
                "lower": intervals["lower"].to_numpy(),
                "upper": intervals["upper"].to_numpy(),
            }
        )

    # --- Save and load ---------------------------------------------------------------------

    def to_json(self) -> str:
        """The fitted model as self-describing JSON (type, version, parameters, data summary)."""
        document = {
            "type": self.name,
            "version": self.version,
            "params": self.params,
            "log_likelihood": self.log_likelihood,
            "n_customers": self.n_customers,
            "penalizer": self.penalizer,
            "standard_errors": self.standard_errors,
        }
        return json.dumps(document, allow_nan=True)

    @classmethod
    def from_json(cls, text: str) -> Model:
        """Load a model saved by :meth:`to_json`; the base class dispatches on ``type``."""
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ModelFormatError(f"not a saved model (invalid JSON: {exc})") from None
        if not isinstance(document, dict) or "type" not in document:
            raise ModelFormatError("not a saved model: no 'type' field")
        kind = document["type"]
        target = _REGISTRY.get(kind) if cls is Model else cls
        if target is None or target.name != kind:
            expected = "one of " + ", ".join(sorted(_REGISTRY)) if cls is Model else cls.name
            raise ModelFormatError(f"saved model of type {kind!r}, expected {expected}")
        if document.get("version") != target.version:
            raise ModelFormatError(
                f"saved {kind} model has format version {document.get('version')!r}; "
                f"this retentio reads version {target.version}"
            )
        try:
            params = {name: float(document["params"][name]) for name in target.param_names}
            model = target(penalizer=float(document.get("penalizer", 0.0)))
            model._params = params
            model._log_likelihood = float(document["log_likelihood"])
            model.n_customers = int(document["n_customers"])
            errors = document.get("standard_errors") or {}
            model._standard_errors = {
                name: float(errors.get(name, math.nan)) for name in target.param_names
            }
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFormatError(f"saved {kind} model is malformed: {exc!r}") from None
        return model

    # --- Fitting ---------------------------------------------------------------------------

    def _fit_objective(
        self,
        neg_ll_and_grad: Objective,
        x0: FloatArray,
        total_weight: float,
        n_customers: int,
    ) -> Self:
        """Minimise ``neg_ll_and_grad`` (mean scale) plus the penalty; store the results."""
        x, value = self._minimise(neg_ll_and_grad, x0)
        params = np.exp(x)
        hessian = total_weight * self._hessian(neg_ll_and_grad, x)
        try:
            np.linalg.cholesky(hessian)
            log_se = np.sqrt(np.diag(np.linalg.inv(hessian)))
        except np.linalg.LinAlgError:
            raise ConvergenceError(
                f"{type(self).__name__} fit found no proper maximum (the Hessian of the "
                f"log-likelihood is not negative definite at {np.round(params, 6).tolist()}): "
                f"the data do not pin the parameters down. {_ADVICE}"
            ) from None
        penalty = self.penalizer * float(np.sum(params**2))
        self._params = {name: float(v) for name, v in zip(self.param_names, params, strict=True)}
        self._log_likelihood = -(value - penalty) * total_weight
        self.n_customers = n_customers
        self._standard_errors = {
            name: float(p * s) for name, p, s in zip(self.param_names, params, log_se, strict=True)
        }
        return self

    def _penalised(self, neg_ll_and_grad: Objective) -> Objective:
        def objective(x: FloatArray) -> tuple[float, FloatArray]:
            value, grad = neg_ll_and_grad(x)
            params = np.exp(x)
            value += self.penalizer * float(np.sum(params**2))
            grad = grad + 2.0 * self.penalizer * params**2
            return value, grad

        return objective

    def _minimise(self, neg_ll_and_grad: Objective, x0: FloatArray) -> tuple[FloatArray, float]:
        """L-BFGS-B over the log-parameters; ConvergenceError when it fails or goes non-finite."""
        objective = self._penalised(neg_ll_and_grad)
        with np.errstate(all="ignore"):
            result = optimize.minimize(
                objective,
                np.asarray(x0, dtype=np.float64),
                method="L-BFGS-B",
                jac=True,
                bounds=[(-_LOG_BOUND, _LOG_BOUND)] * len(x0),
                options={"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-10},
            )
        x = np.asarray(result.x, dtype=np.float64)
        value = float(result.fun)
        grad = np.asarray(result.jac, dtype=np.float64)
        if not (np.all(np.isfinite(x)) and math.isfinite(value) and np.all(np.isfinite(grad))):
            raise ConvergenceError(f"{type(self).__name__} fit gave non-finite values. {_ADVICE}")
        # The objective is a mean per customer. L-BFGS-B can end ABNORMAL on a flat ridge
        # (Gamma-Gamma's q and gamma growing together) with a gradient near 1e-5, on one
        # machine's floating-point kernels just under it and on another's just over: an
        # optimum that flat is reached; the Hessian check rejects unidentified ones.
        if not result.success and float(np.max(np.abs(grad))) > _GRADIENT_TOLERANCE:
            raise ConvergenceError(
                f"{type(self).__name__} fit did not converge ({result.message}). {_ADVICE}"
            )
        if np.any(np.abs(x) >= _LOG_BOUND - 1e-6):
            raise ConvergenceError(
                f"{type(self).__name__} fit ran off to a parameter of 0 or infinity. {_ADVICE}"
            )
        return x, value

    def _hessian(self, neg_ll_and_grad: Objective, x: FloatArray) -> FloatArray:
        """Central finite differences of the analytic (penalised) gradient, symmetrised."""
        objective = self._penalised(neg_ll_and_grad)
        k = x.size
        hessian = np.empty((k, k))
        for j in range(k):
            step = np.zeros(k)
            step[j] = _HESSIAN_STEP
            hessian[:, j] = (objective(x + step)[1] - objective(x - step)[1]) / (2 * _HESSIAN_STEP)
        return (hessian + hessian.T) / 2
