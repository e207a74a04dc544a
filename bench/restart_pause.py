"""How long a scorer's restart stops scoring, with static group membership and without.

    .venv/bin/python -m bench.restart_pause               # ~2 min; bench/results/restart_pause.json
    .venv/bin/python -m bench.restart_pause --rounds 2    # each mode twice, interleaved

Per round, on fresh topics of one real broker: ``--scorers`` scorers share the group at
``--rate`` events/s; once every one commits, one is SIGKILLed and started again at once
(as an orchestrator restarts it). The group's committed offsets per partition are read
every 50 ms. Reported per mode: the longest gap between two commits on any partition
(the killed scorer's and the others' apart), and the seconds from the kill until every
partition has committed everything produced until the kill. Modes alternate in the
same run, so both see the same machine.
"""

from __future__ import annotations

import argparse
import threading
import time
from typing import Any

import orjson
from confluent_kafka import TopicPartition

from bench.harness import RESULTS, broker, spawn, stop
from streams.config import Settings
from streams.dev.generator import GeneratorConfig, generate
from streams.dev.local import fresh_settings, wait_until
from streams.dev.produce import write_records
from streams.kafka import make_consumer, watermarks
from streams.kafka.groups import committed_offsets, group_members

_SAMPLE_S = 0.05
_OBSERVE_S = 40.0  # after the kill: the session timeout (10 s), a rebalance, catching up


def _round(bootstrap: str, static: bool, args: argparse.Namespace) -> dict[str, Any]:
    settings = fresh_settings(
        bootstrap, "restart", topic_partitions=args.partitions, static_membership=static
    )
    group, topic = settings.scorer_group_id, settings.topic_events
    count = int(args.rate * (args.warmup + _OBSERVE_S + 30))  # outlasts the observation
    events = [r for r in generate(GeneratorConfig(seed=5, count=count)) if r.topic == "events"]
    ids = [f"s{i}" for i in range(args.scorers)]
    procs = {i: _scorer(settings, i) for i in ids}
    writer = threading.Thread(target=write_records, args=(settings, events, args.rate), daemon=True)
    reader = make_consumer(settings, group, **{"isolation.level": "read_uncommitted"})
    tps = [TopicPartition(topic, p) for p in range(args.partitions)]
    try:
        writer.start()
        members = lambda: group_members(settings, group)  # noqa: E731
        wait_until(lambda: len([m for m in members().values() if m]) == len(ids), 120, "scorers")
        time.sleep(args.warmup)  # a steady rate before the kill
        owned = members().get(f"{group}-{ids[0]}", set()) if static else None
        procs[ids[0]].kill()
        killed_at = time.monotonic()
        procs[ids[0]].wait()
        ends = {p: high for p, (_, high) in watermarks(settings, topic).items()}  # at the kill
        procs[ids[0]] = _scorer(settings, ids[0])
        samples = _sample(reader, tps, killed_at)
    finally:
        for proc in procs.values():
            stop(proc)
        reader.close()
        writer.join(60)
    return _summary(static, samples, ends, owned)


def _scorer(settings: Settings, instance: str) -> Any:
    return spawn(settings.model_copy(update={"scorer_instance_id": instance}), "score")


def _sample(
    reader: Any, tps: list[TopicPartition], since: float
) -> list[tuple[float, dict[int, int]]]:
    """(seconds since the kill, committed offset per partition) every 50 ms."""
    out = []
    while (now := time.monotonic()) - since < _OBSERVE_S:
        offsets = {tp.partition: tp.offset for tp in committed_offsets(reader, tps)}
        out.append((now - since, offsets))
        time.sleep(_SAMPLE_S)  # the sampling period
    return out


def _summary(
    static: bool,
    samples: list[tuple[float, dict[int, int]]],
    ends: dict[int, int],
    owned: set[tuple[str, int]] | None,
) -> dict[str, Any]:
    gaps: dict[int, float] = {}
    for p in ends:
        last_t, last_off, longest = 0.0, samples[0][1][p], 0.0
        for t, offsets in samples:
            if offsets[p] != last_off:
                longest, last_t, last_off = max(longest, t - last_t), t, offsets[p]
        gaps[p] = round(max(longest, samples[-1][0] - last_t), 2)  # a steady rate: never idle
    caught_up = next(
        (t for t, offsets in samples if all(offsets[p] >= ends[p] for p in ends)), None
    )
    killed = {p for _, p in owned} if owned else set()
    others = [g for p, g in gaps.items() if p not in killed] or [0.0]
    return {
        "static_membership": static,
        "max_gap_s": max(gaps.values()),
        "max_gap_other_scorers_s": max(others) if owned is not None else None,
        "caught_up_s": round(caught_up, 2) if caught_up is not None else None,
        "gap_per_partition_s": gaps,
    }


def main() -> None:
    """Run the rounds, print them, write bench/results/restart_pause.json."""
    parser = argparse.ArgumentParser(prog="bench.restart_pause", description=__doc__)
    parser.add_argument("--bootstrap", default=None, help="an existing broker (default: start one)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds per mode")
    parser.add_argument("--scorers", type=int, default=3)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--rate", type=float, default=600.0, help="events per second")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds before the kill")
    args = parser.parse_args()
    runs = []
    with broker(args.bootstrap) as b:
        for _ in range(args.rounds):
            for static in (True, False):
                runs.append(_round(b.bootstrap, static, args))
                print(orjson.dumps(runs[-1], option=orjson.OPT_NON_STR_KEYS).decode(), flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    command = f"python -m bench.restart_pause --rounds {args.rounds} --scorers {args.scorers}"
    result = {"command": command, "config": vars(args) | {"bootstrap": None}, "runs": runs}
    (RESULTS / "restart_pause.json").write_bytes(
        orjson.dumps(result, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)
    )
    from bench.report import write_report

    write_report()


if __name__ == "__main__":
    main()
