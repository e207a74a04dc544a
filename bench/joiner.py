"""Joiner throughput by RocksDB memory budget, on the real broker.

    .venv/bin/python -m bench.joiner                              # 100,000 events; 1/1 and 4/8 MB
    .venv/bin/python -m bench.joiner --events 50000 --budgets 1/1,2/2 --rounds 1

Per budget (``write buffer MB/block cache MB`` per partition) and round, interleaved:
fresh topics; ``streamscore produce`` writes the events (5% invalid, 30% labelled)
and their feedback unpaced; the shipped scorer scores them all and stops; then the
shipped joiner (``streamscore join``, RocksDB store, the default 7-day retention, so
every key stays in the state) catches up on scores and feedback. Records per second
are timed from 10% to 90% of its committed input offsets, leaving out start-up and
the tail. Writes ``bench/results/joiner.json`` and regenerates ``BENCHMARKS.md``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import orjson

from bench.harness import RESULTS, broker, spawn, stop
from streams.config import Settings
from streams.dev.local import fresh_settings, wait_until
from streams.kafka import committed_total, end_total


def prefill(settings: Settings, events: int) -> int:
    """Events and feedback written and every event scored; the joiner's input offsets
    (high watermarks, so the commit markers of the transactional ``scores`` count too:
    one per partition per scorer transaction, ~0.1% here)."""
    flags = ["--messy-fraction", "0.05", "--feedback", "0.3", "--label-delay-s", "30"]
    producer = spawn(settings, "produce", "--count", str(events), "--rate", "0", *flags)
    if producer.wait(600) != 0:
        raise RuntimeError(f"produce exited with {producer.returncode}")
    scorer = spawn(settings, "score")
    try:
        end = end_total(settings, settings.topic_events)
        group, topic = settings.scorer_group_id, settings.topic_events
        wait_until(lambda: committed_total(settings, group, topic) >= end, 600, "all scored")
    finally:
        stop(scorer)
    return end_total(settings, settings.topic_scores) + end_total(settings, settings.topic_feedback)


def by_budget(runs: list[dict[str, Any]], budgets: list[tuple[int, int]]) -> list[dict[str, Any]]:
    """Each budget's records/s per round and their median.

    >>> runs = [{"write_buffer_mb": 1, "block_cache_mb": 1, "records_per_s": r} for r in (3, 1, 2)]
    >>> by_budget(runs, [(1, 1)])[0]["median_records_per_s"]
    2
    """
    out = []
    for write_mb, cache_mb in budgets:
        rates = [
            r["records_per_s"]
            for r in runs
            if (r["write_buffer_mb"], r["block_cache_mb"]) == (write_mb, cache_mb)
        ]
        out.append({"write_buffer_mb": write_mb, "block_cache_mb": cache_mb,
                    "median_records_per_s": round(statistics.median(rates)),
                    "rounds_records_per_s": rates})  # fmt: skip
    return out


def run_budget(bootstrap: str, events: int, write_mb: int, cache_mb: int, n: int) -> dict[str, Any]:
    """One joiner run with the given RocksDB budgets."""
    settings = fresh_settings(
        bootstrap,
        f"joiner{write_mb}x{cache_mb}r{n}",
        joiner_store="rocksdb://",
        joiner_rocksdb_write_buffer_mb=write_mb,
        joiner_rocksdb_block_cache_mb=cache_mb,
    )
    total = prefill(settings, events)
    group = settings.joiner_group_id

    def joined() -> int:
        return committed_total(settings, group, settings.topic_scores) + committed_total(
            settings, group, settings.topic_feedback
        )

    joiner = spawn(settings, "join")
    try:
        wait_until(lambda: joined() >= 0.1 * total, 600, "10% joined")
        t0, c0 = time.monotonic(), joined()
        wait_until(lambda: joined() >= 0.9 * total, 1800, "90% joined")
        t1, c1 = time.monotonic(), joined()
    finally:
        code = stop(joiner)
    return {"write_buffer_mb": write_mb, "block_cache_mb": cache_mb, "input_records": total,
            "records_per_s": round((c1 - c0) / (t1 - t0)), "joiner_exit_code": code}  # fmt: skip


def main() -> None:
    """Every budget, ``--rounds`` times interleaved; write results and BENCHMARKS.md."""
    from bench.report import write_report

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=100_000)
    p.add_argument("--budgets", default="1/1,4/8", help="write buffer MB/block cache MB, ...")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--bootstrap", default=None, help="use this broker instead of starting one")
    args = p.parse_args()
    budgets = [(int(w), int(c)) for w, c in (b.split("/") for b in args.budgets.split(","))]
    runs: list[dict[str, Any]] = []
    with broker(args.bootstrap) as (bootstrap, _pid):
        for n in range(args.rounds):
            for write_mb, cache_mb in budgets:
                runs.append(run_budget(bootstrap, args.events, write_mb, cache_mb, n))
                print(orjson.dumps(runs[-1]).decode(), flush=True)
    summary = by_budget(runs, budgets)
    command = (
        f"python -m bench.joiner --events {args.events} --budgets {args.budgets} "
        f"--rounds {args.rounds}"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "joiner.json").write_bytes(
        orjson.dumps(
            {"command": command, "budgets": summary, "runs": runs}, option=orjson.OPT_INDENT_2
        )
    )
    write_report()


if __name__ == "__main__":
    main()
