"""A line chart in the style of :mod:`retentio.reporting.svg`: several series over categories.

Each label is a category with its point at the centre of its band, as in the column charts, so
the two kinds of chart line up. A missing value breaks its line; a point without a neighbour
keeps a dot so that it stays visible. Kept apart from ``svg.py`` only to keep modules short.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from markupsafe import Markup, escape

from retentio.reporting.svg import (
    _CHAR_PX,
    Formatter,
    Series,
    _clean,
    _close,
    _column_axes,
    _columns_frame,
    _Frame,
    _legend,
    _n,
    _no_data,
    _open,
    _plain,
    _runs,
    _text,
    _value_axis,
)

__all__ = ["line_chart"]

_DASH = "6 4"
_RULE_COLOR = "#9aa3b2"  # as the zero line
_RULE_DASH = "4 3"


def _line_swatch(markers: bool) -> Callable[[float, Series], str]:
    """The legend swatch of a line: a short stroke, with a dot when the chart has markers."""

    def swatch(x: float, s: Series) -> str:
        dash = f' stroke-dasharray="{_DASH}"' if s.dashed else ""
        line = (
            f'<line class="swatch" x1="{_n(x)}" y1="12" x2="{_n(x + 22)}" y2="12" '
            f'stroke="{escape(s.color)}" stroke-width="2.5"{dash}/>'
        )
        return line + (_dot(x + 11, 12, s, "", "swatch") if markers else "")

    return swatch


def _dot(cx: float, cy: float, s: Series, tip: str, cls: str = "point") -> str:
    fill = "#fff" if s.dashed else escape(s.color)
    title = f"<title>{escape(tip)}</title>" if tip else ""
    return (
        f'<circle class="{cls}" cx="{_n(cx)}" cy="{_n(cy)}" r="3.5" fill="{fill}" '
        f'stroke="{escape(s.color)}" stroke-width="1.5">{title}</circle>'
    )


def _rule(parts: list[str], f: _Frame, x: float, label: str) -> None:
    """A dashed vertical marker across the plot area, labelled at its top."""
    parts.append(
        f'<line class="rule" x1="{_n(x)}" x2="{_n(x)}" y1="{_n(f.top)}" y2="{_n(f.bottom)}" '
        f'stroke="{_RULE_COLOR}" stroke-width="1.5" stroke-dasharray="{_RULE_DASH}"/>'
    )
    if label:
        room = f.right - x
        anchor, dx = ("start", 5.0) if room > len(label) * _CHAR_PX + 10 else ("end", -5.0)
        parts.append(_text(x + dx, f.top + 12, label, "rule-label", anchor))


def line_chart(
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    uid: str,
    title: str,
    desc: str,
    x_label: str,
    y_label: str,
    y_format: Formatter = _plain,
    markers: bool = False,
    point_titles: Sequence[Sequence[str]] | None = None,
    rule_at: float | None = None,
    rule_label: str = "",
    width: float = 1020,
    height: float = 320,
) -> Markup:
    """One line per series over the labels, with a legend; the value axis starts at zero.

    ``markers`` puts a dot with a tooltip on every value (``point_titles[series][point]``, or
    "label, series: value"); a dashed series draws hollow dots. ``rule_at`` draws a dashed
    vertical marker labelled ``rule_label`` at that position in label units (0 is the first
    label's point, 1.5 halfway between the second and the third).
    """
    cleaned = [_clean(s.values)[: len(labels)] for s in series]
    finite = [y for ys in cleaned for y in ys if y is not None]
    parts = _open(uid, "lines", width, height, title, desc)
    ticks, tick_text = _value_axis(min(finite, default=0.0), max(finite, default=1.0), y_format)
    left, top, right, bottom = _columns_frame(width, height, tick_text, 34, y_label)
    if labels:  # many points make narrow bands: keep the end labels inside the chart
        left = max(left, len(labels[0]) * _CHAR_PX / 2 + 4)
        right = min(right, width - len(labels[-1]) * _CHAR_PX / 2 - 4)
    f = _Frame(left, top, right, bottom, ticks[0], ticks[-1])
    _legend(parts, series, left, _line_swatch(markers), 28)
    _column_axes(parts, f, ticks, tick_text, labels, x_label, y_label, height)
    band = (right - left) / max(len(labels), 1)

    def px(i: float) -> float:
        return left + (i + 0.5) * band

    if rule_at is not None and labels:
        _rule(parts, f, px(min(max(rule_at, -0.5), len(labels) - 0.5)), rule_label)
    if not finite:
        parts.append(_no_data((left + right) / 2, (top + bottom) / 2))
        return _close(parts)
    for k, (s, ys) in enumerate(zip(series, cleaned, strict=True)):
        dash = f' stroke-dasharray="{_DASH}"' if s.dashed else ""
        for run in _runs(ys):
            if len(run) >= 2:
                points = " ".join(f"{_n(px(i))},{_n(f.scale(ys[i] or 0.0))}" for i in run)
                parts.append(
                    f'<polyline class="line" points="{points}" fill="none" '
                    f'stroke="{escape(s.color)}" stroke-width="2.5" '
                    f'stroke-linejoin="round"{dash}/>'
                )
            if markers or len(run) == 1:
                for i in run:
                    tip = (
                        point_titles[k][i]
                        if point_titles
                        else f"{labels[i]}, {s.name}: {y_format(ys[i] or 0.0)}"
                    )
                    parts.append(_dot(px(i), f.scale(ys[i] or 0.0), s, tip))
    return _close(parts)
