"""``streamscore broker``: a local single-node Apache Kafka from Maven jars.

>>> main(["broker", "run", "--data-dir", "var/kafka", "--port", "9092"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse

from streams.config import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``run`` (default) or ``fetch``, and run's flags."""
    parser.add_argument(
        "action",
        choices=["run", "fetch"],
        nargs="?",
        default="run",
        help="run a broker (default), or only fetch its jars",
    )
    parser.add_argument(
        "--start-timeout", type=float, default=None, help="run: seconds to wait for it (default 90)"
    )
    parser.add_argument("--data-dir", default=None, help="run: keep its data and address here")
    parser.add_argument(
        "--port", type=int, default=None, help="run: the client port (default: free)"
    )
    parser.add_argument(
        "--sasl-ssl", action="store_true", help="run: SASL_SSL (SCRAM-SHA-512) and ACLs only"
    )


def run(_settings: Settings, args: argparse.Namespace) -> int:
    """Hand over to :func:`streams.dev.realbroker.main`."""
    from streams.dev.realbroker import main as broker_main

    if args.action == "fetch":
        return broker_main(["fetch"])
    flags = {
        "--start-timeout": args.start_timeout,
        "--data-dir": args.data_dir,
        "--port": args.port,
    }
    secured = ["--sasl-ssl"] if args.sasl_ssl else []
    return broker_main(
        ["run", *secured, *(str(x) for f, v in flags.items() if v is not None for x in (f, v))]
    )
