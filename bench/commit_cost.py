"""What a transaction's commit costs the scorer, by the partitions it writes.

    .venv/bin/python -m bench.commit_cost --rate 5000 --seconds 30 \
        --variants streamscore:6,streamscore:12,streamscore-velocity:6

Per variant (``<pipeline>:<partitions>``: a scorer of :data:`bench.latency.PIPELINES`
on topics of that many partitions), its own topics and scorer process (exactly-once);
after a probe event is scored, events at a fixed rate for ``--seconds``, then the
difference of the scorer's own ``/metrics`` before and after: batches, their mean
size, and each stage's mean time per batch (``streamscore_stage_seconds``). A
transaction writes to every partition of the outputs its batch reached (``scores``, and
the velocity state's changelog for a velocity model) and each of them gets a commit
marker, so the ``commit`` stage shows what each partition costs. Variants run in
``--rounds`` interleaved rounds, each reported, after ``--warmup-runs`` of the first
variant that are not (a new broker's JIT makes its first commits slow). Writes
``bench/results/commit_cost.json``.
"""

from __future__ import annotations

import argparse
import urllib.request
from functools import partial
from typing import Any

import orjson

from bench.harness import RESULTS, broker, spawn, stop
from bench.latency import PIPELINES, Payload, ScoreReader, produce_paced
from streams.config import Settings
from streams.dev.generator import GeneratorConfig, generate
from streams.dev.local import free_port, fresh_settings, wait_until
from streams.dev.messy import MessySpec
from streams.kafka import committed_total, end_total

_STAGES = "streamscore_stage_seconds"
_SIZES = "streamscore_batch_size"
_WANTED = tuple(f"{name}_{part}" for name in (_STAGES, _SIZES) for part in ("sum", "count"))


def _caught_up(settings: Settings, group: str, topic: str) -> bool:
    return committed_total(settings, group, topic) >= end_total(settings, topic)


def scrape(port: int) -> dict[str, float]:
    """The scorer's stage and batch-size sums and counts, by sample name and labels."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith(_WANTED):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def summary(before: dict[str, float], after: dict[str, float]) -> dict[str, Any]:
    """Batches, mean batch size and each stage's mean ms per batch between two scrapes.

    >>> a = {'streamscore_batch_size_sum': 10.0, 'streamscore_batch_size_count': 1.0}
    >>> b = {'streamscore_batch_size_sum': 110.0, 'streamscore_batch_size_count': 3.0,
    ...      'streamscore_stage_seconds_sum{stage="commit"}': 0.012,
    ...      'streamscore_stage_seconds_count{stage="commit"}': 2.0}
    >>> summary(a, b)
    {'batches': 2, 'mean_batch': 50.0, 'stage_ms': {'commit': 6.0}}
    """
    d = {k: v - before.get(k, 0.0) for k, v in after.items()}
    batches = d.get(f"{_SIZES}_count", 0.0)
    stages = {}
    for name, total in d.items():
        if name.startswith(f"{_STAGES}_sum"):
            stage = name.split('stage="', 1)[1].split('"', 1)[0]
            count = d.get(name.replace("_sum", "_count", 1), 0.0)
            stages[stage] = round(total / count * 1000, 3) if count else 0.0
    mean = d.get(f"{_SIZES}_sum", 0.0) / batches if batches else 0.0
    return {"batches": int(batches), "mean_batch": round(mean, 1), "stage_ms": stages}


def run_variant(
    bootstrap: str, variant: tuple[str, int], rate: int, seconds: float, payloads: list[Payload]
) -> dict[str, Any]:
    """One variant's run (pipeline, partitions): its scorer's stage times over ``seconds``
    at ``rate``."""
    pipeline, partitions = variant
    port = free_port()
    settings = fresh_settings(
        bootstrap,
        f"commit{partitions}",
        topic_partitions=partitions,
        metrics_port=port,
        **PIPELINES[pipeline](),
    )
    scorer = spawn(settings, "score")
    try:
        reader = ScoreReader(settings)
        reader.start()
        produce_paced(settings, 100, 0.2, payloads)
        wait_until(lambda: len(reader.rows) > 0, 90, "the scorer to score a probe event")
        reader.stopping.set()
        reader.join(10)
        before = scrape(port)
        produce_paced(settings, rate, seconds, payloads)
        group, topic = settings.scorer_group_id, settings.topic_events
        done = partial(_caught_up, settings, group, topic)
        wait_until(done, 60, "the scorer to commit every event")
        after = scrape(port)
    finally:
        stop(scorer)
    return {"pipeline": pipeline, "partitions": partitions, **summary(before, after)}


def main() -> None:
    """Run every variant ``--rounds`` times, interleaved; write the results and the report."""
    from bench.report import write_report

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rate", type=int, default=5000)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--warmup-runs", type=int, default=1, help="of the first variant")
    p.add_argument("--variants", default="streamscore:6,streamscore:12,streamscore-velocity:6")
    args = p.parse_args()
    variants = [(v.split(":")[0], int(v.split(":")[1])) for v in args.variants.split(",")]
    if unknown := [name for name, _ in variants if name not in PIPELINES]:
        p.error(f"--variants: unknown pipeline {unknown[0]}; one of {', '.join(PIPELINES)}")
    count = int(args.rate * args.seconds * 1.05) + 50_000
    config = GeneratorConfig(seed=11, count=count, messy=MessySpec(0.05))
    payloads = [(r.key, r.value or b"") for r in generate(config) if r.topic == "events"]
    rows = []
    with broker(None) as kafka:
        for _ in range(args.warmup_runs):
            run_variant(kafka.bootstrap, variants[0], args.rate, args.seconds, payloads)
        for round_ in range(args.rounds):
            for variant in variants:
                row = run_variant(kafka.bootstrap, variant, args.rate, args.seconds, payloads)
                rows.append({"round": round_, **row})
                print(orjson.dumps(rows[-1]).decode(), flush=True)
    command = (
        f"python -m bench.commit_cost --rate {args.rate} --seconds {args.seconds:g} "
        f"--rounds {args.rounds} --warmup-runs {args.warmup_runs} --variants {args.variants}"
    )
    result = {"command": command, "rate": args.rate, "seconds": args.seconds, "rows": rows}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "commit_cost.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    write_report()


if __name__ == "__main__":
    main()
