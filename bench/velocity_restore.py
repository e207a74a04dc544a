"""How long a scorer's velocity state takes to come back after a restart, on a real
broker: from its local checkpoints, or from the changelog in Kafka; and what bounding
its memory costs.

    .venv/bin/python -m bench.velocity_restore      # ~3 min; bench/results/velocity_restore.json

One scorer (exactly-once, the velocity model of :func:`bench.harness.velocity_models`)
scores ``--events`` generated events of ``--accounts`` accounts to the end and stops
cleanly (SIGTERM: its checkpoints saved). It is then started again ``--rounds`` times
per mode, the modes alternating: ``velocity_store=rocksdb`` (its checkpoints, and the
changelog after them: nothing) and ``velocity_store=none`` (the whole changelog read
from Kafka, read committed, and replayed); each run stops once it has logged its
restore. Per mode, from the scorer's log line ``velocity state restored``: accounts,
seconds (the Kafka read included) and accounts/s, the median of the rounds. With the
memory bound on (the default), a checkpoint's accounts stay in RocksDB and come back
with their events: that restore reads the checkpoint's mark and the changelog after it.
The changelog is as young as the run: not compacted yet (its segments are still open),
so a restore from it reads every record written, as it would soon after a deployment.

Memory: the same events scored twice more on topics of their own, with at most
``--accounts // 10`` accounts in memory (the rest in RocksDB) and with every account in
memory (``velocity_store=none``): events/s, and the scorer's resident memory at the
end and at its peak (``VmRSS``, ``VmHWM``).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path
from typing import Any

import orjson

from bench.harness import RESULTS, broker, spawn, stop, timed_until_committed, velocity_models
from streams.config import Settings
from streams.dev.generator import GeneratorConfig, Record, generate
from streams.dev.local import fresh_settings, wait_until
from streams.dev.produce import write_records
from streams.kafka import watermarks

PARTITIONS = 6


def _restored(log: Path) -> dict[str, Any] | None:
    """The scorer's ``velocity state restored`` line, once it is written."""
    for line in log.read_bytes().splitlines():
        if line.startswith(b"{") and b'"velocity state restored"' in line:
            return dict(orjson.loads(line))
    return None


def _restart(settings: Settings, store: str, log: Path) -> dict[str, Any]:
    """Start the scorer with ``velocity_store=store``, wait for its restore, stop it."""
    proc = spawn(settings.model_copy(update={"velocity_store": store}), "score", log=log)
    try:
        wait_until(lambda: _restored(log) is not None or proc.poll() is not None, 300, "restore")
    finally:
        stop(proc)
    line = _restored(log)
    if line is None:
        raise RuntimeError(f"the scorer stopped before restoring: see {log}")
    return {k: line[k] for k in ("accounts", "from_checkpoints", "seconds")}


def _vm(pid: int) -> dict[str, float]:
    """Resident memory now and at its peak, MiB (/proc, Linux)."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return {k: int(fields[v].split()[0]) / 1024 for k, v in (("rss", "VmRSS"), ("peak", "VmHWM"))}


def _memory(bootstrap: str, events: list[Record], bound: int | None, log: Path) -> dict[str, Any]:
    """Score ``events`` with at most ``bound`` accounts in memory (None: all of them)."""
    extra: dict[str, object] = (
        {"velocity_max_resident_accounts": bound} if bound else {"velocity_store": "none"}
    )
    s = fresh_settings(
        bootstrap, "memory", topic_partitions=PARTITIONS, model_dir=velocity_models(), **extra
    )
    write_records(s, events, 0)
    proc = spawn(s, "score", log=log)
    try:
        seconds = timed_until_committed(s, s.scorer_group_id, len(events), proc.wait)
        vm = _vm(proc.pid)
    finally:
        stop(proc, 120)
    return {"max_resident": bound or 0, "events_per_s": round(len(events) / seconds),
            "rss_mb": round(vm["rss"]), "peak_rss_mb": round(vm["peak"])}  # fmt: skip


def main() -> None:
    """Fill the state, restart per mode, write the JSON and the report."""
    from bench.report import write_report

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=300_000)
    p.add_argument("--accounts", type=int, default=50_000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--bootstrap", default=None, help="a running broker (default: start one)")
    args = p.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="velocity-restore-"))
    with broker(args.bootstrap) as b:
        s = fresh_settings(
            b.bootstrap, "restore", topic_partitions=PARTITIONS, model_dir=velocity_models()
        )
        config = GeneratorConfig(seed=11, count=args.events, accounts=args.accounts)
        events = [r for r in generate(config) if r.topic == "events"]
        write_records(s, events, 0)
        proc = spawn(s, "score", log=logs / "fill.log")
        try:
            timed_until_committed(s, s.scorer_group_id, len(events), proc.wait)
        finally:
            assert stop(proc, 120) == 0, f"the scorer did not stop cleanly: see {logs}"
        marks = watermarks(s, s.topic_accounts_changelog)
        runs: dict[str, list[dict[str, Any]]] = {"rocksdb": [], "none": []}
        for k in range(args.rounds):
            for store in runs:
                runs[store].append(_restart(s, store, logs / f"{store}-{k}.log"))
        memory = [
            _memory(b.bootstrap, events, bound, logs / f"memory-{bound}.log")
            for bound in (args.accounts // 10, None)
        ]
    rows = []
    for store, got in runs.items():
        seconds = statistics.median(r["seconds"] for r in got)
        accounts = got[0]["accounts"]
        rows.append({"velocity_store": store, "accounts": accounts, "seconds": seconds,
                     "accounts_per_s": round(accounts / seconds),
                     "from_checkpoints": got[0]["from_checkpoints"],
                     "rounds_seconds": [r["seconds"] for r in got]})  # fmt: skip
    result = {
        "command": f"python -m bench.velocity_restore --events {args.events} "
        f"--accounts {args.accounts} --rounds {args.rounds}",
        "events": len(events),
        "partitions": PARTITIONS,
        "changelog_records": sum(high - low for low, high in marks.values()),
        "rows": rows,
        "memory": memory,
    }
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode(), flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "velocity_restore.json").write_bytes(
        orjson.dumps(result, option=orjson.OPT_INDENT_2)
    )
    write_report()


if __name__ == "__main__":
    main()
