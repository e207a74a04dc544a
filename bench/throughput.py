"""Throughput on the real broker: streamscore against baselines in the same run.

    .venv/bin/python -m bench.throughput                 # 200,000 events, ~5 minutes
    .venv/bin/python -m bench.throughput --events 1000000

Starts the project's real Kafka (or uses ``--bootstrap``), pre-fills an input topic
with generated events (5% invalid), then runs each pipeline over it as a fresh
consumer group and times first poll to the last input offset committed:

- ``streamscore``: the scorer as shipped (micro-batched, exactly-once, the model's trees
  compiled to native code as the default ``predictor=auto`` does where gcc is at hand;
  the benchmark sets ``compiled``, so that a failed build stops it instead of falling back);
- ``streamscore-reasons-off`` and ``streamscore-reasons-all``: the same with no reason codes,
  and with reason codes for every score (as shipped: for review and decline decisions);
- ``streamscore-velocity``: the same with a model that also takes the velocity features
  (:func:`bench.harness.velocity_models`: v1's training with them), so the scorer keeps
  each account's windows and writes their changelog in its transactions;
  ``streamscore-velocity-reasons-off``: that without reason codes;
- ``streamscore-lightgbm``: the same with ``predictor=lightgbm`` (LightGBM's own predict);
- ``streamscore-no-overlap``: the same with ``overlap_commit=false`` (one batch at a time);
- ``naive``: the loop a tutorial would write: one message at a time, ``json.loads``,
  a per-message JSON Schema check, a one-row LightGBM predict, produce, commit;
- ``passthrough``: the limit: bare confluent-kafka consume -> produce -> commit per
  batch, no parsing or scoring;
- ``faust``: the same work as a faust-streaming app (:mod:`bench.baselines.faust_pipeline`:
  one agent, ``take_events`` batches, one predict per batch), in a thread of this process;
- ``quix``: the same work as a Quix Streams app (:mod:`bench.baselines.quix_pipeline`: one
  event at a time, exactly-once), in its own venv and process (``bench/baselines/quix-venv.sh``
  makes ``bench/.venv-quix`` on first use: Quix needs an older confluent-kafka).

An unreported scorer run warms the broker up first. The fast pipelines (the
scorer's variants, the passthrough) run ``--rounds`` times, rounds
interleaved so that a slow spell of the machine hits each of them; each is reported by its
median run. The frameworks write to their own output topics, counted after each run against the
input offsets they committed. The naive loop is slow, so it runs on the first
``--naive-events`` events only, and the frameworks on ``--framework-events``; rates are
comparable, totals are not. Writes ``BENCHMARKS.md`` (machine, versions, date, table)
and ``bench/results/throughput.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import confluent_kafka
import lightgbm
import numpy as np
import orjson
from prometheus_client import CollectorRegistry

from bench.baselines.faust_pipeline import run_faust
from bench.baselines.quix_pipeline import run_quix
from bench.harness import BROKER_PID, LAST_CPU, RESULTS, timed_until_committed, velocity_models
from bench.report import write_report
from streams.config import Settings
from streams.contract.schemas import validator
from streams.dev.generator import GeneratorConfig, generate
from streams.dev.messy import MessySpec
from streams.dev.produce import write_records
from streams.dev.realbroker import RealBroker
from streams.kafka import ensure_topics, make_consumer, make_producer
from streams.model.artifact import load_model
from streams.model.features import FeatureAssembler
from streams.scoring.factory import build_scorer

ROOT = Path(__file__).resolve().parent.parent
PARTITIONS = 6


def prefill(settings: Settings, events: int) -> None:
    """Write ``events`` generated events (5% invalid) to the input topic."""
    config = GeneratorConfig(seed=99, count=events, messy=MessySpec(0.05))
    write_records(settings, (r for r in generate(config) if r.topic == "events"), rate=0)


def run_streamscore(settings: Settings, events: int, name: str = "streamscore") -> float:
    """The shipped scorer, exactly-once, in this process (``settings`` say how)."""
    group = f"{settings.scorer_group_id}-{name}"
    # each run its own velocity state: another run's changelog would be restored into it
    changelog = f"{settings.topic_events}.{group}.accounts"
    s = settings.model_copy(
        update={"scorer_group_id": group, "topic_accounts_changelog": changelog}
    )
    ensure_topics(s, [changelog])
    registry = CollectorRegistry()
    scorer = build_scorer(s, registry, exactly_once=True)
    stop = threading.Event()
    try:
        return timed_until_committed(s, s.scorer_group_id, events, lambda: scorer.run(stop))
    finally:
        stop.set()
        STAGES[name] = _stage_us_per_event(registry, events)


def variant(name: str, **changes: object) -> Callable[[Settings, int], float]:
    """The scorer with ``changes`` to its settings, as a scenario of its own."""
    return lambda settings, events: run_streamscore(
        settings.model_copy(update=changes), events, name
    )


REPEATED = (
    "streamscore",
    "streamscore-reasons-off",
    "streamscore-reasons-all",
    "streamscore-velocity",
    "streamscore-velocity-reasons-off",
    "streamscore-lightgbm",
    "streamscore-no-overlap",
    "passthrough",
)
"""The fast pipelines: run ``--rounds`` times, interleaved, and reported by their median."""

STAGES: dict[str, dict[str, float]] = {}
"""Per scorer scenario, its time per stage in µs per event, from its own metrics."""


def _stage_us_per_event(registry: CollectorRegistry, events: int) -> dict[str, float]:
    out = {}
    for metric in registry.collect():
        if metric.name == "streamscore_stage_seconds":
            for sample in metric.samples:
                if sample.name.endswith("_sum"):
                    out[sample.labels["stage"]] = round(sample.value / events * 1e6, 2)
    return out


def run_naive(settings: Settings, events: int) -> float:
    """One message at a time, as a tutorial would."""
    model = load_model(settings.model_dir)
    schema = validator("event")
    group = f"{settings.scorer_group_id}-naive"
    consumer = make_consumer(settings, group)
    producer = make_producer(settings)
    consumer.subscribe([settings.topic_events])
    assembler: FeatureAssembler = model.assembler
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            try:
                event = json.loads(msg.value())
                schema.validate(event)
                score = float(model.booster.predict(assembler.assemble([event]))[0])
                producer.produce(settings.topic_scores, json.dumps({"score": score}).encode())
            except Exception:  # the naive loop's idea of error handling
                producer.produce(settings.topic_dlq, msg.value())
            producer.flush()
            consumer.commit(msg, asynchronous=False)

    try:
        return timed_until_committed(settings, group, events, loop)
    finally:
        stop.set()


def run_passthrough(settings: Settings, events: int) -> float:
    """Bare confluent-kafka: consume a batch, produce it unchanged, commit."""
    group = f"{settings.scorer_group_id}-passthrough"
    consumer = make_consumer(settings, group)
    producer = make_producer(settings)
    consumer.subscribe([settings.topic_events])
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            batch = consumer.consume(1000, 0.02)
            for msg in batch:
                if msg.error() is None:
                    producer.produce(settings.topic_scores, msg.value(), msg.key())
            if batch:
                producer.flush()
                consumer.commit(asynchronous=False)

    try:
        return timed_until_committed(settings, group, events, loop)
    finally:
        stop.set()


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "confluent_kafka": confluent_kafka.__version__,
        "librdkafka": confluent_kafka.libversion()[0],
        "lightgbm": lightgbm.__version__,
        "numpy": np.__version__,
        "kafka": "4.1.1 (KRaft, single node, same machine, group.coordinator.append.linger.ms=0)",
    }


def main() -> None:
    """Run the scenarios and write BENCHMARKS.md and the JSON."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=200_000)
    p.add_argument("--naive-events", type=int, default=10_000)
    p.add_argument("--framework-events", type=int, default=50_000)
    p.add_argument("--bootstrap", default=None, help="use this broker instead of starting one")
    p.add_argument("--only", default=None, help="run just these pipelines (comma-separated)")
    p.add_argument("--rounds", type=int, default=3, help="runs of the fast pipelines (median)")
    args = p.parse_args()
    broker = None if args.bootstrap else RealBroker()
    bootstrap = args.bootstrap or broker.start()  # type: ignore[union-attr]
    BROKER_PID[:] = [broker.pid] if broker is not None and broker.pid is not None else []
    try:
        s = Settings(bootstrap_servers=bootstrap, topic_partitions=PARTITIONS,
                     model_dir=ROOT / "models", topic_events=f"bench.events.{os.getpid()}",
                     topic_scores=f"bench.scores.{os.getpid()}",
                     topic_dlq=f"bench.dlq.{os.getpid()}", metrics_port=0, predictor="compiled",
                     compiled_model_dir=ROOT / "var" / "compiled")  # fmt: skip
        ensure_topics(s, s.all_topics())
        prefill(s, args.events)
        rows = []
        scenarios: list[tuple[str, Callable[[Settings, int], float], int]] = [
            ("streamscore", run_streamscore, args.events),
            (
                "streamscore-reasons-off",
                variant("streamscore-reasons-off", reasons="off"),
                args.events,
            ),
            (
                "streamscore-reasons-all",
                variant("streamscore-reasons-all", reasons="all"),
                args.events,
            ),
            (
                "streamscore-velocity",
                variant("streamscore-velocity", model_dir=velocity_models()),
                args.events,
            ),
            (
                "streamscore-velocity-reasons-off",
                variant(
                    "streamscore-velocity-reasons-off", model_dir=velocity_models(), reasons="off"
                ),
                args.events,
            ),
            (
                "streamscore-lightgbm",
                variant("streamscore-lightgbm", predictor="lightgbm"),
                args.events,
            ),
            (
                "streamscore-no-overlap",
                variant("streamscore-no-overlap", overlap_commit=False),
                args.events,
            ),
            ("passthrough", run_passthrough, args.events),
            ("naive", run_naive, min(args.naive_events, args.events)),
            ("faust", run_faust, min(args.framework_events, args.events)),
            ("quix", run_quix, min(args.framework_events, args.events)),
        ]
        rounds = {name: args.rounds if name in REPEATED else 1 for name, _, _ in scenarios}
        runs: dict[str, list[tuple[float, dict[str, float], dict[str, float]]]] = {}
        # unreported: the broker's JVM compiles its hot paths (transactions' too) in the
        # first runs, which cost 2-4x the broker CPU per event of the later ones
        run_streamscore(s.model_copy(update={"scorer_group_id": "bench-warmup"}), args.events)
        STAGES.clear()
        for r in range(max(rounds.values())):  # rounds interleave: drift hits every pipeline
            for name, runner, n in scenarios:
                if (args.only and name not in args.only.split(",")) or r >= rounds[name]:
                    continue
                LAST_CPU.clear()
                seconds = runner(s.model_copy(update={"scorer_group_id": f"bench-r{r}"}), n)
                runs.setdefault(name, []).append((seconds, STAGES.pop(name, {}), dict(LAST_CPU)))
                print({"pipeline": name, "round": r, "events_per_s": n / seconds, **LAST_CPU},
                      flush=True)  # fmt: skip
        for name, _, n in scenarios:
            if name in runs:
                done = runs[name]
                seconds, stages, _ = sorted(done, key=lambda run: run[0])[len(done) // 2]
                cpu = {k: statistics.median(c[k] for _, _, c in done) for k in done[0][2]}
                rows.append({"pipeline": name, "events": n, "seconds": seconds,
                             "events_per_s": n / seconds,
                             "rounds_events_per_s": [n / t for t, _, _ in done],
                             "cpu_us_per_event": cpu})  # fmt: skip
                if stages:
                    STAGES[name] = stages
    finally:
        if broker is not None:
            broker.stop()
    command = (
        f"python -m bench.throughput --events {args.events} --naive-events "
        f"{args.naive_events} --framework-events {args.framework_events} --rounds {args.rounds}"
    )
    result: dict[str, Any] = {"command": command, "machine": machine(), "rows": rows}
    result["stages"] = STAGES
    name = "throughput"
    if args.only:  # a subset: a section of its own, the full table stays
        result["command"] += f" --only {args.only}"
        result["title"] = "Throughput of the scorer's variants"
        name = "throughput_variants"
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    write_report()
    print((ROOT / "BENCHMARKS.md").read_text())


if __name__ == "__main__":
    main()
