"""Joiner recovery with over a million entries: SIGKILL, restart, restore, stall.

    .venv/bin/python -m bench.joiner_recovery                 # 1,100,000 events
    .venv/bin/python -m bench.joiner_recovery --events 200000 --live-rate 1000

On fresh topics of the real broker: ``streamscore produce`` writes ``--events`` events
(5% invalid, 30% labelled) and the scorer scores them; the shipped joiner (RocksDB)
takes them all and stops cleanly, and its entries are counted at rest. It starts
again, a second producer writes new events at ``--live-rate`` (labels ~5 s later) and
the scorer scores them, so ``labelled`` is written continuously. Then, twice, the
joiner is SIGKILLed and started again at once:

- *state kept*: on the same state directory (a process crash): faust restores only
  the changelog written since the last flush it recorded;
- *state lost*: on an empty state directory (a new machine): the whole changelog.

For each: the restore (changelog records and seconds, from the joiner's
``join state restored`` log line), entries per second (entries at rest over the
restore's seconds, for the full restore), and the stall: the longest gap between two
``labelled`` records reaching a reader from the kill on. The group's session timeout
(``session_timeout_ms``) is part of the stall: the killed member holds its partitions
until then. Writes ``bench/results/joiner_recovery.json`` and regenerates
``BENCHMARKS.md``.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import OFFSET_END, TopicPartition

from bench.harness import RESULTS, broker, spawn, stop
from bench.joiner import joined, prefill
from bench.joiner_state import state_at_rest
from streams.config import Settings
from streams.dev.local import ROOT, child_env, fresh_settings, wait_until
from streams.kafka import end_total, make_consumer


class Arrivals(threading.Thread):
    """When each ``labelled`` record written from now on reaches this reader."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(daemon=True)
        self.consumer = make_consumer(settings, "bench-arrivals", **{"fetch.wait.max.ms": 5})
        topic = settings.topic_labelled
        parts = self.consumer.list_topics(topic, timeout=10).topics[topic].partitions
        self.consumer.assign([TopicPartition(topic, p, OFFSET_END) for p in parts])
        self.times: list[float] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            for msg in self.consumer.consume(1000, 0) or self.consumer.consume(1, 0.05):
                if msg.error() is None:
                    self.times.append(time.monotonic())
        self.consumer.close()


def stall_after(times: list[float], t: float) -> float:
    """The longest gap between ``times`` from ``t`` on (the first gap counts from ``t``).

    >>> stall_after([1.0, 5.0, 6.0], 2.0)
    3.0
    """
    later = [t, *(x for x in times if x > t)]
    return max(b - a for a, b in itertools.pairwise(later))


def start_joiner(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    """The shipped joiner, its log lines to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "streams", "join"],
            cwd=ROOT,
            env=child_env(settings),
            stdout=out,
            stderr=out,
        )


def restored(log: Path, after: int) -> dict[str, Any] | None:
    """The first ``join state restored`` line of ``log`` past byte ``after``, if any."""
    with log.open("rb") as f:
        f.seek(after)
        for line in f:
            if b"join state restored" in line:
                row = orjson.loads(line)
                return {"changelog_records": row["changelog_records"], "seconds": row["seconds"]}
    return None


def kill_and_restart(
    settings: Settings,
    joiner: subprocess.Popen[bytes],
    log: Path,
    arrivals: Arrivals,
    lose_state: bool,
) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    """SIGKILL the joiner, start another at once (on an emptied state directory if
    ``lose_state``); what its restore took and how long ``labelled`` stalled."""
    os.kill(joiner.pid, signal.SIGKILL)
    joiner.wait()
    killed = time.monotonic()
    if lose_state:
        shutil.rmtree(settings.joiner_data_dir)
    offset = log.stat().st_size
    joiner = start_joiner(settings, log)
    wait_until(lambda: restored(log, offset) is not None, 900, "the restore")
    row = restored(log, offset)
    assert row is not None
    n = len(arrivals.times)
    wait_until(lambda: len(arrivals.times) > n + 1000, 300, "labelled to flow again")
    return joiner, {**row, "stall_s": round(stall_after(arrivals.times, killed), 2)}


def run(settings: Settings, events: int, live_rate: int, log: Path) -> dict[str, Any]:
    """Prefill, catch up, count, then the two kills."""
    total = prefill(settings, events)
    group = settings.joiner_group_id
    joiner = start_joiner(settings, log)
    wait_until(lambda: joined(settings) >= total - settings.topic_partitions, 1800, "the catch-up")
    stop(joiner, 120)
    state = state_at_rest(settings.joiner_data_dir)
    arrivals = Arrivals(settings)
    arrivals.start()
    joiner = start_joiner(settings, log)
    flags = ["--seed", "8", "--feedback", "0.3", "--label-delay-s", "5"]
    live = spawn(
        settings, "produce", "--count", str(live_rate * 900), "--rate", str(live_rate), *flags
    )
    scorer = spawn(settings, "score")
    try:
        wait_until(lambda: len(arrivals.times) > 2000, 300, "labelled to flow")
        joiner, kept = kill_and_restart(settings, joiner, log, arrivals, lose_state=False)
        steady = len(arrivals.times) + 3 * live_rate  # ~10 s of labels (30% are labelled)
        wait_until(lambda: len(arrivals.times) > steady, 300, "steady labels before the next kill")
        joiner, lost = kill_and_restart(settings, joiner, log, arrivals, lose_state=True)
    finally:
        stop(live)
        stop(scorer)
        stop(joiner, 60)
        arrivals.stopping.set()
    lost["entries_per_s"] = round(state["entries"] / lost["seconds"]) if lost["seconds"] else None
    lost["changelog_records_per_s"] = round(lost["changelog_records"] / lost["seconds"])
    return {
        "input_records": total,
        "state_at_rest": state,
        "changelog_records": end_total(settings, f"{group}-join_state-changelog"),
        "session_timeout_ms": settings.session_timeout_ms,
        "state_kept": kept,
        "state_lost": lost,
    }


def main() -> None:
    """One run; write bench/results/joiner_recovery.json and BENCHMARKS.md."""
    from bench.report import write_report

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=1_100_000)
    p.add_argument("--live-rate", type=int, default=2_000)
    p.add_argument("--bootstrap", default=None, help="use this broker instead of starting one")
    args = p.parse_args()
    with broker(args.bootstrap) as (bootstrap, _pid):
        settings = fresh_settings(bootstrap, "recovery", joiner_store="rocksdb://")
        log = Path(tempfile.mkdtemp(prefix="joiner-recovery-")) / "joiner.log"
        result = run(settings, args.events, args.live_rate, log)
    RESULTS.mkdir(parents=True, exist_ok=True)
    result["command"] = (
        f"python -m bench.joiner_recovery --events {args.events} --live-rate {args.live_rate}"
    )
    (RESULTS / "joiner_recovery.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    print(orjson.dumps(result).decode())
    write_report()


if __name__ == "__main__":
    main()
