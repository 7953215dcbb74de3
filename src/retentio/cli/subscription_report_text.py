"""The text of ``retentio subscriptions report``: the report's figures as Rich tables."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = ["print_subscription_report"]

_NONE = "-"
#: The months after their start at which the cohorts' survival is shown.
_MONTHS = (1, 3, 6, 12)


def _percent(value: float | None) -> str:
    return _NONE if value is None else f"{value:.1%}"


def _number(value: float | None, digits: int = 2) -> str:
    return _NONE if value is None else f"{value:,.{digits}f}"


def _money(value: str) -> str:
    """An amount of the report (major units, as many decimals as the currency has), grouped."""
    return f"{Decimal(value):,}"


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title, title_justify="left")
    for n, column in enumerate(columns):
        table.add_column(column, justify="left" if n == 0 else "right")
    return table


def _lifetime(cohort: dict[str, Any]) -> str:
    if not cohort["fitted"]:
        return _NONE
    value = cohort["expected_lifetime"]
    return "unbounded" if value is None else _number(value, 1)  # alpha <= 1


def print_subscription_report(report: dict[str, Any], out: Console) -> None:
    """Print ``report`` (:func:`retentio.subscriptions.report.subscription_report`)."""
    window = report["window"]
    days = f"{window['start']} to {window['end']}"
    out.print(f"Subscriptions as of {report['as_of']} (UTC; windows: {days})", highlight=False)
    live = report["subscriptions"]
    table = _table("Live subscriptions", "active", "paused", "past due", "live")
    table.add_row(*(f"{live[k]:,}" for k in ("active", "paused", "past_due", "live")))
    out.print(table)

    table = _table(
        "Recurring revenue (active and past due)", "currency", "subscriptions", "MRR", "ARR"
    )
    for row in report["revenue"]:
        table.add_row(
            row["currency"], f"{row['subscriptions']:,}", _money(row["mrr"]), _money(row["arr"])
        )
    out.print(table)

    churn = report["churn"]
    table = _table(f"Churn, {days}", "", "subscriptions", "of those at risk")
    table.add_row("at risk (live at the start or started)", f"{churn['at_risk']:,}", "")
    for label, key in (
        ("cancelled", "cancelled"),
        ("  voluntary (the customer)", "voluntary"),
        ("  involuntary (failed payment)", "involuntary"),
    ):
        rate = churn["churn_rate" if key == "cancelled" else f"{key}_rate"]
        table.add_row(label, f"{churn[key]:,}", _percent(rate))
    table.add_row("expired (last cycle, not churn)", f"{churn['expired']:,}", "")
    out.print(table)

    pauses = report["pauses"]
    table = _table(f"Pauses, {days}", "live", "paused", "pause rate", "pauses", "resumed",
                   "cancelled", "still paused", "resume rate")  # fmt: skip
    table.add_row(
        *(f"{pauses[k]:,}" for k in ("subscriptions", "paused_subscriptions")),
        _percent(pauses["pause_rate"]),
        *(f"{pauses[k]:,}" for k in ("pauses", "resumed", "cancelled", "still_paused")),
        _percent(pauses["resume_rate"]),
    )
    out.print(table)

    table = _table(f"Save offers, {days}", "reason", "offer", "shown", "accepted", "declined",
                   "acceptance")  # fmt: skip
    for row in report["save_offers"]:
        counts = (f"{row[k]:,}" for k in ("shown", "accepted", "declined"))
        table.add_row(row["reason"], row["offer"], *counts, _percent(row["acceptance_rate"]))
    out.print(table)

    table = _table(f"Orders made, {days}", "currency", "orders", "amount", "paid", "paid amount",
                   "failing", "lost")  # fmt: skip
    for row in report["orders"]:
        table.add_row(
            row["currency"], f"{row['orders']:,}", _money(row["amount"]), f"{row['paid']:,}",
            _money(row["paid_amount"]), f"{row['failing']:,}", f"{row['lost']:,}",
        )  # fmt: skip
    out.print(table)

    table = _table(
        "Cohorts by start month: share live after n months; sBG fit and projection",
        "cohort", "size", *(f"{m} mo" for m in _MONTHS), "alpha", "beta",
        "next month kept", "expected months", "of the first 60",
    )  # fmt: skip
    for cohort in report["cohorts"]:
        shares = cohort["survival"]
        table.add_row(
            cohort["cohort"], f"{cohort['subscriptions']:,}",
            *(_percent(shares[m]) if m < len(shares) else "" for m in _MONTHS),
            _number(cohort["alpha"], 3), _number(cohort["beta"], 3),
            _percent(cohort["next_retention"]), _lifetime(cohort),
            _number(cohort["capped_lifetime"], 1),
        )  # fmt: skip
    out.print(table)
    unfitted = [c for c in report["cohorts"] if not c["fitted"]]
    for cohort in unfitted:
        out.print(f"{cohort['cohort']}: not fitted ({cohort['note']})", highlight=False)
