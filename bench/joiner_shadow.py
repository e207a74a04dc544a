"""What a ``scores.shadow`` record costs the joiner's pure core, in memory (no broker).

    .venv/bin/python -m bench.joiner_shadow          # 20,000 events, 30% then 100% labelled
    .venv/bin/python -m bench.joiner_shadow --labelled 1.0 --shadows 2

The same events go through :class:`~streams.feedback.processor.JoinProcessor` over a
dict store (batch by batch, as over RocksDB) twice per round: scores and feedback (a
``--labelled`` share of the events, 1.0 being the worst case for the label path), then
the same with ``--shadows`` ``scores.shadow`` records per event. The cost of a shadow
record is the difference of the medians over the shadow records: parsing, its entry's
larger encoding, the label given to it (online quality and the estimate's label check)
and the estimate of its scores. RocksDB and Kafka are left out (``python -m
bench.joiner`` measures the joiner whole, without shadows).
"""

from __future__ import annotations

import argparse
import statistics
import time

import orjson

from streams.config import Settings
from streams.contract.partitioner import partition_for
from streams.contract.records import InRecord, Origin
from streams.feedback.app import processor_for
from streams.feedback.entries import expiry_of
from streams.feedback.examples import feedback_record, score_record, shadow_record
from streams.feedback.processor import Kind
from streams.feedback.store import DictStore

T0 = 1_767_225_600_000
PARTITIONS = 6
BATCH = 2_000

Batch = list[tuple[InRecord, bool | Kind]]


def inputs(events: int, shadows: int, labelled: float) -> list[Batch]:
    """Batches of scores, shadow scores and feedback, each event's in one batch."""
    batches: list[Batch] = []
    offsets = {"scores": 0, "scores.shadow": 0, "feedback": 0}

    def rec(topic: str, eid: str, value: dict[str, object]) -> InRecord:
        offsets[topic] += 1
        origin = Origin(topic, partition_for(eid.encode(), PARTITIONS), offsets[topic])
        return InRecord(origin, eid.encode(), orjson.dumps(value))

    for start in range(0, events, BATCH):
        batch: Batch = []
        for i in range(start, min(start + BATCH, events)):
            eid, label = f"e{i}", int(i % 20 == 0)
            batch.append((rec("scores", eid, score_record(eid, T0 + i, 0.1 + 0.8 * label)), True))
            for v in range(shadows):
                value = shadow_record(eid, T0 + i, f"s{v}", 0.2 + 0.6 * label)
                batch.append((rec("scores.shadow", eid, value), "shadow"))
            if i % 100 < labelled * 100:
                fb = feedback_record(eid, label, T0 + i + 9)
                batch.append((rec("feedback", eid, fb), False))
        batches.append(batch)
    return batches


def timed(batches: list[Batch]) -> float:
    """Seconds a fresh processor takes for ``batches``."""
    p = processor_for(Settings(), DictStore({}, expiry_of=expiry_of), PARTITIONS)
    t = time.perf_counter()
    for batch in batches:
        p.handle_batch(batch, 0)
    return time.perf_counter() - t


def measure(events: int, shadows: int, labelled: float, rounds: int) -> dict[str, float]:
    """Rounds of both runs, interleaved; the medians and µs per shadow record."""
    plain = inputs(events, 0, labelled)
    shadow = inputs(events, shadows, labelled)
    runs: dict[str, list[float]] = {"plain": [], "shadow": []}
    for _ in range(rounds):
        runs["plain"].append(timed(plain))
        runs["shadow"].append(timed(shadow))
    med = {k: statistics.median(v) for k, v in runs.items()}
    n = events * shadows
    return {
        "events": events,
        "shadow_records": n,
        "labelled": labelled,
        "us_per_event_without": round(med["plain"] / events * 1e6, 2),
        "us_per_event_with": round(med["shadow"] / events * 1e6, 2),
        "us_per_shadow_record": round((med["shadow"] - med["plain"]) / n * 1e6, 2),
    }


def main() -> None:
    """Each labelled share in turn; bench/results/joiner_shadow.json, BENCHMARKS.md."""
    from bench.harness import RESULTS
    from bench.report import write_report

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=20_000)
    p.add_argument("--shadows", type=int, default=1, help="scores.shadow records per event")
    p.add_argument("--labelled", default="0.3,1.0", help="shares of events labelled")
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    rows = []
    for share in (float(x) for x in args.labelled.split(",")):
        rows.append(measure(args.events, args.shadows, share, args.rounds))
        print(orjson.dumps(rows[-1]).decode(), flush=True)
    command = (
        f"python -m bench.joiner_shadow --events {args.events} --shadows {args.shadows} "
        f"--labelled {args.labelled} --rounds {args.rounds}"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = orjson.dumps({"command": command, "rows": rows}, option=orjson.OPT_INDENT_2)
    (RESULTS / "joiner_shadow.json").write_bytes(out)
    write_report()


if __name__ == "__main__":
    main()
