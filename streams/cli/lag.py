"""``streamscore lag``: consumer lag per partition of any group, a table or an exporter.

>>> main(["lag", "--group", "streamscore-joiner", "--topic", "scores"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse

from streams.config import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--group``, ``--topic``, ``--serve``."""
    parser.add_argument("--group", default=None, help="consumer group (default: the scorer's)")
    parser.add_argument("--topic", action="append", help="topic (repeatable; default: events)")
    parser.add_argument(
        "--serve", type=int, default=None, metavar="PORT", help="run as a Prometheus exporter"
    )


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Print the table, or serve ``streamscore_consumer_lag`` until stopped."""
    import threading

    from streams.kafka.runtime import install_stop_signals
    from streams.ops.http import ObservabilityServer
    from streams.ops.lag import LagCollector, group_lag, render_table
    from streams.ops.metrics import process_registry

    group = args.group or settings.scorer_group_id
    topics = args.topic or [settings.topic_events]
    if args.serve is None:
        print(render_table(group_lag(settings, group, topics, None)))
        return 0
    registry = process_registry()
    registry.register(LagCollector(settings, group, topics))  # every partition of the group
    server = ObservabilityServer(
        args.serve, registry, lambda: {"serving": True}, settings.metrics_host
    ).start()
    where = f"{server.host}:{server.port}"
    print(f"serving streamscore_consumer_lag for {group} on {where}/metrics", flush=True)
    stop = threading.Event()
    install_stop_signals(stop)
    stop.wait()
    server.stop()
    return 0
