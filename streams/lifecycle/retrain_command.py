"""``streamscore retrain``: its flags and what runs (:mod:`streams.lifecycle.retrain`).

The parser stays light: the retrain (and LightGBM) is imported when the command runs.

>>> main(["retrain", "--since", "2026-03-01"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse

from streams.config import Settings


def cmd_retrain(settings: Settings, args: argparse.Namespace) -> int:
    """Read ``labelled`` (the selection's part), train, write the version; its summary."""
    from streams.kafka.runtime import connect
    from streams.lifecycle.retrain import RetrainOptions, Selection, parse_time, retrain

    selection = Selection(
        from_offset=args.from_offset,
        to_offset=args.to_offset,
        since=None if args.since is None else parse_time(args.since),
        until=None if args.until is None else parse_time(args.until),
    )
    options = RetrainOptions(selection, args.version, args.parent, args.seed, args.rounds)
    with connect(settings, create_topics=False) as rt:
        result = retrain(rt.settings, options)
    print(result.summary())
    return 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    """``streamscore retrain``'s selection and training flags."""
    p.add_argument("--from-offset", type=int, default=None, help="first offset, every partition")
    p.add_argument("--to-offset", type=int, default=None, help="end offset (exclusive)")
    p.add_argument("--since", default=None, help="first event time: epoch ms or ISO-8601")
    p.add_argument("--until", default=None, help="end event time (exclusive)")
    p.add_argument("--version", default=None, help="new version name (default: v<N+1>)")
    p.add_argument("--parent", default=None, help="parent version (default: models/CURRENT)")
    p.add_argument("--seed", type=int, default=None, help="default: the parent's")
    p.add_argument("--rounds", type=int, default=None, help="default: the parent's trees")


run = cmd_retrain
"""What ``streamscore retrain`` runs."""
