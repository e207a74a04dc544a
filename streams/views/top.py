"""``streamscore top``: a live terminal view of a running deployment, from its /metrics.

Reads every target (``--targets host:port,...``: scorers, joiners, ``streamscore lag
--serve``) each ``--interval`` seconds and redraws: events/s in and out, end-to-end
latency p50/p99, consumer lag per partition, the decision mix, dead letters by reason,
drift per feature (over-threshold ones in red), online quality per model version and
the alerts. A target that is down is shown as down; the others keep being read.
``--once`` prints one screen and exits (0 when a target was up, 1 when none was);
``--no-live`` prints one plain line per interval instead of redrawing (logs, CI).

Importing this module is cheap: rich is imported when something is drawn.

>>> import argparse
>>> parser = argparse.ArgumentParser()
>>> add_arguments(parser)
>>> args = parser.parse_args(["--targets", "a:1,b:2", "--once"])
>>> targets(Settings(), args), targets(Settings(metrics_port=9200), parser.parse_args([]))
(['a:1', 'b:2'], ['localhost:9200'])
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TextIO

from streams.config import Settings
from streams.views.scrape import Scrape, fetch_all, parse_targets
from streams.views.top_frame import Frame, Thresholds, build_frame

FIRST_GAP_S = 1.0
"""``--once`` reads twice, this far apart at most, for rates and recent latency."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``streamscore top``'s flags."""
    parser.add_argument(
        "--targets",
        help="metrics endpoints to read, host:port,... (scorers, joiners, lag exporters; "
        "default: localhost and the metrics_port setting)",
    )
    parser.add_argument(
        "--interval", type=float, default=2.0, help="seconds between reads (default 2)"
    )
    parser.add_argument("--once", action="store_true", help="print one screen and exit")
    parser.add_argument(
        "--no-live", action="store_true", help="print a plain line per interval, for logs"
    )


def targets(settings: Settings, args: argparse.Namespace) -> list[str]:
    """The targets given, or this host's metrics port."""
    given = parse_targets(args.targets or "")
    return given or [f"localhost:{settings.metrics_port}"]


class TopSession:
    """Reads the targets and keeps what the next frame needs from the last read."""

    def __init__(self, targets: Sequence[str], thresholds: Thresholds, timeout_s: float = 2.0):
        self.targets = list(targets)
        self.thresholds = thresholds
        self.timeout_s = timeout_s
        self.prev: list[Scrape] = []
        self.frame: Frame | None = None

    def read(self) -> Frame:
        """Read every target and build the frame (rates against the previous read)."""
        now = fetch_all(self.targets, self.timeout_s)
        alerts = self.frame.alerts if self.frame is not None else None
        self.frame = build_frame(self.prev, now, self.thresholds, alerts)
        self.prev = now
        return self.frame


def watch(
    session: TopSession, interval_s: float, stop: threading.Event, live: bool, out: TextIO
) -> Frame:
    """Redraw (``live``) or print a plain line every ``interval_s``; once ``stop`` is set,
    one last frame, which is returned."""
    from streams.views.top_render import plain_line, render

    if not live:
        while True:
            frame = session.read()
            print(plain_line(frame), file=out, flush=True)
            if stop.is_set():
                return frame
            stop.wait(interval_s)
    from rich.console import Console
    from rich.live import Live

    with Live(console=Console(file=out), refresh_per_second=4) as view, _logs_above_view():
        while True:
            frame = session.read()
            view.update(render(frame), refresh=True)
            if stop.is_set():
                return frame
            stop.wait(interval_s)


@contextmanager
def _logs_above_view() -> Iterator[None]:
    """Log lines go through the live view's stderr (printed above it) while it is drawn:
    written past it they would tear it."""
    handlers = [h for h in logging.getLogger().handlers if type(h) is logging.StreamHandler]
    moved = [(h, h.setStream(sys.stderr)) for h in handlers]
    try:
        yield
    finally:
        for handler, old in moved:
            if old is not None:
                handler.setStream(old)


def once(session: TopSession, gap_s: float, plain: bool, out: TextIO) -> Frame:
    """Two reads ``gap_s`` apart, one screen (or line) printed."""
    from streams.views.top_render import plain_line, render

    session.read()
    threading.Event().wait(gap_s)  # the second read must be later for a rate
    frame = session.read()
    if plain:
        print(plain_line(frame), file=out, flush=True)
    else:
        from rich.console import Console

        Console(file=out).print(render(frame))
    return frame


def run(settings: Settings, args: argparse.Namespace) -> int:
    """``streamscore top``: 0, or 1 when ``--once`` found no target up."""
    session = TopSession(targets(settings, args), Thresholds.from_settings(settings))
    if args.once:
        frame = once(session, min(args.interval, FIRST_GAP_S), args.no_live, sys.stdout)
        return 0 if frame.has_data else 1
    live = not args.no_live and sys.stdout.isatty()
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a person leaves
        watch(session, args.interval, threading.Event(), live, sys.stdout)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m streams.views.top``: settings from the environment, as the CLI's."""
    parser = argparse.ArgumentParser(prog="streamscore top", description="live view of /metrics")
    add_arguments(parser)
    return run(Settings(), parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
