"""The report's sections: each calls the analytics and turns the result into template data.

Every section is a plain dict (plus :class:`~markupsafe.Markup` charts) that the template
renders; all text in it is escaped by the template or by the chart functions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd

from retentio.analytics import (
    KPI_KEYS,
    churn_threshold_days,
    cohort_matrix,
    interpurchase_histogram,
    kpi_trends,
    kpis,
    new_vs_returning,
    rfm_segments,
    time_between_purchases,
    trend_direction,
)
from retentio.analytics.describe import data_range
from retentio.reporting.colors import NEW_COLOR, RETURNING_COLOR, heat_color, text_color_on
from retentio.reporting.format import (
    KPI_SPECS,
    format_compact,
    format_count,
    format_date,
    format_days,
    format_kpi,
    format_money,
    format_percent,
    is_missing,
    period_label,
    period_noun,
)
from retentio.reporting.svg import (
    Series,
    bar_chart,
    column_chart,
    heat_legend,
    sparkline,
    stacked_column_chart,
)

__all__ = [
    "MAX_COHORT_COLUMNS",
    "MAX_COHORTS",
    "DataFacts",
    "cohort_section",
    "data_facts",
    "interpurchase_section",
    "kpi_section",
    "new_returning_section",
    "rfm_section",
]

MAX_COHORTS = 36
"""The heatmap shows at most this many cohorts (the most recent ones)..."""
MAX_COHORT_COLUMNS = 36
"""...and at most this many periods after acquisition, so the page stays readable."""

_ARROWS = {"rising": "\u2197", "falling": "\u2198", "flat": "\u2192"}


@dataclass(frozen=True)
class DataFacts:
    """What the footer says about the data: its date range and its currency."""

    observation_end: date
    first_day: date | None
    last_day: date | None
    currencies: tuple[str, ...]


def data_facts(transactions: object, observation_end: object) -> DataFacts:
    """The first and last transaction day and the currencies, up to ``observation_end``."""
    found = data_range(transactions, observation_end=observation_end)
    return DataFacts(
        observation_end=found.observation_end,
        first_day=found.first_day,
        last_day=found.last_day,
        currencies=found.currencies,
    )


def _tone(direction: str, higher_is_better: bool | None) -> str:
    if direction == "flat" or higher_is_better is None:
        return "neutral"
    return "good" if (direction == "rising") == higher_is_better else "bad"


def kpi_section(tx: object, end: object, period: str, currency: str | None) -> dict[str, Any]:
    """KPI cards: value, definition, sparkline per period and the direction of the trend."""
    figures = kpis(tx, observation_end=end)
    trends = kpi_trends(tx, observation_end=end, period=period)
    churn_days = format_days(churn_threshold_days(tx, observation_end=end))
    noun = period_noun(period)
    labels = [period_label(p, period) for p in trends["period"]]
    complete = trends["complete"].astype(bool)
    last_incomplete = bool(len(complete)) and not bool(complete.iloc[-1])
    cards = []
    for key in KPI_KEYS:
        spec = KPI_SPECS[key]
        values = trends[key] if key in trends else pd.Series(dtype="float64")
        # The running period is drawn (dashed) but not judged: a half month looks like a drop.
        direction = trend_direction(values[complete]) if len(values) else "flat"
        finite = [float(v) for v in values if not is_missing(v)]
        trend_text = spec.trend.format(noun=noun)
        summary = (
            f"{spec.label}, {trend_text}, {labels[0]} to {labels[-1]}: lowest "
            f"{format_kpi(key, min(finite), currency)}, highest "
            f"{format_kpi(key, max(finite), currency)}, latest "
            f"{format_kpi(key, finite[-1], currency)}; trend {direction}."
            if finite
            else f"{spec.label}: no values per {noun}."
        )
        cards.append(
            {
                "key": key,
                "label": spec.label,
                "value": format_kpi(key, figures.get(key), currency),
                "explanation": spec.explanation.format(churn_days=churn_days),
                "trend_caption": trend_text[:1].upper() + trend_text[1:],
                "direction": direction,
                "arrow": _ARROWS.get(direction, ""),
                "tone": _tone(direction, spec.higher_is_better),
                "chart": sparkline(
                    list(values),
                    uid=f"spark-{key}",
                    title=f"{spec.label} trend",
                    desc=summary,
                    start_label=labels[0] if labels else "",
                    end_label=labels[-1] if len(labels) > 1 else "",
                    last_incomplete=last_incomplete,
                ),
            }
        )
    return {"cards": cards, "noun": noun, "last_incomplete": last_incomplete}


def cohort_section(tx: object, end: object, period: str) -> dict[str, Any]:
    """The cohort heatmap: share of each acquisition cohort active k periods later."""
    matrix = cohort_matrix(tx, observation_end=end, period=period)
    noun = period_noun(period)
    records: list[dict[str, Any]] = matrix.to_dict("records")  # type: ignore[assignment]
    cohorts = sorted({r["cohort"] for r in records})
    shown = cohorts[-MAX_COHORTS:]
    periods = max((int(r["period_number"]) + 1 for r in records), default=0)
    width = min(periods, MAX_COHORT_COLUMNS)
    later = [float(r["active_share"]) for r in records if 1 <= r["period_number"] < width]
    vmax = max((v for v in later if math.isfinite(v)), default=1.0) or 1.0
    cells_of = {(r["cohort"], int(r["period_number"])): r for r in records}
    rows: list[dict[str, Any]] = []
    for cohort in shown:
        label = period_label(cohort, period)
        cells: list[dict[str, Any] | None] = []
        size = 0
        for k in range(width):
            row = cells_of.get((cohort, k))
            if row is None:
                cells.append(None)
                continue
            size, share, complete = (
                int(row["cohort_size"]),
                float(row["active_share"]),
                bool(row["complete"]),
            )
            bg = heat_color(share, vmax)
            cells.append(
                {
                    "text": format_percent(share, 0 if share >= 0.1 or share == 0 else 1),
                    "bg": bg,
                    "fg": text_color_on(bg),
                    "complete": complete,
                    "title": f"{label} cohort, {noun} {k}: "
                    f"{format_count(row['active_customers'])} of {format_count(size)} customers "
                    f"bought ({format_percent(share)})"
                    + ("" if complete else f"; this {noun} is still running"),
                }
            )
        rows.append({"label": label, "size": format_count(size), "cells": cells})
    return {
        "noun": noun,
        "columns": list(range(width)),
        "rows": rows,
        "hidden_cohorts": len(cohorts) - len(shown),
        "hidden_columns": periods - width,
        "any_incomplete": any(
            c is not None and not c["complete"] for r in rows for c in r["cells"]
        ),
        "legend": heat_legend(vmax, uid="cohort-legend", fmt=lambda v: format_percent(v, 0)),
    }


def interpurchase_section(tx: object, end: object, bin_days: int = 7) -> dict[str, Any]:
    """Histogram of the days between consecutive purchases, with median and mean."""
    hist = interpurchase_histogram(tx, observation_end=end, bin_days=bin_days)
    stats = time_between_purchases(tx, observation_end=end, by="overall").iloc[0]
    labels, titles = [], []
    for row in hist.to_dict("records"):
        start = int(row["bin_start"])
        if is_missing(row["bin_end"]):
            labels.append(f"{start}+")
            span = f"{start} days or more"
        else:
            labels.append(str(start))
            span = f"{start}\u2013{int(row['bin_end']) - 1} days"
        count, share = format_count(row["gaps"]), format_percent(row["share"])
        titles.append(f"{span}: {count} repeat purchases ({share})")
    gaps = int(stats["gaps"])
    desc = (
        f"{format_count(gaps)} repeat purchases by {format_count(stats['customers'])} customers; "
        f"median {format_days(stats['median_days'])}, mean {format_days(stats['mean_days'])}."
        if gaps
        else "No customer has bought twice yet."
    )
    chart = column_chart(
        labels,
        list(hist["share"]) if gaps else [],
        uid="interpurchase-chart",
        title="Days between purchases",
        desc=desc,
        x_label=f"Days since the customer's previous purchase (bins of {bin_days} days)",
        y_label="Share of repeat purchases",
        y_format=lambda v: format_percent(v, 0),
        value_titles=titles,
    )
    facts = [
        ("Median", format_days(stats["median_days"])),
        ("Mean", format_days(stats["mean_days"])),
        ("Middle half", _day_range(stats["p25_days"], stats["p75_days"])),
        ("9 in 10 within", format_days(stats["p90_days"])),
        ("Repeat purchases", format_count(gaps)),
    ]
    return {"chart": chart, "facts": facts, "bin_days": bin_days}


def _day_range(low: object, high: object) -> str:
    """``12\u201390.5 days``: a range of days with the unit once."""
    if is_missing(low) or is_missing(high):
        return format_days(None)
    return f"{format_days(low).split()[0]}\u2013{format_days(high)}"


def rfm_section(tx: object, end: object, currency: str | None) -> dict[str, Any]:
    """Customers and revenue per RFM segment, as two horizontal bar charts."""
    seg = rfm_segments(tx, observation_end=end)
    names = [str(s) for s in seg["segment"]]
    customers = bar_chart(
        names,
        list(seg["customers"]),
        uid="rfm-customers",
        title="Customers per RFM segment",
        desc="; ".join(
            f"{n}: {format_count(c)} ({format_percent(s)})"
            for n, c, s in zip(names, seg["customers"], seg["share"], strict=True)
        ),
        x_label="Customers",
        value_format=format_compact,
        value_labels=[
            f"{format_count(c)} \u00b7 {format_percent(s)}"
            for c, s in zip(seg["customers"], seg["share"], strict=True)
        ],
    )
    revenue = bar_chart(
        names,
        list(seg["revenue"]),
        uid="rfm-revenue",
        title="Revenue per RFM segment",
        desc="; ".join(
            f"{n}: {format_money(r, currency, compact=True)} ({format_percent(s)})"
            for n, r, s in zip(names, seg["revenue"], seg["revenue_share"], strict=True)
        ),
        x_label=f"Net revenue ({currency})" if currency else "Net revenue",
        value_format=format_compact,
        value_labels=[
            f"{format_count(r)} \u00b7 {format_percent(s)}"
            for r, s in zip(seg["revenue"], seg["revenue_share"], strict=True)
        ],
        color=RETURNING_COLOR,
    )
    return {"customers": customers, "revenue": revenue}


def new_returning_section(
    tx: object, end: object, period: str, currency: str | None
) -> dict[str, Any]:
    """Revenue per period from first orders (new) and later orders (returning), stacked."""
    split = new_vs_returning(tx, observation_end=end, period=period)
    noun = period_noun(period)
    labels = [period_label(p, period) for p in split["period"]]
    new_total = float(split["new_revenue"].sum())
    returning_total = float(split["returning_revenue"].sum())
    total = new_total + returning_total
    share = returning_total / total if total else float("nan")
    chart = stacked_column_chart(
        labels,
        [
            Series("New customers (first orders)", list(split["new_revenue"]), NEW_COLOR),
            Series("Returning customers", list(split["returning_revenue"]), RETURNING_COLOR),
        ],
        uid="new-returning-chart",
        title=f"Revenue per {noun}: new vs returning customers",
        desc=(
            f"From {labels[0]} to {labels[-1]}, returning customers brought "
            f"{format_money(returning_total, currency, compact=True)} ({format_percent(share)}) "
            f"and first orders {format_money(new_total, currency, compact=True)}."
            if labels
            else "No revenue."
        ),
        x_label=noun.capitalize(),
        y_label=f"Net revenue ({currency})" if currency else "Net revenue",
        y_format=format_compact,
    )
    return {"chart": chart, "noun": noun, "returning_share": format_percent(share)}


def date_range(facts: DataFacts) -> str:
    """``1997-01-01 to 1998-06-30`` (or a dash when there is no data)."""
    return f"{format_date(facts.first_day)} to {format_date(facts.last_day)}"
