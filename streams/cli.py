"""The ``streamscore`` command line: the one entry point that builds Settings.

Every setting of :class:`streams.config.Settings` is a flag of every command
(``--bootstrap-servers``, ``--topic-events``, ...) and an environment variable
(``STREAMSCORE_BOOTSTRAP_SERVERS``, ...); flags win.

>>> main(["train", "--events", "20000", "--version", "try"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from pydantic import ValidationError

from streams.config import Settings
from streams.errors import CommitWedged, StreamscoreError
from streams.ops.logs import configure, secret_values

log = logging.getLogger("streams.cli")

Handler = Callable[[Settings, argparse.Namespace], int]

EXIT_WEDGED = 3
"""The scorer's exit code when a transaction's commit never returned (restart it)."""


def _settings_parser() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("settings (also STREAMSCORE_<NAME> environment variables)")
    for name, info in Settings.model_fields.items():
        group.add_argument(
            "--" + name.replace("_", "-"),
            dest=f"setting_{name}",
            default=None,
            metavar=name.upper(),
            help=info.description or f"default: {info.default}",
        )
    return parent


def build_settings(args: argparse.Namespace) -> Settings:
    """Settings from the environment, overridden by the flags that were given."""
    overrides = {
        key.removeprefix("setting_"): value
        for key, value in vars(args).items()
        if key.startswith("setting_") and value is not None
    }
    return Settings(**overrides)


def _cmd_train(_settings: Settings, args: argparse.Namespace) -> int:
    from streams.dev.training import TrainConfig, train, write_artifact

    config = TrainConfig(
        seed=args.seed, events=args.events, rounds=args.rounds, velocity=args.velocity
    )
    result = train(config, version=args.version)
    target = write_artifact(result, args.out, set_current=not args.no_set_current)
    print(f"wrote {target}: {result.manifest['metrics']}")
    return 0


def _cmd_broker(_settings: Settings, args: argparse.Namespace) -> int:
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


def _cmd_produce(settings: Settings, args: argparse.Namespace) -> int:
    from streams.dev.produce import generator_config, run_produce

    summary = run_produce(settings, generator_config(args), rate=args.rate)
    print(summary.render())
    return 0


def _cmd_score(settings: Settings, args: argparse.Namespace) -> int:
    import threading

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


def _cmd_lag(settings: Settings, args: argparse.Namespace) -> int:
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


def _cmd_dlq_replay(settings: Settings, args: argparse.Namespace) -> int:
    from streams.contract.dead_letters import ReplaySelection, replay_records
    from streams.kafka import publish, read_topic

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
    print(f"replayed {publish(settings, records)} records")
    return 0


def _cmd_join(settings: Settings, _args: argparse.Namespace) -> int:
    from streams.feedback.app import run_joiner

    return run_joiner(settings)


def _cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from streams.dev.demo import run_demo

    return run_demo(settings, args.count, args.rate, args.seed, drift_at=args.drift_at)


def _add_commands(sub: Any, parent: argparse.ArgumentParser) -> None:
    from streams.dev.produce import add_generator_flags
    from streams.lifecycle.commands import add_models_commands
    from streams.lifecycle.retrain_command import add_retrain_command

    p = sub.add_parser("demo", parents=[parent], help="run the pipeline on the embedded broker")
    p.add_argument("--count", type=int, default=20_000, help="events to generate")
    p.add_argument("--rate", type=float, default=5_000.0, help="events per second (0: unpaced)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument(
        "--drift-at", type=int, default=None, help="inject amount and merchant drift from event N"
    )
    p.set_defaults(handler=_cmd_demo)

    p = sub.add_parser("produce", parents=[parent], help="write synthetic events and feedback")
    add_generator_flags(p)
    p.add_argument("--rate", type=float, default=1_000.0, help="events per second (0: unpaced)")
    p.set_defaults(handler=_cmd_produce)

    p = sub.add_parser("score", parents=[parent], help="score events: events -> scores | dlq")
    p.add_argument(
        "--create-topics", action="store_true", help="create missing topics instead of failing"
    )
    p.set_defaults(handler=_cmd_score)

    p = sub.add_parser("lag", parents=[parent], help="consumer lag of a group: table or exporter")
    p.add_argument("--group", default=None, help="consumer group (default: the scorer's)")
    p.add_argument("--topic", action="append", help="topic (repeatable; default: events)")
    p.add_argument("--serve", type=int, default=None, metavar="PORT", help="run as an exporter")
    p.set_defaults(handler=_cmd_lag)

    p = sub.add_parser("join", parents=[parent], help="join scores and feedback into labelled")
    p.set_defaults(handler=_cmd_join)

    p = sub.add_parser("dlq", help="dead-letter topic tools")
    dlq = p.add_subparsers(dest="dlq_command", required=True)
    p = dlq.add_parser("replay", parents=[parent], help="re-publish dead letters to their source")
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
    p.set_defaults(handler=_cmd_dlq_replay)

    p = sub.add_parser("train", parents=[parent], help="train the LightGBM model")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--events", type=int, default=200_000)
    p.add_argument("--rounds", type=int, default=120)
    p.add_argument("--version", default="v1", help="artifact directory name under --out")
    p.add_argument("--out", type=Path, default=Path("models"))
    p.add_argument("--no-set-current", action="store_true", help="do not update models/CURRENT")
    p.add_argument(
        "--velocity",
        action="store_true",
        help="also the velocity features, computed per account (docs/velocity-features.md)",
    )
    p.set_defaults(handler=_cmd_train)

    p = sub.add_parser("broker", parents=[parent], help="run a real Apache Kafka (KRaft) locally")
    p.add_argument("action", choices=["run", "fetch"], nargs="?", default="run")
    p.add_argument(
        "--start-timeout", type=float, default=None, help="run: seconds to wait for it (default 90)"
    )
    p.add_argument("--data-dir", default=None, help="run: keep its data and address here")
    p.add_argument("--port", type=int, default=None, help="run: the client port (default: free)")
    p.add_argument(
        "--sasl-ssl", action="store_true", help="run: SASL_SSL (SCRAM-SHA-512) and ACLs only"
    )
    p.set_defaults(handler=_cmd_broker)

    add_retrain_command(sub, parent)
    add_models_commands(sub, parent)


DESCRIPTION = """\
Real-time ML scoring and feedback on Kafka: validate each event, score it with a
LightGBM model, dead-letter what is invalid with the reason, watch drift, and join
later labels back onto the scores for retraining."""

EPILOG = """\
start here:
  streamscore demo                  the whole pipeline on an in-process broker
  streamscore score --bootstrap-servers kafka:9092 --create-topics
  streamscore join --bootstrap-servers kafka:9092
  streamscore <command> --help      a command's options

Every setting is a flag of every command (--bootstrap-servers ...) and an environment
variable (STREAMSCORE_BOOTSTRAP_SERVERS ...); flags win. Reference: docs/settings.md."""


def parser() -> argparse.ArgumentParser:
    """The full argument parser."""
    root = argparse.ArgumentParser(
        prog="streamscore",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = root.add_subparsers(dest="command", required=True)
    _add_commands(sub, _settings_parser())
    return root


def _describe(exc: ValidationError) -> str:
    """One line per invalid setting, without the values given (they may be secrets)."""
    return "\n".join(
        f"  {'.'.join(str(part) for part in err['loc']) or 'settings'}: {err['msg']}"
        for err in exc.errors(include_url=False, include_input=False)
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command; exit codes: 0 ok, 2 bad usage or settings, 1 a StreamscoreError."""
    args = parser().parse_args(argv)
    try:
        settings = build_settings(args)
    except ValidationError as exc:
        print(f"streamscore: invalid settings:\n{_describe(exc)}", file=sys.stderr)
        return 2
    configure(settings.log_level, secret_values(settings))
    handler: Handler = args.handler
    try:
        return handler(settings, args)
    except StreamscoreError as exc:
        log.error("%s", exc)
        print(f"streamscore: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
