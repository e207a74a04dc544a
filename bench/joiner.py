"""Joiner catch-up throughput against its baseline and its limit, and bytes per entry.

    .venv/bin/python -m bench.joiner                       # 1,000,000 events, 3 rounds
    .venv/bin/python -m bench.joiner --events 100000 --rounds 1 --baseline-seconds 30

One prefill, on fresh topics of the real broker: ``streamscore produce`` writes the
events (5% invalid, 30% labelled, with duplicates and corrections) and their feedback
unpaced, and the shipped scorer scores them all. Then, on those same topics, each with
a group and state directory of its own, interleaved per round:

- *joiner*: the shipped joiner (``streamscore join``, RocksDB store, the default 7-day
  retention, so every key stays in the state) from the beginning of ``scores`` and
  ``feedback``; records/s from its commits of input offsets, from the first past
  10% of the input to the last before 90% (start-up and the tail left out);
- *limit*: a bare confluent-kafka consumer (read_committed, as the joiner reads)
  reading the same topics in batches and doing nothing with them;
- *baseline* (round 1 only): the per-record faust joiner this design replaced (the
  commit ``--baseline-commit``, checked out in a temporary git worktree, run the same
  way), timed from its first commit past 10% for ``--baseline-seconds`` or to 90%,
  whichever comes first.

After its run each joiner's state is measured at rest: the bytes of its RocksDB
directories on disk over the entries in them (counted by reading the DBs).
Writes ``bench/results/joiner.json`` and regenerates ``BENCHMARKS.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from bench.harness import RESULTS, broker, spawn, stop
from bench.joiner_state import state_at_rest
from streams.config import Settings
from streams.dev.local import ROOT, fresh_settings, wait_until
from streams.kafka import committed_total, end_total, make_consumer

BASELINE_COMMIT = "f9f3cac"  # the last commit with the per-record faust joiner


def prefill(settings: Settings, events: int) -> int:
    """Events and feedback written and every event scored; the joiner's input offsets
    (high watermarks, so the commit markers of the transactional ``scores`` count too:
    one per partition per scorer transaction, ~0.1% here)."""
    flags = ["--messy-fraction", "0.05", "--feedback", "0.3", "--label-delay-s", "30"]
    producer = spawn(settings, "produce", "--count", str(events), "--rate", "0", *flags)
    if producer.wait(900) != 0:
        raise RuntimeError(f"produce exited with {producer.returncode}")
    scorer = spawn(settings, "score")
    try:
        end = end_total(settings, settings.topic_events)
        group, topic = settings.scorer_group_id, settings.topic_events
        wait_until(lambda: committed_total(settings, group, topic) >= end, 900, "all scored")
    finally:
        stop(scorer)
    return end_total(settings, settings.topic_scores) + end_total(settings, settings.topic_feedback)


def joined(settings: Settings) -> int:
    """The joiner's committed input offsets, scores and feedback."""
    group = settings.joiner_group_id
    return committed_total(settings, group, settings.topic_scores) + committed_total(
        settings, group, settings.topic_feedback
    )


def timed_progress(settings: Settings, total: int, cap_s: float | None) -> dict[str, Any]:
    """Records/s from the joiner's commits: each change of its committed input is noted
    when seen (every ~50 ms); the rate is the slope from the first commit past 10% of
    ``total`` to the last seen before 90% is passed (or ``cap_s`` after the first).
    faust commits every 2.8 s, so both ends are commits, not polls between them."""
    points: list[tuple[float, int]] = []
    deadline = time.monotonic() + 3600
    while not points or points[-1][1] < 0.9 * total:
        now, value = time.monotonic(), joined(settings)
        if not points or value != points[-1][1]:
            points.append((now, value))
        timed = [p for p in points if p[1] >= 0.1 * total]
        if cap_s and timed and now - timed[0][0] >= cap_s and len(timed) > 1:
            break
        if now > deadline:
            raise AssertionError("timed out waiting for 90% of the input")
        time.sleep(0.05)  # the sampling interval
    timed = [p for p in points if p[1] >= 0.1 * total]
    if len(timed) < 2:
        raise AssertionError("fewer than two commits between 10% and 90%: prefill more")
    (t0, c0), (t1, c1) = timed[0], timed[-1]
    return {
        "timed_records": c1 - c0,
        "timed_s": round(t1 - t0, 2),
        "commits_timed": len(timed),
        "records_per_s": round((c1 - c0) / (t1 - t0)),
    }


def run_joiner(
    settings: Settings, total: int, cwd: Path = ROOT, cap_s: float | None = None
) -> dict[str, Any]:
    """One joiner (the code in ``cwd``) from the start of the inputs: its records/s
    (:func:`timed_progress`), and its state at rest after a clean stop."""
    joiner = spawn(settings, "join", cwd=cwd)
    try:
        timed = timed_progress(settings, total, cap_s)
    finally:
        code = stop(joiner, timeout_s=60)
    state = state_at_rest(settings.joiner_data_dir)
    return {"input_records": total, **timed, "exit_code": code, "state": state}


def bare_consume(settings: Settings, total: int, group: str) -> dict[str, Any]:
    """The limit: a consumer reading ``total`` records of scores and feedback, no work."""
    consumer = make_consumer(settings, group, **{"isolation.level": "read_committed"})
    consumer.subscribe([settings.topic_scores, settings.topic_feedback])
    got, t0, deadline = 0, 0.0, time.monotonic() + 600
    try:
        # the markers of the transactional scores are offsets but never records
        while got < 0.99 * total and time.monotonic() < deadline:
            batch = consumer.consume(10_000, 1.0)
            if batch and not t0:
                t0 = time.monotonic()
            got += sum(1 for m in batch if m.error() is None)
        seconds = time.monotonic() - t0
    finally:
        consumer.close()
    return {"records": got, "seconds": round(seconds, 2), "records_per_s": round(got / seconds)}


@contextlib.contextmanager
def baseline_checkout(commit: str) -> Iterator[Path]:
    """The repository at ``commit`` in a temporary git worktree (removed afterwards)."""
    path = Path(tempfile.mkdtemp(prefix="streamscore-baseline-"))
    git = ["git", "-C", str(ROOT)]
    subprocess.run(
        [*git, "worktree", "add", "--detach", str(path), commit], check=True, capture_output=True
    )
    try:
        yield path
    finally:
        subprocess.run([*git, "worktree", "remove", "--force", str(path)], check=False)


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians per kind and the ratios the issue asks for.

    >>> runs = [{"kind": "joiner", "records_per_s": 30}, {"kind": "limit", "records_per_s": 100},
    ...         {"kind": "baseline", "records_per_s": 2}, {"kind": "joiner", "records_per_s": 40}]
    >>> s = summarise(runs)
    >>> s["joiner_records_per_s"], s["of_limit"], s["over_baseline"]
    (35, 0.35, 17.5)
    """
    med = {
        k: statistics.median(r["records_per_s"] for r in runs if r["kind"] == k)
        for k in ("joiner", "limit", "baseline")
    }
    return {
        "joiner_records_per_s": round(med["joiner"]),
        "limit_records_per_s": round(med["limit"]),
        "baseline_records_per_s": round(med["baseline"]),
        "of_limit": round(med["joiner"] / med["limit"], 3),
        "over_baseline": round(med["joiner"] / med["baseline"], 1),
    }


def main() -> None:
    """Prefill once, run every kind, write results and BENCHMARKS.md."""
    from bench.report import write_report

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--baseline-seconds", type=float, default=90.0)
    p.add_argument("--baseline-commit", default=BASELINE_COMMIT)
    p.add_argument("--bootstrap", default=None, help="use this broker instead of starting one")
    args = p.parse_args()
    runs: list[dict[str, Any]] = []
    with broker(args.bootstrap) as (bootstrap, _pid):
        base = fresh_settings(bootstrap, "joinbench", joiner_store="rocksdb://")
        t = time.monotonic()
        total = prefill(base, args.events)
        print(f"prefilled {total} input records in {time.monotonic() - t:.0f} s", flush=True)

        def settings(name: str) -> Settings:
            return base.model_copy(
                update={
                    "joiner_group_id": f"joinbench-{name}",
                    "joiner_data_dir": base.joiner_data_dir / name,
                }
            )

        for n in range(args.rounds):
            if n == 0:
                with baseline_checkout(args.baseline_commit) as cwd:
                    s = settings("baseline")
                    runs.append(
                        {
                            "kind": "baseline",
                            "round": n,
                            **run_joiner(s, total, cwd, args.baseline_seconds),
                        }
                    )
                    print(orjson.dumps(runs[-1]).decode(), flush=True)
            runs.append({"kind": "joiner", "round": n, **run_joiner(settings(f"j{n}"), total)})
            print(orjson.dumps(runs[-1]).decode(), flush=True)
            limit = bare_consume(base, total, f"joinbench-limit{n}")
            runs.append({"kind": "limit", "round": n, **limit})
            print(orjson.dumps(runs[-1]).decode(), flush=True)
    command = (
        f"python -m bench.joiner --events {args.events} --rounds {args.rounds} "
        f"--baseline-seconds {args.baseline_seconds:g} --baseline-commit {args.baseline_commit}"
    )
    result = {"command": command, "events": args.events, "summary": summarise(runs), "runs": runs}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "joiner.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    print(orjson.dumps(result["summary"]).decode())
    write_report()


if __name__ == "__main__":
    main()
