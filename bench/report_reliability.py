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


def burst(result: dict[str, Any]) -> list[str]:
    """Bursts of ``factor`` x the steady rate: lag, RSS and p99 before, during, after."""
    cfg, cap = result["config"], result["capacity"]
    lines = heading(
        "Bursts: 10x (and 20x) the steady rate for a minute",
        result,
        f"One scorer process (exactly-once), {cfg['partitions']} partitions, on a real broker "
        f"of its own. *C*: the scorer's drain rate over a pre-filled backlog of "
        f"{cap['events']:,} events ({cap['per_s']:,}/s; RSS {cap['rss_mb_start']} MiB at "
        f"the start, {cap['rss_mb_peak']} at most). Then per burst, on fresh topics with a "
        f"fresh scorer: S = {cfg['rate']:,.0f} events/s for {cfg['steady_s']:g} s, the "
        f"burst for {cfg['burst_s']:g} s, S again until the lag is back to its steady "
        f"level and {cfg['after_s']:g} s more; lag and the scorer's RSS sampled every "
        "0.5 s. Latency: `scored_at` minus the event record's Kafka timestamp (taken when "
        "the producer sent it), per phase by when the event was sent. *Drained*: seconds "
        "from the burst's end until the lag is back at the most it was in the steady "
        "phase. *Prefetch bound*: what the consumer may hold ahead of processing, "
        "`consumer_queue_max_kbytes` plus one fetch per partition (record bytes; "
        "librdkafka's per-record overhead and the batches in hand come on top). RSS "
        "*after*: the median once drained; the allocators keep freed pages, so it stays "
        "near the peak instead of falling back, and a longer backlog does not raise it.",
    )
    rates = [_phase_row(run["factor"], p) for run in result["runs"] for p in run["phases"]]
    header = ["burst", "phase", "target/s", "achieved/s", "events", "seconds"]
    lines += [*table(header, rates), ""]
    rows = [_burst_row(run, cap, result["prefetch_bound_mb"]) for run in result["runs"]]
    header = [
        "burst",
        "C/s",
        "burst achieved ÷ C",
        "peak lag",
        "drained, s",
        "RSS MiB steady / peak / after",
        "prefetch bound MiB",
        "p99 ms steady / burst / after drain",
        "p50 ms after drain",
        "scored",
        "lost",
        "duplicated",
    ]
    return lines + table(header, rows)


def _phase_row(factor: float, phase: dict[str, Any]) -> list[Any]:
    return [
        f"{factor:g}x",
        phase["phase"],
        f"{phase['target_per_s']:,.0f}",
        f"{phase['achieved_per_s']:,.0f}",
        f"{phase['sent']:,}",
        phase["seconds"],
    ]


def _burst_row(run: dict[str, Any], cap: dict[str, Any], bound_mb: float) -> list[Any]:
    rss, lat = run["rss_mb"], run["latency_ms"]
    return [
        f"{run['factor']:g}x",
        f"{cap['per_s']:,}",
        f"{run['phases'][1]['achieved_per_s'] / cap['per_s']:.2f}",
        f"{run['peak_lag']:,} at {run['peak_lag_at_s'] - run['burst_start_s']:.0f} s in",
        "not drained" if run["drain_s"] is None else run["drain_s"],
        f"{rss['steady']} / {rss['peak_burst_and_backlog']} / {rss['after'] or '-'}",
        bound_mb,
        " / ".join(str(lat[k]["p99"]) for k in ("steady_before", "burst", "after_drain")),
        lat["after_drain"]["p50"],
        f"{run['scored']:,}",
        run["lost"],
        run["duplicated"],
    ]
