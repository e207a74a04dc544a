"""``streamscore train``: a model trained on generated data, written to models/<version>.

>>> main(["train", "--events", "20000", "--version", "try"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
from pathlib import Path

from streams.config import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The training run's flags."""
    parser.add_argument("--seed", type=int, default=7, help="the generator's and LightGBM's seed")
    parser.add_argument("--events", type=int, default=200_000, help="generated events to train on")
    parser.add_argument("--rounds", type=int, default=120, help="boosting rounds")
    parser.add_argument("--version", default="v1", help="artifact directory name under --out")
    parser.add_argument("--out", type=Path, default=Path("models"), help="the model directory")
    parser.add_argument(
        "--no-set-current", action="store_true", help="do not update models/CURRENT"
    )
    parser.add_argument(
        "--velocity",
        action="store_true",
        help="also the velocity features, computed per account (docs/velocity-features.md)",
    )


def run(_settings: Settings, args: argparse.Namespace) -> int:
    """Train, write the artifact, print its metrics."""
    from streams.dev.training import TrainConfig, train, write_artifact
    from streams.ops.progress import Progress

    config = TrainConfig(
        seed=args.seed, events=args.events, rounds=args.rounds, velocity=args.velocity
    )
    bar = Progress("training", args.rounds)
    result = train(config, version=args.version, on_round=lambda done, _total: bar.update(done))
    bar.finish(args.rounds)
    target = write_artifact(result, args.out, set_current=not args.no_set_current)
    print(f"wrote {target}: {result.manifest['metrics']}")
    return 0
