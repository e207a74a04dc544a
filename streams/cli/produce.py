"""``streamscore produce``: generated events and feedback, paced, with messy input and
drift on request (:mod:`streams.dev.produce`).

>>> main(["produce", "--count", "1000", "--messy-fraction", "0.05"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse

from streams.config import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The generator's flags and ``--rate``."""
    from streams.dev.produce import add_generator_flags

    add_generator_flags(parser)
    parser.add_argument(
        "--rate", type=float, default=1_000.0, help="events per second (0: unpaced)"
    )


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Produce, then print what went out."""
    from streams.dev.produce import generator_config, run_produce

    summary = run_produce(settings, generator_config(args), rate=args.rate)
    print(summary.render())
    return 0
