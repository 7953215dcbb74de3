"""Small SVG charts drawn in Python: sparkline, columns, bars, stacked columns, heatmap.

Every chart is one ``<svg role="img">`` with a ``<title>`` and a ``<desc>`` referenced by
``aria-labelledby``, so screen readers announce it; every text is escaped. Missing values (None,
NaN, infinities) are gaps; a chart without any value draws its frame and a "No data" note.
No ``xmlns`` is written: the charts are inlined in HTML5, whose parser places ``<svg>`` in the
SVG namespace by itself, and the report then holds no URL at all.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from retentio.reporting.colors import ACCENT, heat_color

__all__ = [
    "Series",
    "bar_chart",
    "column_chart",
    "heat_legend",
    "heatmap",
    "nice_ticks",
    "sparkline",
    "stacked_column_chart",
]

_CHAR_PX = 6.6  # average width of a 12px sans-serif character, for layout estimates

Number = float | int | None
Formatter = Callable[[float], str]


@dataclass(frozen=True)
class Series:
    """One named series of a stacked or line chart, with its colour (a line may be dashed)."""

    name: str
    values: Sequence[Number]
    color: str
    dashed: bool = False


def _clean(values: Sequence[object]) -> list[float | None]:
    out: list[float | None] = []
    for v in values:
        try:
            f = float(v)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            out.append(None)
            continue
        out.append(f if math.isfinite(f) else None)
    return out


def _n(x: float) -> str:
    """A coordinate with at most two decimals and no ``-0``."""
    text = f"{x:.2f}".rstrip("0").rstrip(".")
    return "0" if text in {"-0", ""} else text


def _plain(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 or x == int(x) else f"{x:,.2g}"


def _nice_step(raw: float) -> float:
    """The smallest round step (1, 2, 2.5 or 5 times a power of ten) of at least ``raw`` > 0."""
    magnitude: float = 10 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw * 0.999)


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values (1, 2, 2.5 or 5 times a power of ten) covering lo..hi."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0, 1.0]
    if hi < lo:
        lo, hi = hi, lo
    if hi == lo:
        lo, hi = (0.0, 1.0) if lo == 0 else (min(lo, 0.0), max(hi, 0.0))
    step = _nice_step((hi - lo) / max(count, 1))
    first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    return [round(i * step, 10) for i in range(first, last + 1)]


def _open(uid: str, kind: str, width: float, height: float, title: str, desc: str) -> list[str]:
    return [
        f'<svg class="chart chart-{kind}" viewBox="0 0 {_n(width)} {_n(height)}" '
        f'width="{_n(width)}" height="{_n(height)}" role="img" '
        f'aria-labelledby="{escape(uid)}-title {escape(uid)}-desc">',
        f'<title id="{escape(uid)}-title">{escape(title)}</title>',
        f'<desc id="{escape(uid)}-desc">{escape(desc)}</desc>',
    ]


def _no_data(cx: float, cy: float) -> str:
    return (
        f'<text class="no-data" x="{_n(cx)}" y="{_n(cy)}" '
        'text-anchor="middle" dominant-baseline="middle">No data</text>'
    )


def _close(parts: list[str]) -> Markup:
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text above is escaped


def _text(x: float, y: float, text: str, cls: str, anchor: str = "middle", extra: str = "") -> str:
    return (
        f'<text class="{cls}" x="{_n(x)}" y="{_n(y)}" text-anchor="{anchor}"{extra}>'
        f"{escape(text)}</text>"
    )


def _runs(ys: Sequence[float | None]) -> list[list[int]]:
    """The stretches of consecutive indices with a value."""
    runs: list[list[int]] = []
    for i, y in enumerate(ys):
        if y is None:
            continue
        if runs and runs[-1][-1] == i - 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    return runs


def _legend(
    parts: list[str],
    series: Sequence[Series],
    left: float,
    swatch: Callable[[float, Series], str],
    gap: float,
) -> None:
    """One entry per series along the top: ``swatch(x, series)``, its name ``gap`` px after."""
    x = left
    for s in series:
        parts.append(swatch(x, s))
        parts.append(_text(x + gap, 16, s.name, "legend", "start"))
        x += gap + len(s.name) * _CHAR_PX + 22


def _y_label(parts: list[str], y_label: str, top: float, bottom: float) -> None:
    """The value axis's label, turned upright along the left edge."""
    cy = (top + bottom) / 2
    parts.append(
        _text(12, cy, y_label, "axis-label", extra=f' transform="rotate(-90 12 {_n(cy)})"')
    )


def sparkline(
    values: Sequence[Number],
    *,
    uid: str,
    title: str,
    desc: str,
    start_label: str = "",
    end_label: str = "",
    last_incomplete: bool = False,
    width: float = 220,
    height: float = 56,
) -> Markup:
    """A small trend line; the last segment is dashed when the last period is still running."""
    ys = _clean(values)
    parts = _open(uid, "sparkline", width, height, title, desc)
    top, bottom, left, right = 5.0, height - (16.0 if start_label or end_label else 5.0), 4.0, 4.0
    if start_label:
        parts.append(_text(left, height - 3, start_label, "axis-label", "start"))
    if end_label:
        parts.append(_text(width - right, height - 3, end_label, "axis-label", "end"))
    finite = [y for y in ys if y is not None]
    if not finite:
        parts.append(_no_data(width / 2, (top + bottom) / 2))
        return _close(parts)
    lo, hi = min(finite), max(finite)
    n = len(ys)

    def px(i: int) -> float:
        return (left + width - right) / 2 if n == 1 else left + i * (width - left - right) / (n - 1)

    def py(y: float) -> float:
        return (top + bottom) / 2 if hi == lo else bottom - (y - lo) / (hi - lo) * (bottom - top)

    solid_until = n - 1 if last_incomplete and n >= 2 else n
    for run in (r for r in _runs(ys[:solid_until]) if len(r) >= 2):
        line = " ".join(f"{_n(px(i))},{_n(py(ys[i] or 0.0))}" for i in run)
        area = f"{_n(px(run[0]))},{_n(bottom)} {line} {_n(px(run[-1]))},{_n(bottom)}"
        parts.append(
            f'<polygon class="spark-area" points="{area}" fill="{ACCENT}" fill-opacity="0.1"/>'
        )
        parts.append(
            f'<polyline class="spark-line" points="{line}" fill="none" '
            f'stroke="{ACCENT}" stroke-width="2" stroke-linejoin="round"/>'
        )
    a, b = ys[-2] if n >= 2 else None, ys[-1]
    if last_incomplete and a is not None and b is not None:
        parts.append(
            f'<line class="spark-partial" x1="{_n(px(n - 2))}" y1="{_n(py(a))}" '
            f'x2="{_n(px(n - 1))}" y2="{_n(py(b))}" stroke="{ACCENT}" stroke-width="2" '
            'stroke-dasharray="3 3"/>'
        )
    last = max(i for i, y in enumerate(ys) if y is not None)
    hollow = last_incomplete and last == n - 1
    parts.append(
        f'<circle class="spark-dot" cx="{_n(px(last))}" cy="{_n(py(ys[last] or 0.0))}" r="3" '
        f'fill="{"#fff" if hollow else ACCENT}" stroke="{ACCENT}" stroke-width="1.5"/>'
    )
    return _close(parts)


@dataclass(frozen=True)
class _Frame:
    """The plot area of a chart with a value axis."""

    left: float
    top: float
    right: float
    bottom: float
    lo: float
    hi: float

    def scale(self, v: float, vertical: bool = True) -> float:
        t = 0.0 if self.hi == self.lo else (v - self.lo) / (self.hi - self.lo)
        if vertical:
            return self.bottom - t * (self.bottom - self.top)
        return self.left + t * (self.right - self.left)


def _thin(labels: Sequence[str], room: float) -> int:
    """Label every k-th category so that labels do not overlap in ``room`` pixels."""
    if not labels:
        return 1
    widest = max(len(s) for s in labels) * _CHAR_PX + 10
    return max(1, math.ceil(len(labels) * widest / max(room, 1)))


def _value_axis(lo: float, hi: float, fmt: Formatter) -> tuple[list[float], list[str]]:
    ticks = nice_ticks(min(lo, 0.0), max(hi, 0.0))
    return ticks, [fmt(t) for t in ticks]


def _columns_frame(
    width: float, height: float, tick_text: list[str], top: float, y_label: str
) -> tuple[float, float, float, float]:
    widest = max((len(t) for t in tick_text), default=1) * _CHAR_PX
    left = widest + 14 + (20 if y_label else 0)
    return left, top, width - 14, height - 44


def _column_axes(
    parts: list[str],
    f: _Frame,
    ticks: list[float],
    tick_text: list[str],
    labels: Sequence[str],
    x_label: str,
    y_label: str,
    height: float,
) -> None:
    for t, s in zip(ticks, tick_text, strict=True):
        y = f.scale(t)
        cls = "grid zero" if t == 0 else "grid"
        parts.append(
            f'<line class="{cls}" x1="{_n(f.left)}" x2="{_n(f.right)}" y1="{_n(y)}" y2="{_n(y)}"/>'
        )
        parts.append(_text(f.left - 6, y + 4, s, "tick", "end"))
    band = (f.right - f.left) / max(len(labels), 1)
    every = _thin(labels, f.right - f.left)
    offset = (len(labels) - 1) % every  # anchored at the end, so the latest is labelled...
    for i, label in enumerate(labels):
        if (i - offset) % every == 0 or (i == 0 and offset >= every * 0.7):  # ...and the first
            parts.append(_text(f.left + (i + 0.5) * band, f.bottom + 16, label, "tick"))
    if x_label:
        parts.append(_text((f.left + f.right) / 2, height - 6, x_label, "axis-label"))
    if y_label:
        _y_label(parts, y_label, f.top, f.bottom)


def column_chart(
    labels: Sequence[str],
    values: Sequence[Number],
    *,
    uid: str,
    title: str,
    desc: str,
    x_label: str,
    y_label: str,
    y_format: Formatter = _plain,
    value_titles: Sequence[str] | None = None,
    width: float = 1020,
    height: float = 300,
) -> Markup:
    """Vertical bars, one per label, from zero to the value (a histogram, a time series)."""
    ys = _clean(values)
    parts = _open(uid, "columns", width, height, title, desc)
    finite = [y for y in ys if y is not None]
    ticks, tick_text = _value_axis(min(finite, default=0.0), max(finite, default=1.0), y_format)
    left, top, right, bottom = _columns_frame(width, height, tick_text, 12, y_label)
    f = _Frame(left, top, right, bottom, ticks[0], ticks[-1])
    _column_axes(parts, f, ticks, tick_text, labels, x_label, y_label, height)
    if not finite:
        parts.append(_no_data((left + right) / 2, (top + bottom) / 2))
        return _close(parts)
    band = (right - left) / max(len(ys), 1)
    gap = min(band * 0.15, 6)
    for i, y in enumerate(ys):
        if y is None:
            continue
        y0, y1 = f.scale(max(y, 0.0)), f.scale(min(y, 0.0))
        tip = value_titles[i] if value_titles else f"{labels[i]}: {y_format(y)}"
        parts.append(
            f'<rect class="bar" x="{_n(left + i * band + gap / 2)}" y="{_n(y0)}" '
            f'width="{_n(band - gap)}" height="{_n(y1 - y0)}" fill="{ACCENT}" rx="1.5">'
            f"<title>{escape(tip)}</title></rect>"
        )
    return _close(parts)


def bar_chart(
    labels: Sequence[str],
    values: Sequence[Number],
    *,
    uid: str,
    title: str,
    desc: str,
    x_label: str,
    value_format: Formatter = _plain,
    value_labels: Sequence[str] | None = None,
    color: str = ACCENT,
    width: float = 496,
    row_height: float = 26,
) -> Markup:
    """Horizontal bars, one row per label, with the value written after each bar."""
    xs = _clean(values)
    texts = (
        list(value_labels) if value_labels else ["" if x is None else value_format(x) for x in xs]
    )
    height = 12 + max(len(xs), 1) * row_height + 42
    parts = _open(uid, "bars", width, height, title, desc)
    finite = [x for x in xs if x is not None]
    ticks, tick_text = _value_axis(min(finite, default=0.0), max(finite, default=1.0), value_format)
    left = min(max((len(s) for s in labels), default=4) * _CHAR_PX + 14, width * 0.4)
    right = width - max(max((len(t) for t in texts), default=0) * _CHAR_PX + 12, 24)
    f = _Frame(left, 12, right, 12 + max(len(xs), 1) * row_height, ticks[0], ticks[-1])
    every = _thin(tick_text, (right - left) * 0.8)
    for i, (t, s) in enumerate(zip(ticks, tick_text, strict=True)):
        tx = f.scale(t, vertical=False)
        parts.append(
            f'<line class="{"grid zero" if t == 0 else "grid"}" x1="{_n(tx)}" '
            f'x2="{_n(tx)}" y1="{_n(f.top)}" y2="{_n(f.bottom)}"/>'
        )
        if i % every == 0:
            parts.append(_text(tx, f.bottom + 16, s, "tick"))
    parts.append(_text((left + right) / 2, height - 6, x_label, "axis-label"))
    if not finite:
        parts.append(_no_data((left + right) / 2, (f.top + f.bottom) / 2))
        return _close(parts)
    for i, (label, x) in enumerate(zip(labels, xs, strict=True)):
        cy = f.top + (i + 0.5) * row_height
        parts.append(_text(left - 8, cy + 4, label, "category", "end"))
        if x is None:
            parts.append(_text(f.scale(0, vertical=False) + 4, cy + 4, "no data", "value", "start"))
            continue
        x0, x1 = f.scale(min(x, 0.0), vertical=False), f.scale(max(x, 0.0), vertical=False)
        parts.append(
            f'<rect class="bar" x="{_n(x0)}" y="{_n(cy - row_height * 0.34)}" '
            f'width="{_n(x1 - x0)}" height="{_n(row_height * 0.68)}" fill="{color}" rx="2">'
            f"<title>{escape(label)}: {escape(texts[i])}</title></rect>"
        )
        parts.append(_text(x1 + 6, cy + 4, texts[i], "value", "start"))
    return _close(parts)


def _square_swatch(x: float, s: Series) -> str:
    return (
        f'<rect class="swatch" x="{_n(x)}" y="6" width="12" height="12" '
        f'fill="{escape(s.color)}" rx="2"/>'
    )


def stacked_column_chart(
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    uid: str,
    title: str,
    desc: str,
    x_label: str,
    y_label: str,
    y_format: Formatter = _plain,
    width: float = 1020,
    height: float = 340,
) -> Markup:
    """Columns stacked from the series (positives up from zero, negatives down), with a legend."""
    cleaned = [_clean(s.values) for s in series]
    n = len(labels)
    ups = [sum(max(c[i] or 0.0, 0.0) for c in cleaned if i < len(c)) for i in range(n)]
    downs = [sum(min(c[i] or 0.0, 0.0) for c in cleaned if i < len(c)) for i in range(n)]
    has_data = any(v is not None for c in cleaned for v in c)
    parts = _open(uid, "stacked", width, height, title, desc)
    ticks, tick_text = _value_axis(min(downs, default=0.0), max(ups, default=1.0), y_format)
    left, top, right, bottom = _columns_frame(width, height, tick_text, 34, y_label)
    f = _Frame(left, top, right, bottom, ticks[0], ticks[-1])
    _legend(parts, series, left, _square_swatch, 17)
    _column_axes(parts, f, ticks, tick_text, labels, x_label, y_label, height)
    if not has_data:
        parts.append(_no_data((left + right) / 2, (top + bottom) / 2))
        return _close(parts)
    band = (right - left) / max(n, 1)
    gap = min(band * 0.2, 8)
    for i in range(n):
        up, down = 0.0, 0.0
        for s, c in zip(series, cleaned, strict=True):
            v = c[i] if i < len(c) else None
            if v is None or v == 0:
                continue
            base = up if v > 0 else down
            end = base + v
            y0, y1 = sorted((f.scale(base), f.scale(end)))
            up, down = (end, down) if v > 0 else (up, end)
            parts.append(
                f'<rect class="bar" x="{_n(left + i * band + gap / 2)}" y="{_n(y0)}" '
                f'width="{_n(band - gap)}" height="{_n(y1 - y0)}" fill="{escape(s.color)}">'
                f"<title>{escape(labels[i])}, {escape(s.name)}: {escape(y_format(v))}</title>"
                "</rect>"
            )
    return _close(parts)


def _heat_key(
    parts: list[str], x: float, y: float, vmax: float, fmt: Formatter, steps: int
) -> None:
    """Draw the stepped colour key (36px a step) with its top-left corner at (x, y)."""
    cell = 36.0
    for i in range(steps):
        value = vmax * i / (steps - 1)
        parts.append(
            f'<rect x="{_n(x + i * cell)}" y="{_n(y)}" width="{_n(cell)}" height="14" '
            f'fill="{heat_color(value, vmax)}"/>'
        )
        parts.append(_text(x + i * cell + cell / 2, y + 30, fmt(value), "tick"))


def heat_legend(vmax: float, *, uid: str, fmt: Formatter, steps: int = 6) -> Markup:
    """A stepped colour key for :func:`heat_color` from 0 to ``vmax``."""
    width, height = 260.0, 36.0
    parts = _open(
        uid,
        "legend",
        width,
        height,
        "Colour key",
        f"Darker cells mean a larger share, from 0 to {fmt(vmax)} and above.",
    )
    _heat_key(parts, 0, 0, vmax, fmt, steps)
    return _close(parts)


def heatmap(
    row_labels: Sequence[str],
    column_labels: Sequence[str],
    values: Sequence[Sequence[Number]],
    *,
    uid: str,
    title: str,
    desc: str,
    x_label: str,
    y_label: str,
    value_format: Formatter = _plain,
    cell_titles: Sequence[Sequence[str]] | None = None,
    vmax: float | None = None,
    key_label: str = "",
    width: float = 1020,
    row_height: float = 18,
) -> Markup:
    """A grid of cells (``values[row][column]``) shaded by :func:`heat_color`, with its key.

    Rows run top to bottom, columns left to right; a missing value leaves its cell empty.
    The shading runs from 0 to ``vmax`` (default: the largest value); larger values are capped.
    """
    grid = [_clean(row)[: len(column_labels)] for row in values[: len(row_labels)]]
    finite = [v for row in grid for v in row if v is not None]
    top_value = vmax if vmax is not None and math.isfinite(vmax) and vmax > 0 else None
    scale = top_value or max(max(finite, default=0.0), 0.0) or 1.0
    n_rows, n_cols = max(len(row_labels), 1), max(len(column_labels), 1)
    left = max((len(s) for s in row_labels), default=1) * _CHAR_PX + 14 + (20 if y_label else 0)
    top, right = 46.0, width - 14
    bottom = top + n_rows * row_height
    height = bottom + 44
    parts = _open(uid, "heatmap", width, height, title, desc)
    key_x = right - 6 * 36.0
    _heat_key(parts, key_x, 4, scale, value_format, 6)
    if key_label:
        parts.append(_text(key_x - 8, 15, key_label, "legend", "end"))
    parts.append(
        f'<rect class="frame" x="{_n(left)}" y="{_n(top)}" width="{_n(right - left)}" '
        f'height="{_n(bottom - top)}" fill="none" stroke="#e3e7ee"/>'
    )
    band = (right - left) / n_cols
    every_row = max(1, math.ceil(14 / row_height))
    for i, label in enumerate(row_labels):
        if i % every_row == 0:
            parts.append(_text(left - 6, top + (i + 0.5) * row_height + 4, label, "tick", "end"))
    every = _thin(column_labels, right - left)
    for j, label in enumerate(column_labels):
        if j % every == 0:
            parts.append(_text(left + (j + 0.5) * band, bottom + 16, label, "tick"))
    parts.append(_text((left + right) / 2, height - 6, x_label, "axis-label"))
    if y_label:
        _y_label(parts, y_label, top, bottom)
    if not finite:
        parts.append(_no_data((left + right) / 2, (top + bottom) / 2))
        return _close(parts)
    for i, row in enumerate(grid):
        for j, v in enumerate(row):
            if v is None:
                continue
            tip = (
                cell_titles[i][j]
                if cell_titles
                else f"{row_labels[i]}, {column_labels[j]}: {value_format(v)}"
            )
            parts.append(
                f'<rect class="cell" x="{_n(left + j * band + 0.5)}" '
                f'y="{_n(top + i * row_height + 0.5)}" width="{_n(band - 1)}" '
                f'height="{_n(row_height - 1)}" fill="{heat_color(v, scale)}">'
                f"<title>{escape(tip)}</title></rect>"
            )
    return _close(parts)
