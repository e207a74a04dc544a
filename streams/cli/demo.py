"""``streamscore demo``: the whole pipeline on the in-process broker, with its check.

>>> main(["demo", "--count", "20000", "--drift-at", "10000"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse

from streams.config import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--count``, ``--rate``, ``--seed``, ``--drift-at``."""
    parser.add_argument("--count", type=int, default=20_000, help="events to generate")
    parser.add_argument(
        "--rate", type=float, default=5_000.0, help="events per second (0: unpaced)"
    )
    parser.add_argument("--seed", type=int, default=7, help="the generator's seed")
    parser.add_argument(
        "--drift-at", type=int, default=None, help="inject amount and merchant drift from event N"
    )


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Run the demo; 1 when its no-loss check fails."""
    from streams.dev.demo import run_demo

    return run_demo(settings, args.count, args.rate, args.seed, drift_at=args.drift_at)
