"""The funnel and the lift of a campaign's or a journey's report, as text."""

# No `from __future__ import annotations`: the CLI's modules read annotations as objects.

from typing import Any

from rich.table import Table

from retentio.cli.app import out

__all__ = ["print_funnel", "print_lift"]


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _money(value: float | None, currency: str | None) -> str:
    return "-" if value is None else f"{value:,.2f} {currency or ''}".rstrip()


def print_funnel(f: dict[str, Any]) -> None:
    """What became of the messages."""
    out.print(
        f"Funnel: {f['queued']:,} queued, {f['sent']:,} sent, {f['waiting']:,} waiting, "
        f"{f['skipped']:,} skipped, {f['bounced']:,} bounced, {f['failed']:,} failed; "
        f"{f['delivered']:,} delivered, {f['opened']:,} opened, {f['clicked']:,} clicked",
        highlight=False,
    )
    for reason, n in f["skipped_because"].items():
        out.print(f"  skipped, {reason}: {n:,}", highlight=False)


def print_lift(report: dict[str, Any]) -> None:
    """Treated against control, the incremental revenue and the verdict of a report's JSON."""
    table = Table(title="Treated against control")
    for name in ("measure", "treated", "control", "difference", "95 % CI"):
        table.add_column(name)
    money = report["currency"]
    for key, label, shown in (
        ("conversion_rate", "conversion", _pct),
        ("repeat_purchase_rate", "repeat purchase", _pct),
        ("churn_rate", "churn", _pct),
        ("revenue_per_customer", "revenue / customer", lambda v: _money(v, money)),
    ):
        lift = report["lift"][key]
        ci = f"{shown(lift['ci_low'])} to {shown(lift['ci_high'])}"
        table.add_row(
            label, shown(lift["treated"]), shown(lift["control"]), shown(lift["difference"]), ci
        )
    out.print(table)
    inc = report["incremental_revenue"]
    out.print(
        f"Incremental revenue: {_money(inc['estimate'], money)} "
        f"(95 % CI {_money(inc['ci_low'], money)} to {_money(inc['ci_high'], money)})",
        highlight=False,
    )
    out.print(f"[bold]Verdict:[/] {report['verdict']}", highlight=False)
