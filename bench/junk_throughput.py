"""Throughput with hostile input flowing: valid events/s with junk ÷ without (issue 26 part 6).

    .venv/bin/python -m bench.junk_throughput --hostile 100000 --mix 1 --mix 0.1

For each mix (hostile records per valid event), fills one topic with the valid events
alone (clean) and another with the same valid events interleaved with at least
``--hostile`` records of :func:`bench.junk.hostile`, then times a ``python -m streams
score`` process (exactly-once, as shipped) draining each, from its partitions being
assigned (its start-up excluded) to its last input offset committed. Clean and junk
runs alternate, ``--rounds`` times, each reported by its median. Per mix it reports
valid events/s with junk ÷ clean valid events/s (the issue's target: >= 0.80),
records/s, dead letters by reason, and lost and duplicated outputs (read_committed,
against what the reference parser accepts: must be 0). An unreported run warms the
broker up first. Writes ``bench/results/junk_throughput.json``.
"""

from __future__ import annotations

import argparse
import math
import statistics
from collections import Counter
from collections.abc import Iterator
from typing import Any

import orjson

from bench.harness import BROKER_PID, LAST_CPU, RESULTS, broker, spawn, stop, timed_until_committed
from bench.junk import Hostile, hostile
from streams.config import Settings
from streams.contract.dead_letters import H_REASON
from streams.contract.records import header, headers_of
from streams.contract.validation import Problem, parse_event
from streams.dev.generator import GeneratorConfig, generate
from streams.dev.local import fresh_settings, wait_until
from streams.kafka import DeliveryTracker, flush, make_producer, produce, scan_topic
from streams.kafka.groups import group_members

PARTITIONS = 6


def valid_events(seed: int, count: int) -> Iterator[Hostile]:
    """``count`` valid generated events as (key, value, no headers)."""
    for r in generate(GeneratorConfig(seed=seed, count=count)):
        if r.topic == "events":
            yield r.key, r.value, None


def interleave(valid: Iterator[Hostile], junk: list[Hostile], mix: float) -> Iterator[Hostile]:
    """The valid records with ``mix`` hostile ones after each (on average), in order."""
    sent = 0
    for i, record in enumerate(valid):
        yield record
        due = math.floor((i + 1) * mix)
        while sent < min(due, len(junk)):
            yield junk[sent]
            sent += 1


def fill(settings: Settings, records: Iterator[Hostile]) -> int:
    """Produce ``records`` to the events topic, every one confirmed; how many."""
    producer, tracker = make_producer(settings), DeliveryTracker()
    for key, value, headers in records:
        produce(producer, tracker, settings.topic_events, key, value, headers)
    flush(producer, tracker, timeout_s=300)
    return tracker.delivered


def drain(bootstrap: str, topic: str, records: int, name: str) -> tuple[Settings, float]:
    """A scorer process on ``topic`` with outputs of its own: seconds from its partitions
    being assigned to ``records`` offsets committed; its CPU µs per record in LAST_CPU."""
    s = fresh_settings(bootstrap, name, topic_partitions=PARTITIONS, topic_events=topic)
    proc = spawn(s, "score")
    try:
        group = s.scorer_group_id
        wait_until(lambda: any(group_members(s, group).values()), 120, f"{name} assigned")
        return s, timed_until_committed(s, group, records, proc.wait)
    finally:
        stop(proc)


def outputs(s: Settings, expected_ids: Counter[str], expected_dead: Counter[str]) -> dict[str, Any]:
    """What a run wrote, read_committed, against what the reference parser expects."""
    ids: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    scan_topic(
        s, s.topic_scores, lambda m: ids.update([orjson.loads(m.value() or b"")["event_id"]])
    )
    scan_topic(s, s.topic_dlq, lambda m: reasons.update([header(headers_of(m), H_REASON) or "?"]))
    lost = (expected_ids - ids).total() + (expected_dead - reasons).total()
    duplicated = (ids - expected_ids).total() + (reasons - expected_dead).total()
    return {
        "scored": ids.total(),
        "dead_letters": dict(reasons),
        "lost": lost,
        "duplicated": duplicated,
    }


def expected(seed: int, valid: int, junk: list[Hostile]) -> tuple[Counter[str], Counter[str]]:
    """Event ids to be scored (valid events, and hostile ones that are valid after all)
    and dead letters by reason, by the reference parser."""
    ids = Counter(orjson.loads(v or b"")["event_id"] for _, v, _ in valid_events(seed, valid))
    dead: Counter[str] = Counter()
    for _, value, _ in junk:
        ref = parse_event(value)
        if isinstance(ref, Problem):
            dead[ref.reason] += 1
        else:
            ids[ref["event_id"]] += 1
    return ids, dead


def run_mix(bootstrap: str, mix: float, args: argparse.Namespace) -> dict[str, Any]:
    """Clean and junk topics for one mix, drained ``args.rounds`` times each."""
    valid = max(args.valid or 0, math.ceil(args.hostile / mix))
    junk = hostile(args.seed, math.floor(valid * mix))
    clean_s = fresh_settings(bootstrap, "junk-clean", topic_partitions=PARTITIONS)
    junk_s = fresh_settings(bootstrap, "junk-mixed", topic_partitions=PARTITIONS)
    fill(clean_s, valid_events(args.seed, valid))
    total = fill(junk_s, interleave(valid_events(args.seed, valid), junk, mix))
    ids, dead = expected(args.seed, valid, junk)
    runs: dict[str, list[float]] = {"clean": [], "junk": []}
    cpu: dict[str, list[float]] = {"clean": [], "junk": []}
    broker_cpu: dict[str, list[float]] = {"clean": [], "junk": []}
    checks = []
    for r in range(args.rounds):  # interleaved: a slow spell of the machine hits both
        for kind, s, records in (("clean", clean_s, valid), ("junk", junk_s, total)):
            LAST_CPU.clear()
            out, seconds = drain(bootstrap, s.topic_events, records, f"junk-{kind}-r{r}")
            runs[kind].append(seconds)
            cpu[kind].append(LAST_CPU.get("process", math.nan) * records / valid)
            broker_cpu[kind].append(LAST_CPU.get("broker", math.nan) * records / valid)
            print({"mix": mix, "run": kind, "round": r, "valid_per_s": valid / seconds}, flush=True)
            if kind == "junk":
                checks.append(outputs(out, ids, dead))
    clean, mixed = statistics.median(runs["clean"]), statistics.median(runs["junk"])
    return {
        "mix": mix,
        "valid_events": valid,
        "hostile_records": len(junk),
        "records": total,
        "clean_valid_per_s": valid / clean,
        "junk_valid_per_s": valid / mixed,
        "ratio": clean / mixed,
        "junk_records_per_s": total / mixed,
        "rounds_ratio": [c / j for c, j in zip(runs["clean"], runs["junk"], strict=True)],
        "cpu_us_per_valid_event": {k: statistics.median(v) for k, v in cpu.items()},
        "broker_cpu_us_per_valid_event": {k: statistics.median(v) for k, v in broker_cpu.items()},
        "dead_letters": checks[-1]["dead_letters"],
        "scored": checks[-1]["scored"],
        "lost": max(c["lost"] for c in checks),
        "duplicated": max(c["duplicated"] for c in checks),
    }


def main() -> None:
    """Run every mix and write the JSON."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hostile", type=int, default=100_000, help="hostile records per mix, at least")
    p.add_argument("--mix", type=float, action="append", help="hostile records per valid event")
    p.add_argument("--valid", type=int, default=None, help="valid events per mix, at least")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seed", type=int, default=26)
    p.add_argument("--warm", type=int, default=50_000, help="events of the unreported run")
    p.add_argument("--bootstrap", default=None, help="use this broker instead of starting one")
    args = p.parse_args()
    mixes = args.mix or [1.0, 0.1]
    rows = []
    with broker(args.bootstrap) as b:
        BROKER_PID[:] = [b.pid] if b.pid is not None else []
        warm = fresh_settings(b.bootstrap, "junk-warm", topic_partitions=PARTITIONS)
        warmed = fill(warm, valid_events(args.seed + 1, args.warm))  # unreported: the JVM's JIT
        drain(b.bootstrap, warm.topic_events, warmed, "junk-warm")
        for mix in mixes:
            rows.append(run_mix(b.bootstrap, mix, args))
            print(rows[-1], flush=True)
    command = f"python -m bench.junk_throughput --hostile {args.hostile}"
    command += "".join(f" --mix {m:g}" for m in mixes) + f" --rounds {args.rounds}"
    command += f" --valid {args.valid}" if args.valid else ""
    RESULTS.mkdir(parents=True, exist_ok=True)
    result = {"command": command, "target_ratio": 0.8, "rows": rows}
    (RESULTS / "junk_throughput.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    from bench.report import write_report  # the report imports every benchmark's renderer

    write_report()


if __name__ == "__main__":
    main()
