"""``streamscore topics create``: every topic the settings name, made right.

Missing topics are created with ``topic_partitions`` partitions, or with the count of an
existing topic they must be co-partitioned with (the joiner's inputs; the velocity
changelog and ``events``); the DLQs are kept 30 days, ``labelled`` and the velocity
changelog are compacted (:func:`streams.kafka.topics.topic_configs`). Existing topics
are left as they are; co-partitioned ones whose counts differ are an error naming the
fix. On ``embedded`` there is nothing to create: each command's in-process broker makes
its topics and is gone when the command ends.

>>> main(["topics", "create", "--bootstrap-servers", "kafka:9092"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse

from streams.config import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``create [--dry-run]``."""
    sub = parser.add_subparsers(dest="topics_command", required=True)
    p = sub.add_parser(
        "create",
        help="create the missing topics: partitions, DLQ retention, compaction",
        description="create every topic the settings name that is missing",
    )
    p.add_argument("--dry-run", action="store_true", help="only show what would be created")


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Create what is missing, then check co-partitioning; a line per topic."""
    from streams.errors import ConfigError
    from streams.kafka import ensure_topics
    from streams.kafka.runtime import await_broker
    from streams.kafka.topics import existing_topics, partition_mismatches, plan_topics

    if settings.is_embedded:
        print("embedded: each command starts its own in-process broker with its topics")
        return 0
    await_broker(settings)
    names = settings.all_topics()
    planned = {t.name: t for t in plan_topics(settings, names, existing_topics(settings))}
    if not args.dry_run:
        ensure_topics(settings, names)
    counts = existing_topics(settings)
    for name in names:
        spec = planned.get(name)
        if spec is None:
            state, partitions = "exists", counts.get(name, 0)
        else:
            state = "would create" if args.dry_run else "created"
            partitions = spec.partitions
        configs = " ".join(f"{k}={v}" for k, v in spec.config.items()) if spec else ""
        print(f"{name:<36} {partitions:>4}  {state:<12} {configs}".rstrip())
    mismatches = partition_mismatches(settings, counts)
    if mismatches:
        raise ConfigError("; ".join(mismatches))
    return 0
