"""What followed an answer: later purchases and churn by NPS category. A pure function over
tables (the responses of :mod:`retentio.analytics.feedback` and the transactions)."""

from __future__ import annotations

import math

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from retentio.analytics._feedback import (
    _DAY_US,
    _EPOCH,
    NPS_CATEGORIES,
    _arrow,
    _categories,
    _micros,
    _scores,
)
from retentio.analytics._input import as_date
from retentio.core.errors import ConfigurationError

__all__ = ["feedback_outcomes"]


def feedback_outcomes(
    responses: object,
    transactions: object,
    *,
    observation_end: object,
    horizon_days: int = 90,
    survey: str | None = None,
) -> pd.DataFrame:
    """Later purchases and churn by NPS category: do detractors leave, do promoters buy again?

    Each customer counts once, with their latest NPS answer whose horizon (the
    ``horizon_days`` after it) ended by ``observation_end``; answers given later are left
    out, their horizon not over yet. The figures describe each group; they do not say the
    answer caused what followed.

    Parameters
    ----------
    responses
        The answers (``customer_id``, ``score``, ``responded_at``; ``kind`` and ``survey`` as
        for :func:`nps`).
    transactions
        Normalised transactions (``customer_id``, ``ordered_at``, ``is_refund``; see
        :func:`retentio.load_transactions`); refunds are not purchases.
    observation_end
        Last day (inclusive) of the orders known.
    horizon_days
        How long after the answer a purchase counts (1 to 3650 days).
    survey
        Only this survey's answers.

    Returns
    -------
    pandas.DataFrame
        Rows ``detractor``, ``passive``, ``promoter`` and ``all`` (column ``category``), with

        * ``respondents``: customers counted;
        * ``buyers``: of them, those who had bought before answering;
        * ``repurchased``: respondents with a purchase in the horizon;
          ``repeat_purchase_rate = repurchased / respondents``;
        * ``churned``: buyers without a purchase in the horizon;
          ``churn_rate = churned / buyers``;
        * ``orders``: their purchases in the horizon; ``orders_per_respondent``.

        Rates are NaN for an empty group.
    """
    if isinstance(horizon_days, bool) or not isinstance(horizon_days, int):
        raise ConfigurationError(f"horizon_days: whole days, got {horizon_days!r}")
    if not 1 <= horizon_days <= 3650:
        raise ConfigurationError(f"horizon_days: 1 to 3650, got {horizon_days}")
    end_us = (as_date(observation_end).toordinal() - _EPOCH + 1) * _DAY_US
    horizon = horizon_days * _DAY_US
    found = _scores(responses, "nps", survey=survey, customers=True, times=True)
    answers = pd.DataFrame(
        {
            "customer_id": found.customers.to_numpy(zero_copy_only=False),
            "category": _categories(found.scores),
            "at": found.at,
        }
    )
    answers = answers[answers["at"] + horizon <= end_us].sort_values("at", kind="stable")
    latest = answers.drop_duplicates("customer_id", keep="last").set_index("customer_id")
    orders = _arrow(transactions, "transactions", ("customer_id", "ordered_at", "is_refund"))
    orders = orders.filter(pc.invert(pc.fill_null(orders["is_refund"], False)))
    bought = pd.DataFrame(
        {
            "customer_id": pc.cast(orders["customer_id"], pa.string()).to_numpy(
                zero_copy_only=False
            ),
            "ordered": _micros(orders["ordered_at"]),
        }
    )
    bought = bought[(bought["ordered"] < end_us) & bought["customer_id"].isin(latest.index)]
    joined = bought.join(latest, on="customer_id")
    before = joined["ordered"] <= joined["at"]
    within = (joined["ordered"] > joined["at"]) & (joined["ordered"] <= joined["at"] + horizon)
    by_customer = joined["customer_id"]
    people = latest.assign(
        before=before.groupby(by_customer).any().reindex(latest.index, fill_value=False),
        orders=within.groupby(by_customer).sum().reindex(latest.index, fill_value=0),
    ).astype({"before": bool, "orders": "int64"})
    rows = []
    for name, group in [
        *((c, people[people["category"] == code]) for code, c in enumerate(NPS_CATEGORIES)),
        ("all", people),
    ]:
        respondents = len(group)
        buyers = int(group["before"].sum())
        repurchased = int((group["orders"] > 0).sum())
        churned = int((group["before"] & (group["orders"] == 0)).sum())
        orders_in = int(group["orders"].sum())
        rows.append(
            {
                "category": name,
                "respondents": respondents,
                "buyers": buyers,
                "repurchased": repurchased,
                "repeat_purchase_rate": repurchased / respondents if respondents else math.nan,
                "churned": churned,
                "churn_rate": churned / buyers if buyers else math.nan,
                "orders": orders_in,
                "orders_per_respondent": orders_in / respondents if respondents else math.nan,
            }
        )
    counts = ["respondents", "buyers", "repurchased", "churned", "orders"]
    return pd.DataFrame(rows).astype({c: "int64" for c in counts})
