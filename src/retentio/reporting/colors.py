"""The report's colours: the accent, the two-series palette and the heatmap scale."""

from __future__ import annotations

import math

__all__ = ["ACCENT", "HEAT_STOPS", "NEW_COLOR", "RETURNING_COLOR", "heat_color", "text_color_on"]

ACCENT = "#2f5bd3"
NEW_COLOR = "#9db7f5"
RETURNING_COLOR = "#1e3a8a"
HEAT_STOPS = ((0.0, (247, 250, 255)), (0.5, (122, 160, 232)), (1.0, (22, 52, 140)))
"""Light to dark blue: (position 0..1, RGB) stops interpolated linearly."""


def heat_color(share: float | None, vmax: float = 1.0) -> str:
    """Background colour for ``share`` on a light-to-dark blue scale up to ``vmax``."""
    if share is None or not math.isfinite(share) or vmax <= 0:
        return "#f3f4f6"
    t = min(max(share / vmax, 0.0), 1.0)
    for (t0, c0), (t1, c1) in zip(HEAT_STOPS, HEAT_STOPS[1:], strict=False):
        if t <= t1:
            u = 0.0 if t1 == t0 else (t - t0) / (t1 - t0)
            rgb = tuple(round(a + (b - a) * u) for a, b in zip(c0, c1, strict=True))
            return "#{:02x}{:02x}{:02x}".format(*rgb)
    return "#{:02x}{:02x}{:02x}".format(*HEAT_STOPS[-1][1])


def text_color_on(background: str) -> str:
    """Black or white, whichever reads better on the ``#rrggbb`` background."""
    r, g, b = (int(background[i : i + 2], 16) / 255 for i in (1, 3, 5))
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    luminance = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    return "#ffffff" if luminance < 0.3 else "#111827"
