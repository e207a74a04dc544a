"""BENCHMARKS.md sections of the reliability benchmarks: the chaos soak, the pause a
scorer's restart causes, and throughput with hostile input flowing."""

from __future__ import annotations

from typing import Any

from bench.report_table import heading, table


def chaos(result: dict[str, Any]) -> list[str]:
    """Faults injected and what came out."""
    lines = heading(
        "Chaos: process kills and broker restarts under a steady stream",
        result,
        f"{result['scorers']} scorers and {result['joiners']} joiners on a real broker of "
        f"their own, {result['rate']:,.0f} events/s (5% invalid) with labels for ~30%, "
        f"{result['minutes']} minutes; processors SIGKILLed on a seeded schedule and "
        "restarted at once by a supervisor (which also restarts any that exits), the "
        "broker restarted on its data (SIGTERM and SIGKILL in turn). Then every output read "
        "back read_committed. *lost* and *duplicated* must be 0; *re-emitted*: byte-identical "
        "second `labelled` records, the joiner's documented at-least-once.",
    )
    o = result["outcome"]
    faults = [
        ["process kills", result["kills_total"], _pairs(result["kills"])],
        ["broker restarts", result["broker_restarts_total"], _pairs(result["broker_restarts"])],
        ["exits restarted", sum(result["exits"].values()), _pairs(result["exits"], "exit ")],
    ]
    lines += [*table(["fault", "count", "of which"], faults), ""]
    names = ["events_sent", "scored", "dead_lettered", "labels_expected", "labelled",
             "lost", "duplicated", "labelled_reemitted"]  # fmt: skip
    return lines + table(names, [[f"{o[n]:,}" for n in names]])


def restart_pause(result: dict[str, Any]) -> list[str]:
    """The pause one scorer's SIGKILL and immediate restart causes, static or not."""
    cfg = result["config"]
    lines = heading(
        "A scorer restarted: static membership on and off",
        result,
        f"{cfg['scorers']} scorers, {cfg['partitions']} partitions, {cfg['rate']:,.0f} "
        "events/s exactly-once; one scorer SIGKILLed and started again at once. *gap*: the "
        "longest time between two commits on a partition (*others'*: those of the scorers "
        "not killed, known with static membership only); *caught up*: from the kill until "
        "the backlog at the kill is scored. Seconds.",
    )
    rows = [
        [
            "on" if r["static_membership"] else "off",
            *("-" if r[k] is None else r[k] for k in ("max_gap_s", "max_gap_other_scorers_s")),
            min(r["gap_per_partition_s"].values()),
            r["caught_up_s"],
        ]
        for r in result["runs"]
    ]
    header = ["static membership", "longest gap", "longest gap, others' partitions",
              "shortest longest gap of a partition", "caught up"]  # fmt: skip
    return lines + table(header, rows)


def _pairs(counts: dict[str, int], prefix: str = "") -> str:
    return ", ".join(f"{prefix}{k}: {v}" for k, v in counts.items()) or "-"


def junk_throughput(result: dict[str, Any]) -> list[str]:
    """Valid events/s with hostile records interleaved, against the same events alone."""
    lines = heading(
        "Hostile input at volume: valid-event throughput with junk flowing",
        result,
        "A scorer process (exactly-once) drains a topic of valid events, and a topic of the "
        "same events with hostile records of `bench/junk.py` interleaved (*mix*: hostile "
        "records per valid event); rounds alternate, medians reported. *ratio*: valid "
        f"events/s with junk ÷ without (target: at least {result['target_ratio']}). CPU µs "
        "per valid event, of the scorer and of the broker. *lost* and *duplicated*: every "
        "record's output read back read_committed against the reference parser.",
    )
    rows = [
        [
            f"{r['mix']:g}",
            f"{r['valid_events']:,}",
            f"{r['hostile_records']:,}",
            f"{r['clean_valid_per_s']:,.0f}",
            f"{r['junk_valid_per_s']:,.0f}",
            f"{r['ratio']:.2f}",
            ", ".join(f"{x:.2f}" for x in r["rounds_ratio"]),
            _clean_junk(r["cpu_us_per_valid_event"]),
            _clean_junk(r.get("broker_cpu_us_per_valid_event", {})),
            f"{sum(r['dead_letters'].values()):,}",
            r["lost"],
            r["duplicated"],
        ]
        for r in result["rows"]
    ]
    header = ["mix", "valid events", "hostile", "clean valid/s", "with junk valid/s", "ratio",
              "each round", "scorer CPU µs, clean / junk", "broker CPU µs, clean / junk",
              "dead letters", "lost", "duplicated"]  # fmt: skip
    return lines + table(header, rows)


def _clean_junk(cpu: dict[str, float]) -> str:
    return f"{cpu['clean']:.1f} / {cpu['junk']:.1f}" if cpu else "-"
