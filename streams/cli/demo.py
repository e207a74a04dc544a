"""``streamscore demo``: the whole pipeline on the in-process broker, with its check.

>>> main(["demo", "--count", "20000", "--drift-at", "10000"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
from pathlib import Path

from streams.config import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--count``, ``--rate``, ``--seed``, ``--drift-at``, ``--no-live``, ``--report``."""
    parser.add_argument("--count", type=int, default=20_000, help="events to generate")
    parser.add_argument(
        "--rate", type=float, default=5_000.0, help="events per second (0: unpaced)"
    )
    parser.add_argument("--seed", type=int, default=7, help="the generator's seed")
    parser.add_argument(
        "--drift-at", type=int, default=None, help="inject amount and merchant drift from event N"
    )
    parser.add_argument(
        "--no-live", action="store_true", help="a plain line every few seconds, not the live view"
    )
    parser.add_argument(
        "--report",
        type=Path,
        default=Path("report.html"),
        metavar="PATH",
        help="the HTML report of the run (report.html)",
    )
    parser.add_argument("--no-report", action="store_true", help="write no report")


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Run the demo; 1 when its no-loss check fails."""
    from streams.dev.demo import run_demo

    return run_demo(
        settings,
        args.count,
        args.rate,
        args.seed,
        drift_at=args.drift_at,
        live=False if args.no_live else None,
        report_to=None if args.no_report else args.report,
    )
