"""The report's "Loyalty" section: members against other customers, how much of the points
earned are redeemed, what the points still held are worth, and the tiers.

Shown only when the report is given the loyalty data (:class:`LoyaltyData`): ``retentio report
--db`` reads them from a store whose programme has members (:func:`loyalty_from_store`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from retentio.analytics.loyalty import (
    PointsLiability,
    member_comparison,
    points_liability,
    redemption_rate,
    tier_distribution,
    tier_migration,
)
from retentio.loyalty.programme import Programme
from retentio.loyalty.service import current_programme
from retentio.reporting.format import (
    MISSING,
    format_count,
    format_date,
    format_money,
    format_number,
    format_percent,
    is_missing,
)
from retentio.reporting.svg import bar_chart
from retentio.store.loyalty_arrow import LoyaltyTables, read_loyalty

__all__ = ["MIGRATION_DAYS", "LoyaltyData", "loyalty_from_store", "loyalty_section"]

MIGRATION_DAYS = 365
"""The tier moves shown are those of this many days up to the observation end."""
NO_TIER = "No tier"


@dataclass(frozen=True)
class LoyaltyData:
    """What the loyalty section reads: the programme's tables and the programme in force."""

    tables: LoyaltyTables
    programme: Programme


def loyalty_from_store(session: Session) -> LoyaltyData | None:
    """The loyalty tables and programme of the store ``session`` is bound to; None when the
    programme has no members."""
    engine = session.get_bind()
    if not isinstance(engine, Engine):  # pragma: no cover - a store session binds an engine
        raise TypeError("the store session is not bound to an engine")
    tables = read_loyalty(engine)
    if not tables.has_members:
        return None
    return LoyaltyData(tables, current_programme(session))


def _signed(text: str, value: object) -> str:
    if is_missing(value) or text == MISSING:
        return MISSING
    return text if text.startswith("-") or float(value) == 0 else f"+{text}"  # type: ignore[arg-type]


def _comparison_rows(figures: pd.DataFrame, currency: str | None) -> list[dict[str, str]]:
    """One row per figure: its label, the members', the non-members' and the difference."""
    by_group = figures.set_index("group")

    def cells(column: str, shown: Any, points: bool = False) -> dict[str, str]:
        gap = by_group.loc["difference", column]
        difference = _signed(shown(gap), gap)
        if points and difference != MISSING:  # a difference of rates, in percentage points
            difference = difference.removesuffix("%") + " pp"
        return {
            "members": shown(by_group.loc["members", column]),
            "non_members": shown(by_group.loc["non_members", column]),
            "difference": difference,
        }

    def money(value: object) -> str:
        return format_money(value, currency)

    return [
        {
            "label": "Customers",
            "explanation": "With a purchase by the observation end.",
            **cells("customers", format_count),
            "difference": "",
        },
        {
            "label": "Repeat purchase rate",
            "explanation": "Share with two or more orders.",
            **cells("repeat_purchase_rate", format_percent, points=True),
        },
        {
            "label": "Average order value",
            "explanation": "Net revenue divided by orders.",
            **cells("average_order_value", money),
        },
        {
            "label": "Purchase frequency",
            "explanation": "Orders per customer per year since their first purchase.",
            **cells("purchase_frequency", format_number),
        },
        {
            "label": "Historical CLV",
            "explanation": "Net revenue per customer to date.",
            **cells("historical_clv", money),
        },
    ]


def _liability_facts(owed: PointsLiability) -> tuple[list[tuple[str, str]], str]:
    facts = [
        ("Available points", format_count(owed.available_points)),
        ("Pending points", format_count(owed.pending_points)),
    ]
    if owed.value_per_point is None:
        return facts, (
            "The programme sets no value for a point (no point_value and no amount_off "
            "reward), so the liability is shown in points only."
        )
    code = owed.currency
    facts += [
        ("Available, in money", format_money(owed.available_value, code)),
        ("Pending, in money", format_money(owed.pending_value, code)),
        ("Outstanding in all", format_money(owed.outstanding_value, code)),
    ]
    note = f"A point is worth {owed.value_per_point.normalize():f} {code}."
    return facts, note


def _tier_chart(members: Any, levels: list[str]) -> tuple[Any, list[str]]:
    """The bar chart of members per tier, and the tiers held that the programme no longer has."""
    spread = tier_distribution(members, levels)
    names = [NO_TIER if is_missing(t) else str(t) for t in spread["tier"]]
    counts = [int(n) for n in spread["members"]]
    shares = list(spread["share"])
    labels = [
        f"{format_count(n)} \u00b7 {format_percent(s)}" for n, s in zip(counts, shares, strict=True)
    ]
    chart = bar_chart(
        names,
        counts,
        uid="loyalty-tiers",
        title="Members per tier",
        desc="; ".join(f"{n}: {v}" for n, v in zip(names, labels, strict=True)),
        x_label="Members",
        value_format=lambda v: format_count(v) if v == int(v) else "",  # whole members only
        value_labels=labels,
    )
    return chart, names[len(levels) : -1]  # held, but no longer levels of the programme


def _migration(changes: Any, end: date, levels: list[str]) -> dict[str, Any]:
    """The from-tier x to-tier matrix of the moves in the :data:`MIGRATION_DAYS` to ``end``."""
    start = end - timedelta(days=MIGRATION_DAYS - 1)
    moves = tier_migration(changes, start=start, end=end, levels=levels)
    names = [NO_TIER if is_missing(t) else str(t) for t in moves["from_tier"]]
    targets = [NO_TIER if is_missing(t) else str(t) for t in moves["to_tier"]]
    order = list(dict.fromkeys([NO_TIER, *levels, *names, *targets]))
    used = [t for t in order if t in names or t in targets]
    grid = {(f, t): 0 for f in used for t in used}
    for source, target, n in zip(names, targets, moves["moves"], strict=True):
        grid[(source, target)] += int(n)
    by_direction = moves.groupby("direction")["moves"].sum()
    return {
        "start": format_date(start),
        "end": format_date(end),
        "tiers": used,
        "rows": [
            {
                "tier": source,
                "cells": [
                    format_count(grid[(source, t)]) if grid[(source, t)] else "" for t in used
                ],
            }
            for source in used
        ],
        "up": format_count(int(by_direction.get("up", 0))),
        "down": format_count(int(by_direction.get("down", 0))),
        "backfill": int(by_direction.get("backfill", 0)),
    }


def loyalty_section(
    tx: object, end: date, loyalty: LoyaltyData, currency: str | None
) -> dict[str, Any]:
    """Template data of the section, for the orders up to ``end`` (amounts in ``currency``)."""
    tables, programme = loyalty.tables, loyalty.programme
    levels = [] if programme.tiers is None else [t.name for t in programme.tiers.levels]
    figures = member_comparison(tx, tables.members, observation_end=end)
    spent = redemption_rate(tables.entries, members=tables.members)
    owed = points_liability(tables.members, programme.value_per_point(), programme.currency)
    liability, liability_note = _liability_facts(owed)
    tier_chart, retired = _tier_chart(tables.members, levels)
    buyers = figures.set_index("group")["customers"]
    all_buyers = int(buyers["members"]) + int(buyers["non_members"])
    return {
        "facts": [
            ("Members", format_count(tables.members.num_rows)),
            (
                "Customers who are members",
                format_percent(int(buyers["members"]) / all_buyers if all_buyers else None),
            ),
            ("Redemption rate", format_percent(spent.redemption_rate)),
            ("Members who redeemed", format_percent(spent.redeemer_share)),
        ],
        "without_orders": max(tables.members.num_rows - int(buyers["members"]), 0),
        "comparison": _comparison_rows(figures, currency),
        "redemption": [
            ("Points earned", format_count(spent.points_earned)),
            ("Points redeemed", format_count(spent.points_redeemed)),
            ("Points expired", format_count(spent.points_expired)),
            ("Redemptions", format_count(spent.redemptions)),
        ],
        "liability": liability,
        "liability_note": liability_note,
        "negative_points": format_count(-owed.negative_points) if owed.negative_points else "",
        "has_tiers": bool(levels) or tables.members["tier"].null_count < tables.members.num_rows,
        "tier_chart": tier_chart,
        "retired_tiers": ", ".join(retired),
        "migration": _migration(tables.tier_changes, end, levels),
    }
