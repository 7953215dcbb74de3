"""Customer lifetime value: a transaction model's expected purchases times Gamma-Gamma spend."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from retentio.core.errors import ConfigurationError
from retentio.core.frames import require_columns
from retentio.models.base import FloatArray, as_array
from retentio.models.horizon import Horizon, parse_horizon
from retentio.models.transactions import TransactionModel, unique_rows

if TYPE_CHECKING:
    from retentio.models.gammagamma import GammaGamma

__all__ = ["customer_lifetime_value", "discounted_purchases"]


def discounted_purchases(
    transaction_model: TransactionModel,
    summary: pd.DataFrame,
    horizon: Horizon | str | int | float = 12,
    discount_rate: float = 0.01,
    freq: str = "D",
    *,
    probability_alive: FloatArray | None = None,
) -> FloatArray:
    """Each customer's expected purchases over ``horizon``, each step's discounted:
    sum over m = 1..M of (E[X(m)] - E[X(m-1)]) / (1 + discount_rate)^m. CLV is this times the
    expected spend per purchase; the arguments are those of :func:`customer_lifetime_value`
    (``probability_alive``: the customers' P(alive) when the caller has it already)."""
    span = parse_horizon(horizon)
    if not (math.isfinite(discount_rate) and discount_rate > -1):
        raise ConfigurationError(f"discount_rate must be a number > -1, got {discount_rate}")
    step = span.step_in(freq)
    periods = _periods_column(transaction_model, summary)
    require_columns(summary, ("frequency", "recency", periods))
    x = as_array(summary["frequency"], "frequency")
    t_x = as_array(summary["recency"], "recency")
    big_t = as_array(summary[periods], periods)
    # E[X(t) | history] = P(alive) E[X(t) | alive, x, T]: the second factor does not depend on
    # recency, so it is computed once per distinct (frequency, T) for every step.
    alive = (
        transaction_model.probability_alive(x, t_x, big_t)
        if probability_alive is None
        else probability_alive
    )
    (ux, uT), inverse = unique_rows(x, big_t)
    discrete = transaction_model.discrete
    value = np.zeros(ux.size)
    before = np.zeros(ux.size)
    for m in range(1, span.steps + 1):
        t = float(np.round(m * step)) if discrete else m * step
        after = transaction_model.expected_purchases_if_alive(t, ux, uT)
        value += (after - before) / (1.0 + discount_rate) ** m
        before = after
    return np.asarray(alive * value[inverse], dtype=np.float64)


def _periods_column(transaction_model: TransactionModel, summary: pd.DataFrame) -> str:
    """``n_periods`` for BG/BB when the summary has it, else ``T`` (a summary made with
    ``freq`` equal to the opportunity period counts them in ``T``)."""
    if transaction_model.discrete and "n_periods" in summary.columns:
        return "n_periods"
    return "T"


def customer_lifetime_value(
    transaction_model: TransactionModel,
    spend_model: GammaGamma,
    summary: pd.DataFrame,
    horizon: Horizon | str | int | float = 12,
    discount_rate: float = 0.01,
    freq: str = "D",
) -> FloatArray:
    """Discounted expected revenue of each customer over ``horizon``.

    CLV = sum over the steps m = 1..M of the horizon of
    E[spend] (E[X(m)] - E[X(m-1)]) / (1 + discount_rate)^m, where E[X(m)] is the transaction
    model's expected purchases of the customer by the end of step m and E[spend] the
    Gamma-Gamma expected mean spend. It is computed once per distinct row, vectorised.

    Parameters
    ----------
    transaction_model
        A fitted BetaGeo, ModifiedBetaGeo, ParetoNBD or BetaGeoBetaBinom.
    spend_model
        A fitted GammaGamma.
    summary
        Columns ``frequency, recency, T, monetary_value`` (for BG/BB ``T`` or ``n_periods``
        counts the opportunities), as :func:`retentio.summarize` returns.
    horizon
        ``"12M"``, ``"52W"``, ``"90D"``, ``"4Q"``, ``"1Y"`` or a number of months (default 12).
    discount_rate
        Discount rate per step of the horizon (per month for ``"12M"``); 0.01 a month is about
        12.7% a year.
    freq
        The time unit of ``recency`` and ``T``: ``D``, ``W``, ``M``, ``Q`` or ``Y`` (periods for
        BG/BB).

    Returns
    -------
    numpy.ndarray
        One CLV per row of ``summary``, in the currency of ``monetary_value``.
    """
    require_columns(summary, ["monetary_value"])
    count = discounted_purchases(transaction_model, summary, horizon, discount_rate, freq)
    spend = spend_model.expected_spend(summary["frequency"], summary["monetary_value"])
    return np.asarray(count * spend, dtype=np.float64)
