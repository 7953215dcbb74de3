"""retentio.reporting: the one-file HTML retention report."""

from __future__ import annotations

import random
import re
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pyarrow as pa
import pytest

import retentio
import retentio.reporting
from retentio.analytics import KPI_KEYS, kpis
from retentio.analytics.schema import TRANSACTIONS_SCHEMA
from retentio.clv import fit_clv, predict_customers
from retentio.core.errors import ConfigurationError, EmptyDataError
from retentio.datasets import load_cdnow
from retentio.reporting import build_report, write_report
from retentio.reporting.format import KPI_SPECS, format_kpi

END = date(1998, 6, 30)
SECTIONS = {
    "kpis": "Key figures",
    "cohorts": "Cohort retention",
    "interpurchase": "Time between purchases",
    "segments": "RFM segments",
    "new-returning": "Revenue from new and returning customers",
    "predictions": "Predictions",
}


def transactions(rows: list[tuple[str, str, str, float]], currency: str = "EUR") -> pa.Table:
    """A small transactions table from (customer, order, ISO day, amount) rows."""
    return pa.Table.from_pylist(
        [
            {
                "customer_id": c,
                "order_id": o,
                "ordered_at": datetime.fromisoformat(d).replace(tzinfo=UTC),
                "amount": a,
                "currency": currency,
                "is_refund": a < 0,
                "status": None,
            }
            for c, o, d, a in rows
        ],
        schema=TRANSACTIONS_SCHEMA,
    )


SMALL = [
    ("a", "1", "2024-01-03", 20.0),
    ("a", "2", "2024-02-10", 30.0),
    ("b", "3", "2024-01-20", 15.0),
    ("c", "4", "2024-02-02", 40.0),
    ("c", "5", "2024-03-15", 10.0),
    ("c", "6", "2024-03-20", 25.0),
]


@pytest.fixture(scope="module")
def cdnow() -> pa.Table:
    return load_cdnow()


@pytest.fixture(scope="module")
def report(cdnow: pa.Table) -> str:
    return build_report(cdnow, observation_end=END)


class Page(HTMLParser):
    """Collects what the tests look at: ids, attributes with URLs, tags, cards."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[tuple[str, str, str]] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        for name, value in attrs:
            if name == "id" and value:
                self.ids.add(value)
            if name in {"src", "href", "srcset", "action", "data", "poster", "xlink:href"}:
                self.links.append((tag, name, value or ""))


def page(html: str) -> Page:
    parser = Page()
    parser.feed(html)
    return parser


def cards(html: str) -> dict[str, str]:
    """KPI key -> the value shown on its card."""
    found = re.findall(r'data-kpi="([a-z_]+)">.*?<p class="value">(.*?)</p>', html, re.S)
    return dict(found)


def test_public_names_are_sorted_and_exported() -> None:
    assert retentio.reporting.__all__ == sorted(retentio.reporting.__all__)
    assert retentio.reporting.__all__ == ["build_report", "write_report"]


def test_report_has_every_section_with_heading_and_explanation(report: str) -> None:
    parsed = page(report)
    for section_id, heading in SECTIONS.items():
        assert section_id in parsed.ids
        match = re.search(rf'<section id="{section_id}".*?</section>', report, re.S)
        assert match, section_id
        body = match.group(0)
        assert f">{heading}</h2>" in body
        assert '<p class="lede">' in body


def test_kpi_cards_show_the_kpis_formatted(report: str, cdnow: pa.Table) -> None:
    figures = kpis(cdnow, observation_end=END)
    shown = cards(report)
    assert list(shown) == list(KPI_KEYS)
    for key in KPI_KEYS:
        assert shown[key] == format_kpi(key, figures[key], "USD"), key
        assert KPI_SPECS[key].label in report
    # the published CDNOW sample: 2,357 customers, 6,919 purchases
    assert shown["customers"] == "2,357"
    assert shown["orders"] == "6,919"
    assert shown["revenue"] == "244,092 USD"
    assert shown["repeat_purchase_rate"].endswith("%")
    assert shown["median_days_between_purchases"].endswith(" days")


def test_each_kpi_card_has_a_sparkline_and_a_direction(report: str) -> None:
    for key in KPI_KEYS:
        card = re.search(rf'data-kpi="{key}">(.*?)</article>', report, re.S)
        assert card, key
        assert f'aria-labelledby="spark-{key}-title spark-{key}-desc"' in card.group(1)
        assert re.search(r'class="trend (good|bad|neutral)".*?(rising|falling|flat)', card.group(1))


def test_every_chart_is_well_formed_accessible_svg(report: str) -> None:
    svgs = re.findall(r"<svg\b.*?</svg>", report, re.S)
    assert len(svgs) >= len(KPI_KEYS) + 5  # sparklines, legend, histogram, 2 RFM, stacked
    for svg in svgs:
        root = ET.fromstring(svg)  # noqa: S314 - our own output
        assert root.get("role") == "img"
        assert root.find("title") is not None and root.find("desc") is not None
        labelled = (root.get("aria-labelledby") or "").split()
        assert {e.get("id") for e in root if e.tag in {"title", "desc"}} == set(labelled)
    ids = re.findall(r'\bid="([^"]+)"', report)
    assert len(ids) == len(set(ids)), "element ids must be unique"


def test_charts_have_axis_labels(report: str) -> None:
    assert "Days since the customer&#39;s previous purchase" in report
    assert "Share of repeat purchases" in report
    assert "Net revenue (USD)" in report
    assert ">Month</text>" in report


def test_cohort_table_rows_columns_and_colours(report: str) -> None:
    table = re.search(r'<table class="cohorts">.*?</table>', report, re.S)
    assert table
    rows = re.findall(r'<th scope="row">(.*?)</th><td class="size">(.*?)</td>', table.group(0))
    assert rows == [("Jan 1997", "781"), ("Feb 1997", "857"), ("Mar 1997", "719")]
    headers = re.findall(r'<th scope="col">(\d+)</th>', table.group(0))
    assert headers == [str(k) for k in range(18)]  # Jan 1997 .. Jun 1998
    jan = re.search(r"Jan 1997</th>.*?</tr>", table.group(0), re.S)
    assert jan
    cells = re.findall(
        r'style="background-color: (#[0-9a-f]{6}); color: #[0-9a-f]{6}"', jan.group(0)
    )
    assert len(cells) == 18
    assert ">100%</td>" in jan.group(0) and ">16%</td>" in jan.group(0)  # 124 of 781 in month 1
    assert "Jan 1997 cohort, month 1: 124 of 781 customers bought (15.9%)" in jan.group(0)


def test_interpurchase_rfm_and_revenue_split_numbers(report: str) -> None:
    assert "34 days" in report and "70.9 days" in report  # median and mean gap
    assert "4,339" in report  # repeat purchases
    for segment in ("Champions", "Hibernating", "Lost", "Can&#39;t lose them"):
        assert segment in report
    assert "returning customers brought 68.6% of all revenue" in report


def test_predictions_section_scores_every_customer(report: str, cdnow: pa.Table) -> None:
    body = re.search(r'<section id="predictions".*?</section>', report, re.S)
    assert body
    text = body.group(0)
    summary = retentio.summarize(cdnow, observation_end=END, time_unit="W")
    fit = fit_clv(summary, observation_end=END, time_unit="W")
    scored = predict_customers(summary, fit, horizon="12M", discount_rate=0.01)
    facts = dict(re.findall(r'<span class="k">(.*?)</span><span class="v">(.*?)</span>', text))
    assert facts["Customers scored"] == "2,357"
    assert facts["Mean P(alive)"] == f"{scored['p_alive'].mean():.1%}"
    at_risk = scored["risk_band"].isin(["high", "critical"]).sum()
    assert facts["High or critical churn risk"] == f"{at_risk:,}"
    for uid in ("risk-customers", "risk-value", "alive-matrix"):
        assert f'id="{uid}-title"' in text, uid
    assert "holdout-by-frequency" in text and "holdout-cumulative" in text
    assert "1997-12-30" in text  # the calibration end: half a year before the end
    assert f"r = {fit.transaction.params['r']:.3g}" in text


def test_predictions_section_explains_a_failed_fit(small_report: str) -> None:
    body = re.search(r'<section id="predictions".*?</section>', small_report, re.S)
    assert body and "could not be fitted" in body.group(0)


def test_predictions_section_reports_a_holdout_that_does_not_suit_the_data() -> None:
    # A year of history whose repeat purchases all come in the last half year: the models fit
    # on the whole history, but the holdout check has no repeat buyer to learn from.
    rng = random.Random(2)
    rows = []
    end, calibration_end = date(2024, 1, 31), date(2023, 8, 3)
    for i in range(600):
        first = date(2023, 1, 1) + timedelta(days=rng.randint(0, 390))
        rows.append((f"c{i}", f"o{i}-0", first.isoformat(), 10.0))
        day = max(first, calibration_end) + timedelta(days=1)
        if day >= end:
            continue
        rate = rng.choice([0, 0.005, 0.01, 0.02, 0.05])
        life = day + timedelta(days=int(rng.expovariate(1 / 60)))
        # Each customer has a typical spend of their own: with one spend distribution for
        # all, Gamma-Gamma's likelihood has no maximum (it grows along a ridge), and whether
        # the fit is accepted depends on where the optimiser stops on the machine.
        usual = rng.gauss(3, 0.6)
        while rate:
            day += timedelta(days=max(1, int(rng.expovariate(rate))))
            if day > min(end, life):
                break
            amount = round(rng.lognormvariate(usual, 0.3), 2)
            rows.append((f"c{i}", f"o{i}-{day}", day.isoformat(), amount))
    html = build_report(transactions(rows), observation_end=end)
    body = re.search(r'<section id="predictions".*?</section>', html, re.S)
    assert body and "could not be fitted" not in body.group(0)
    assert "The holdout check failed: no customer made a repeat purchase" in body.group(0)


def test_report_loads_nothing_from_anywhere(report: str) -> None:
    assert "http://" not in report and "https://" not in report
    assert "//" not in report  # not even a protocol-relative reference
    parsed = page(report)
    assert all(value.startswith("#") for _, _, value in parsed.links), parsed.links
    assert not parsed.tags & {"script", "link", "img", "iframe", "object", "embed", "base"}
    assert "url(" not in report and "@import" not in report
    assert "default-src 'none'" in report  # a Content-Security-Policy backs this up


def test_footer_shows_observation_end_range_and_version(report: str) -> None:
    footer = re.search(r"<footer.*?</footer>", report, re.S)
    assert footer
    text = footer.group(0)
    assert "1998-06-30" in text
    assert "1997-01-01 to 1998-06-30" in text
    assert f"retentio {retentio.__version__}" in text


NASTY_TITLE = "<script>alert(1)</script> & co"


@pytest.fixture(scope="module")
def small_report() -> str:
    return build_report(transactions(SMALL), observation_end="2024-03-31", title=NASTY_TITLE)


def test_title_is_escaped(small_report: str) -> None:
    assert "<script>" not in small_report
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in small_report
    assert "<title>&lt;script&gt;" in small_report


def test_currency_comes_from_the_data_or_the_argument(small_report: str) -> None:
    assert "Amounts in EUR" in small_report
    tx = transactions(SMALL, currency="XXX")
    assert "Amounts in DKK" in build_report(tx, observation_end="2024-03-31", currency="dkk")
    unknown = build_report(tx, observation_end="2024-03-31")
    assert "XXX" not in unknown  # ISO 4217 "no currency": no code shown
    with pytest.raises(ConfigurationError, match="currency"):
        build_report(tx, observation_end="2024-03-31", currency="<b>")


def test_same_input_gives_the_same_bytes(small_report: str) -> None:
    again = build_report(transactions(SMALL), observation_end="2024-03-31", title=NASTY_TITLE)
    assert again == small_report


def test_running_period_is_marked() -> None:
    html = build_report(transactions(SMALL), observation_end="2024-03-20")
    assert "is still running on 2024-03-20" in html
    assert 'class="cell partial"' in html
    assert 'class="spark-partial"' in html


@pytest.mark.parametrize("period", ["D", "W", "Q", "Y"])
def test_other_periods(period: str) -> None:
    html = build_report(transactions(SMALL), observation_end="2024-03-31", period=period)
    assert len(cards(html)) == len(KPI_KEYS)


def test_bad_period_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="period"):
        build_report(transactions(SMALL), observation_end="2024-03-31", period="fortnight")


def test_one_customer_without_repeat_purchases_still_renders() -> None:
    html = build_report(
        transactions([("a", "1", "2024-01-03", 20.0)]), observation_end="2024-01-31"
    )
    assert "No data" in html  # the histogram of days between purchases
    assert cards(html)["customers"] == "1"
    assert cards(html)["median_days_between_purchases"] == "\u2014"


def test_refunds_are_netted() -> None:
    rows = [*SMALL, ("c", "6", "2024-03-25", -25.0)]
    html = build_report(transactions(rows), observation_end="2024-03-31")
    assert cards(html)["revenue"] == "115.00 EUR"


def test_no_purchases_before_observation_end_is_an_error() -> None:
    with pytest.raises(EmptyDataError):
        build_report(transactions(SMALL), observation_end="2023-12-31")


def test_write_report_writes_atomically(tmp_path: Path, small_report: str) -> None:
    tx = transactions(SMALL)
    target = tmp_path / "out" / "report.html"
    written = write_report(tx, target, observation_end="2024-03-31", title=NASTY_TITLE)
    assert written == target
    assert target.read_text(encoding="utf-8") == small_report
    assert small_report.startswith("<!doctype html>")
    write_report(tx, str(target), observation_end="2024-03-31", title="Again")
    assert "Again" in target.read_text(encoding="utf-8")
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.html"]


def test_write_report_leaves_the_old_file_when_it_fails(tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    target.write_text("old", encoding="utf-8")
    with pytest.raises(EmptyDataError):
        write_report(transactions(SMALL), target, observation_end="2023-12-31")
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]
