"""``streamscore score``: the scorer process, events -> scores | events.dlq.

It runs until SIGTERM or SIGINT, then finishes the batch in hand, commits and exits 0;
exit 3 (:data:`~streams.cli.exit_codes.EXIT_WEDGED`) when a commit never returned.

>>> main(["score", "--bootstrap-servers", "kafka:9092", "--create-topics"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from typing import NoReturn

from streams.cli.exit_codes import EXIT_WEDGED
from streams.config import Settings
from streams.errors import CommitWedged

log = logging.getLogger("streams.cli")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--create-topics``."""
    parser.add_argument(
        "--create-topics",
        action="store_true",
        help="create missing topics (as `streamscore topics create`)",
    )


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Connect, check topics and model, score until stopped."""
    from streams.kafka.runtime import connect, install_stop_signals
    from streams.ops.http import ObservabilityServer
    from streams.ops.lag import LagCollector
    from streams.ops.metrics import process_registry
    from streams.scoring.factory import build_scorer

    with connect(settings, create_topics=args.create_topics) as rt:
        exactly_once = settings.processing_guarantee == "exactly_once"
        if exactly_once and rt.on_embedded:
            log.warning("embedded broker: transactions are not real, running at-least-once")
            exactly_once = False
        registry = process_registry()
        scorer = build_scorer(rt.settings, registry, exactly_once)
        group, topics = settings.scorer_group_id, [settings.topic_events]
        # lag of this instance's partitions only: instances of one group add up
        registry.register(
            LagCollector(rt.settings, group, topics, lambda: set(scorer.io.assigned or ()))
        )
        server = None
        if settings.metrics_port:
            server = ObservabilityServer(
                settings.metrics_port, registry, scorer.checks, settings.metrics_host
            ).start()
        stop = threading.Event()
        install_stop_signals(stop)
        try:
            stats = scorer.run(stop)
        except CommitWedged as exc:
            _exit_now(exc)
        finally:
            if server is not None:
                server.stop()
    log.info("scorer stopped", extra={"consumed": stats.consumed, "scored": stats.scored})
    return 0


def _exit_now(exc: CommitWedged) -> NoReturn:
    """End the process at once: the thread blocked in librdkafka cannot be joined. The
    next instance's ``init_transactions`` fences this one and aborts its transaction."""
    log.critical("exiting: %s", exc)
    sys.stderr.flush()
    os._exit(EXIT_WEDGED)
