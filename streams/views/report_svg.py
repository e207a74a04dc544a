"""Charts as inline SVG, drawn by hand: lines over time, grouped bars, horizontal bars,
and a timeline of marks. No library, no script: a browser draws the markup as it is.

Every chart is one ``<svg id="plot-<id>" data-plot="<id>" data-empty="...">`` with its
title as a ``<title>`` and as text, axes with ticks, and its marks as ``<path>`` and
``<rect>`` elements; a chart with nothing to draw is still there, with its title, a
frame and the words "no data" (``data-empty="true"``).

>>> svg = line_chart("t", "Things", [Series("a", [(0.0, 1.0), (1.0, 3.0)])], x_max=1.0)
>>> svg.startswith('<svg xmlns="http://www.w3.org/2000/svg" id="plot-t"'), "no data" in svg
(True, False)
>>> 'data-empty="true"' in line_chart("t", "Things", [], x_max=1.0)
True
>>> nice_ticks(0, 87)
[0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from streams.views.report_series import Series

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
AXIS, GRID, MUTED = "#444", "#e3e3e3", "#666"


@dataclass(frozen=True)
class Frame:
    """A chart's size and the margins around its plotting area, in pixels."""

    width: int = 880
    height: int = 260
    left: int = 64
    right: int = 16
    top: int = 40
    bottom: int = 44

    @property
    def x1(self) -> int:
        return self.width - self.right

    @property
    def y1(self) -> int:
        return self.height - self.bottom


FRAME = Frame()
"""The usual chart: full width, 260 pixels high."""


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round tick values covering ``[lo, hi]``."""
    if not hi > lo:
        hi = lo + 1.0
    raw = (hi - lo) / n
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * mag >= raw * (1 - 1e-9))
    first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    return [round(k * step, 12) for k in range(first, last + 1)]


def fmt(v: float) -> str:
    """A number for a label: thousands separated, at most four significant digits.

    >>> fmt(12500.0), fmt(0.25), fmt(3.0), fmt(float("nan"))
    ('12,500', '0.25', '3', 'n/a')
    """
    if math.isnan(v):
        return "n/a"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.4g}"


def svg_open(plot_id: str, title: str, f: Frame, empty: bool) -> list[str]:
    pid = escape(plot_id)
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="plot-{pid}" class="plot" '
        f'data-plot="{pid}" data-empty="{str(empty).lower()}" width="{f.width}" '
        f'height="{f.height}" viewBox="0 0 {f.width} {f.height}" role="img" '
        f'aria-labelledby="plot-{pid}-title">',
        f'<title id="plot-{pid}-title">{escape(title)}</title>',
        f'<text class="title" x="{f.left}" y="20" font-size="14" font-weight="600">'
        f"{escape(title)}</text>",
    ]


def no_data_text(f: Frame, why: str) -> str:
    cx, cy = (f.left + f.x1) / 2, (f.top + f.y1) / 2
    return (
        f'<text class="no-data" x="{cx:.1f}" y="{cy:.1f}" text-anchor="middle" '
        f'font-size="14" fill="{MUTED}">{escape(why)}</text>'
    )


def no_data(plot_id: str, title: str, why: str = "no data", f: Frame = FRAME) -> str:
    """A chart with nothing to draw: its title, an empty frame and ``why``."""
    frame = (
        f'<rect class="frame" x="{f.left}" y="{f.top}" width="{f.x1 - f.left}" '
        f'height="{f.y1 - f.top}" fill="none" stroke="{GRID}"/>'
    )
    return "\n".join([*svg_open(plot_id, title, f, True), frame, no_data_text(f, why), "</svg>"])


def scale(lo: float, hi: float, a: float, b: float) -> tuple[float, float]:
    """(offset, factor) mapping ``[lo, hi]`` onto ``[a, b]``."""
    k = (b - a) / (hi - lo) if hi != lo else 0.0
    return a - lo * k, k


def axes(f: Frame, xlab: str, ylab: str) -> list[str]:
    """The two axis lines along the plotting area, and the axis titles."""
    return [
        f'<path class="axis" d="M{f.left} {f.top} V{f.y1} H{f.x1}" fill="none" stroke="{AXIS}"/>',
        f'<text class="axis-label" x="{(f.left + f.x1) / 2:.1f}" y="{f.height - 6}" '
        f'text-anchor="middle" font-size="12" fill="{MUTED}">{escape(xlab)}</text>',
        f'<text class="axis-label" x="14" y="{(f.top + f.y1) / 2:.1f}" text-anchor="middle" '
        f'font-size="12" fill="{MUTED}" transform="rotate(-90 14 {(f.top + f.y1) / 2:.1f})">'
        f"{escape(ylab)}</text>",
    ]


def y_grid(f: Frame, ticks: Sequence[float], oy: float, ky: float) -> list[str]:
    out = []
    for t in ticks:
        y = oy + ky * t
        out.append(f'<line x1="{f.left}" y1="{y:.1f}" x2="{f.x1}" y2="{y:.1f}" stroke="{GRID}"/>')
        out.append(
            f'<text x="{f.left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">'
            f"{fmt(t)}</text>"
        )
    return out


def x_ticks(f: Frame, ticks: Sequence[float], ox: float, kx: float) -> list[str]:
    return [
        f'<text x="{ox + kx * t:.1f}" y="{f.y1 + 16}" text-anchor="middle" font-size="11">'
        f"{fmt(t)}</text>"
        for t in ticks
    ]


def legend(f: Frame, names: Sequence[str]) -> list[str]:
    out, x = [], float(f.x1)
    for i, name in reversed(list(enumerate(names))):
        x -= 22 + 7 * len(name)
        color = PALETTE[i % len(PALETTE)]
        out.append(f'<rect x="{x:.1f}" y="10" width="12" height="12" fill="{color}"/>')
        out.append(f'<text x="{x + 16:.1f}" y="20" font-size="12">{escape(name)}</text>')
    return out


def _path(points: Sequence[tuple[float, float]]) -> str:
    """``M``/``L`` commands through the points, a new ``M`` after each gap (NaN y)."""
    parts, pen_down = [], False
    for x, y in points:
        if math.isnan(y):
            pen_down = False
            continue
        parts.append(f"{'L' if pen_down else 'M'}{x:.1f} {y:.1f}")
        pen_down = True
    return " ".join(parts)


def _marks(points: Sequence[tuple[float, float]], color: str, every: bool) -> list[str]:
    """A small square on each point (``every``) or only on those with no drawn neighbour."""
    out = []
    for i, (x, y) in enumerate(points):
        if math.isnan(y):
            continue
        near = [points[j][1] for j in (i - 1, i + 1) if 0 <= j < len(points)]
        if every or all(math.isnan(v) for v in near):
            out.append(
                f'<rect class="mark" x="{x - 3:.1f}" y="{y - 3:.1f}" width="6" height="6" '
                f'fill="{color}"/>'
            )
    return out


def line_chart(
    plot_id: str,
    title: str,
    series: Sequence[Series],
    *,
    x_max: float,
    x_label: str = "seconds since the start",
    y_label: str = "",
    y_span: tuple[float, float] = (0.0, 0.0),
    marks: bool = False,
    f: Frame = FRAME,
) -> str:
    """Lines of ``series`` over ``[0, x_max]``; y over the values and ``y_span`` (zero by
    default)."""
    drawn = [s for s in series if s.drawn]
    if not drawn:
        return no_data(plot_id, title, f=f)
    values = [y for s in drawn for _, y in s.points if not math.isnan(y)]
    lo, hi = min(y_span[0], *values), max(y_span[1], *values)
    yt, xt = nice_ticks(lo, hi), nice_ticks(0.0, x_max, 8)
    oy, ky = scale(yt[0], yt[-1], f.y1, f.top)
    ox, kx = scale(0.0, xt[-1], f.left, f.x1)
    out = [*svg_open(plot_id, title, f, False), *y_grid(f, yt, oy, ky), *x_ticks(f, xt, ox, kx)]
    out += axes(f, x_label, y_label)
    for i, s in enumerate(series):
        color = PALETTE[i % len(PALETTE)]
        pts = [(ox + kx * x, oy + ky * y) for x, y in s.points]
        if d := _path(pts):
            out.append(
                f'<path class="line" data-series="{escape(s.name)}" d="{d}" fill="none" '
                f'stroke="{color}" stroke-width="1.8"/>'
            )
        out += _marks(pts, color, marks)
    out += legend(f, [s.name for s in series])
    return "\n".join([*out, "</svg>"])
