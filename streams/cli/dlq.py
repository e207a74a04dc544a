"""``streamscore dlq replay``: dead letters back on their source topic after a fix, as
they were (key, value, headers, timestamp).

>>> main(["dlq", "replay", "--reason", "missing_field", "--dry-run"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse

from streams.config import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``replay`` and its selection flags."""
    dlq = parser.add_subparsers(dest="dlq_command", required=True)
    p = dlq.add_parser("replay", help="re-publish dead letters to their source topic")
    p.add_argument("--reason", action="append", help="only this reason code (repeatable)")
    p.add_argument("--partition", type=int, default=None, help="only this source partition")
    p.add_argument("--from-offset", type=int, default=0, help="first source offset")
    p.add_argument("--to-offset", type=int, default=None, help="last source offset (inclusive)")
    p.add_argument("--limit", type=int, default=None, help="at most this many")
    p.add_argument(
        "--dlq-topic", default=None, help="the dead letters to read (default: topic_dlq)"
    )
    p.add_argument("--to-topic", default=None, help="publish here instead of the source topic")
    p.add_argument("--dry-run", action="store_true", help="count only")


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Select the dead letters and publish them (or count them, ``--dry-run``)."""
    from streams.contract.dead_letters import ReplaySelection, replay_records
    from streams.kafka import publish, read_topic
    from streams.ops.progress import Progress

    selection = ReplaySelection(
        reasons=frozenset(args.reason or ()),
        partition=args.partition,
        from_offset=args.from_offset,
        to_offset=args.to_offset,
        limit=args.limit,
    )
    dead = read_topic(settings, args.dlq_topic or settings.topic_dlq)
    records = replay_records(dead, selection, args.to_topic)
    if args.dry_run:
        print(f"would replay {len(records)} records")
        return 0
    bar = Progress("replaying dead letters", len(records))
    sent = publish(settings, records, bar.update)
    bar.finish(sent)
    print(f"replayed {sent} records")
    return 0
