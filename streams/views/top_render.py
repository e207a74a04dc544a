"""Draw a :class:`~streams.views.top_frame.Frame`: rich tables for a terminal, or one plain
line for logs and CI (:func:`plain_line`, no rich needed).

>>> from streams.views.top_frame import Frame, TargetRow
>>> plain_line(Frame((TargetRow("localhost:9108", False, "?", "refused"),)))
'top: no target up (localhost:9108 down)'
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from streams.views.top_frame import Frame, LagRow

if TYPE_CHECKING:
    from rich.console import RenderableType
    from rich.table import Table

DRIFT_ROWS = 8
"""Features shown in the drift table (those over a threshold come first)."""
ROWS = 5
"""Most rows of the decisions, dead letters and alerts tables (largest, latest first)."""


def per_second(value: float | None) -> str:
    """``1,234/s``; a dash before the second read.

    >>> per_second(1234.4), per_second(None)
    ('1,234/s', '-')
    """
    return "-" if value is None else f"{value:,.0f}/s"


def duration(seconds: float | None) -> str:
    """Milliseconds below 10 s, seconds above; a dash without data.

    >>> duration(0.0123), duration(12.5), duration(None)
    ('12.3 ms', '12.5 s', '-')
    """
    if seconds is None:
        return "-"
    return f"{seconds * 1000:.1f} ms" if seconds < 10 else f"{seconds:.1f} s"


def count(value: float) -> str:
    """A whole count with thousands separators."""
    return f"{value:,.0f}"


def plain_line(frame: Frame) -> str:
    """One line: events in/out, p99, total lag, dead letters, targets down."""
    down = [t.target for t in frame.targets if not t.up]
    if not frame.has_data:
        return f"top: no target up ({', '.join(down)} down)"
    line = (
        f"top: events in {per_second(frame.in_rate)} out {per_second(frame.out_rate)} "
        f"(consumed {count(frame.consumed)}, scored {count(frame.scored)}), "
        f"p99 {duration(frame.p99)}, lag {count(frame.total_lag)}, "
        f"dead letters {count(frame.total_dead)}"
    )
    return line + (f", down: {', '.join(down)}" if down else "")


def lag_cells(rows: Iterable[LagRow]) -> dict[tuple[str, str], str]:
    """``(group, topic) -> "0:12 1:0 ..."``: one line per group and topic.

    >>> lag_cells([LagRow("g", "events", 0, 12.0), LagRow("g", "events", 1, 0.0)])
    {('g', 'events'): '0:12 1:0'}
    """
    out: dict[tuple[str, str], list[str]] = {}
    for r in rows:
        out.setdefault((r.group, r.topic), []).append(f"{r.partition}:{r.lag:.0f}")
    return {k: " ".join(v) for k, v in out.items()}


def _table(title: str, *columns: str, text: int = 1) -> Table:
    """A table titled ``title``: its first ``text`` columns left-aligned, numbers right."""
    from rich import box
    from rich.table import Table

    table = Table(
        title=title,
        title_justify="left",
        title_style="bold",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
    )
    for i, name in enumerate(columns):
        table.add_column(name, justify="left" if i < text else "right", no_wrap=i < text)
    return table


def _throughput(frame: Frame) -> Table:
    table = _table("throughput", "", "")
    table.show_header = False
    for name, value in (
        ("events in", per_second(frame.in_rate)),
        ("events out", per_second(frame.out_rate)),
        ("labelled", per_second(frame.labelled_rate)),
        ("consumed", count(frame.consumed)),
        ("scored", count(frame.scored)),
        ("latency p50", duration(frame.p50)),
        ("latency p99", duration(frame.p99)),
        ("lag (total)", count(frame.total_lag)),
    ):
        table.add_row(name, value)
    return table


def _mix(title: str, values: Mapping[str, float]) -> Table:
    table = _table(title if values else f"{title}: none", "", "count", "share")
    total = sum(values.values())
    for key, value in sorted(values.items(), key=lambda kv: -kv[1])[:ROWS]:
        table.add_row(key, count(value), f"{value / total:.1%}")
    return table


def _lag(frame: Frame) -> Table:
    title = "consumer lag by partition" if frame.lag else "consumer lag: none reported"
    table = _table(title, "group / topic", "partition:lag")
    for (group, topic), cells in lag_cells(frame.lag).items():
        table.add_row(f"{group} / {topic}", cells)
    return table


def _drift(frame: Frame) -> Table:
    title = "drift (red: over threshold)" if frame.drift else "drift: no full window yet"
    table = _table(title, "feature", "psi", "missing", "unseen")
    for row in frame.drift[:DRIFT_ROWS]:
        cells = []
        for measure in ("psi", "missing_rate", "unseen_rate"):
            value = row.values.get(measure)
            text = "-" if value is None else f"{value:.3f}"
            cells.append(f"[bold red]{text}[/]" if measure in row.over else text)
        name = f"[bold red]{row.feature}[/]" if row.over else row.feature
        table.add_row(name, *cells)
    return table


def _quality(frame: Frame) -> Table:
    metrics = ("roc_auc", "log_loss", "precision", "recall", "estimated_auc")
    title = "online quality" if frame.quality else "online quality: no labels yet"
    table = _table(title, "version", "auc", "logloss", "prec", "recall", "est.auc")
    for version, values in sorted(frame.quality.items()):
        table.add_row(version, *(f"{values[m]:.3f}" if m in values else "-" for m in metrics))
    return table


def _alerts(frame: Frame) -> Table:
    title = "alerts" if frame.alerts else "alerts: none"
    table = _table(title, "last", "source", "signal", "feature", "count", text=4)
    for a in frame.alerts[:ROWS]:
        seen = a.last_seen
        when = "before" if seen is None else time.strftime("%H:%M:%S", time.localtime(seen))
        table.add_row(when, a.source, a.signal, a.feature, count(a.count))
    return table


def _targets(frame: Frame) -> str:
    from rich.markup import escape

    parts = [
        f"[green]{escape(t.target)} {t.role}[/]"
        if t.up
        else f"[bold red]{escape(t.target)} DOWN[/] ({escape(t.error or '')})"
        for t in frame.targets
    ]
    return "[bold]streamscore top[/]  " + "  ".join(parts)


def render(frame: Frame) -> RenderableType:
    """The whole screen (about 35 lines): the targets, then the tables two by two."""
    from rich.console import Group
    from rich.table import Table

    grid = Table.grid(padding=(1, 4))
    grid.add_column()
    grid.add_column()
    dead = {f"{source}: {reason}": n for (source, reason), n in frame.dead_letters.items()}
    mix = Group(_mix("decisions", frame.decisions), "", _quality(frame))
    grid.add_row(_throughput(frame), mix)
    grid.add_row(_mix("dead letters by reason", dead), _alerts(frame))
    grid.add_row(_drift(frame), _lag(frame))
    return Group(_targets(frame), "", grid)
