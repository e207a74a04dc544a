"""End-to-end latency at fixed produce rates, on the real broker.

    .venv/bin/python -m bench.latency                      # 1k, 5k, 20k events/s, 60 s each
    .venv/bin/python -m bench.latency --rates 5000 --seconds 30

Per rate: fresh topics, the shipped scorer as its own process (``streamscore score``),
an upstream producer in this process writing generated events (5%
invalid) at the rate, evenly (every millisecond what is due; ``linger.ms`` 1), and a
``read_committed`` consumer reading the scores. For every score read, two latencies:

- *timestamp*: the score record's Kafka timestamp minus the event's (which the score
  carries as ``event_timestamp``), as the performance issue defines it;
- *visible*: when this consumer received the committed score minus the event's
  timestamp: what a downstream reader sees, transaction commit included.

Each rate runs for each guarantee (``--guarantees``, exactly-once and at-least-once)
twice: the scorer, then the *limit* (``bench.baselines.io_limit``): the same scorer
loop and Kafka layer with scoring replaced by a copy of each event's timestamp, so
Kafka and the delivery guarantee alone.

The first 5 s of each run are warm-up and not counted. Before the reported runs come
unreported warm-up runs at 5,000 events/s (``--warmup-seconds``, 30 each) until the
broker's JIT compiler threads used under ``--jit-settled`` (3%) of a core during one, at
most ``--warmup-runs`` (6); one run on a broker given by ``--bootstrap``, whose threads
this process cannot see. On a freshly started broker the JIT compiler threads used
40-43%, 10-13% and 2-3.3% of a core in the first three 30 s runs, whose p99 were
57-62, 19-32 and 17-26 ms; later runs' 10-14 (four sessions). On two cores the compilers
take CPU the broker and the scorer need. Each run records its broker's JIT share. Writes
``bench/results/latency.json`` (``--out``: another name) and regenerates ``BENCHMARKS.md``.
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import orjson
from confluent_kafka import OFFSET_BEGINNING, TopicPartition

from bench.harness import RESULTS, broker, jit_cpu_seconds, spawn, stop, velocity_models
from streams.config import Settings
from streams.dev.generator import GeneratorConfig, generate
from streams.dev.local import fresh_settings, wait_until
from streams.dev.messy import MessySpec
from streams.kafka import make_consumer, make_producer, produce

WARMUP_S = 5.0


class ScoreReader(threading.Thread):
    """Reads the scores topic (read_committed) and keeps (event ts, score ts, received)."""

    def __init__(self, settings: Settings, poll_s: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.poll_s = poll_s
        self.consumer = make_consumer(settings, "bench-latency-reader", **{"fetch.wait.max.ms": 5})
        topic = settings.topic_scores
        parts = self.consumer.list_topics(topic, timeout=10).topics[topic].partitions
        self.consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
        self.rows: list[tuple[int, int, float]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            # what is queued, else wait for one: consume(n, t) alone would hold the
            # first record until n arrive or t passes (and count that as latency)
            for msg in self.consumer.consume(1000, 0) or self.consumer.consume(1, self.poll_s):
                if msg.error() is None:
                    received = time.time() * 1000
                    event_ts = orjson.loads(msg.value())["event_timestamp"]
                    self.rows.append((event_ts, msg.timestamp()[1], received))
        self.consumer.close()


Payload = tuple[bytes | None, bytes]
"""An event's key (its account id) and value."""


def produce_paced(settings: Settings, rate: int, seconds: float, payloads: list[Payload]) -> int:
    """Write ``rate`` events/s for ``seconds``, what is due every millisecond; the count."""
    producer = make_producer(settings, **{"linger.ms": 1})
    topic, n, sent = settings.topic_events, len(payloads), 0
    t0 = time.monotonic()
    while (elapsed := time.monotonic() - t0) < seconds:
        due = int(elapsed * rate)
        while sent < due:
            key, value = payloads[sent % n]
            produce(producer, None, topic, key, value)  # waits if the queue is full
            sent += 1
        producer.poll(0)
        time.sleep(0.001)  # the pacing tick
    producer.flush(30)
    return sent


def percentiles(values: list[float]) -> dict[str, float]:
    """p50, p95, p99 and max in ms."""
    a = np.asarray(values, dtype=np.float64)
    p50, p95, p99 = np.percentile(a, [50, 95, 99]).tolist()
    return {"p50": round(p50, 1), "p95": round(p95, 1), "p99": round(p99, 1),
            "max": round(float(a.max()), 1)}  # fmt: skip


def valid_among(valid: list[bool], sent: int) -> int:
    """How many of the first ``sent`` payloads (cycled) are valid events."""
    whole, rest = divmod(sent, len(valid))
    return whole * sum(valid) + sum(valid[:rest])


PIPELINES: dict[str, Callable[[], dict[str, object]]] = {
    "streamscore": dict,
    "limit": dict,
    "streamscore-reasons-off": lambda: {"reasons": "off"},
    "streamscore-reasons-all": lambda: {"reasons": "all"},
    "streamscore-velocity": lambda: {"model_dir": velocity_models()},
    "streamscore-velocity-reasons-off": lambda: {"model_dir": velocity_models(), "reasons": "off"},
}
"""What ``--pipelines`` can name: the scorer as shipped, the limit, and scorer variants
(their settings; ``velocity``: a model with the velocity features, trained on first use)."""


def run_rate(
    bootstrap: str,
    rate: int,
    seconds: float,
    payloads: list[Payload],
    valid: list[bool],
    pipeline: str = "streamscore",
    guarantee: str = "exactly_once",
    **overrides: object,
) -> dict[str, Any]:
    """One fixed-rate run with its own topics and scorer (or limit) process; ``overrides``:
    more settings of the scorer."""
    overrides = {**PIPELINES.get(pipeline, dict)(), **overrides}
    settings = fresh_settings(
        bootstrap, f"latency{rate}", processing_guarantee=guarantee, **overrides
    )
    if pipeline == "limit":  # passes every event, valid or not
        scorer = spawn(settings, module="bench.baselines.io_limit")
        valid = [True] * len(valid)
    else:
        scorer = spawn(settings, "score")
    reader = ScoreReader(settings)
    reader.start()
    try:
        # ready when a score for a probe event comes through
        probes = produce_paced(settings, 100, 0.2, payloads)
        wait_until(lambda: len(reader.rows) > 0, 60, "the scorer to score a probe event")
        start_ms = time.time() * 1000 + WARMUP_S * 1000
        sent = produce_paced(settings, rate, seconds, payloads)
        expected = valid_among(valid, probes) + valid_among(valid, sent)
        wait_until(lambda: len(reader.rows) >= expected, 120, "every valid event's score")
    finally:
        reader.stopping.set()
        reader.join(10)
        code = stop(scorer)
    counted = [r for r in reader.rows if r[0] >= start_ms]
    return {
        "rate": rate,
        "pipeline": pipeline,
        "guarantee": settings.processing_guarantee,
        "seconds": seconds,
        "events_produced": sent,
        "scores_expected": expected,
        "scores_read": len(reader.rows),
        "scores_counted": len(counted),
        "scorer_exit_code": code,
        "timestamp_ms": percentiles([s - e for e, s, _ in counted]),
        "visible_ms": percentiles([v - e for e, _, v in counted]),
    }


def with_jit_share(pid: int | None, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``run()``'s result with ``broker_jit_core_share``: the share of one core the broker's
    JIT compiler threads used meanwhile (None when ``pid`` is unknown)."""
    jit0, t0 = (jit_cpu_seconds(pid) if pid else 0.0), time.monotonic()
    result = run()
    share = (jit_cpu_seconds(pid) - jit0) / (time.monotonic() - t0) if pid else None
    return {**result, "broker_jit_core_share": None if share is None else round(share, 4)}


def warm_up(
    run_once: Callable[[], dict[str, Any]], pid: int | None, max_runs: int, settled: float
) -> list[dict[str, Any]]:
    """Unreported runs until the broker's JIT used under ``settled`` of a core in one, at
    most ``max_runs``; one run when ``pid`` is unknown. Each run's p99 and JIT share."""
    runs: list[dict[str, Any]] = []
    for _ in range(max_runs if pid else min(max_runs, 1)):
        result = with_jit_share(pid, run_once)
        share = result["broker_jit_core_share"]
        runs.append({"p99_ms": result["timestamp_ms"]["p99"], "broker_jit_core_share": share})
        print("warm-up", orjson.dumps(runs[-1]).decode(), flush=True)
        if share is None or share < settled:
            break
    else:
        if runs:  # reported as they are; the table's JIT column shows it
            print(f"warning: the broker's JIT had not settled after {len(runs)} warm-up runs")
    return runs


def main() -> None:
    """Run every rate; write bench/results/latency.json and BENCHMARKS.md."""
    from bench.report import write_report

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rates", default="1000,5000,20000")
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--guarantees", default="exactly_once,at_least_once")
    p.add_argument("--warmup-seconds", type=float, default=30.0, help="per unreported run")
    p.add_argument("--warmup-runs", type=int, default=6, help="at most; 0 for none")
    p.add_argument("--jit-settled", type=float, default=0.03, help="share of a core")
    p.add_argument("--bootstrap", default=None, help="use this broker instead of starting one")
    p.add_argument("--pipelines", default="streamscore,limit", help=f"of {', '.join(PIPELINES)}")
    p.add_argument("--out", default="latency", help="writes bench/results/<out>.json")
    args = p.parse_args()
    if not set(args.pipelines.split(",")) <= set(PIPELINES):
        p.error(f"--pipelines: each one of {', '.join(PIPELINES)}")
    if args.seconds <= WARMUP_S or 0 < args.warmup_seconds <= WARMUP_S:
        p.error(f"--seconds and --warmup-seconds must exceed the {WARMUP_S:g} s not counted")
    # enough events that no run repeats one: a repeat would come back in event time, a
    # late event for the velocity features (keyed by account, as the scorer expects)
    count = max(50_000, int(max(int(r) for r in args.rates.split(",")) * args.seconds * 1.05))
    config = GeneratorConfig(seed=11, count=count, messy=MessySpec(0.05))
    events = [r for r in generate(config) if r.topic == "events"]
    payloads = [(r.key, r.value or b"") for r in events]
    valid = [r.valid for r in events]
    runs, warmup = [], []
    with broker(args.bootstrap) as kafka:
        if args.warmup_seconds > 0:
            run = partial(run_rate, kafka.bootstrap, 5000, args.warmup_seconds, payloads, valid)
            warmup = warm_up(run, kafka.pid, args.warmup_runs, args.jit_settled)
        for rate in (int(r) for r in args.rates.split(",")):
            for guarantee in args.guarantees.split(","):
                for pipeline in args.pipelines.split(","):
                    run = partial(
                        run_rate,
                        kafka.bootstrap,
                        rate,
                        args.seconds,
                        payloads,
                        valid,
                        pipeline,
                        guarantee,
                    )
                    runs.append(with_jit_share(kafka.pid, run))
                    print(orjson.dumps(runs[-1]).decode(), flush=True)
    command = (
        f"python -m bench.latency --rates {args.rates} --seconds {args.seconds:g} "
        f"--guarantees {args.guarantees} --pipelines {args.pipelines} "
        f"--warmup-seconds {args.warmup_seconds:g} "
        f"--warmup-runs {args.warmup_runs} --jit-settled {args.jit_settled:g}"
        + ("" if args.out == "latency" else f" --out {args.out}")
    )
    title = "Latency" if args.out == "latency" else f"Latency: {args.pipelines}"
    RESULTS.mkdir(parents=True, exist_ok=True)
    result = {"command": command, "title": title, "warmup": warmup, "runs": runs}
    (RESULTS / f"{args.out}.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    write_report()


if __name__ == "__main__":
    main()
