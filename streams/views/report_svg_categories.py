"""Charts with a category axis, as inline SVG: grouped bars (a distribution against its
reference), horizontal bars (counts by reason) and lanes of marks on a time axis (alerts).

Built on :mod:`streams.views.report_svg`'s frame, axes and "no data" conventions.

>>> svg = grouped_bars("f", "amount", ["low", "high"], [("reference", [0.5, 0.5]),
...                    ("live", [0.9, 0.1])])
>>> svg.count("<rect class=\\"bar\\""), 'data-empty="false"' in svg
(4, True)
>>> 'data-empty="true"' in hbars("r", "reasons", [])
True
>>> lanes("a", "alerts", [("psi amount", [(3.0, "PSI 0.4")])], x_max=10.0).count('class="mark"')
1
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from html import escape

from streams.views.report_svg import (
    AXIS,
    FRAME,
    GRID,
    PALETTE,
    Frame,
    axes,
    fmt,
    legend,
    nice_ticks,
    no_data,
    no_data_text,
    scale,
    svg_open,
    x_ticks,
    y_grid,
)

CHAR_PX = 6.5
"""About how wide a character of the 11-12 px labels is."""


def _bin_labels(f: Frame, bins: Sequence[str], slot: float) -> tuple[Frame, list[str]]:
    """The labels under the bars, slanted (and the frame taller) when they do not fit."""
    slant = max(len(b) for b in bins) * CHAR_PX > slot
    if slant:
        f = replace(f, height=f.height + 40, bottom=f.bottom + 40)
    out = []
    for i, b in enumerate(bins):
        x, y = f.left + (i + 0.5) * slot, f.y1 + 14
        turn = f' text-anchor="end" transform="rotate(-35 {x:.1f} {y:.1f})"' if slant else ""
        anchor = "" if slant else ' text-anchor="middle"'
        out.append(f'<text x="{x:.1f}" y="{y:.1f}"{anchor}{turn} font-size="11">{escape(b)}</text>')
    return f, out


def grouped_bars(
    plot_id: str,
    title: str,
    bins: Sequence[str],
    groups: Sequence[tuple[str, Sequence[float]]],
    *,
    y_label: str = "share",
    empty_note: str = "no data",
    f: Frame = FRAME,
) -> str:
    """A bar per group in each bin. A group with no values is left out of the bars (its
    name stays in the legend); with no group of values left, the chart says ``empty_note``
    (and so it does, over the other groups' bars, when the last group has none)."""
    if not bins or not any(values for _, values in groups):
        return no_data(plot_id, title, empty_note, f)
    slot = (f.x1 - f.left) / len(bins)
    f, labels = _bin_labels(f, bins, slot)
    top = max(v for _, values in groups for v in values)
    yt = nice_ticks(0.0, top if top > 0 else 1.0)
    oy, ky = scale(0.0, yt[-1], f.y1, f.top)
    empty = not groups[-1][1]
    out = [*svg_open(plot_id, title, f, empty), *y_grid(f, yt, oy, ky), *labels]
    width = slot * 0.8 / len(groups)
    for g, (name, values) in enumerate(groups):
        color = PALETTE[g % len(PALETTE)]
        for i, v in enumerate(values):
            x, y = f.left + i * slot + slot * 0.1 + g * width, oy + ky * v
            out.append(
                f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" '
                f'height="{max(f.y1 - y, 0.0):.1f}" fill="{color}"><title>{escape(bins[i])}: '
                f"{escape(name)} {v:.3f}</title></rect>"
            )
    out += axes(f, "", y_label) + legend(f, [name for name, _ in groups])
    if empty:
        out.append(no_data_text(f, empty_note))
    return "\n".join([*out, "</svg>"])


def _label_frame(f: Frame, labels: Sequence[str], rows: int) -> Frame:
    """The frame widened on the left for the row labels, one 24-pixel row each."""
    left = min(280, 16 + int(CHAR_PX * max(len(s) for s in labels)))
    return replace(f, left=left, height=f.top + 24 * rows + f.bottom)


def hbars(
    plot_id: str,
    title: str,
    items: Sequence[tuple[str, float]],
    *,
    x_label: str = "records",
    f: Frame = FRAME,
) -> str:
    """A horizontal bar per ``(label, value)``, in the given order, the value beside it."""
    if not items:
        return no_data(plot_id, title, f=f)
    f = _label_frame(f, [label for label, _ in items], len(items))
    xt = nice_ticks(0.0, max(v for _, v in items) or 1.0)
    ox, kx = scale(0.0, xt[-1], f.left, f.x1 - 50)  # room for the value after the longest
    out = [*svg_open(plot_id, title, f, False), *x_ticks(f, xt, ox, kx)]
    for i, (label, v) in enumerate(items):
        y = f.top + 24 * i
        out += [
            f'<text x="{f.left - 6}" y="{y + 16}" text-anchor="end" font-size="12">'
            f"{escape(label)}</text>",
            f'<rect class="bar" x="{f.left}" y="{y + 4}" width="{kx * v:.1f}" height="16" '
            f'fill="{PALETTE[0]}"><title>{escape(label)}: {fmt(v)}</title></rect>',
            f'<text x="{f.left + kx * v + 6:.1f}" y="{y + 16}" font-size="12">{fmt(v)}</text>',
        ]
    return "\n".join([*out, *axes(f, x_label, ""), "</svg>"])


def lanes(
    plot_id: str,
    title: str,
    rows: Sequence[tuple[str, Sequence[tuple[float, str]]]],
    *,
    x_max: float,
    x_label: str = "seconds since the start",
    f: Frame = FRAME,
) -> str:
    """A row per ``(label, marks)``, a diamond at each mark's x (its text as a tooltip)."""
    if not any(marks for _, marks in rows):
        return no_data(plot_id, title, f=f)
    f = _label_frame(f, [label for label, _ in rows], len(rows))
    xt = nice_ticks(0.0, x_max if x_max > 0 else 1.0, 8)
    ox, kx = scale(0.0, xt[-1], f.left, f.x1)
    out = [*svg_open(plot_id, title, f, False), *x_ticks(f, xt, ox, kx)]
    for i, (label, marks) in enumerate(rows):
        y = f.top + 24 * i + 12
        out.append(
            f'<line x1="{f.left}" y1="{y}" x2="{f.x1}" y2="{y}" stroke="{GRID}"/>'
            f'<text x="{f.left - 6}" y="{y + 4}" text-anchor="end" font-size="12">'
            f"{escape(label)}</text>"
        )
        for x, tip in marks:
            px = ox + kx * x
            if math.isnan(px):
                continue
            out.append(
                f'<path class="mark" d="M{px:.1f} {y - 6} L{px + 6:.1f} {y} L{px:.1f} {y + 6} '
                f'L{px - 6:.1f} {y} Z" fill="{PALETTE[3]}" stroke="{AXIS}" stroke-width="0.5">'
                f"<title>{escape(tip)}</title></path>"
            )
    return "\n".join([*out, *axes(f, x_label, ""), "</svg>"])
