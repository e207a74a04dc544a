"""A burst of 10x the steady rate for a minute: lag, RSS and latency through it (issue 26).

    .venv/bin/python -m bench.burst --factor 10 --factor 20   # ~12 min; bench/results/burst.json

One real broker, one ``python -m streams score`` process (exactly-once, as shipped), an
events topic of 6 partitions. First the scorer's drain rate C: a fresh scorer drains a
pre-filled backlog of ``--capacity-events``, timed from its partitions being assigned
to its last offset committed. Then, on fresh topics and a fresh scorer, events
(generated into memory beforehand, so the producer is not the generator's speed) go out
at ``--rate`` S for ``--steady-s``, at ``--factor`` x S for ``--burst-s``, then at S
again until the lag is back to its steady level and ``--after-s`` more (each
``--factor`` given in turn, on fresh topics with a fresh scorer). Every
:data:`~bench.burst_measure.SAMPLE_S`: the group's total lag and the scorer's RSS.
Afterwards every score is read back read_committed: latency (``scored_at`` minus the
event record's Kafka timestamp) per second and per phase, lost and duplicated events.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from typing import Any

import numpy as np
import orjson

from bench.burst_measure import (
    PacedProducer,
    Phase,
    Sample,
    Sampler,
    percentiles,
    prefetch_bound_mb,
    windows,
)
from bench.harness import RESULTS, broker, spawn, stop, timed_until_committed
from streams.config import Settings
from streams.dev.generator import GeneratorConfig, generate
from streams.dev.local import fresh_settings, wait_until
from streams.kafka import DeliveryTracker, flush, make_producer, scan_topic
from streams.kafka.clients import produce_many
from streams.kafka.groups import group_members

PARTITIONS = 6
_WARM_S = 10.0
"""The steady phase's first seconds are the scorer's warm-up: not in its p99 or RSS."""


def events(seed: int, count: int) -> list[dict[str, Any]]:
    """``count`` generated events as ``produce_batch`` messages."""
    out = []
    for r in generate(GeneratorConfig(seed=seed, count=count)):
        if r.topic == "events":
            out.append({"key": r.key, "value": r.value})
    return out


def fill(settings: Settings, messages: list[dict[str, Any]]) -> None:
    """Produce ``messages`` to the events topic as fast as they go; every one confirmed."""
    producer, tracker = make_producer(settings, **{"linger.ms": 5}), DeliveryTracker()
    for i in range(0, len(messages), 10_000):
        produce_many(producer, settings.topic_events, messages[i : i + 10_000], tracker)
        producer.poll(0)
    flush(producer, tracker, timeout_s=300)


def scorer(settings: Settings) -> Any:
    """A scorer process, once its partitions are assigned."""
    proc = spawn(settings, "score")
    group = settings.scorer_group_id
    wait_until(lambda: any(group_members(settings, group).values()), 120, "scorer assigned")
    return proc


def capacity(bootstrap: str, count: int, seed: int) -> dict[str, Any]:
    """The scorer's drain rate C over a pre-filled backlog, and its RSS meanwhile."""
    s = fresh_settings(bootstrap, "burst-capacity", topic_partitions=PARTITIONS)
    fill(s, events(seed + 1, count))
    proc = scorer(s)
    sampler = Sampler(s, proc.pid, time.monotonic()).start()
    try:
        seconds = timed_until_committed(s, s.scorer_group_id, count, proc.wait)
    finally:
        sampler.stop()
        stop(proc)
    rss = [x.rss_mb for x in sampler.samples]
    return {
        "events": count,
        "seconds": round(seconds, 2),
        "per_s": round(count / seconds),
        "rss_mb_start": round(rss[0], 1) if rss else None,
        "rss_mb_peak": round(max(rss), 1) if rss else None,
    }


def burst_run(bootstrap: str, args: argparse.Namespace, factor: float) -> dict[str, Any]:
    """The steady, burst (``factor`` x S) and after phases against one scorer; the figures."""
    s = fresh_settings(bootstrap, "burst", topic_partitions=PARTITIONS)
    count = int(args.rate * (args.steady_s + factor * args.burst_s + args.after_max_s))
    messages = events(args.seed, count)
    phases = [
        Phase("steady", args.rate, args.steady_s),
        Phase("burst", args.rate * factor, args.burst_s),
        Phase("after", args.rate, None),
    ]
    proc = scorer(s)
    t0, wall0 = time.monotonic(), time.time()
    sampler = Sampler(s, proc.pid, t0).start()
    producer = PacedProducer(s, messages, phases).start()
    try:
        drained_t = await_drain(sampler, producer, phases, wall0, args)
        time.sleep(args.after_s)  # the observed window after the drain, not a synchronisation
        producer.stop()
        sampler.wait_lag(0, time.monotonic() - t0, 300, "the last events scored")
    finally:
        producer.stop()
        sampler.stop()
        code = stop(proc)
    result = summary(sampler.samples, phases, drained_t, wall0)
    scores = read_scores(s, messages[: producer.sent], phases, wall0, drained_t)
    extra = {"factor": factor, "scorer_exit": code, "delivered": producer.delivered}
    return extra | result | scores


def await_drain(
    sampler: Sampler, producer: PacedProducer, phases: list[Phase], wall0: float, args: Any
) -> float | None:
    """After the burst, the time (s since the start) the lag first was back at the most
    it was in the steady phase; None if not within ``args.after_max_s``."""
    wait_until(lambda: producer.current == "after", args.steady_s + args.burst_s + 60, "burst")
    steady_end = phases[0].end - wall0
    steady = [x.lag for x in sampler.samples if _WARM_S <= x.t <= steady_end]
    level = max(steady, default=0)
    try:
        return sampler.wait_lag(level, phases[1].end - wall0, args.after_max_s, "lag drained")
    except AssertionError:
        return None


def summary(
    samples: list[Sample], phases: list[Phase], drained_t: float | None, wall0: float
) -> dict[str, Any]:
    """Lag and RSS through the phases (times in s since the start)."""
    steady_end, burst_start, burst_end = (
        phases[0].end - wall0,
        phases[1].start - wall0,
        phases[1].end - wall0,
    )
    steady = [x for x in samples if _WARM_S <= x.t <= steady_end]
    backlog = [x for x in samples if burst_start <= x.t <= (drained_t or samples[-1].t)]
    after = [x for x in samples if drained_t is not None and x.t > drained_t]
    peak = max(backlog, key=lambda x: x.lag)
    return {
        "phases": [p.summary() for p in phases],
        "burst_start_s": round(burst_start, 2),
        "burst_end_s": round(burst_end, 2),
        "steady_lag_max": max(x.lag for x in steady),
        "peak_lag": peak.lag,
        "peak_lag_at_s": round(peak.t, 1),
        "drained_at_s": round(drained_t, 1) if drained_t is not None else None,
        "drain_s": round(drained_t - burst_end, 1) if drained_t is not None else None,
        "rss_mb": {
            "steady": round(float(np.median([x.rss_mb for x in steady])), 1),
            "peak_burst_and_backlog": round(max(x.rss_mb for x in backlog), 1),
            "after": round(float(np.median([x.rss_mb for x in after])), 1) if after else None,
        },
        "samples": [[round(x.t, 2), x.lag, round(x.rss_mb, 1)] for x in samples],
    }


def read_scores(
    s: Settings,
    sent: list[dict[str, Any]],
    phases: list[Phase],
    wall0: float,
    drained_t: float | None,
) -> dict[str, Any]:
    """Every score, read_committed: latency per second and per phase; lost, duplicated."""
    ids: Counter[str] = Counter()
    rows: list[tuple[int, int]] = []

    def take(msg: Any) -> None:
        score = orjson.loads(msg.value())
        ids[score["event_id"]] += 1
        rows.append((score["event_timestamp"], score["scored_at"]))

    scan_topic(s, s.topic_scores, take, deadline_s=900)
    expected = Counter(orjson.loads(m["value"])["event_id"] for m in sent)
    a = np.array(rows, dtype=np.float64)
    event_ts, scored_at = a[:, 0], a[:, 1]
    latency = scored_at - event_ts

    def between(start: float, end: float) -> dict[str, float | None]:
        return percentiles(latency[(event_ts >= start * 1000) & (event_ts < end * 1000)])

    after_from = wall0 + drained_t if drained_t is not None else phases[2].end
    return {
        "latency_ms": {
            "steady_before": between(phases[0].start + _WARM_S, phases[0].end),
            "burst": between(phases[1].start, phases[1].end),
            "after_drain": between(after_from, phases[2].end),
        },
        "latency_windows": windows(scored_at, latency, wall0 * 1000),
        "events_sent": len(sent),
        "scored": ids.total(),
        "lost": (expected - ids).total(),
        "duplicated": (ids - expected).total(),
    }


def main() -> None:
    """Measure C, run the burst, write bench/results/burst.json and BENCHMARKS.md."""
    p = argparse.ArgumentParser(prog="bench.burst", description=__doc__.splitlines()[0])
    p.add_argument("--rate", type=float, default=5_000.0, help="steady events/s (S)")
    p.add_argument("--factor", type=float, action="append", help="burst rate over S (default 10)")
    p.add_argument("--steady-s", type=float, default=30.0)
    p.add_argument("--burst-s", type=float, default=60.0)
    p.add_argument("--after-s", type=float, default=30.0, help="observed after the drain")
    p.add_argument("--after-max-s", type=float, default=240.0, help="longest wait for the drain")
    p.add_argument("--capacity-events", type=int, default=500_000)
    p.add_argument("--seed", type=int, default=26)
    p.add_argument("--bootstrap", default=None, help="use this broker instead of starting one")
    args = p.parse_args()
    factors = args.factor or [10.0]
    with broker(args.bootstrap) as b:
        cap = capacity(b.bootstrap, args.capacity_events, args.seed)
        print({"capacity": cap}, flush=True)
        runs = []
        for factor in factors:  # one after another: each its own topics and scorer
            runs.append(burst_run(b.bootstrap, args, factor))
    settings = Settings()
    result = {
        "command": f"python -m bench.burst --rate {args.rate:g}"
        + "".join(f" --factor {f:g}" for f in factors),
        "config": vars(args) | {"bootstrap": None, "partitions": PARTITIONS},
        "capacity": cap,
        "prefetch_bound_mb": round(prefetch_bound_mb(settings, PARTITIONS), 1),
        "consumer_queue_max_kbytes": settings.consumer_queue_max_kbytes,
        "batch_max_size": settings.batch_max_size,
        "runs": runs,
    }
    for run in runs:
        print({k: v for k, v in run.items() if k not in ("samples", "latency_windows")}, flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "burst.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    from bench.report import write_report  # the report imports every benchmark's renderer

    write_report()


if __name__ == "__main__":
    main()
