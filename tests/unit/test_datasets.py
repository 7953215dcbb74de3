"""retentio.datasets: the bundled CDNOW data and the synthetic shop generator."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import retentio.datasets
from retentio.analytics.schema import TRANSACTIONS_SCHEMA
from retentio.core.errors import ConfigurationError
from retentio.datasets import (
    ShopParams,
    ShopStats,
    generate_shop,
    load_cdnow,
    load_cdnow_summary,
    load_donations,
    write_shop,
)
from retentio.datasets.synthetic import ORDERS_EXPORT_SCHEMA

START, END = date(2023, 1, 1), date(2026, 6, 30)


def test_public_names_are_sorted_and_exported() -> None:
    expected = [
        "ShopParams",
        "ShopStats",
        "generate_shop",
        "load_cdnow",
        "load_cdnow_summary",
        "load_donations",
        "write_shop",
    ]
    assert retentio.datasets.__all__ == expected
    for name in expected:
        assert hasattr(retentio.datasets, name)


# --- CDNOW (Fader, Hardie & Lee 2005, "Counting your customers the easy way") ---------------


@pytest.mark.parametrize(
    ("sample", "rows", "customers"), [(True, 6_919, 2_357), (False, 69_659, 23_570)]
)
def test_cdnow_counts_and_schema(sample: bool, rows: int, customers: int) -> None:
    table = load_cdnow(sample=sample)
    assert table.schema.equals(TRANSACTIONS_SCHEMA, check_metadata=True)
    assert table.num_rows == rows
    frame = table.to_pandas()
    assert frame["customer_id"].nunique() == customers
    assert frame["order_id"].is_unique
    assert not frame["customer_id"].str.startswith("0").any()
    assert (frame["currency"] == "USD").all()
    assert not frame["is_refund"].any()
    assert frame["status"].isna().all()
    assert frame["ordered_at"].min() == pd.Timestamp("1997-01-01", tz="UTC")
    assert frame["ordered_at"].max() == pd.Timestamp("1998-06-30", tz="UTC")
    assert (frame["ordered_at"].dt.hour == 0).all()
    assert (frame["amount"] >= 0).all()
    assert (frame["amount"] == 0).any()  # zero-value purchases are kept as orders


def test_cdnow_sample_rows_in_file_order() -> None:
    first = load_cdnow().slice(0, 5).to_pylist()
    assert [row["customer_id"] for row in first] == ["1", "1", "1", "1", "2"]
    assert [row["order_id"] for row in first] == ["1-1", "1-2", "1-3", "1-4", "2-1"]
    assert first[0]["ordered_at"] == datetime(1997, 1, 1, tzinfo=UTC)
    assert first[0]["amount"] == pytest.approx(29.33)
    master = load_cdnow(sample=False).slice(0, 3).to_pylist()
    assert [row["order_id"] for row in master] == ["1-1", "2-1", "2-2"]


def test_cdnow_sample_ids_match_the_published_summary() -> None:
    summary = load_cdnow_summary()
    assert list(summary.columns) == ["ID", "x", "t_x", "T", "zbar"]
    assert summary.shape == (2_357, 5)
    # 946 repeat buyers in the 39-week calibration period (Fader, Hardie & Lee 2005)
    assert int((summary["x"] > 0).sum()) == 946
    ids = set(load_cdnow().column("customer_id").to_pylist())
    assert ids == {str(i) for i in summary["ID"]}


def test_donations() -> None:
    donations = load_donations()
    assert list(donations.columns) == ["frequency", "recency", "periods", "weights"]
    assert len(donations) == 22
    assert int(donations["weights"].sum()) == 11_104
    assert (donations["recency"] >= donations["frequency"]).all()


# --- the synthetic shop --------------------------------------------------------------------


@pytest.fixture(scope="module")
def shop() -> pd.DataFrame:
    frame: pd.DataFrame = generate_shop(20_000, seed=11).to_pandas()
    return frame


@pytest.fixture(scope="module")
def orders(shop: pd.DataFrame) -> pd.DataFrame:
    completed: pd.DataFrame = shop[shop["status"] == "completed"]
    return completed


def test_same_seed_same_table_other_seed_other_table() -> None:
    first = generate_shop(2_000, seed=5)
    assert first.equals(generate_shop(2_000, seed=5))
    assert not first.equals(generate_shop(2_000, seed=6))


def test_schema_and_values() -> None:
    table = generate_shop(500, seed=1)
    assert table.schema.equals(ORDERS_EXPORT_SCHEMA, check_metadata=True)
    assert table.schema.field("ordered_at").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("amount").type == pa.float64()
    frame = table.to_pandas()
    assert frame["customer_id"].str.fullmatch(r"C\d{7}").all()
    assert frame["order_id"].str.fullmatch(r"O\d{8}").all()
    assert frame["customer_id"].nunique() == 500
    assert set(frame["currency"]) == {"EUR"}
    assert set(frame["status"]) <= {"completed", "refunded"}
    zones = {
        ("DK", "da", "Europe/Copenhagen"),
        ("NL", "nl", "Europe/Amsterdam"),
        ("DE", "en", "Europe/Berlin"),
        ("SE", "en", "Europe/Stockholm"),
        ("BE", "nl", "Europe/Brussels"),
    }
    assert set(frame[["country", "locale", "timezone"]].itertuples(index=False)) <= zones
    assert (frame.groupby("customer_id")["country"].nunique() == 1).all()
    amounts = frame["amount"].to_numpy()
    assert np.allclose(amounts, np.round(amounts, 2))


def test_sorted_by_time_then_order_id(shop: pd.DataFrame) -> None:
    keys = list(zip(shop["ordered_at"], shop["order_id"], strict=True))
    assert keys == sorted(keys)


def test_orders_lie_in_the_period(shop: pd.DataFrame) -> None:
    assert shop["ordered_at"].min() >= pd.Timestamp(START, tz="UTC")
    assert shop["ordered_at"].max() < pd.Timestamp(END + timedelta(days=1), tz="UTC")


def test_behaviour_within_documented_ranges(orders: pd.DataFrame) -> None:
    assert orders["order_id"].is_unique
    per_customer = orders.groupby("customer_id").size()
    assert len(per_customer) == 20_000
    assert 2.5 <= per_customer.mean() <= 4.0
    assert 0.35 <= (per_customer >= 2).mean() <= 0.50
    assert 40 <= orders["amount"].mean() <= 80
    assert (orders["amount"] > 0).all()


def test_refunds_follow_their_orders(shop: pd.DataFrame, orders: pd.DataFrame) -> None:
    refunds = shop[shop["status"] == "refunded"]
    assert 0.02 <= len(refunds) / len(orders) <= 0.04
    assert refunds["order_id"].is_unique
    assert (refunds["amount"] < 0).all()
    matched = refunds.merge(orders, on="order_id", suffixes=("", "_order"), validate="1:1")
    assert len(matched) == len(refunds)
    assert (matched["customer_id"] == matched["customer_id_order"]).all()
    assert (-matched["amount"] <= matched["amount_order"] + 1e-9).all()
    delay = matched["ordered_at"] - matched["ordered_at_order"]
    assert delay.min() >= pd.Timedelta(days=1)
    assert delay.max() <= pd.Timedelta(days=30)
    assert refunds["ordered_at"].max() < pd.Timestamp(END + timedelta(days=1), tz="UTC")
    partial = matched["amount"] > -matched["amount_order"]
    assert 0.15 <= partial.mean() <= 0.45


def test_acquisition_peaks_before_christmas(orders: pd.DataFrame) -> None:
    first = orders.groupby("customer_id")["ordered_at"].min()
    per_month = first.dt.month.value_counts()
    assert (per_month[11] + per_month[12]) / 2 > 1.3 * (per_month[2] + per_month[3]) / 2


def test_orders_follow_a_local_day(shop: pd.DataFrame) -> None:
    local_hour = pd.concat(
        [rows["ordered_at"].dt.tz_convert(zone).dt.hour for zone, rows in shop.groupby("timezone")]
    )
    shares = local_hour.value_counts(normalize=True)
    assert shares.loc[[19, 20, 21]].sum() > 4 * shares.loc[[2, 3, 4]].sum()


def test_write_shop_writes_the_rows_of_generate_shop(tmp_path: Path) -> None:
    path = tmp_path / "shop.parquet"
    calls: list[tuple[int, int]] = []
    stats = write_shop(
        path, 12_345, 3, chunk_customers=4_000, progress=lambda d, t: calls.append((d, t))
    )
    expected = generate_shop(12_345, 3)
    written = pq.read_table(path)
    assert written.schema.equals(ORDERS_EXPORT_SCHEMA, check_metadata=True)
    keys = [("ordered_at", "ascending"), ("order_id", "ascending"), ("status", "ascending")]
    assert written.sort_by(keys).equals(expected)
    assert calls == [(4_000, 12_345), (8_000, 12_345), (12_000, 12_345), (12_345, 12_345)]
    refunds = int((expected.column("status").to_numpy(zero_copy_only=False) == "refunded").sum())
    assert stats == ShopStats(12_345, expected.num_rows - refunds, refunds, expected.num_rows, path)
    metadata = pq.ParquetFile(path).metadata
    assert metadata.num_row_groups == 4
    assert metadata.row_group(0).column(0).compression == "ZSTD"


def test_write_shop_removes_a_partial_file(tmp_path: Path) -> None:
    path = tmp_path / "shop.parquet"

    def fail(done: int, total: int) -> None:
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        write_shop(path, 300, 1, chunk_customers=100, progress=fail)
    assert not path.exists()


def test_custom_params_are_used() -> None:
    params = ShopParams(country_weights=(("NL", 1.0),), refund_rate=0.0, seasonal_repeats=0.0)
    frame = generate_shop(300, 2, start=date(2024, 1, 1), end=date(2024, 3, 31), params=params)
    frame_pd = frame.to_pandas()
    assert set(frame_pd["country"]) == {"NL"}
    assert set(frame_pd["status"]) == {"completed"}
    assert frame_pd["ordered_at"].min() >= pd.Timestamp("2024-01-01", tz="UTC")
    assert frame_pd["ordered_at"].max() < pd.Timestamp("2024-04-01", tz="UTC")
    assert ShopParams().mean_basket == pytest.approx(60.0)


@settings(max_examples=25, deadline=None, database=None)
@given(
    customers=st.integers(1, 40),
    seed=st.integers(0, 2**32),
    first=st.dates(date(2000, 1, 1), date(2030, 12, 31)),
    days=st.integers(1, 90),
)
def test_any_small_shop_is_well_formed(customers: int, seed: int, first: date, days: int) -> None:
    last = first + timedelta(days=days)
    frame = generate_shop(customers, seed, start=first, end=last).to_pandas()
    assert frame["customer_id"].nunique() == customers
    assert frame["ordered_at"].min() >= pd.Timestamp(first, tz="UTC")
    assert frame["ordered_at"].max() < pd.Timestamp(last + timedelta(days=1), tz="UTC")
    completed = frame[frame["status"] == "completed"]
    assert completed["order_id"].is_unique
    assert (completed["amount"] > 0).all()


# --- bad arguments ---------------------------------------------------------------------------

GOOD: dict[str, Any] = {"customers": 10, "seed": 1, "start": START, "end": END}


@pytest.mark.parametrize(
    ("change", "name"),
    [
        ({"customers": 0}, "customers"),
        ({"customers": True}, "customers"),
        ({"customers": 2.5}, "customers"),
        ({"seed": -1}, "seed"),
        ({"seed": "7"}, "seed"),
        ({"start": END, "end": START}, "start"),
        ({"start": START, "end": START}, "start"),
        ({"start": datetime(2023, 1, 1, tzinfo=UTC)}, "start"),
        ({"end": "2026-06-30"}, "end"),
        ({"params": {"r": 1.0}}, "params"),
    ],
)
def test_bad_arguments_name_the_argument(tmp_path: Path, change: dict[str, Any], name: str) -> None:
    arguments = {**GOOD, **change}
    customers, seed = arguments.pop("customers"), arguments.pop("seed")
    with pytest.raises(ConfigurationError, match=name):
        generate_shop(customers, seed, **arguments)
    path = tmp_path / "unused.parquet"
    with pytest.raises(ConfigurationError, match=name):
        write_shop(path, customers, seed, **arguments)
    assert not path.exists()


@pytest.mark.parametrize("chunk", [0, -5, 1.5])
def test_bad_chunk_size(tmp_path: Path, chunk: Any) -> None:
    with pytest.raises(ConfigurationError, match="chunk_customers"):
        write_shop(tmp_path / "x.parquet", 10, 1, chunk_customers=chunk)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("r", 0.0),
        ("alpha", -1.0),
        ("a", math.nan),
        ("b", math.inf),
        ("p_spend", 0),
        ("q", 1.0),
        ("gamma", "30"),
        ("refund_rate", 1.5),
        ("partial_refund_share", -0.1),
        ("growth_per_year", -1.0),
        ("month_weights", (1.0,) * 11),
        ("month_weights", (1.0,) * 11 + (0.0,)),
        ("black_friday_boost", 0.5),
        ("seasonal_repeats", 2.0),
        ("country_weights", ()),
        ("country_weights", (("FR", 1.0),)),
        ("country_weights", (("DK", 1.0), ("DK", 2.0))),
        ("country_weights", (("DK", 0.0),)),
    ],
)
def test_bad_params_name_the_field(field: str, value: Any) -> None:
    with pytest.raises(ConfigurationError, match=rf"ShopParams\.{field} "):
        ShopParams(**{field: value})
