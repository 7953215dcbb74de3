"""retentio.reporting.svg and colors: well-formed, accessible, correctly scaled SVG charts."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pytest

from retentio.reporting.colors import HEAT_STOPS, heat_color, text_color_on
from retentio.reporting.svg import (
    Series,
    bar_chart,
    column_chart,
    heat_legend,
    heatmap,
    nice_ticks,
    sparkline,
    stacked_column_chart,
)
from retentio.reporting.svg_lines import line_chart

NAN = float("nan")


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # noqa: S314 - our own output, not untrusted XML
    assert root.tag == "svg"
    return root


def bars(root: ET.Element) -> list[ET.Element]:
    return [r for r in root.iter("rect") if r.get("class") == "bar"]


def num(element: ET.Element, name: str) -> float:
    return float(element.get(name, "nan"))


def texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter("text")]


def assert_accessible(root: ET.Element, uid: str, title: str) -> None:
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == f"{uid}-title {uid}-desc"
    first, second = list(root)[:2]
    assert (first.tag, first.get("id"), first.text) == ("title", f"{uid}-title", title)
    assert (second.tag, second.get("id")) == ("desc", f"{uid}-desc")
    assert second.text


def column(values: list[float | None], **kw: object) -> ET.Element:
    labels = [f"L{i}" for i in range(len(values))]
    return parse(
        column_chart(labels, values, uid="c", title="T", desc="D", x_label="X", y_label="Y", **kw)  # type: ignore[arg-type]
    )


# --- column chart -------------------------------------------------------------------------


def test_column_chart_is_accessible_with_axis_labels() -> None:
    root = column([1.0, 2.0, 3.0])
    assert_accessible(root, "c", "T")
    assert "X" in texts(root) and "Y" in texts(root)
    assert root.get("viewBox", "").startswith("0 0 ")


def test_column_twice_the_value_is_twice_as_high_on_the_same_baseline() -> None:
    root = column([10.0, 20.0])
    a, b = bars(root)
    assert num(b, "height") == pytest.approx(2 * num(a, "height"), rel=1e-3)
    assert num(a, "y") + num(a, "height") == pytest.approx(num(b, "y") + num(b, "height"))


def test_column_zero_has_no_height_and_negative_hangs_below_the_baseline() -> None:
    root = column([5.0, 0.0, -5.0])
    pos, zero, neg = bars(root)
    assert num(zero, "height") == 0
    baseline = num(pos, "y") + num(pos, "height")
    assert num(neg, "y") == pytest.approx(baseline)
    assert num(neg, "height") == pytest.approx(num(pos, "height"))


@pytest.mark.parametrize("values", [[], [NAN, NAN], [None], [math.inf]])
def test_column_chart_without_values_says_no_data(values: list[float | None]) -> None:
    root = column(values)
    assert bars(root) == []
    assert "No data" in texts(root)


def test_column_chart_skips_nan_but_keeps_the_slot() -> None:
    root = column([1.0, NAN, 1.0])
    first, last = bars(root)
    assert num(last, "x") - num(first, "x") > 2 * num(first, "width")  # a slot left empty
    assert "No data" not in texts(root)


def test_column_chart_thins_long_label_rows_but_keeps_the_last() -> None:
    labels = [f"label {i:03d}" for i in range(200)]
    root = parse(
        column_chart(labels, [1.0] * 200, uid="c", title="T", desc="D", x_label="X", y_label="Y")
    )
    shown = [t for t in texts(root) if t.startswith("label")]
    assert 2 <= len(shown) < 40
    assert "label 199" in shown


def test_bar_tooltips_use_given_titles() -> None:
    root = column([1.0, 2.0], value_titles=["one", "two"])
    assert [b.find("title").text for b in bars(root)] == ["one", "two"]  # type: ignore[union-attr]


# --- horizontal bars ----------------------------------------------------------------------


def test_bar_chart_widths_scale_with_values_and_print_labels() -> None:
    root = parse(
        bar_chart(["a", "b", "c"], [10, 20, 0], uid="b", title="Bars", desc="D", x_label="Count")
    )
    assert_accessible(root, "b", "Bars")
    a, b, c = bars(root)
    assert num(b, "width") == pytest.approx(2 * num(a, "width"), rel=1e-3)
    assert num(a, "x") == num(b, "x") == num(c, "x")
    assert num(c, "width") == 0
    assert {"a", "b", "c", "Count"} <= set(texts(root))


def test_bar_chart_value_labels_are_written() -> None:
    root = parse(
        bar_chart(["a"], [3], uid="b", title="T", desc="D", x_label="X", value_labels=["3 · 50%"])
    )
    assert "3 · 50%" in texts(root)


@pytest.mark.parametrize("values", [[], [NAN, NAN]])
def test_bar_chart_without_values_says_no_data(values: list[float]) -> None:
    labels = [str(i) for i in range(len(values))]
    root = parse(bar_chart(labels, values, uid="b", title="T", desc="D", x_label="X"))
    assert bars(root) == []
    assert "No data" in texts(root)


# --- stacked columns ----------------------------------------------------------------------


def test_stacked_segments_stack_and_scale() -> None:
    series = [Series("new", [10, 30], "#111111"), Series("returning", [20, 30], "#222222")]
    root = parse(
        stacked_column_chart(
            ["p1", "p2"], series, uid="s", title="S", desc="D", x_label="X", y_label="Y"
        )
    )
    assert_accessible(root, "s", "S")
    new1, ret1, new2, ret2 = bars(root)
    assert num(ret1, "height") == pytest.approx(2 * num(new1, "height"), rel=1e-3)
    # the second series sits on top of the first
    assert num(ret1, "y") + num(ret1, "height") == pytest.approx(num(new1, "y"))
    total1 = num(new1, "height") + num(ret1, "height")
    total2 = num(new2, "height") + num(ret2, "height")
    assert total2 == pytest.approx(2 * total1, rel=1e-3)
    assert {"new", "returning"} <= set(texts(root))  # the legend
    assert new1.get("fill") == "#111111"


def test_stacked_negative_values_go_below_zero() -> None:
    series = [Series("a", [10], "#111111"), Series("b", [-5], "#222222")]
    root = parse(
        stacked_column_chart(["p"], series, uid="s", title="S", desc="D", x_label="X", y_label="Y")
    )
    up, down = bars(root)
    assert num(down, "y") == pytest.approx(num(up, "y") + num(up, "height"))
    assert num(down, "height") == pytest.approx(num(up, "height") / 2, rel=1e-3)


@pytest.mark.parametrize("labels, values", [([], []), (["p"], [NAN])])
def test_stacked_without_values_says_no_data(labels: list[str], values: list[float]) -> None:
    root = parse(
        stacked_column_chart(
            labels,
            [Series("a", values, "#000000")],
            uid="s",
            title="S",
            desc="D",
            x_label="X",
            y_label="Y",
        )  # fmt: skip
    )
    assert bars(root) == []
    assert "No data" in texts(root)


# --- sparkline ----------------------------------------------------------------------------


def spark(values: list[float | None], **kw: object) -> ET.Element:
    return parse(sparkline(values, uid="k", title="Trend", desc="D", **kw))  # type: ignore[arg-type]


def test_sparkline_draws_a_line_to_a_dot_on_the_last_value() -> None:
    root = spark([1.0, 3.0, 2.0], start_label="Jan", end_label="Mar")
    assert_accessible(root, "k", "Trend")
    (line,) = root.iter("polyline")
    points = [tuple(map(float, p.split(","))) for p in (line.get("points") or "").split()]
    assert len(points) == 3
    ys = [y for _, y in points]
    assert ys[1] < ys[2] < ys[0]  # higher values are drawn higher up (smaller y)
    (dot,) = root.iter("circle")
    assert (num(dot, "cx"), num(dot, "cy")) == pytest.approx(points[-1])
    assert {"Jan", "Mar"} <= set(texts(root))


def test_sparkline_single_point_is_a_dot() -> None:
    root = spark([5.0])
    assert list(root.iter("polyline")) == []
    assert len(list(root.iter("circle"))) == 1


def test_sparkline_constant_series_is_a_flat_line() -> None:
    (line,) = spark([2.0, 2.0, 2.0]).iter("polyline")
    ys = {p.split(",")[1] for p in (line.get("points") or "").split()}
    assert len(ys) == 1


def test_sparkline_breaks_at_nan() -> None:
    root = spark([1.0, 2.0, NAN, 3.0, 4.0])
    assert len(list(root.iter("polyline"))) == 2


@pytest.mark.parametrize("values", [[], [NAN, None]])
def test_sparkline_without_values_says_no_data(values: list[float | None]) -> None:
    root = spark(values)
    assert list(root.iter("circle")) == []
    assert "No data" in texts(root)


def test_sparkline_dashes_a_running_last_period() -> None:
    root = spark([1.0, 2.0, 3.0], last_incomplete=True)
    (partial,) = [e for e in root.iter("line") if e.get("class") == "spark-partial"]
    assert partial.get("stroke-dasharray")
    (line,) = root.iter("polyline")
    assert len((line.get("points") or "").split()) == 2
    (dot,) = root.iter("circle")
    assert dot.get("fill") == "#fff"  # hollow: not a final value


# --- escaping, ticks and colours ----------------------------------------------------------


def test_text_is_escaped_and_stays_well_formed() -> None:
    nasty = "<script>alert('x')</script> & \"q\""
    root = parse(bar_chart([nasty], [1], uid='u"x', title=nasty, desc=nasty, x_label=nasty))
    assert root.find("title").text == nasty  # type: ignore[union-attr]
    assert nasty in texts(root)
    raw = str(bar_chart([nasty], [1], uid="u", title=nasty, desc=nasty, x_label=nasty))
    assert "<script>" not in raw


def test_no_chart_contains_a_url() -> None:
    charts = [
        column_chart(["a"], [1], uid="a", title="T", desc="D", x_label="X", y_label="Y"),
        bar_chart(["a"], [1], uid="b", title="T", desc="D", x_label="X"),
        stacked_column_chart(
            ["a"],
            [Series("s", [1], "#000000")],
            uid="c",
            title="T",
            desc="D",
            x_label="X",
            y_label="Y",
        ),  # fmt: skip
        sparkline([1, 2], uid="d", title="T", desc="D"),
        heat_legend(0.5, uid="e", fmt=str),
        heatmap(["r"], ["c"], [[1]], uid="f", title="T", desc="D", x_label="X", y_label="Y"),
        line_chart(
            ["a", "b"],
            [Series("s", [1, 2], "#000000")],
            uid="g",
            title="T",
            desc="D",
            x_label="X",
            y_label="Y",
            markers=True,
            rule_at=0.5,
            rule_label="here",
        ),  # fmt: skip
    ]
    for chart in charts:
        parse(chart)
        assert "http" not in chart and "href" not in chart and "url(" not in chart


@pytest.mark.parametrize(
    "lo, hi", [(0, 1), (0, 7), (0, 0.153), (-3, 12), (0, 244_091.94), (5, 5), (0, 0), (-2, -2)]
)
def test_nice_ticks_cover_the_range_with_round_even_steps(lo: float, hi: float) -> None:
    ticks = nice_ticks(lo, hi)
    assert ticks[0] <= lo and ticks[-1] >= hi and ticks[0] < ticks[-1]
    steps = {round(b - a, 9) for a, b in zip(ticks, ticks[1:], strict=False)}
    assert len(steps) == 1
    (step,) = steps
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert round(mantissa, 6) in {1, 2, 2.5, 5}
    assert 2 <= len(ticks) <= 12


def test_nice_ticks_survive_non_finite_input() -> None:
    assert nice_ticks(NAN, 1) == [0.0, 1.0]


def test_heat_color_runs_from_light_to_dark() -> None:
    def rgb(color: str) -> tuple[int, ...]:
        return tuple(int(color[i : i + 2], 16) for i in (1, 3, 5))

    assert rgb(heat_color(0.0)) == HEAT_STOPS[0][1]
    assert rgb(heat_color(1.0)) == HEAT_STOPS[-1][1]
    assert rgb(heat_color(0.2, vmax=0.2)) == HEAT_STOPS[-1][1]
    assert rgb(heat_color(5.0, vmax=0.2)) == HEAT_STOPS[-1][1]  # capped
    shades = [sum(rgb(heat_color(x / 10))) for x in range(11)]
    assert shades == sorted(shades, reverse=True)
    assert heat_color(NAN) == heat_color(None) == "#f3f4f6"


def test_text_colour_contrasts_with_the_cell() -> None:
    assert text_color_on(heat_color(1.0)) == "#ffffff"
    assert text_color_on(heat_color(0.0)) == "#111827"


# --- heatmap ------------------------------------------------------------------------------


def cells(root: ET.Element) -> list[ET.Element]:
    return [r for r in root.iter("rect") if r.get("class") == "cell"]


def heat(values: list[list[float | None]], **kw: object) -> ET.Element:
    rows = [f"r{i}" for i in range(len(values))]
    columns = [f"c{j}" for j in range(max((len(v) for v in values), default=0))]
    return parse(
        heatmap(rows, columns, values, uid="h", title="Heat", desc="D", x_label="X", y_label="Y",
                **kw)  # type: ignore[arg-type]
    )  # fmt: skip


def test_heatmap_draws_one_cell_per_value_in_a_grid() -> None:
    root = heat([[0.0, 0.5, 1.0], [1.0, 0.5, 0.0]])
    assert_accessible(root, "h", "Heat")
    drawn = cells(root)
    assert len(drawn) == 6
    xs = sorted({num(c, "x") for c in drawn})
    ys = sorted({num(c, "y") for c in drawn})
    assert len(xs) == 3 and len(ys) == 2
    assert [c.find("title").text for c in drawn[:3]] == ["r0, c0: 0", "r0, c1: 0.5", "r0, c2: 1"]  # type: ignore[union-attr]
    assert {"r0", "r1", "c0", "c2", "X", "Y"} <= set(texts(root))


def test_heatmap_shades_by_value_up_to_vmax_and_caps_above() -> None:
    root = heat([[0.0, 0.5, 2.0]], vmax=1.0)
    low, mid, high = (c.get("fill") for c in cells(root))
    assert (low, mid, high) == (heat_color(0.0), heat_color(0.5), heat_color(1.0))
    default = cells(heat([[0.0, 0.5, 2.0]]))
    assert default[2].get("fill") == heat_color(1.0) and default[1].get("fill") == heat_color(0.25)


def test_heatmap_leaves_missing_values_as_gaps() -> None:
    root = heat([[1.0, NAN], [None, 2.0]])
    assert len(cells(root)) == 2
    assert "No data" not in texts(root)


def test_heatmap_holds_its_colour_key() -> None:
    root = heat([[0.0, 4.0]], key_label="Purchases", value_format=lambda v: f"{v:g}")
    key = [r for r in root.iter("rect") if r.get("class") is None]
    assert len(key) == 6
    assert {"Purchases", "0", "4"} <= set(texts(root))


def test_heatmap_uses_given_cell_titles_and_escapes_them() -> None:
    nasty = '<b>&"x"</b>'
    raw = heatmap([nasty], [nasty], [[1.0]], uid="h", title=nasty, desc=nasty, x_label=nasty,
                  y_label=nasty, cell_titles=[[nasty]])  # fmt: skip
    root = parse(raw)
    assert "<b>" not in raw
    (cell,) = cells(root)
    assert cell.find("title").text == nasty  # type: ignore[union-attr]
    assert nasty in texts(root)


@pytest.mark.parametrize("values", [[], [[NAN, None]]])
def test_heatmap_without_values_says_no_data(values: list[list[float | None]]) -> None:
    root = heat(values)
    assert cells(root) == []
    assert "No data" in texts(root)


# --- line chart ---------------------------------------------------------------------------


def polyline_points(line: ET.Element) -> list[tuple[float, float]]:
    return [
        (float(x), float(y)) for x, y in (p.split(",") for p in (line.get("points") or "").split())
    ]


def lines(series: list[Series], labels: list[str] | None = None, **kw: object) -> ET.Element:
    n = max(len(s.values) for s in series)
    return parse(
        line_chart(labels or [f"L{i}" for i in range(n)], series, uid="l", title="Lines",
                   desc="D", x_label="X", y_label="Y", **kw)  # type: ignore[arg-type]
    )  # fmt: skip


def test_line_chart_draws_a_line_per_series_with_a_legend() -> None:
    root = lines([Series("actual", [1, 2, 3], "#111111"), Series("model", [2, 2, 2], "#222222",
                                                                   dashed=True)])  # fmt: skip
    assert_accessible(root, "l", "Lines")
    first, second = root.iter("polyline")
    a, b = polyline_points(first), polyline_points(second)
    assert len(a) == len(b) == 3
    assert [x for x, _ in a] == [x for x, _ in b]
    assert a[0][1] > a[1][1] > a[2][1]  # rising values are drawn higher up
    assert len({y for _, y in b}) == 1
    assert b[1][1] == pytest.approx(a[1][1])  # same value, same height
    assert first.get("stroke-dasharray") is None and second.get("stroke-dasharray")
    assert {"actual", "model", "X", "Y"} <= set(texts(root))
    assert list(root.iter("circle")) == []  # no markers unless asked


def test_line_chart_value_axis_starts_at_zero() -> None:
    root = lines([Series("s", [10, 20], "#111111")])
    (line,) = root.iter("polyline")
    (_, y10), (_, y20) = polyline_points(line)
    zero = next(e for e in root.iter("line") if e.get("class") == "grid zero")
    assert num(zero, "y1") - y10 == pytest.approx(y10 - y20, rel=1e-3)


def test_line_chart_markers_carry_tooltips() -> None:
    root = lines([Series("s", [1, 2], "#111111")], markers=True,
                 point_titles=[["first", "second"]])  # fmt: skip
    points = [c for c in root.iter("circle") if c.get("class") == "point"]
    assert [p.find("title").text for p in points] == ["first", "second"]  # type: ignore[union-attr]
    (line,) = root.iter("polyline")
    for point, (x, y) in zip(points, polyline_points(line), strict=True):
        assert (num(point, "cx"), num(point, "cy")) == pytest.approx((x, y))
    default = lines([Series("s", [1.5], "#111111")], labels=["Jan"], markers=True)
    (dot,) = [c for c in default.iter("circle") if c.get("class") == "point"]
    assert dot.find("title").text == "Jan, s: 1.5"  # type: ignore[union-attr]


def test_line_chart_breaks_at_gaps_and_keeps_lone_points_visible() -> None:
    root = lines([Series("s", [1.0, 2.0, NAN, 3.0, None, 4.0, 5.0], "#111111")])
    assert [len(polyline_points(p)) for p in root.iter("polyline")] == [2, 2]
    assert len([c for c in root.iter("circle") if c.get("class") == "point"]) == 1  # the 3


def test_line_chart_rule_marks_a_position_between_points() -> None:
    root = lines([Series("s", [1, 2, 3], "#111111")], rule_at=1.5, rule_label="cut <here>")
    (line,) = root.iter("polyline")
    xs = [x for x, _ in polyline_points(line)]
    (rule,) = [e for e in root.iter("line") if e.get("class") == "rule"]
    assert num(rule, "x1") == pytest.approx((xs[1] + xs[2]) / 2)
    assert rule.get("stroke-dasharray")
    assert "cut <here>" in texts(root)


@pytest.mark.parametrize("values", [[], [NAN, None]])
def test_line_chart_without_values_says_no_data(values: list[float | None]) -> None:
    labels = [f"L{i}" for i in range(len(values))]
    root = parse(
        line_chart(
            labels,
            [Series("s", values, "#111111")],
            uid="l",
            title="T",
            desc="D",
            x_label="X",
            y_label="Y",
        )  # fmt: skip
    )
    assert list(root.iter("polyline")) == []
    assert "No data" in texts(root)
    assert "s" in texts(root)  # the legend still says what would be drawn
