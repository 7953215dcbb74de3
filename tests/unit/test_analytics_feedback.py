"""NPS, CSAT and what followed an answer, against numbers worked out by hand."""

from __future__ import annotations

import math

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from retentio import (
    SURVEY_RESPONSES_SCHEMA,
    csat,
    csat_by_segment,
    csat_over_time,
    feedback_outcomes,
    nps,
    nps_by_segment,
    nps_over_time,
    responses_over_time,
)
from retentio.analytics.feedback import DETRACTOR_MAX, PROMOTER_MIN, SATISFIED_MIN
from retentio.core.errors import ConfigurationError, DataError, SchemaError


def answers(rows: list[tuple[str, str, int | None, str]], survey: str = "s") -> pd.DataFrame:
    """(customer, kind, score, ISO day) rows as a responses table."""
    return pd.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "survey": survey,
            "kind": [r[1] for r in rows],
            "score": pd.array([r[2] for r in rows], dtype="Int64"),
            "responded_at": pd.to_datetime([r[3] for r in rows], utc=True),
        }
    )


# Ten NPS answers: promoters 10, 9, 9 (3); passives 8, 7 (2); detractors 6, 5, 0, 3, 6 (5).
# NPS = 100 * (3 - 5) / 10 = -20.
TEN = answers(
    [
        ("a", "nps", 10, "2026-01-03"),
        ("b", "nps", 9, "2026-01-10"),
        ("c", "nps", 9, "2026-01-31"),
        ("d", "nps", 8, "2026-02-01"),
        ("e", "nps", 7, "2026-02-14"),
        ("f", "nps", 6, "2026-02-28"),
        ("g", "nps", 5, "2026-04-02"),
        ("h", "nps", 0, "2026-04-03"),
        ("a", "nps", 3, "2026-04-30"),
        ("b", "nps", 6, "2026-04-30"),
        ("a", "csat", 5, "2026-01-03"),
        ("b", "csat", 4, "2026-01-04"),
        ("c", "csat", 3, "2026-02-05"),
        ("d", "csat", 1, "2026-02-06"),
        ("x", "custom", None, "2026-02-06"),
    ]
)


def test_nps_counts_every_answer() -> None:
    score = nps(TEN)
    assert (score.responses, score.promoters, score.passives, score.detractors) == (10, 3, 2, 5)
    assert score.nps == pytest.approx(-20.0)
    assert score.to_dict()["nps"] == pytest.approx(-20.0)


def test_the_categories_edges() -> None:
    assert (DETRACTOR_MAX, PROMOTER_MIN, SATISFIED_MIN) == (6, 9, 4)
    edges = answers([(str(n), "nps", n, "2026-01-01") for n in range(11)])
    score = nps(edges)
    assert (score.detractors, score.passives, score.promoters) == (7, 2, 2)  # 0-6, 7-8, 9-10
    assert score.nps == pytest.approx(100 * (2 - 7) / 11)


def test_nps_window_and_survey() -> None:
    assert nps(TEN, start="2026-02-01", end="2026-02-28").to_dict() == {
        "responses": 3,
        "promoters": 0,
        "passives": 2,
        "detractors": 1,
        "nps": pytest.approx(-100 / 3),
    }
    nobody = nps(TEN, survey="other")
    assert nobody.responses == 0 and math.isnan(nobody.nps)
    assert nobody.to_dict()["nps"] is None


def test_nps_over_time_by_month() -> None:
    monthly = nps_over_time(TEN, "M")
    assert [str(p.date()) for p in monthly["period"]] == [
        "2026-01-01",
        "2026-02-01",
        "2026-03-01",
        "2026-04-01",
    ]
    assert monthly["responses"].tolist() == [3, 3, 0, 4]
    assert monthly["promoters"].tolist() == [3, 0, 0, 0]
    assert monthly["detractors"].tolist() == [0, 1, 0, 4]
    assert monthly["nps"].iloc[0] == pytest.approx(100.0)
    assert monthly["nps"].iloc[1] == pytest.approx(-100 / 3)
    assert math.isnan(monthly["nps"].iloc[2])  # March: no answers, still a row
    assert monthly["nps"].iloc[3] == pytest.approx(-100.0)


def test_nps_over_time_by_iso_week_and_window() -> None:
    weekly = nps_over_time(TEN, "w", start="2026-01-01", end="2026-01-11")
    # 2026-01-01 is a Thursday: its ISO week began on Monday 2025-12-29
    assert [str(p.date()) for p in weekly["period"]] == ["2025-12-29", "2026-01-05"]
    assert weekly["responses"].tolist() == [1, 1]
    quarterly = nps_over_time(TEN, "Q")
    assert quarterly["responses"].tolist() == [6, 4]
    with pytest.raises(ConfigurationError, match="period must be one of"):
        nps_over_time(TEN, "fortnight")


def test_answers_of_every_kind_per_period() -> None:
    monthly = responses_over_time(TEN, "M")
    # NPS 3 + CSAT 2 in January; 3 + 2 + the custom answer in February; none in March
    assert monthly["responses"].tolist() == [5, 6, 0, 4]
    assert responses_over_time(TEN, "Y", start="2026-02-01")["responses"].tolist() == [10]
    assert responses_over_time(TEN, survey="other").empty


def test_csat_share_of_four_and_five() -> None:
    score = csat(TEN)
    assert (score.responses, score.satisfied) == (4, 2)
    assert score.csat == pytest.approx(50.0)
    assert score.average_score == pytest.approx((5 + 4 + 3 + 1) / 4)
    monthly = csat_over_time(TEN, "M")
    assert monthly["responses"].tolist() == [2, 2]
    assert monthly["csat"].tolist() == pytest.approx([100.0, 0.0])
    assert monthly["average_score"].tolist() == pytest.approx([4.5, 2.0])


def test_by_segment_overlapping_members() -> None:
    memberships = pd.DataFrame(
        {
            "segment": ["vip", "vip", "vip", "new", "new", "empty"],
            "customer_id": ["a", "b", "h", "a", "zz", "nobody"],
        }
    )
    table = nps_by_segment(TEN, memberships)
    assert table["segment"].tolist() == ["empty", "new", "vip"]
    vip = table.set_index("segment").loc["vip"]
    # a: 10 and 3, b: 9 and 6, h: 0 -> promoters 2, detractors 3 of 5
    assert (vip["respondents"], vip["responses"]) == (3, 5)
    assert (vip["promoters"], vip["passives"], vip["detractors"]) == (2, 0, 3)
    assert vip["nps"] == pytest.approx(-20.0)
    new = table.set_index("segment").loc["new"]
    assert (new["respondents"], new["responses"], new["nps"]) == (1, 2, pytest.approx(0.0))
    assert math.isnan(table.set_index("segment").loc["empty", "nps"])
    satisfaction = csat_by_segment(TEN, memberships).set_index("segment")
    assert satisfaction.loc["vip", "responses"] == 2  # a: 5, b: 4
    assert satisfaction.loc["vip", "csat"] == pytest.approx(100.0)


def test_inputs_as_arrow_and_polars() -> None:
    arrow = pa.Table.from_pandas(TEN, preserve_index=False)
    assert nps(arrow).nps == pytest.approx(-20.0)
    assert nps(pl.from_pandas(TEN)).nps == pytest.approx(-20.0)
    empty = SURVEY_RESPONSES_SCHEMA.empty_table()
    assert nps_over_time(empty).empty
    assert nps(empty).responses == 0


def test_bad_input_is_named() -> None:
    with pytest.raises(SchemaError, match="responses: missing column"):
        nps(pd.DataFrame({"customer_id": ["a"]}))
    with pytest.raises(DataError, match="score: nps scores are 0 to 10; found 11"):
        nps(answers([("a", "nps", 11, "2026-01-01")]))
    with pytest.raises(DataError, match="score: csat scores are 1 to 5; found 0"):
        csat(answers([("a", "csat", 0, "2026-01-01")]))
    with pytest.raises(DataError, match="without a score"):
        nps(answers([("a", "nps", None, "2026-01-01")]))
    with pytest.raises(ConfigurationError, match="cannot use a list"):
        nps([1, 2])
    with pytest.raises(ConfigurationError, match="start 2026-02-01 is after end"):
        nps(TEN, start="2026-02-01", end="2026-01-01")


def test_outcomes_by_category() -> None:
    responses = answers(
        [
            ("a", "nps", 10, "2026-01-05"),
            ("a", "nps", 0, "2026-03-16"),  # a's latest with a full horizon: a detractor
            ("b", "nps", 9, "2026-01-20"),
            ("c", "nps", 7, "2026-02-01"),
            ("d", "nps", 3, "2026-03-15"),
            ("e", "nps", 9, "2026-12-01"),  # its 90 days are not over by the end: left out
        ]
    )
    orders = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b", "d", "c", "c", "e"],
            "ordered_at": pd.to_datetime(
                [
                    "2025-12-01",  # a before
                    "2026-04-01",  # a within 90 days
                    "2026-01-01",  # b before, then nothing: churned
                    "2025-06-01",  # d before, then nothing: churned
                    "2026-02-10",  # c within
                    "2026-02-11",  # a refund: not a purchase
                    "2025-01-01",
                ],
                utc=True,
            ),
            "is_refund": [False, False, False, False, False, True, False],
        }
    )
    table = feedback_outcomes(
        responses, orders, observation_end="2026-12-31", horizon_days=90
    ).set_index("category")
    assert table.index.tolist() == ["detractor", "passive", "promoter", "all"]
    detractor = table.loc["detractor"]
    assert (detractor["respondents"], detractor["buyers"]) == (2, 2)
    assert (detractor["repurchased"], detractor["churned"], detractor["orders"]) == (1, 1, 1)
    assert detractor["repeat_purchase_rate"] == pytest.approx(0.5)
    assert detractor["churn_rate"] == pytest.approx(0.5)
    passive = table.loc["passive"]
    assert (passive["respondents"], passive["buyers"], passive["repurchased"]) == (1, 0, 1)
    assert math.isnan(passive["churn_rate"])
    promoter = table.loc["promoter"]
    assert (promoter["respondents"], promoter["churned"]) == (1, 1)
    assert table.loc["all", "respondents"] == 4
    assert table.loc["all", "churn_rate"] == pytest.approx(2 / 3)
    with pytest.raises(ConfigurationError, match="horizon_days"):
        feedback_outcomes(responses, orders, observation_end="2026-12-31", horizon_days=0)
