"""summarize reproduces the published CDNOW calibration summary.

Fader, Hardie & Lee (2005), "'Counting your customers' the easy way: an alternative to the
Pareto/NBD model", *Marketing Science* 24(2), 275-284, fit the BG/NBD model to a per-customer
summary of the 2,357-customer CDNOW sample over the 39 weeks to 1997-09-30: ``x`` repeat
purchases, ``t_x`` the week of the last one, ``T`` the weeks observed and ``zbar`` the mean value
of the repeat purchases. The published values are rounded to two decimals.
"""

from __future__ import annotations

import pandas as pd
import pytest

import retentio
import retentio.datasets

# Rounded to 2 decimals, a published value is within 0.005 of the exact one; 0.006 leaves room
# for the binary representation of both sides.
TOLERANCE = 0.006


@pytest.fixture(scope="module")
def both() -> pd.DataFrame:
    """Fader, Hardie & Lee (2005), Marketing Science 24(2): ours beside the published summary."""
    ours = retentio.summarize(
        retentio.datasets.load_cdnow(sample=True),
        observation_end="1997-09-30",
        freq="D",
        time_unit="W",
    )
    published = retentio.datasets.load_cdnow_summary()
    ours = ours.assign(ID=ours["customer_id"].astype("int64")).rename(columns={"T": "T_ours"})
    return published.merge(ours, on="ID", how="outer", validate="one_to_one", indicator=True)


def test_same_2357_customers(both: pd.DataFrame) -> None:
    """Every customer of Fader, Hardie & Lee (2005) and no other (the 1997 Q1 cohort)."""
    assert len(both) == 2_357
    assert (both["_merge"] == "both").all()


def test_repeat_purchases_match_exactly(both: pd.DataFrame) -> None:
    """x of Fader, Hardie & Lee (2005) is our frequency, customer by customer."""
    mismatched = both[both["x"] != both["frequency"]]
    assert mismatched.empty, mismatched[["ID", "x", "frequency"]].head()
    assert int(both["x"].sum()) == int(both["frequency"].sum())


@pytest.mark.parametrize(
    ("published", "ours"), [("t_x", "recency"), ("T", "T_ours"), ("zbar", "monetary_value")]
)
def test_durations_and_values_match_to_rounding(
    both: pd.DataFrame, published: str, ours: str
) -> None:
    """t_x, T and zbar of Fader, Hardie & Lee (2005) within the 2-decimal rounding."""
    error = (both[published] - both[ours]).abs()
    worst = both.loc[error.idxmax(), ["ID", published, ours]]
    assert error.max() < TOLERANCE, worst.to_dict()


def test_published_headline_counts(both: pd.DataFrame) -> None:
    """Fader, Hardie & Lee (2005): 946 of the 2,357 customers made a repeat purchase (the
    Gamma-Gamma spend model of Fader & Hardie (2013) is fit to these 946)."""
    assert int((both["frequency"] > 0).sum()) == 946
    # first purchases fall between Jan 1 and Mar 31, 1997, so T lies between
    # Mar 31 -> Sep 30 = 183 days and Jan 1 -> Sep 30 = 272 days, in weeks
    assert both["T_ours"].between(183 / 7, 272 / 7).all()
    assert both["T_ours"].max() == pytest.approx(272 / 7)
