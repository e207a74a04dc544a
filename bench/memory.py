"""Scorer and joiner memory over a long run at a fixed rate, on the real broker.

    .venv/bin/python -m bench.memory                   # 500 events/s for 10 minutes
    .venv/bin/python -m bench.memory --rate 1000 --minutes 3

Starts the shipped scorer (``streamscore score``) and joiner (``streamscore join``,
RocksDB store) as their own processes on fresh topics, and ``streamscore produce`` at
a fixed rate (5% invalid events, 30% of events labelled, labels ~30 s of event time
later, with duplicates and corrections); samples each process's RSS from
/proc every 5 s. The joiner's retention is short (``--retention-s``, 60 s of event
time) so that its state reaches a steady size within the first minute: with the
default 7 days, state (by design) grows for 7 days and no 10-minute run could tell
that growth from a leak. Reports peak RSS, steady RSS (the mean from minute 2 to the end) and
the growth of minute 10's mean over minute 2's (the last minute's over the second's
for shorter runs). Writes ``bench/results/memory.json`` and regenerates
``BENCHMARKS.md``.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import orjson

from bench.harness import RESULTS, broker, rss_mb, spawn, stop
from streams.config import Settings
from streams.dev.local import fresh_settings
from streams.kafka import committed_total

SAMPLE_S = 5.0


def summarise(samples: list[tuple[float, float]], minutes: float) -> dict[str, float]:
    """Peak, steady and growth from (seconds since start, MiB) samples."""
    t = np.array([s for s, _ in samples])
    mb = np.array([m for _, m in samples])
    second = mb[(t >= 60) & (t < 120)]
    last_start = (minutes - 1) * 60
    last = mb[t >= last_start]
    steady = mb[t >= 60]
    return {
        "peak_mb": round(float(mb.max()), 1),
        "steady_mb": round(float(steady.mean()), 1),
        "minute2_mb": round(float(second.mean()), 1),
        "last_minute_mb": round(float(last.mean()), 1),
        "growth_pct": round(float((last.mean() - second.mean()) / second.mean() * 100), 2),
    }


def run(settings: Settings, rate: int, minutes: float) -> dict[str, Any]:
    """One run: scorer, joiner and producer for ``minutes``; RSS samples of both."""
    scorer, joiner = spawn(settings, "score"), spawn(settings, "join")
    count = int(rate * minutes * 60)
    flags = ["--messy-fraction", "0.05", "--feedback", "0.3", "--label-delay-s", "30"]
    producer = spawn(settings, "produce", "--count", str(count), "--rate", str(rate), *flags)
    samples: dict[str, list[tuple[float, float]]] = {"scorer": [], "joiner": []}
    t0 = time.monotonic()
    try:
        while (elapsed := time.monotonic() - t0) < minutes * 60:
            for name, proc in (("scorer", scorer), ("joiner", joiner)):
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with {proc.returncode}")
                samples[name].append((elapsed, rss_mb(proc.pid)))
            time.sleep(SAMPLE_S)  # the sampling interval
        scored = committed_total(settings, settings.scorer_group_id, settings.topic_events)
        joined = committed_total(settings, settings.joiner_group_id, settings.topic_feedback)
        joined += committed_total(settings, settings.joiner_group_id, settings.topic_scores)
    finally:
        codes = {name: stop(p) for name, p in (("producer", producer), ("scorer", scorer),
                                                ("joiner", joiner))}  # fmt: skip
    processes = {
        "scorer": {**summarise(samples["scorer"], minutes), "processed": scored},
        "joiner": {**summarise(samples["joiner"], minutes), "processed": joined},
    }
    return {"rate": rate, "seconds": minutes * 60, "events_planned": count,
            "exit_codes": codes, "processes": processes, "samples": samples}  # fmt: skip


def main() -> None:
    """Run once; write bench/results/memory.json and BENCHMARKS.md."""
    from bench.report import write_report

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rate", type=int, default=500)
    p.add_argument("--retention-s", type=float, default=60.0, help="the joiner's retention")
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--bootstrap", default=None, help="use this broker instead of starting one")
    args = p.parse_args()
    with broker(args.bootstrap) as (bootstrap, _pid):
        settings = fresh_settings(
            bootstrap,
            "memory",
            joiner_store="rocksdb://",
            join_retention_ms=int(args.retention_s * 1000),
        )
        result = run(settings, args.rate, args.minutes)
    result["command"] = (
        f"python -m bench.memory --rate {args.rate} --minutes {args.minutes:g} "
        f"--retention-s {args.retention_s:g}"
    )
    result["retention_s"] = args.retention_s
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "memory.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    print(orjson.dumps(result["processes"], option=orjson.OPT_INDENT_2).decode())
    write_report()


if __name__ == "__main__":
    main()
