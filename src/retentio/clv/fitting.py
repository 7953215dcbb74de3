"""Fit a transaction model (and optionally Gamma-Gamma spend) on a BTYD summary; save and load.

A saved fit is one JSON document: the format name and version, the model key, the summary's
time unit and observation end, and the models' own self-describing JSON (``Model.to_json``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd

from retentio.core.errors import (
    ConfigurationError,
    EmptyDataError,
    ModelFormatError,
)
from retentio.core.frames import require_columns
from retentio.models import GammaGamma, Model
from retentio.models.catalog import new_transaction_model
from retentio.models.horizon import unit_days

__all__ = [
    "FORMAT",
    "INSTANT",
    "ClvFit",
    "fit_clv",
    "fit_document",
    "scoring_summary",
    "spend_inputs",
]

#: The ``format`` of a saved fit.
FORMAT = "retentio.clv-fit"
_VERSION = 1
#: The T given to customers acquired on the observation end day when they are scored.
INSTANT = 1e-9


@dataclass(frozen=True)
class ClvFit:
    """A fitted transaction model, the optional spend model and the time scale of their data.

    ``time_unit`` is the unit of ``recency`` and ``T`` (D, W, M, Q or Y; the grouping period for
    BG/BB, whose ``T`` counts transaction opportunities); ``observation_end`` the day the
    summary ends, from which predicted dates are counted.
    """

    key: str
    transaction: Model
    spend: GammaGamma | None
    time_unit: str
    observation_end: date

    def to_json(self) -> str:
        """The fit as one self-describing JSON document."""
        document = {
            "format": FORMAT,
            "version": _VERSION,
            "model": self.key,
            "time_unit": self.time_unit,
            "observation_end": self.observation_end.isoformat(),
            "transaction": json.loads(self.transaction.to_json()),
            "spend": None if self.spend is None else json.loads(self.spend.to_json()),
        }
        return json.dumps(document, indent=2)

    @classmethod
    def from_json(cls, text: str) -> ClvFit:
        """Load a fit saved by :meth:`to_json` (``retentio clv fit -o``)."""
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ModelFormatError(f"not a saved retentio fit (invalid JSON: {exc})") from None
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise ModelFormatError(f"not a saved retentio fit: its format is not {FORMAT!r}")
        if document.get("version") != _VERSION:
            raise ModelFormatError(
                f"saved fit has format version {document.get('version')!r}; "
                f"this retentio reads version {_VERSION}"
            )
        try:
            transaction = Model.from_json(json.dumps(document["transaction"]))
            spend_doc = document.get("spend")
            spend = None if spend_doc is None else GammaGamma.from_json(json.dumps(spend_doc))
            end = date.fromisoformat(str(document["observation_end"]))
            key, unit = str(document["model"]), str(document["time_unit"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFormatError(f"saved fit is malformed: {exc!r}") from None
        if not isinstance(spend, GammaGamma | None):
            raise ModelFormatError("saved fit's spend model is not a GammaGamma model")
        return cls(key, transaction, spend, unit, end)


def fit_clv(
    summary: pd.DataFrame,
    *,
    observation_end: date,
    model: str = "bgnbd",
    spend: bool = True,
    time_unit: str = "D",
    penalizer: float = 0.0,
) -> ClvFit:
    """Fit the transaction model ``model`` (bgnbd, mbgnbd, pareto or bgbb) on ``summary`` and,
    when ``spend``, a Gamma-Gamma spend model on its repeat buyers.

    ``summary`` is a :func:`retentio.summarize` table (``T`` holds the number of transaction
    opportunities for bgbb, i.e. the summary is made with ``freq`` equal to the opportunity
    period); ``time_unit`` is the unit of its ``recency`` and ``T``. Customers acquired on the
    observation end day (``T`` = 0) tell the continuous-time models nothing and are left out
    of their fit.
    """
    unit_days(time_unit, "time_unit")
    needed = ["frequency", "recency", "T"] + (["monetary_value"] if spend else [])
    require_columns(summary, needed)
    if summary.empty:
        raise ConfigurationError("summary has no customers to fit")
    if not (summary["frequency"] > 0).any():
        raise EmptyDataError(
            "no customer has made a repeat purchase yet: the models learn from repeat buyers"
        )
    transaction = new_transaction_model(model, penalizer)
    # A repeat buyer has T > 0, so some customer remains.
    observed = summary if transaction.discrete else summary[summary["T"] > 0]
    transaction.fit(observed["frequency"], observed["recency"], observed["T"])  # type: ignore[attr-defined]
    spend_model = None
    if spend:
        frequency, monetary = spend_inputs(summary)
        spend_model = GammaGamma(penalizer=penalizer).fit(frequency, monetary)
    return ClvFit(model.lower(), transaction, spend_model, time_unit.upper(), observation_end)


def fit_document(fit: ClvFit) -> dict[str, Any]:
    """The JSON the CLI prints with ``--json``: parameters and log-likelihoods of both models."""
    document: dict[str, Any] = {"model": fit.key, **_model_document(fit.transaction)}
    document["time_unit"] = fit.time_unit
    document["observation_end"] = fit.observation_end.isoformat()
    document["spend"] = None if fit.spend is None else _model_document(fit.spend)
    return document


def _model_document(model: Model) -> dict[str, Any]:
    return {
        "type": model.name,
        "params": model.params,
        "log_likelihood": model.log_likelihood,
        "standard_errors": model.standard_errors,
        "n_customers": model.n_customers,
    }


def scoring_summary(summary: pd.DataFrame, fit: ClvFit) -> pd.DataFrame:
    """``summary`` ready for the continuous-time models: a customer acquired on the observation
    end day (T = 0) is scored as observed for an instant, T = :data:`INSTANT`, which gives the
    new-customer predictions (P(alive) = 1) to within about 1e-9."""
    if fit.transaction.discrete or not (summary["T"] <= 0).any():
        return summary
    scored = summary.copy()
    scored["T"] = scored["T"].clip(lower=INSTANT)
    return scored


def spend_inputs(summary: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """(frequency, monetary_value) for the spend model. A customer whose repeat purchases net
    to zero or less (refunded) has no positive spend to learn from: they count as a customer
    without repeat purchases there, so get the population's mean spend."""
    positive = summary["monetary_value"] > 0
    frequency = summary["frequency"].where(positive, 0)
    return frequency, summary["monetary_value"].where(positive, 0.0)
