"""What the scorer's velocity state costs, in process (no broker): per event, per account
in bytes, and to restore.

    .venv/bin/python -m bench.velocity_cost               # 200,000 events, ~1 minute

Over the generator's stream (its default clock, takeovers as ``train --velocity`` makes
them), in batches of ``--batch`` events spread over 6 partitions as the topic would:

- *features*: :class:`~streams.model.velocity.AccountFeatures` alone, µs per event;
- *scorer's state*: :class:`~streams.scoring.account_state.AccountStates` as the scorer
  runs it: the features, the undo of each touched account and its changelog record,
  then the transaction sent and committed; µs per event (its time in the scorer's
  ``velocity`` stage comes on top of the pipeline's, :mod:`bench.throughput`);
- *bytes per account*: each account's state at the end as a snapshot holds it (msgpack),
  mean, p99 and max, and the key (memory: Python objects, several times that); and what
  the compacted changelog keeps per account (its snapshot and latest deltas);
- *changelog bytes per event*: keys and values written to the changelog, over events;
- *restore*: :meth:`AccountStates.restore` from the compacted changelog, accounts/s (the
  Kafka read of the changelog comes on top);
- *checkpoint*: a clean stop's save of every partition to the local RocksDB checkpoints
  (:class:`~streams.scoring.state_store.AccountStore`), and a restart's restore from
  them (load and :meth:`AccountStates.restore` with the base, no changelog after it),
  accounts/s each;
- *memory per account*: Python's allocations (tracemalloc) for the restored state, over
  its accounts;
- *bounded*: the scorer's state again with at most a fifth of the accounts in memory,
  the rest in RocksDB (:mod:`streams.scoring.account_spill`): µs per event, and the
  accounts moved out and back per event.

Python's GC runs as in the scorer (:class:`~streams.ops.gc_control.Collector`: between
batches, what survives frozen). Each time is the best of ``--repeat`` runs. Writes
``bench/results/velocity_cost.json``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from bench.harness import RESULTS
from streams.contract.partitioner import partition_for
from streams.contract.records import Origin, OutRecord
from streams.dev.generator import GeneratorConfig, generate_events_clean
from streams.dev.training import TAKEOVERS, VELOCITY_FIELDS, TrainConfig
from streams.model.account_window import encode_state
from streams.model.velocity import AccountFeatures, VelocityConfig
from streams.ops.gc_control import Collector
from streams.scoring.account_spill import Spilling
from streams.scoring.account_state import AccountStates, Event
from streams.scoring.state_store import AccountStore, Checkpoint

PARTITIONS = 6


def _best(run: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def _stream(events: int) -> tuple[list[Event], list[Origin]]:
    gen = GeneratorConfig(
        count=events, events_per_second=TrainConfig().events_per_second, takeovers=TAKEOVERS
    )
    clean = generate_events_clean(gen).events
    rows: list[Event] = [tuple(e.get(f) for f in VELOCITY_FIELDS) for e in clean]  # type: ignore[misc]
    origins = [
        Origin("events", partition_for(r[0].encode(), PARTITIONS), i) for i, r in enumerate(rows)
    ]
    return rows, origins


def measure(events: int, batch: int, repeat: int) -> dict[str, Any]:
    """The figures above for ``events`` generated events."""
    rows, origins = _stream(events)
    n = len(rows)

    def features() -> None:
        observe = AccountFeatures(VelocityConfig()).observe
        for r in rows:
            observe(*r)

    final: list[AccountStates] = []
    written: list[OutRecord] = []

    def scorer_state(spilling: Spilling | None = None) -> None:
        states = AccountStates(VelocityConfig(), "scores.accounts-changelog", spilling=spilling)
        written.clear()
        for i in range(0, n, batch):
            written.extend(states.observe(rows[i : i + batch], origins[i : i + batch]).changelog)
            states.sent()
            states.committed()
            collector.between_batches()
        final[:] = [states]

    # Python's GC as the scorer runs it (between batches, survivors frozen)
    collector = Collector(1.0, freeze_survivors=True)
    try:
        feature_s, state_s = _best(features, repeat), _best(scorer_state, repeat)
    finally:
        collector.close()
    states = final[0]
    sizes = np.array(
        [len(encode_state(s)) for p in states.partitions for s in states.accounts(p).values()]
    )
    keys = np.array([len(a.encode()) for p in states.partitions for a in states.accounts(p)])
    compacted = {
        p: {r.key or b"": r.value for r in written if r.partition == p} for p in states.partitions
    }
    kept = sum(len(k) + len(v or b"") for recs in compacted.values() for k, v in recs.items())

    def restore() -> AccountStates:
        fresh = AccountStates(VelocityConfig(), "scores.accounts-changelog")
        for p, recs in compacted.items():
            fresh.restore(p, recs.items())
        return fresh

    with tempfile.TemporaryDirectory() as tmp:
        store = AccountStore(Path(tmp) / "velocity", max_age_s=3600)

        def save() -> None:
            for p in states.partitions:
                store.save(p, "topic-id", 0, states.checkpoint(p), 0, states.mark(p))

        def restore_checkpoint() -> None:
            fresh = AccountStates(VelocityConfig(), "scores.accounts-changelog")
            for p in states.partitions:
                got = store.load(p, "topic-id", 0)
                assert isinstance(got, Checkpoint), got
                fresh.restore(p, (), got.accounts)

        bound = len(sizes) // 5
        spill = AccountStore(Path(tmp) / "spill", max_age_s=3600)
        spillings: list[Spilling] = []

        def bounded() -> None:
            spillings.append(Spilling(spill, bound))
            for p in range(PARTITIONS):
                spill.clear(p)
            scorer_state(spillings[-1])

        collector = Collector(1.0, freeze_survivors=True)
        try:
            restore_s = _best(restore, repeat)
            save_s = _best(save, repeat)
            checkpoint_s = _best(restore_checkpoint, repeat)
            bounded_s = _best(bounded, repeat)
        finally:
            collector.close()
            spill.close()
            store.close()
        tracemalloc.start()
        restored = restore()
        per_account = tracemalloc.get_traced_memory()[0] / len(sizes)
        tracemalloc.stop()
        del restored
    return {
        "events": n,
        "accounts": len(sizes),
        "batch": batch,
        "features_us_per_event": round(feature_s / n * 1e6, 2),
        "scorer_state_us_per_event": round(state_s / n * 1e6, 2),
        "state_bytes": {
            "mean": round(float(sizes.mean()), 1),
            "p99": float(np.percentile(sizes, 99)),
            "max": int(sizes.max()),
            "key_mean": round(float(keys.mean()), 1),
            "compacted_changelog_mean": round(kept / len(sizes), 1),
        },
        "changelog_bytes_per_event": round(
            sum(len(r.key or b"") + len(r.value or b"") for r in written) / n, 1
        ),
        "restore_accounts_per_s": round(len(sizes) / restore_s),
        "checkpoint_save_accounts_per_s": round(len(sizes) / save_s),
        "checkpoint_restore_accounts_per_s": round(len(sizes) / checkpoint_s),
        "memory_bytes_per_account": round(per_account),
        "bounded": {
            "max_resident": bound,
            "scorer_state_us_per_event": round(bounded_s / n * 1e6, 2),
            "moved_out_per_event": round(spillings[-1].moved_out / n, 3),
            "moved_in_per_event": round(spillings[-1].moved_in / n, 3),
        },
    }


def main() -> None:
    """Measure and write the JSON."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=200_000)
    p.add_argument("--batch", type=int, default=1_000)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    result = measure(args.events, args.batch, args.repeat)
    result["command"] = f"python -m bench.velocity_cost --events {args.events}"
    print(result, flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "velocity_cost.json"
    out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
