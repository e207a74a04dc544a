"""What shadow challengers cost the scorer, on the real broker.

    .venv/bin/python -m bench.shadow                       # 0, 1 and 2 challengers
    .venv/bin/python -m bench.shadow --challengers 0,1 --seconds 30 --events 200000

Each challenger scores every event on the champion's feature matrix and adds one
``scores.shadow`` record per event to the batch's transaction. The challengers here are
copies of the champion (``models/v1`` under other names): as costly as the champion,
as a retrained challenger is. Per number of challengers, interleaved over ``--rounds``:

- *throughput*: the shipped scorer (exactly-once, compiled trees, in this process) on a
  topic pre-filled with ``--events`` events (5% invalid), until it has committed them all;
  events per second, median of the rounds;
- *latency*: the scorer as its own process (``streamscore score``) with events produced at
  ``--rate`` (5,000/s) for ``--seconds``; each score's Kafka timestamp minus its event's,
  p50/p99 (``bench.latency.run_rate``, first 5 s not counted), after warm-up runs until
  the broker's JIT compilers settle; ``--latency-rounds`` interleaved, the median p99's
  run reported.

Writes ``bench/results/shadow.json`` and regenerates ``BENCHMARKS.md``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from functools import partial
from pathlib import Path
from typing import Any

import orjson

from bench.harness import RESULTS, Broker, broker
from bench.latency import run_rate, warm_up
from bench.throughput import ROOT, prefill, run_streamscore
from streams.dev.generator import GeneratorConfig, generate
from streams.dev.local import fresh_settings
from streams.dev.messy import MessySpec
from streams.dev.models import copy_version

SHADOWS = ("s1", "s2", "s3", "s4")


def model_dir(into: Path) -> Path:
    """``models/`` with v1 the champion and copies of it named as challengers, all listed
    in CHALLENGERS (the scorer takes the first ``challengers_max``)."""
    for name in ("v1", *SHADOWS):
        copy_version(into, name)
    (into / "CURRENT").write_text("v1\n")
    (into / "CHALLENGERS").write_text("".join(f"{n} shadow\n" for n in SHADOWS))
    return into


def throughput(
    bootstrap: str, models: Path, counts: list[int], events: int, rounds: int
) -> list[dict[str, Any]]:
    """Events per second of the scorer with each number of challengers (median of rounds)."""
    s = fresh_settings(
        bootstrap,
        "shadow-tp",
        model_dir=models,
        predictor="compiled",
        compiled_model_dir=ROOT / "var" / "compiled",
    )
    prefill(s, events)
    run_streamscore(s.model_copy(update={"scorer_group_id": "shadow-warmup"}), events)
    runs: dict[int, list[float]] = {n: [] for n in counts}
    for r in range(rounds):  # interleaved: drift hits every count alike
        for n in counts:
            run = s.model_copy(
                update={"scorer_group_id": f"shadow-r{r}-n{n}", "challengers_max": n}
            )
            runs[n].append(events / run_streamscore(run, events, f"shadow{n}"))
            print({"challengers": n, "round": r, "events_per_s": runs[n][-1]}, flush=True)
    base = statistics.median(runs[counts[0]])
    return [
        {
            "challengers": n,
            "events_per_s": statistics.median(v),
            "rounds_events_per_s": v,
            "ratio_to_none": statistics.median(v) / base,
        }
        for n, v in runs.items()
    ]


def latency(
    kafka: Broker, models: Path, counts: list[int], rate: int, seconds: float, rounds: int
) -> list[dict[str, Any]]:
    """p50/p99 at ``rate`` with each number of challengers: unreported runs until the
    broker's JIT has settled (as ``bench.latency``), then ``rounds`` interleaved runs of
    each count; the run with the median p99 of each count, and every run's p99."""
    config = GeneratorConfig(seed=11, count=50_000, messy=MessySpec(0.05))
    events = [r for r in generate(config) if r.topic == "events"]
    payloads, valid = [r.value or b"" for r in events], [r.valid for r in events]
    common: dict[str, Any] = {
        "model_dir": models,
        "predictor": "compiled",
        "compiled_model_dir": ROOT / "var" / "compiled",
    }
    run = partial(run_rate, kafka.bootstrap, rate, 30.0, payloads, valid, **common)
    warm_up(run, kafka.pid, max_runs=6, settled=0.03)
    runs: dict[int, list[dict[str, Any]]] = {n: [] for n in counts}
    for r in range(rounds):
        for n in counts:
            result = run_rate(
                kafka.bootstrap, rate, seconds, payloads, valid, challengers_max=n, **common
            )
            runs[n].append(result)
            print({"challengers": n, "round": r, "p99": result["timestamp_ms"]["p99"]}, flush=True)
    out = []
    for n, done in runs.items():
        median = sorted(done, key=lambda x: x["timestamp_ms"]["p99"])[len(done) // 2]
        keep = ("rate", "seconds", "scores_counted", "timestamp_ms", "visible_ms")
        out.append(
            {
                "challengers": n,
                **{k: median[k] for k in keep},
                "rounds_p99_ms": [x["timestamp_ms"]["p99"] for x in done],
            }
        )
    return out


def main() -> None:
    """Measure and write bench/results/shadow.json; regenerate BENCHMARKS.md."""
    from bench.report import write_report

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--challengers", default="0,1,2")
    p.add_argument("--events", type=int, default=300_000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--rate", type=int, default=5000)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--latency-rounds", type=int, default=3)
    p.add_argument("--skip-throughput", action="store_true", help="keep the last run's")
    p.add_argument("--bootstrap", default=None, help="use this broker instead of starting one")
    args = p.parse_args()
    counts = [int(n) for n in args.challengers.split(",")]
    with tempfile.TemporaryDirectory() as tmp, broker(args.bootstrap) as kafka:
        models = model_dir(Path(tmp))
        last = orjson.loads((RESULTS / "shadow.json").read_bytes()) if args.skip_throughput else {}
        tp = last.get("throughput") or throughput(
            kafka.bootstrap, models, counts, args.events, args.rounds
        )
        lat = latency(kafka, models, counts, args.rate, args.seconds, args.latency_rounds)
    command = (
        f"python -m bench.shadow --challengers {args.challengers} --events {args.events} "
        f"--rounds {args.rounds} --rate {args.rate} --seconds {args.seconds:g} "
        f"--latency-rounds {args.latency_rounds}"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    result = {"command": command, "throughput": tp, "latency": lat}
    (RESULTS / "shadow.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    write_report()


if __name__ == "__main__":
    main()
