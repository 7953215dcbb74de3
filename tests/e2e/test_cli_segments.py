"""`retentio segment ...` and `retentio scores refresh` on a loaded store, end to end."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from cli_helpers import count, invoke, make_database

from retentio.datasets import write_shop
from retentio.segments import SegmentError

LAPSING = """\
name: lapsing-repeat-buyers
description: Bought twice or more, now likely to lapse
currency: EUR
where:
  all:
    - order_count: {gte: 2}
    - p_alive: {lt: 0.4}
"""


@pytest.fixture()
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = make_database(tmp_path, monkeypatch)
    write_shop(tmp_path / "orders.parquet", 400, 11)
    assert invoke("load", str(tmp_path / "orders.parquet")).exit_code == 0
    (tmp_path / "lapsing.yaml").write_text(LAPSING)
    return url


def test_count_preview_and_export_a_definition_file(store: str, tmp_path: Path) -> None:
    before = invoke("segment", "count", "lapsing.yaml", "--json")
    assert before.exit_code == 0, before.output
    assert json.loads(before.stdout)["members"] == 0  # no scores yet
    assert "no stored scores" in before.output
    refreshed = invoke("scores", "refresh")
    assert refreshed.exit_code == 0, refreshed.output
    assert count(store, "customer_scores") == 400
    counted = json.loads(invoke("segment", "count", "lapsing.yaml", "--json").stdout)
    members = counted["members"]
    assert 0 < members < 400

    preview = invoke("segment", "preview", "lapsing.yaml", "--limit", "5", "--json")
    rows = json.loads(preview.stdout)["rows"]
    assert len(rows) == min(5, members)
    assert set(rows[0]) == {"external_id", "order_count", "p_alive"}
    assert all(r["order_count"] >= 2 and r["p_alive"] < 0.4 for r in rows)

    exported = invoke(
        "segment", "export", "lapsing.yaml", "-o", "members.csv", "--column", "total_spend"
    )
    assert exported.exit_code == 0, exported.output
    with (tmp_path / "members.csv").open(newline="") as handle:
        table = list(csv.DictReader(handle))
    assert len(table) == members
    assert list(table[0]) == ["external_id", "order_count", "p_alive", "total_spend"]
    assert (tmp_path / "members.csv").stat().st_mode & 0o077 == 0  # personal data: owner only


def test_saved_segments_refresh_list_and_delete(store: str) -> None:
    assert invoke("scores", "refresh").exit_code == 0
    created = invoke("segment", "create", "lapsing.yaml")
    assert "Created segment lapsing-repeat-buyers" in created.output
    assert "Updated segment" in invoke("segment", "create", "lapsing.yaml").output
    refreshed = invoke("segment", "refresh", "--json")
    (result,) = json.loads(refreshed.stdout)
    assert result["entered"] == result["members"] > 0 and result["exited"] == 0
    assert count(store, "segment_memberships") == result["members"]
    again = json.loads(invoke("segment", "refresh", "lapsing-repeat-buyers", "--json").stdout)
    assert again[0]["entered"] == again[0]["exited"] == 0
    by_name = json.loads(invoke("segment", "count", "lapsing-repeat-buyers", "--json").stdout)
    assert by_name["members"] == result["members"]
    listed = json.loads(invoke("segment", "list", "--json").stdout)
    assert [(s["name"], s["members"]) for s in listed] == [
        ("lapsing-repeat-buyers", result["members"])
    ]
    assert invoke("segment", "delete", "lapsing-repeat-buyers").exit_code == 0
    assert count(store, "segment_memberships") == 0
    gone = invoke("segment", "count", "lapsing-repeat-buyers")
    assert isinstance(gone.exception, SegmentError)
    assert "no segment is called 'lapsing-repeat-buyers'" in str(gone.exception)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("name: x\nwhere:\n  all:\n    - country: DK\n   - bad indent\n", "bad.yaml:5"),
        ("name: x\nwhere: {orders: 2}\n", "where.orders"),
    ],
)
def test_a_bad_definition_names_the_line_or_the_path(
    store: str, tmp_path: Path, text: str, where: str
) -> None:
    (tmp_path / "bad.yaml").write_text(text)
    result = invoke("segment", "create", "bad.yaml")
    assert isinstance(result.exception, SegmentError)
    assert where in str(result.exception)
    assert count(store, "segments") == 0


def test_fields_lists_every_field(store: str) -> None:
    listed = invoke("segment", "fields")
    assert listed.exit_code == 0
    for name in ("order_count", "days_since_last_order", "p_alive", "rfm_segment"):
        assert name in listed.output
