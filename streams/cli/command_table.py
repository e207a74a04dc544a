"""The commands: for each, the module that implements it, its help line, the setting
groups its help shows, and one example.

A command's module is imported only when that command is chosen, so ``streamscore
--help`` imports none of them. Each module provides::

    def add_arguments(parser: argparse.ArgumentParser) -> None: ...
    def run(settings: Settings, args: argparse.Namespace) -> int: ...

``add_arguments`` may add sub-commands (``dlq replay``, ``models promote``): the settings
flags are added to each of them.

>>> COMMANDS["score"].module
'streams.cli.score'
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    """One ``streamscore`` command."""

    module: str
    help: str
    groups: tuple[str, ...]
    example: str


_BROKER = ("connection", "topics")
_SCORER = (*_BROKER, "clients", "scorer", "scoring", "model", "drift", "observability")
_JOINER = (*_BROKER, "clients", "join", "quality", "observability")

COMMANDS: dict[str, Command] = {
    "demo": Command(
        "streams.cli.demo",
        "the whole pipeline on an in-process broker, with the no-loss check",
        ("topics", "scoring", "model", "drift", "join", "quality", "observability"),
        "streamscore demo --count 20000 --drift-at 10000",
    ),
    "score": Command(
        "streams.cli.score",
        "the scorer: events -> scores | events.dlq",
        _SCORER,
        "streamscore score --bootstrap-servers kafka:9092 --create-topics",
    ),
    "join": Command(
        "streams.cli.join",
        "the joiner: scores + feedback -> labelled | feedback.unmatched | feedback.dlq",
        _JOINER,
        "streamscore join --bootstrap-servers kafka:9092 --joiner-data-dir /var/lib/joiner",
    ),
    "topics": Command(
        "streams.cli.topics",
        "create every topic the settings name, with the right partitions and configs",
        (*_BROKER, "observability"),
        "streamscore topics create --bootstrap-servers kafka:9092 --topic-partitions 12",
    ),
    "settings": Command(
        "streams.cli.settings",
        "every effective setting and where it came from (default, env, flag)",
        ("connection", "observability"),
        "STREAMSCORE_TOPIC_EVENTS=ev streamscore settings --review-threshold 0.3",
    ),
    "top": Command(
        "streams.views.top",
        "a live view of a running deployment",
        (*_BROKER, "observability"),
        "streamscore top --targets scorer:9108,joiner:9108 --bootstrap-servers kafka:9092",
    ),
    "report": Command(
        "streams.views.report",
        "an HTML report of a run",
        (*_BROKER, "observability"),
        "streamscore report --bootstrap-servers kafka:9092",
    ),
    "produce": Command(
        "streams.cli.produce",
        "write generated events and feedback (messy input and drift on request)",
        (*_BROKER, "observability"),
        "streamscore produce --count 100000 --rate 2000 --messy-fraction 0.05 --feedback 0.3",
    ),
    "lag": Command(
        "streams.cli.lag",
        "consumer lag per partition of a group: a table, or a Prometheus exporter",
        (*_BROKER, "observability"),
        "streamscore lag --group streamscore-joiner --topic scores --topic feedback",
    ),
    "dlq": Command(
        "streams.cli.dlq",
        "dead letters: put them back on their source topic after a fix",
        (*_BROKER, "observability"),
        "streamscore dlq replay --reason missing_field --dry-run",
    ),
    "train": Command(
        "streams.cli.train",
        "train a model on generated data into models/<version>",
        ("observability",),
        "streamscore train --events 200000 --version v1",
    ),
    "retrain": Command(
        "streams.lifecycle.retrain_command",
        "a new model version from the labelled topic",
        (*_BROKER, "model", "lifecycle", "observability"),
        "streamscore retrain --since 2026-03-01 --version v2",
    ),
    "models": Command(
        "streams.lifecycle.commands",
        "the model registry: list, show, shadow, canary, promote, roll back, retire",
        (*_BROKER, "model", "lifecycle", "observability"),
        "streamscore models promote v2 --gate --reason 'better on March'",
    ),
    "broker": Command(
        "streams.cli.broker",
        "a local single-node Apache Kafka (KRaft) from Maven jars",
        ("observability",),
        "streamscore broker run --data-dir var/kafka --port 9092",
    ),
}
"""Every command, in the order ``streamscore --help`` lists them."""
