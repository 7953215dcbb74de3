"""The loyalty figures from a store on SQLite and PostgreSQL: ``read_loyalty`` reads the
members, the ledger, the tier moves and the coupons; the report's loyalty section shows the
figures worked out by hand below; ``retentio report --db`` adds it, a report of a file does not.

The shop: ann and bo are members who bought (ann twice, one order partly refunded), eve is a
member who only signed up, cy and dee bought without joining. The orders run to 4 February
2026, the observation end.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from retentio.analytics import (
    LOYALTY_ENTRIES_SCHEMA,
    LOYALTY_MEMBERS_SCHEMA,
    TIER_CHANGES_SCHEMA,
)
from retentio.cli import app
from retentio.ingest import ingest_orders
from retentio.loyalty import (
    earn_for_action,
    earn_for_order,
    redeem_points,
    release_due,
    reverse_for_refund,
)
from retentio.loyalty.service import configure_programme, current_programme
from retentio.reporting import build_report
from retentio.reporting.loyalty_section import loyalty_from_store
from retentio.store.arrow import read_transactions
from retentio.store.loyalty_arrow import LOYALTY_COUPONS_SCHEMA, read_loyalty
from retentio.store.loyalty_tables import LoyaltyAccount, LoyaltyCoupon
from retentio.store.tables import Customer

END = date(2026, 2, 4)
BY = "test"
PROGRAMME = {
    "currency": "DKK",
    "pending_days": 14,
    "point_value": 0.05,
    "actions": {"signup": {"points": 25}},
    "tiers": {
        "levels": [{"name": "Bronze", "threshold": 100}, {"name": "Silver", "threshold": 1000}]
    },
}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


ORDERS: list[dict[str, Any]] = [
    {"external_id": "O1", "customer_id": "ann", "ordered_at": "2026-01-05T10:00:00Z",
     "currency": "DKK", "total": "600.00", "status": "partially_refunded",
     "refunds": [{"external_id": "R1", "refunded_at": "2026-01-27T10:00:00Z",
                  "amount": "100.00"}]},
    {"external_id": "O2", "customer_id": "ann", "ordered_at": "2026-02-04T10:00:00Z",
     "currency": "DKK", "total": "500.00"},
    {"external_id": "O3", "customer_id": "bo", "ordered_at": "2026-01-10T10:00:00Z",
     "currency": "DKK", "total": "200.00"},
    {"external_id": "O4", "customer_id": "cy", "ordered_at": "2026-01-06T10:00:00Z",
     "currency": "DKK", "total": "100.00"},
    {"external_id": "O5", "customer_id": "cy", "ordered_at": "2026-01-20T10:00:00Z",
     "currency": "DKK", "total": "300.00"},
    {"external_id": "O6", "customer_id": "dee", "ordered_at": "2026-02-01T10:00:00Z",
     "currency": "DKK", "total": "50.00"},
    {"external_id": "O7", "customer_id": "eve", "ordered_at": "2026-03-01T10:00:00Z",
     "currency": "DKK", "total": "75.00"},  # after the observation end
]  # fmt: skip


def build_shop(engine: Engine) -> None:
    """The orders through ingest, the points through the ledger's use cases."""
    with Session(engine) as session:
        assert ingest_orders(session, ORDERS, actor=BY).created == len(ORDERS)
        configure_programme(session, PROGRAMME, actor=BY)
        programme = current_programme(session)
        for order in ORDERS[:3]:  # ann's and bo's orders: ann reaches Bronze, then Silver
            ordered = datetime.fromisoformat(order["ordered_at"])
            earn_for_order(
                session, programme, customer=order["customer_id"],
                order_id=order["external_id"], amount_minor=int(order["total"].replace(".", "")),
                currency="DKK", ordered_at=ordered, now=ordered, recorded_by=BY,
            )  # fmt: skip
        earn_for_action(  # recorded five days late: eve joined when she signed up
            session, programme, customer="eve", action="signup", key="eve",
            occurred_at=at("2026-01-15T09:00"), now=at("2026-01-20T09:00"), recorded_by=BY,
        )  # fmt: skip
        assert release_due(session, programme, now=at("2026-01-25T12:00")) == 2  # O1, O3
        redeem_points(
            session, customer="ann", points=100, key="r1", now=at("2026-01-26T09:00"),
            recorded_by=BY,
        )  # fmt: skip
        spent = redeem_points(
            session, customer="bo", points=50, key="r2", now=at("2026-01-26T10:00"),
            recorded_by=BY,
        )  # fmt: skip
        reverse_for_refund(
            session, programme, customer="ann", order_id="O1", amount_minor=60_000,
            refunded_minor=10_000, refund_id="R1", now=at("2026-01-27T10:00"), recorded_by=BY,
        )  # fmt: skip
        bo = session.scalars(
            select(LoyaltyAccount.id).join(Customer).where(Customer.external_id == "bo")
        ).one()
        session.add(
            LoyaltyCoupon(
                account_id=bo, reward_id="50-off", code="TEST-7KQ9", points=50,
                value={"kind": "amount_off", "amount_minor": 5000, "currency": "DKK"},
                status="used", key="coupon:r2", redeem_entry_id=spent.entry_id,
                order_id="O3", issued_at=at("2026-01-26T10:00"),
                expires_at=at("2026-04-26T10:00"), used_at=at("2026-01-28T10:00"),
            )
        )  # fmt: skip
        session.commit()


@pytest.fixture()
def shop(migrated_engine: Engine) -> Engine:
    build_shop(migrated_engine)
    return migrated_engine


def test_read_loyalty_reads_every_table_keyed_by_external_id(shop: Engine) -> None:
    tables = read_loyalty(shop)
    assert tables.has_members
    assert tables.members.schema == LOYALTY_MEMBERS_SCHEMA
    assert tables.members.schema.metadata == LOYALTY_MEMBERS_SCHEMA.metadata
    assert tables.entries.schema == LOYALTY_ENTRIES_SCHEMA
    assert tables.tier_changes.schema == TIER_CHANGES_SCHEMA
    assert tables.coupons.schema == LOYALTY_COUPONS_SCHEMA
    members = sorted(tables.members.to_pylist(), key=lambda r: r["customer_id"])
    assert [tuple(m.values()) for m in members] == [
        # joined at their first points, though eve's account was made on the 20th
        ("ann", at("2026-01-05T10:00"), "Silver", 400, 500, 1000),
        ("bo", at("2026-01-10T10:00"), "Bronze", 150, 0, 200),
        ("eve", at("2026-01-15T09:00"), None, 25, 0, 25),
    ]
    kinds = sorted((e["customer_id"], e["kind"], e["points"], e["pending_points"])
                   for e in tables.entries.to_pylist())  # fmt: skip
    assert kinds == [
        ("ann", "earn", 0, 500),
        ("ann", "earn", 0, 600),
        ("ann", "redeem", -100, 0),
        ("ann", "release", 600, -600),
        ("ann", "reverse", -100, 0),
        ("bo", "earn", 0, 200),
        ("bo", "redeem", -50, 0),
        ("bo", "release", 200, -200),
        ("eve", "earn", 25, 0),
    ]
    spend = {e["order_id"]: e["amount_minor"] for e in tables.entries.to_pylist()
             if e["kind"] == "earn" and e["rule"] == "spend"}  # fmt: skip
    assert spend == {"O1": 60_000, "O2": 50_000, "O3": 20_000}
    changes = tables.tier_changes.to_pylist()
    moves = [tuple(c.values()) for c in sorted(changes, key=lambda c: c["changed_at"])]
    assert moves == [  # customer_id, from_tier, to_tier, direction, qualifying, changed_at
        ("ann", None, "Bronze", "up", 60_000, at("2026-01-05T10:00")),
        ("bo", None, "Bronze", "up", 20_000, at("2026-01-10T10:00")),
        ("ann", "Bronze", "Silver", "up", 110_000, at("2026-02-04T10:00")),
    ]
    (coupon,) = tables.coupons.to_pylist()
    assert coupon == {
        "customer_id": "bo", "reward_id": "50-off", "points": 50, "status": "used",
        "issued_at": at("2026-01-26T10:00"), "expires_at": at("2026-04-26T10:00"),
        "used_at": at("2026-01-28T10:00"), "cancelled_at": None,
    }  # fmt: skip


def test_an_empty_programme_reads_as_typed_empty_tables(migrated_engine: Engine) -> None:
    tables = read_loyalty(migrated_engine)
    assert not tables.has_members
    for table, schema in (
        (tables.members, LOYALTY_MEMBERS_SCHEMA),
        (tables.entries, LOYALTY_ENTRIES_SCHEMA),
        (tables.tier_changes, TIER_CHANGES_SCHEMA),
        (tables.coupons, LOYALTY_COUPONS_SCHEMA),
    ):
        assert table.num_rows == 0 and table.schema == schema
    with Session(migrated_engine) as session:
        assert loyalty_from_store(session) is None


def loyalty_part(html: str) -> str:
    found = re.search(r'<section id="loyalty".*?</section>', html, re.S)
    assert found is not None, "no loyalty section"
    return found.group(0)


def facts(section: str) -> dict[str, str]:
    pairs = re.findall(r'<span class="k">(.*?)</span><span class="v">(.*?)</span>', section)
    return dict(pairs)


def table_rows(section: str, css: str) -> list[list[str]]:
    table = re.search(rf'<table class="cohorts {css}">.*?</table>', section, re.S)
    assert table is not None
    body = table.group(0).split("<tbody>")[1]
    return [
        re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row)
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


def test_the_report_shows_the_loyalty_figures(shop: Engine) -> None:
    with Session(shop) as session:
        loyalty = loyalty_from_store(session)
    assert loyalty is not None
    html = build_report(read_transactions(shop), observation_end=END, loyalty=loyalty)
    assert '<a href="#loyalty">Loyalty</a>' in html
    section = loyalty_part(html)
    assert not re.search(r"(src|href)=|https?:|url\(", section)  # it loads nothing
    shown = facts(section)
    # 3 members; 2 of the 4 buyers are members; 1225 points earned (600 + 500 + 200 + 25,
    # less the 100 the refund took back), 150 redeemed; ann and bo of the 3 redeemed.
    assert shown["Members"] == "3"
    assert shown["Customers who are members"] == "50.0%"
    assert shown["Redemption rate"] == "12.2%"
    assert shown["Members who redeemed"] == "66.7%"
    assert (shown["Points earned"], shown["Points redeemed"]) == ("1,225", "150")
    assert shown["Redemptions"] == "2"
    # Held: 400 + 150 + 25 available and ann's 500 pending, at 0.05 DKK a point.
    assert shown["Available points"] == "575" and shown["Pending points"] == "500"
    assert shown["Available, in money"] == "28.75 DKK"
    assert shown["Pending, in money"] == "25.00 DKK"
    assert shown["Outstanding in all"] == "53.75 DKK"
    assert "A point is worth 0.05 DKK." in section
    # Members ann (600 - 100 + 500) and bo (200): 3 orders, 1200 DKK; 31 + 26 days as
    # customers. Non-members cy (100 + 300) and dee (50): 3 orders, 450 DKK; 30 + 4 days.
    assert table_rows(section, "loyalty-compare") == [
        ["Customers", "2", "2", ""],
        ["Repeat purchase rate", "50.0%", "50.0%", "0.0 pp"],
        ["Average order value", "400.00 DKK", "150.00 DKK", "+250.00 DKK"],
        ["Purchase frequency", f"{3 * 365.25 / 57:.2f}", f"{3 * 365.25 / 34:.2f}",
         f"{3 * 365.25 / 57 - 3 * 365.25 / 34:.2f}"],
        ["Historical CLV", "600.00 DKK", "225.00 DKK", "+375.00 DKK"],
    ]  # fmt: skip
    assert "1 member(s) had bought nothing by then" in section  # eve
    assert table_rows(section, "loyalty-migration") == [
        ["No tier", "", "2", ""],
        ["Bronze", "", "", "1"],
        ["Silver", "", "", ""],
    ]
    assert "Moves between tiers, 2025-02-05 to 2026-02-04" in section
    assert "to the tier of the column: 3 up, 0 down</caption>" in section
    assert 'aria-labelledby="loyalty-tiers-title loyalty-tiers-desc"' in section
    assert "Bronze: 1 \u00b7 33.3%; Silver: 1 \u00b7 33.3%; No tier: 1 \u00b7 33.3%" in section


def test_text_from_the_store_is_escaped_and_no_value_means_points_only(shop: Engine) -> None:
    with Session(shop) as session:
        session.execute(update(LoyaltyAccount).values(tier='<script>alert("x")</script>'))
        session.commit()
        configure_programme(session, {"currency": "DKK"}, actor=BY)  # no value, no tiers
        loyalty = loyalty_from_store(session)
    assert loyalty is not None
    section = loyalty_part(
        build_report(read_transactions(shop), observation_end=END, loyalty=loyalty)
    )
    assert "<script>" not in section
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in section
    assert "Held but no longer tiers of the programme: &lt;script&gt;" in section
    assert "shown in points only" in section
    assert "in money" not in section and "Outstanding in all" not in section


def test_a_report_without_loyalty_data_has_no_loyalty_section(shop: Engine) -> None:
    html = build_report(read_transactions(shop), observation_end=END)
    assert 'id="loyalty"' not in html and "#loyalty" not in html


def test_report_db_adds_the_section_and_a_file_does_not(
    shop: Engine, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    monkeypatch.chdir(tmp_path)  # no stray .env
    runner = CliRunner()
    out = tmp_path / "store report.html"
    args = ["report", "--db", "--database-url", database_url, "--observation-end", "2026-02-04"]
    result = runner.invoke(app, [*args, "-o", str(out)])
    assert result.exit_code == 0, result.output
    section = loyalty_part(out.read_text("utf-8"))
    assert facts(section)["Redemption rate"] == "12.2%"
    orders = tmp_path / "orders.parquet"
    pq.write_table(read_transactions(shop), orders)
    from_file = tmp_path / "file report.html"
    result = runner.invoke(app, ["report", str(orders), "-o", str(from_file)])
    assert result.exit_code == 0, result.output
    assert 'id="loyalty"' not in from_file.read_text("utf-8")
