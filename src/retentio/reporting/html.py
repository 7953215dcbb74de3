"""Assemble the one-file HTML retention report and write it atomically."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2

import retentio
from retentio.analytics.periods import check_period
from retentio.core.errors import ConfigurationError
from retentio.core.files import write_atomically
from retentio.reporting.format import format_date, period_noun
from retentio.reporting.predictions import predictions_section
from retentio.reporting.sections import (
    cohort_section,
    data_facts,
    date_range,
    interpurchase_section,
    kpi_section,
    new_returning_section,
    rfm_section,
)

if TYPE_CHECKING:  # the loyalty section (and the store it reads) only when a report has one
    from retentio.reporting.loyalty_section import LoyaltyData

__all__ = ["build_report", "write_report"]

_TEMPLATE = "report.html.j2"


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("retentio.reporting", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def build_report(
    transactions: object,
    *,
    observation_end: object,
    period: str = "M",
    title: str = "Retention report",
    currency: str | None = None,
    loyalty: LoyaltyData | None = None,
) -> str:
    """The retention report for ``transactions`` up to ``observation_end`` as one HTML page.

    The page needs no network: styles and SVG charts are inline and it loads nothing. It is
    a pure function of its arguments (no clock is read), so the same data give the same bytes.

    Parameters
    ----------
    transactions
        Normalised transactions (see :func:`retentio.load_transactions`).
    observation_end
        Last day (inclusive) of the data the report covers.
    period
        ``D``, ``W``, ``M`` (default), ``Q`` or ``Y``: the period of trends and cohorts.
    title
        Heading of the report (escaped).
    currency
        ISO 4217 code shown with amounts; default: the data's currency when it has one.
    loyalty
        The loyalty programme's tables and programme (``loyalty_section.loyalty_from_store``):
        adds the "Loyalty programme" section. Without it the report has no such section.
    """
    key = check_period(period)
    if currency is not None and not (len(currency) == 3 and currency.isalpha()):
        raise ConfigurationError(f"currency must be a 3-letter ISO 4217 code, got {currency!r}")
    facts = data_facts(transactions, observation_end)
    end = facts.observation_end
    if currency is None and len(facts.currencies) == 1 and facts.currencies[0] != "XXX":
        currency = facts.currencies[0]  # XXX is ISO 4217 for "no currency": show no code
    code = currency.upper() if currency else None
    context = {
        "title": title,
        "currency": code,
        "mixed_currencies": ", ".join(facts.currencies) if len(facts.currencies) > 1 else "",
        "observation_end": format_date(end),
        "data_range": date_range(facts),
        "noun": period_noun(key),
        "version": retentio.__version__,
        "kpi": kpi_section(transactions, end, key, code),
        "cohorts": cohort_section(transactions, end, key),
        "interpurchase": interpurchase_section(transactions, end),
        "rfm": rfm_section(transactions, end, code),
        "new_returning": new_returning_section(transactions, end, key, code),
        "predictions": predictions_section(transactions, end, code),
        "loyalty": None,
    }
    if loyalty is not None:
        from retentio.reporting.loyalty_section import loyalty_section

        context["loyalty"] = loyalty_section(transactions, end, loyalty, code)
    return _environment().get_template(_TEMPLATE).render(context)


def write_report(
    transactions: object,
    path: str | os.PathLike[str],
    *,
    observation_end: object,
    period: str = "M",
    title: str = "Retention report",
    currency: str | None = None,
    loyalty: LoyaltyData | None = None,
) -> Path:
    """Build the report (see :func:`build_report`) and write it to ``path`` atomically.

    The page is rendered before anything is written, then written to a temporary file next to
    ``path`` and renamed over it, so ``path`` is either the old file or the complete new one.
    """
    html = build_report(
        transactions,
        observation_end=observation_end,
        period=period,
        title=title,
        currency=currency,
        loyalty=loyalty,
    )
    return write_atomically(path, html.encode())
