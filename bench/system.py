"""The whole system at a fixed rate: lags, join latency, memory, nothing lost.

    .venv/bin/python -m bench.system                           # 10,000 events/s, 10 minutes
    .venv/bin/python -m bench.system --rate 10000 --seconds 300 --step-rates 12000,15000

On fresh topics of the real broker, on this one machine: the shipped scorer
(``streamscore score``) and joiner (``streamscore join``, RocksDB store, the default
7-day retention) as processes of their own, and ``streamscore produce`` writing
``--rate`` events/s (5% invalid, 30% labelled ~30 s later, with duplicates and
corrections). Meanwhile, every second, each group's lag (committed offsets behind
the end of its inputs) and each process's RSS; and a reader (read_committed) of
``feedback`` and ``labelled`` times every label: from the feedback record's Kafka
timestamp (when it was appended) to when its ``labelled`` record reached the reader.
The first ``--warmup-seconds`` are left out of the lags and latencies.

After the producer ends and the joiner has caught up, every topic is read again:
every valid feedback whose event was scored must have its ``labelled`` record
(``missing`` counts those without). Lag in seconds is lag in records over the
measured input rate. A rate is *sustained* when the producer reached 97% of it and
both lags' p99 stayed under ``--bounded-s`` seconds of input. Then ``--step-rates``,
each on fresh topics for ``--step-seconds``, find the highest rate sustained.
Writes ``bench/results/system.json`` (the joiner's log of each run under
``bench/results/logs/``) and regenerates ``BENCHMARKS.md``.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import orjson

from bench.harness import RESULTS, broker, spawn, stop
from bench.memory import summarise as rss_summary
from bench.system_probes import LabelTimer, LagProbe, missing_labels
from streams.config import Settings
from streams.dev.local import fresh_settings, wait_until


def _p(values: list[float], q: float) -> float:
    return round(float(np.percentile(np.asarray(values, dtype=np.float64), q)), 1)


def run_rate(
    settings: Settings,
    rate: int,
    seconds: float,
    warmup_s: float,
    bounded_s: float,
    check: bool = True,
) -> dict[str, Any]:
    """One run at ``rate`` for ``seconds``: lags, latencies, RSS, and the check."""
    logs = RESULTS / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"system-{rate}-joiner.log"
    log.unlink(missing_ok=True)
    scorer, joiner = spawn(settings, "score"), spawn(settings, "join", log=log)
    probe = LagProbe(settings, {"scorer": scorer.pid, "joiner": joiner.pid})
    timer = LabelTimer(settings)
    probe.start()
    timer.start()
    flags = ["--messy-fraction", "0.05", "--feedback", "0.3", "--label-delay-s", "30"]
    count = str(int(rate * seconds))
    producer = spawn(settings, "produce", "--count", count, "--rate", str(rate), *flags)
    t0 = time.monotonic()
    try:
        if producer.wait(seconds * 2 + 120) != 0:
            raise RuntimeError(f"produce exited with {producer.returncode}")
        produced_s = time.monotonic() - t0
        wait_until(lambda: probe.drained(), 600, "the scorer and the joiner to catch up")
        for name, proc in (("scorer", scorer), ("joiner", joiner)):
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}")
    finally:
        probe.stop()
        timer.stop()
        codes = {
            name: stop(p, 60)
            for name, p in (("producer", producer), ("scorer", scorer), ("joiner", joiner))
        }
    result = summarise(probe, timer, rate, seconds, produced_s, warmup_s, bounded_s)
    result["exit_codes"] = codes
    if check:
        result["check"] = missing_labels(settings)
    return result


def summarise(
    probe: LagProbe,
    timer: LabelTimer,
    rate: int,
    seconds: float,
    produced_s: float,
    warmup_s: float,
    bounded_s: float,
) -> dict[str, Any]:
    """The figures of one run from its probes (samples after the warm-up)."""
    rows = [r for r in probe.rows if warmup_s <= r["t"] <= produced_s]
    events_rate = (rows[-1]["events_end"] - rows[0]["events_end"]) / (rows[-1]["t"] - rows[0]["t"])
    joiner_in = (rows[-1]["joiner_end"] - rows[0]["joiner_end"]) / (rows[-1]["t"] - rows[0]["t"])
    lags: dict[str, Any] = {}
    for name, in_rate in (("scorer", events_rate), ("joiner", joiner_in)):
        values = [r[f"{name}_lag"] for r in rows]
        lags[name] = {
            "p50_records": _p(values, 50),
            "p99_records": _p(values, 99),
            "max_records": max(values),
            "p99_s": round(_p(values, 99) / in_rate, 2),
        }
    start_ms = timer.first_ms + warmup_s * 1000
    latencies = timer.latencies_ms(since_ms=start_ms)
    minutes = produced_s / 60
    rss = (
        {
            name: rss_summary(
                [(r["t"], r[f"{name}_rss_mb"]) for r in probe.rows if r["t"] <= produced_s], minutes
            )
            for name in ("scorer", "joiner")
        }
        if minutes >= 2
        else {}
    )
    sustained = events_rate >= 0.97 * rate and all(v["p99_s"] <= bounded_s for v in lags.values())
    return {
        "rate": rate,
        "seconds": seconds,
        "produced_s": round(produced_s, 1),
        "events_per_s": round(events_rate),
        "joiner_input_per_s": round(joiner_in),
        "lag": lags,
        "join_latency_ms": {
            "labels": len(latencies),
            "p50": _p(latencies, 50),
            "p99": _p(latencies, 99),
            "max": round(max(latencies), 1),
        },
        "rss": rss,
        "sustained": sustained,
        "samples": probe.rows,
    }


def main() -> None:
    """The main run, then the steps; write results and BENCHMARKS.md."""
    from bench.report import write_report

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rate", type=int, default=10_000)
    p.add_argument("--seconds", type=float, default=600)
    p.add_argument("--warmup-seconds", type=float, default=30)
    p.add_argument("--bounded-s", type=float, default=10.0)
    p.add_argument("--step-rates", default="12000,14000,15000,16000,18000")
    p.add_argument("--step-seconds", type=float, default=90)
    p.add_argument("--bootstrap", default=None, help="use this broker instead of starting one")
    args = p.parse_args()
    a = args
    steps: list[dict[str, Any]] = []
    with broker(args.bootstrap) as (bootstrap, _pid):
        s = fresh_settings(bootstrap, "system", joiner_store="rocksdb://")
        main_run = run_rate(s, a.rate, a.seconds, a.warmup_seconds, a.bounded_s)
        print(orjson.dumps({k: v for k, v in main_run.items() if k != "samples"}).decode())
        for rate in [int(r) for r in args.step_rates.split(",") if r]:
            s = fresh_settings(bootstrap, f"step{rate}", joiner_store="rocksdb://")
            step = run_rate(s, rate, a.step_seconds, a.warmup_seconds, a.bounded_s, check=False)
            step.pop("samples")
            steps.append(step)
            print(orjson.dumps(step).decode(), flush=True)
            if not step["sustained"]:
                break
    rates = [r["rate"] for r in [main_run, *steps] if r["sustained"]]
    command = (
        f"python -m bench.system --rate {a.rate} --seconds {a.seconds:g} "
        f"--step-rates {a.step_rates} --step-seconds {a.step_seconds:g} "
        f"--bounded-s {a.bounded_s:g} --warmup-seconds {a.warmup_seconds:g}"
    )
    result = {
        "command": command,
        "main": main_run,
        "steps": steps,
        "highest_sustained": max(rates) if rates else None,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "system.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    write_report()


if __name__ == "__main__":
    main()
